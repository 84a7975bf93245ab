/**
 * `medvlthinker serve --checkpoint DIR [--port N] [--host ADDR] [--name NAME]`: an embedded
 * checkpoint behind an OpenAI-compatible API (src/policy/serve.ts), until Ctrl-C.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { int, portFlag } from "./args";
import { embeddedPolicyName } from "../curate/policies";
import { ConfigError } from "../errors";
import { EmbeddedPolicy } from "../policy/embedded";
import { startPolicyServer } from "../policy/serve";

const USAGE = `usage: medvlthinker serve --checkpoint DIR [--port N] [--host ADDR] [--name NAME]

Serve an embedded checkpoint (notebooks 00, 03, 04) over an OpenAI-compatible API:
GET /v1/models, POST /v1/chat/completions (n, temperature, top_p, seed, max_tokens, logprobs,
images as data URLs). Any OpenAI client, 'medvlthinker eval' and 'medvlthinker reproduce' can use it.

options:
  --checkpoint DIR   a checkpoint folder (config.json, model.safetensors, tokenizer.json)
  --port N           (8000; 0 picks a free port)
  --host ADDR        (127.0.0.1: this machine only; 0.0.0.0 exposes it, with no authentication)
  --name NAME        the model name clients send (default embedded-<folder>-<weights fingerprint>)
  --batch-size N     rows per compiled generation batch (8)
  --quiet            no line per request`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      checkpoint: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      name: { type: "string" },
      "batch-size": { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.checkpoint) throw new ConfigError("--checkpoint DIR is required (a folder with config.json and model.safetensors)");
  const port = portFlag(values.port) ?? 8000;
  const dir = resolve(values.checkpoint);
  const name = values.name ?? embeddedPolicyName(dir);
  const policy = await EmbeddedPolicy.fromCheckpoint(dir, { name, batchSize: int("batch-size", values["batch-size"]) });
  const server = await startPolicyServer({ policy, modelName: name, host: values.host, port, log: values.quiet ? undefined : (l) => console.error(l) });
  console.log(`serving '${name}' (${dir}) at ${server.url}`);
  if (!["127.0.0.1", "localhost", "::1"].includes(server.host)) console.error(`warning: listening on ${server.host}: reachable from other machines, with no authentication`);
  console.log(`try: medvlthinker eval --base-url ${server.url} --model ${name} --benchmarks vqa-rad --limit 10`);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
  await policy.close();
  console.error("stopped");
  return 0;
}

/**
 * `medvlthinker reproduce --base-url URL --model NAME --paper-model "MedVLThinker-3B RL(m23k)"`:
 * one row of the paper's table with the published protocol, beside the paper's. A thin layer over
 * src/eval/reproduce.ts (reproduceRow).
 */
import { parseArgs } from "node:util";
import { int, num } from "./args";
import { runInterruptible } from "./interrupt";
import { expandBenchmarks } from "../eval/benchmarks";
import { ConfigError } from "../eval/config";
import { reproduceRow } from "../eval/reproduce";
import { PROFILE_NAMES, serverProfile } from "../policy/profiles";

const USAGE = `usage: medvlthinker reproduce --base-url URL --model NAME --paper-model "MODEL TRAINING" [--eval-parquet FILE] [options]

Evaluate a served model with the paper's protocol on its six image-text benchmarks (greedy,
4096 new tokens, seed 42, 3 runs, the MedVLThinker prompt, the regrade rule; requests exact to
the paper's offline vLLM run) and print the row beside the paper's, with per-benchmark differences,
their 95% intervals and whether the paper's figure lies inside ours. Rerunning resumes.

options:
  --base-url URL        e.g. http://127.0.0.1:8000/v1
  --model NAME          the served model name
  --paper-model TEXT    the paper's row, e.g. "MedVLThinker-3B RL(m23k)" (default: guessed from --model)
  --eval-parquet FILE   the MedVLThinker-Eval parquet (all six benchmarks; without it only the local copies)
  --data-root DIR       local datasets (default ../shared/data or $MEDVLTHINKER_DATA)
  --benchmarks LIST     a part of the six (default all six)
  --profile NAME        ${PROFILE_NAMES.join(", ")} (default vllm)
  --out DIR             run folders (default runs/eval, shared with 'medvlthinker eval')
  --limit N             first N items of each benchmark (a quick look, not the protocol)
  --concurrency N       requests in flight (64)
  --retries N           retries per request (8)
  --timeout S           per-request timeout in seconds (600)
  --no-progress         no progress bar
The API key, for hosted endpoints, is read from MEDVLTHINKER_API_KEY or OPENAI_API_KEY.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      "base-url": { type: "string" },
      model: { type: "string" },
      "paper-model": { type: "string" },
      "eval-parquet": { type: "string" },
      "data-root": { type: "string" },
      benchmarks: { type: "string" },
      profile: { type: "string" },
      out: { type: "string" },
      limit: { type: "string" },
      concurrency: { type: "string" },
      retries: { type: "string" },
      timeout: { type: "string" },
      "no-progress": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values["base-url"]) throw new ConfigError("--base-url is required (e.g. http://127.0.0.1:8000/v1)");
  if (!values.model) throw new ConfigError("--model is required (the name the server serves)");
  const baseURL = values["base-url"];
  const model = values.model;
  return runInterruptible("interrupted: saving what arrived; rerun the same command to resume", async (signal) => {
    const r = await reproduceRow({
      baseURL,
      model,
      paperModel: values["paper-model"] ?? null,
      evalParquet: values["eval-parquet"] ?? null,
      dataRoot: values["data-root"],
      benchmarks: values.benchmarks ? expandBenchmarks(values.benchmarks.split(",")) : undefined,
      profile: values.profile === undefined ? undefined : serverProfile(values.profile).name,
      out: values.out,
      limit: int("limit", values.limit) ?? null,
      concurrency: int("concurrency", values.concurrency),
      retries: int("retries", values.retries),
      timeoutS: num("timeout", values.timeout),
      signal,
      progress: !values["no-progress"],
    });
    console.log(r.text);
    return r.run.missing > 0 ? 1 : 0;
  });
}

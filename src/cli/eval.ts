/**
 * `medvlthinker eval ...`: evaluate a model served over an OpenAI-compatible API, print the table;
 * `medvlthinker eval report RUN_DIR` and `medvlthinker eval compare RUN_A RUN_B`.
 * A thin layer over src/eval (the same calls a notebook makes).
 */
import { parseArgs } from "node:util";
import { benchmarksFlag, defined, int, LONG_RUN_FLAGS, LONG_RUN_HELP, longRunOptions, missingServerFlag, num, readConfigFile, requestHelp, requestOptions, SERVER_FLAGS, SERVER_HELP } from "./args";
import { runInterruptible } from "./interrupt";
import { compareRuns } from "../eval/compare";
import { BENCHMARKS } from "../eval/benchmarks";
import { ConfigError, type EvalConfigInput } from "../eval/config";
import { runEval } from "../eval/harness";
import { report } from "../eval/report";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { embeddedPolicyName } from "../curate/policies";
import { EmbeddedPolicy } from "../policy/embedded";
import { OpenAIPolicy } from "../policy/openai";
import type { Policy } from "../policy/policy";

const USAGE = `usage:
  medvlthinker eval --base-url URL --model NAME --benchmarks LIST [options]
  medvlthinker eval --checkpoint DIR --benchmarks LIST [options]
  medvlthinker eval report RUN_DIR [--paper-model "MODEL TRAINING"]
  medvlthinker eval compare RUN_A RUN_B [--flips]

Evaluate a model served by vLLM, SGLang, llama.cpp, Ollama or any OpenAI-compatible endpoint.
The API key is read from MEDVLTHINKER_API_KEY or OPENAI_API_KEY (local servers need none).
With --checkpoint, an embedded checkpoint (a folder with config.json) is evaluated instead, with
the same harness, flags and run folders; its model name defaults to embedded-<folder>-<fingerprint>.
Rerunning the same command resumes: only missing answers are sent. Ctrl-C stops cleanly.

options (defaults: the published protocol):
${SERVER_HELP}
  --checkpoint DIR      evaluate this embedded checkpoint instead of a server
  --batch-size N        items per generation batch (embedded: 8; HTTP: 1)
  --profile NAME        the server: vllm (default), sglang, llama.cpp, ollama, openai
                        (which neutral sampling fields each request carries; see src/policy/profiles.ts)
  --benchmarks LIST     comma-separated ids, or the groups paper, text, all
                        (${BENCHMARKS.map((b) => b.id).join(", ")})
  --eval-parquet FILE   a MedVLThinker-Eval parquet (its dataset_name column tells the benchmark)
  --data-root DIR       local datasets (default ../shared/data or $MEDVLTHINKER_DATA)
  --out DIR             run folders go here (default runs/eval)
  --limit N             first N items of each benchmark
  --runs N              runs averaged (3)
  --n N                 samples per item and run (1)
  --temperature T       (0: greedy)       --top-p P (1)
  --max-tokens N        (4096)            --seed S (42, sent on every run as upstream)
  --seed-per-run        send seed + r on run r (for sampled runs)
  --logprobs            save per-token logprobs
  --real-newline        a real newline in the instruction (upstream sends a literal \\n)
  --ignore-images       send no images (a blind baseline)
  --images-as-stored    send the stored image bytes (default: RGB, smart_resize 28, PNG, as qwen-vl-utils)
${requestHelp("64; embedded: 1")}
  --paper-model TEXT    the paper row to show beside ours, e.g. "MedVLThinker-7B RL(m23k)"
  --config FILE         a JSON eval config; flags override its fields
${LONG_RUN_HELP}
  --debug               print the stack trace of an error`;

async function runCompare(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { flips: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help || positionals.length !== 2) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const cmp = compareRuns(positionals[0], positionals[1]);
  console.log(cmp.text);
  if (values.flips) for (const f of cmp.flips) console.log(`${f.benchmark}\t${f.hash}\tA#${f.index_a}=${f.score_a.toFixed(2)}\tB#${f.index_b}=${f.score_b.toFixed(2)}\tright in ${f.winner} only`);
  else if (cmp.flips.length) console.log(`${cmp.flips.length} items flipped (--flips lists them)`);
  return 0;
}

async function runReport(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { "paper-model": { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help || positionals.length !== 1) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  console.log(report(positionals[0], { paperModel: values["paper-model"] }).text);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "compare") return runCompare(argv.slice(1));
  if (argv[0] === "report") return runReport(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      ...SERVER_FLAGS,
      checkpoint: { type: "string" },
      "batch-size": { type: "string" },
      benchmarks: { type: "string" },
      "eval-parquet": { type: "string" },
      "data-root": { type: "string" },
      out: { type: "string" },
      limit: { type: "string" },
      runs: { type: "string" },
      n: { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "max-tokens": { type: "string" },
      seed: { type: "string" },
      "seed-per-run": { type: "boolean" },
      logprobs: { type: "boolean" },
      "real-newline": { type: "boolean" },
      "ignore-images": { type: "boolean" },
      "images-as-stored": { type: "boolean" },
      "paper-model": { type: "string" },
      config: { type: "string" },
      ...LONG_RUN_FLAGS,
      help: { type: "boolean", short: "h" },
    },
  });
  void positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const fromFile = readConfigFile(values.config);
  const checkpoint = values.checkpoint ?? fromFile.checkpoint;
  const baseURL = values["base-url"] ?? (checkpoint ? undefined : fromFile.baseURL);
  if (checkpoint && values["base-url"]) throw new ConfigError("give --base-url (a server) or --checkpoint (an embedded model), not both");
  if (!baseURL && !checkpoint) throw missingServerFlag("base-url", ", or --checkpoint DIR for an embedded model");
  if (checkpoint && !existsSync(join(resolve(checkpoint), "config.json"))) throw new ConfigError(`--checkpoint ${checkpoint}: not a checkpoint folder (no config.json in ${resolve(checkpoint)})`);
  const benchmarks = benchmarksFlag(values.benchmarks) ?? fromFile.benchmarks;
  const config: EvalConfigInput = {
    // An embedded checkpoint: named after its weights, one batched sampler (a config file or flags may still override).
    ...(checkpoint ? { model: embeddedPolicyName(checkpoint), concurrency: 1, batchSize: 8 } : {}),
    ...fromFile,
    ...(checkpoint ? { baseURL: undefined } : {}),
    ...defined({
      model: values.model,
      baseURL,
      checkpoint: checkpoint ? resolve(checkpoint) : undefined,
      batchSize: int("batch-size", values["batch-size"]),
      benchmarks,
      evalParquet: values["eval-parquet"],
      dataRoot: values["data-root"],
      out: values.out,
      limit: int("limit", values.limit),
      runs: int("runs", values.runs),
      ...requestOptions(values),
      paperModel: values["paper-model"],
    }),
    sampling: {
      ...(fromFile.sampling ?? {}),
      ...defined({
        n: int("n", values.n),
        temperature: num("temperature", values.temperature),
        top_p: num("top-p", values["top-p"]),
        max_tokens: int("max-tokens", values["max-tokens"]),
        seed: int("seed", values.seed),
        seedPerRun: values["seed-per-run"],
        logprobs: values.logprobs,
      }),
    },
    prompt: { ...(fromFile.prompt ?? {}), ...defined({ realNewline: values["real-newline"], ignoreImages: values["ignore-images"], images: values["images-as-stored"] ? "as-stored" : undefined }) },
  } as EvalConfigInput;
  if (!config.model) throw missingServerFlag("model");
  if (!config.benchmarks) throw new ConfigError("--benchmarks is required (e.g. vqa-rad,slake or paper)");

  const policy: Policy = checkpoint
    ? await EmbeddedPolicy.fromCheckpoint(checkpoint, {
        name: config.model,
        batchSize: config.batchSize,
        ignoreImages: config.prompt?.ignoreImages,
        prompt: { realNewline: config.prompt?.realNewline, instruction: config.prompt?.instruction },
      })
    : new OpenAIPolicy({
    baseURL: baseURL!,
    model: config.model,
    concurrency: config.concurrency ?? 64,
    retry: config.retries === undefined ? undefined : { maxRetries: config.retries },
    timeoutMs: config.timeoutS === undefined ? undefined : config.timeoutS * 1000,
    promptOptions: { realNewline: config.prompt?.realNewline, ignoreImages: config.prompt?.ignoreImages, instruction: config.prompt?.instruction },
    profile: config.profile,
    images: config.prompt?.images,
  });
  return runInterruptible("interrupted: saving what arrived; rerun the same command to resume", async (signal) => {
    let result: Awaited<ReturnType<typeof runEval>>;
    try {
      result = await runEval(config, policy, { signal, ...longRunOptions(values) });
    } finally {
      if (checkpoint) await policy.close?.();
    }
    console.log(report(result).text);
    console.log(`results: ${result.dir}`);
    if (result.missing > 0) {
      console.error(`${result.missing} answers are missing (requests failed after retries): rerun the same command to send only those`);
      return 1;
    }
    return 0;
  });
}

/**
 * `medvlthinker curate ...`: difficulty curation by pass rate with a served model (any
 * OpenAI-compatible endpoint) or the embedded model. A thin layer over src/curate/curate.ts (the
 * same call a notebook makes). Rerunning the same command resumes; Ctrl-C stops cleanly.
 */
import { parseArgs } from "node:util";
import { defined, int, list, LONG_RUN_FLAGS, LONG_RUN_HELP, longRunOptions, num, readConfigFile } from "./args";
import { runInterruptible } from "./interrupt";
import { ConfigError, parseCurateConfig, type CurateConfigInput } from "../curate/config";
import { checkCurationInputs, curate } from "../curate/curate";
import { formatHistogram } from "../curate/histogram";
import type { Policy } from "../policy/policy";

const USAGE = `usage:
  medvlthinker curate --policy http --base-url URL --model NAME --data NAME_OR_PATH [options]
  medvlthinker curate --policy embedded [--checkpoint DIR | --size SIZE] --data NAME_OR_PATH [options]

Samples k answers per item, grades them with the training reward, keeps the items the model
sometimes solves (1..7 of 16 by default), shuffles with a seed and sorts easy to hard. Writes
curated.parquet, curated.jsonl (pass counts in misc.pass_count / misc.pass_k), scored.jsonl (every
item), histogram.json and summary.json into the run folder. Rerunning resumes; a changed model,
sampling, prompt or reward starts a new run folder. The API key is read from MEDVLTHINKER_API_KEY
or OPENAI_API_KEY (local servers need none).

options (defaults: the published recipe):
  --policy P            http (a served model) or embedded (the project's own model)
  --base-url URL        http: e.g. http://127.0.0.1:8000/v1
  --model NAME          http: the served model name (also names the run folder)
  --checkpoint DIR      embedded: a checkpoint folder (default: the warmed-up base model)
  --size SIZE           embedded: base model size (workshop; MEDVLTHINKER_SMOKE=1 gives tiny)
  --data LIST           dataset names or paths, comma-separated (repeatable)
  --split S             train, test or all (all); "train" keeps evaluation items out
  --exclude-overlap L   datasets whose (test) items are removed from the pool, comma-separated
  --data-root DIR       local datasets (default ../shared/data or $MEDVLTHINKER_DATA)
  --limit N             first N closed items of each source
  --k N                 samples per item (16)
  --temperature T (1.0) --top-p P (1) --max-tokens N (4096) --seed S (42)
  --min N --max N       pass counts kept, inclusive (1..7 at k = 16; the same pass-rate band otherwise)
  --order O             easy_to_hard (default), hard_to_easy or none
  --order-seed S        shuffle seed before the sort (42)
  --real-newline        a real newline in the instruction (upstream sends a literal \\n)
  --reward-format F     gate (published) or separate
  --reward-extraction E published or loose
  --out DIR             run folders go here (runs/curate)
  --concurrency N       policy calls in flight (64 for http, 1 for embedded)
  --batch-size N        items per policy call (1 for http, 4 for embedded)
  --retries N           http: retries per request (8)
  --timeout S           http: per-request timeout in seconds (600)
  --no-responses        do not keep sample texts in results.jsonl (advised at m23k scale)
  --config FILE         a JSON curate config (or a run folder's config.json); flags override it
${LONG_RUN_HELP}
  --debug               print the stack trace of an error`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      policy: { type: "string" },
      "base-url": { type: "string" },
      model: { type: "string" },
      checkpoint: { type: "string" },
      size: { type: "string" },
      data: { type: "string", multiple: true },
      split: { type: "string" },
      "exclude-overlap": { type: "string", multiple: true },
      "data-root": { type: "string" },
      limit: { type: "string" },
      k: { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "max-tokens": { type: "string" },
      seed: { type: "string" },
      min: { type: "string" },
      max: { type: "string" },
      order: { type: "string" },
      "order-seed": { type: "string" },
      "real-newline": { type: "boolean" },
      "reward-format": { type: "string" },
      "reward-extraction": { type: "string" },
      out: { type: "string" },
      concurrency: { type: "string" },
      "batch-size": { type: "string" },
      retries: { type: "string" },
      timeout: { type: "string" },
      config: { type: "string" },
      "no-responses": { type: "boolean" },
      ...LONG_RUN_FLAGS,
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const fromFile = readConfigFile(values.config);
  const foreign = ["preset", "train", "rollout", "actor"].filter((k) => k in fromFile);
  if (foreign.length) {
    throw new ConfigError(`--config ${values.config} looks like a training config (it has ${foreign.join(", ")}); curate takes a curate config ({ data, k, sampling, filter, ... }; see 'medvlthinker curate --help')`);
  }
  const baseURL = values["base-url"] ?? fromFile.baseURL;
  const kind = values.policy ?? (baseURL ? "http" : undefined);
  if (kind !== "http" && kind !== "embedded") throw new ConfigError(`--policy must be http or embedded${kind ? `, got '${kind}'` : ""}`);
  const embedded = kind === "embedded";
  const min = int("min", values.min);
  const max = int("max", values.max);
  if ((min === undefined) !== (max === undefined)) throw new ConfigError("--min and --max go together");
  const config: CurateConfigInput = {
    ...fromFile,
    ...defined({
      model: embedded ? undefined : values.model,
      baseURL: embedded ? undefined : baseURL,
      data: list(values.data),
      split: values.split as CurateConfigInput["split"],
      excludeOverlap: list(values["exclude-overlap"]),
      dataRoot: values["data-root"],
      limit: int("limit", values.limit),
      k: int("k", values.k),
      filter: min === undefined ? undefined : { min, max: max as number },
      order: values.order as CurateConfigInput["order"],
      orderSeed: int("order-seed", values["order-seed"]),
      out: values.out,
      concurrency: int("concurrency", values.concurrency) ?? (embedded && fromFile.concurrency === undefined ? 1 : undefined),
      batchSize: int("batch-size", values["batch-size"]) ?? (embedded && fromFile.batchSize === undefined ? 4 : undefined),
      responses: values["no-responses"] ? "none" : undefined,
    }),
    sampling: {
      ...(fromFile.sampling ?? {}),
      ...defined({
        temperature: num("temperature", values.temperature),
        top_p: num("top-p", values["top-p"]),
        max_tokens: int("max-tokens", values["max-tokens"]),
        seed: int("seed", values.seed),
      }),
    },
    prompt: { ...(fromFile.prompt ?? {}), ...defined({ realNewline: values["real-newline"] }) },
    reward: { ...(fromFile.reward ?? {}), ...defined({ format: values["reward-format"], extraction: values["reward-extraction"] }) },
  } as CurateConfigInput;
  if (embedded) delete (config as Record<string, unknown>).model; // the policy names itself (checkpoint fingerprint)
  if (!config.data) throw new ConfigError("--data is required (a dataset name such as vqa-rad, or a path)");

  if (!embedded && !baseURL) throw new ConfigError("--base-url is required with --policy http (e.g. http://127.0.0.1:8000/v1)");
  if (!embedded && !config.model) throw new ConfigError("--model is required with --policy http (the name the server serves)");
  // The whole config is validated before any work (an embedded model warms up for a minute).
  checkCurationInputs(parseCurateConfig(config));

  let policy: Policy;
  if (embedded) {
    if (config.prompt?.ignoreImages) throw new ConfigError("ignoreImages is not supported with --policy embedded");
    const { embeddedCurationPolicy } = await import("../curate/policies");
    policy = await embeddedCurationPolicy({
      checkpoint: values.checkpoint,
      size: values.size,
      batchSize: 8,
      prompt: { realNewline: config.prompt?.realNewline, instruction: config.prompt?.instruction },
      progress: longRunOptions(values).progress,
    });
  } else {
    if (!baseURL) throw new ConfigError("--base-url is required with --policy http (e.g. http://127.0.0.1:8000/v1)");
    if (!config.model) throw new ConfigError("--model is required with --policy http (the name the server serves)");
    const { OpenAIPolicy } = await import("../policy/openai");
    const retries = int("retries", values.retries);
    const timeoutS = num("timeout", values.timeout);
    policy = new OpenAIPolicy({
      baseURL,
      model: config.model,
      concurrency: config.concurrency ?? 64,
      retry: retries === undefined ? undefined : { maxRetries: retries },
      timeoutMs: timeoutS === undefined ? undefined : timeoutS * 1000,
      promptOptions: { realNewline: config.prompt?.realNewline, ignoreImages: config.prompt?.ignoreImages, instruction: config.prompt?.instruction },
    });
  }

  try {
    return await runInterruptible("interrupted: saving what arrived; rerun the same command to resume", async (signal) => {
      const r = await curate(config, policy, { signal, ...longRunOptions(values) });
      for (const s of r.sources) {
        console.log(`${s.id}: ${s.loaded} loaded, ${s.open} open dropped, ${s.overlapping} in evaluation sets dropped, ${s.used} sampled`);
        for (const n of s.notes) console.log(`  note: ${n}`);
      }
      console.log(`policy calls this run: ${r.sent}; items already complete: ${r.resumed}`);
      console.log(formatHistogram(r.histogram));
      console.log(`curated: ${r.curated.length} of ${r.scored.length} items (${r.config.order}, seed ${r.config.orderSeed})`);
      console.log(`run folder: ${r.dir}`);
      for (const [name, path] of Object.entries(r.files)) console.log(`  ${name}: ${path}`);
      if (r.missing > 0) {
        console.error(`${r.missing} items are incomplete (requests failed after retries): rerun the same command to send only those`);
        return 1;
      }
      return 0;
    });
  } finally {
    await policy.close?.();
  }
}

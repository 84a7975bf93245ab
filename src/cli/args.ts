/** Flag values for the CLI subcommands: numbers checked with the flag named, lists, unset fields dropped. */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors";
import { expandBenchmarks } from "../eval/benchmarks";
import type { ReproduceOptions } from "../eval/reproduce";
import { serverProfile, type ServerProfileName } from "../policy/profiles";

export function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x)) throw new ConfigError(`--${name}: expected an integer, got '${v}'`);
  return x;
}

export function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new ConfigError(`--${name}: expected a number, got '${v}'`);
  return x;
}

/** Drop undefined fields so that config-file values survive. */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Repeated and comma-separated values as one list (undefined when none). */
export function list(values: string[] | undefined): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean);
}

/**
 * The JSON object a --config flag names, or {} without the flag; flags override its fields. A run
 * folder's config.json ({ runId, config, ... }) gives its `config`. A missing file, bad JSON or a
 * non-object fails naming the file.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readConfigFile(path: string | undefined): Record<string, any> {
  if (!path) return {};
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ConfigError(`--config: ${abs} does not exist`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(abs, "utf8"));
  } catch (e) {
    throw new ConfigError(`--config: ${abs} is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`--config: ${abs} must hold a JSON object`);
  const o = v as Record<string, unknown>;
  return (o.config && o.runId ? o.config : o) as Record<string, unknown>;
}

/**
 * Flags every long command takes under the same names (eval, curate, train sft, train grpo):
 * --no-progress (no bar), --quiet (no bar, no notes; warnings and errors still print), --wait (queue
 * behind another process that holds the run folder instead of failing).
 */
export const LONG_RUN_FLAGS = {
  "no-progress": { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  wait: { type: "boolean" },
} as const;

export const LONG_RUN_HELP = `  --no-progress         no progress bar
  --quiet, -q           no progress bar and no notes (warnings and errors still print)
  --wait                if another process holds the run folder, wait for it instead of failing`;

export function longRunOptions(values: { "no-progress"?: boolean; quiet?: boolean; wait?: boolean }): { progress: boolean; wait: boolean; log: (m: string) => void } {
  const quiet = !!values.quiet;
  return {
    progress: !values["no-progress"] && !quiet,
    wait: !!values.wait,
    log: (m: string) => {
      if (!quiet || /^(warning|error)/i.test(m)) console.error(m);
    },
  };
}

/**
 * Flags naming a model served over an OpenAI-compatible API and how requests reach it, under the
 * same names in `eval` and `reproduce`. The API key never comes from a flag (it would land in the
 * shell's history): OpenAIPolicy reads MEDVLTHINKER_API_KEY or OPENAI_API_KEY.
 */
export const SERVER_FLAGS = {
  "base-url": { type: "string" },
  model: { type: "string" },
  profile: { type: "string" },
  concurrency: { type: "string" },
  retries: { type: "string" },
  timeout: { type: "string" },
} as const;

export const SERVER_HELP = `  --base-url URL        e.g. http://127.0.0.1:8000/v1
  --model NAME          the served model name`;

/** Help of --concurrency, --retries and --timeout; `concurrency`: the default as the command words it. */
export function requestHelp(concurrency: string): string {
  return `  --concurrency N       requests in flight (${concurrency})
  --retries N           retries per request (8)
  --timeout S           per-request timeout in seconds (600)`;
}

/** The errors of a missing --base-url or --model (`or`: what may stand in for the server instead). */
export function missingServerFlag(flag: "base-url" | "model", or = ""): ConfigError {
  return new ConfigError(flag === "base-url" ? `--base-url is required (e.g. http://127.0.0.1:8000/v1)${or}` : `--model is required (the name the server serves)${or}`);
}

/** --profile, --concurrency, --retries, --timeout: numbers checked and the profile known, with the flag named; unset ones undefined. */
export function requestOptions(values: { profile?: string; concurrency?: string; retries?: string; timeout?: string }): {
  profile?: ServerProfileName;
  concurrency?: number;
  retries?: number;
  timeoutS?: number;
} {
  return {
    profile: values.profile === undefined ? undefined : serverProfile(values.profile).name,
    concurrency: int("concurrency", values.concurrency),
    retries: int("retries", values.retries),
    timeoutS: num("timeout", values.timeout),
  };
}

/**
 * What the paper's protocol is run on and compared with (`reproduce`, and `cluster serve`'s
 * evaluation, whose help says "as for reproduce"): --benchmarks takes ids and the groups paper, text, all.
 */
export const REPRODUCE_FLAGS = {
  "paper-model": { type: "string" },
  "eval-parquet": { type: "string" },
  "data-root": { type: "string" },
  benchmarks: { type: "string" },
  limit: { type: "string" },
  "no-progress": { type: "boolean" },
} as const;

export function reproduceOptions(values: { "paper-model"?: string; "eval-parquet"?: string; "data-root"?: string; benchmarks?: string; limit?: string; "no-progress"?: boolean }): Pick<ReproduceOptions, "paperModel" | "evalParquet" | "dataRoot" | "benchmarks" | "limit" | "progress"> {
  return {
    paperModel: values["paper-model"] ?? null,
    evalParquet: values["eval-parquet"] ?? null,
    dataRoot: values["data-root"],
    benchmarks: benchmarksFlag(values.benchmarks),
    limit: int("limit", values.limit) ?? null,
    progress: !values["no-progress"],
  };
}

/** --benchmarks: comma-separated ids or groups (paper, text, all), expanded; undefined when unset. */
export function benchmarksFlag(v: string | undefined): string[] | undefined {
  return v ? expandBenchmarks(v.split(",")) : undefined;
}

/** --port: an integer 0-65535 (0: any free port); undefined when unset. */
export function portFlag(v: string | undefined): number | undefined {
  const port = int("port", v);
  if (port !== undefined && (port < 0 || port > 65535)) throw new ConfigError(`--port: expected 0-65535, got ${port}`);
  return port;
}

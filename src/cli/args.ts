/** Flag values for the CLI subcommands: numbers checked with the flag named, lists, unset fields dropped. */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors";

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

/**
 * Typed experiment configs resolved from a named preset plus the user's fields (SFT, GRPO): deep
 * merge, then zod validation with every problem named by its path.
 */
import { configIssuesError } from "../errors";
import { z } from "zod";
import { EVALUATION_DATASETS } from "../data/pools";
import { ConfigError } from "./runs";

/** A config's fields, all optional at every depth (arrays replace, as deepMerge does). */
export type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Every benchmark with a local copy: by default none of their items may be trained on. */
export const ALL_LOCAL_EVALS: string[] = [...EVALUATION_DATASETS];

/** The model size names (model/config.ts SIZES) a training config may start from. */
export const modelSizeSchema = z.enum(["tiny", "workshop", "small", "reference"]);

/** The training-data fields SFT and GRPO configs share (each adds its own). */
export const dataSourceFields = {
  /** Dataset names (src/data/registry.ts, e.g. "huatuo-o1") or files / folders loadPath reads (a curated.parquet, an interchange jsonl). */
  sources: z.array(z.string().min(1)).min(1),
  /** Root of the named datasets (default ../shared/data or $MEDVLTHINKER_DATA). */
  root: z.string().optional(),
  /** Benchmarks (src/eval/benchmarks.ts ids or groups) whose items are removed from training. */
  excludeEval: z.array(z.string().min(1)),
  /** Use at most this many training items (after exclusions, before shuffling); null: all. */
  limit: z.number().int().min(1).nullable(),
  /** A real newline in the instruction instead of upstream's literal backslash-n. */
  realNewline: z.boolean(),
};

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/**
 * The preset `input.preset` (default "workshop") with `input`'s fields on top, validated by
 * `schema`. Unknown keys, wrong types and out-of-range values fail with one line per problem.
 */
export function resolvePresetConfig<T>(input: unknown, where: string, presets: Record<string, unknown>, schema: z.ZodType<T>): T {
  if (!isPlainObject(input)) throw new ConfigError(`${where}: expected a JSON object, got ${Array.isArray(input) ? "an array" : typeof input}`);
  const presetName = input.preset ?? "workshop";
  if (typeof presetName !== "string" || !(presetName in presets)) {
    throw new ConfigError(`${where}: preset: '${String(presetName)}' is not one of ${Object.keys(presets).join(", ")}`);
  }
  const r = schema.safeParse(deepMerge(presets[presetName], input));
  if (!r.success) {
    throw configIssuesError(where, r.error.issues);
  }
  return r.data;
}

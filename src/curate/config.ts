/**
 * The one typed config of a curation run, validated before any work starts and saved in the run
 * folder. Defaults are the published recipe (eval/estimate_pass_rate.sh, order_easy_to_hard.py):
 * k = 16 samples per item at temperature 1.0, top_p 1, 4096 new tokens, graded with the training
 * reward; keep pass counts 1..7; shuffle with seed 42; sort easy to hard.
 *
 * The run folder is keyed by a hash of what a sample means (model, sampling, prompt, reward), as
 * evaluation runs are (src/eval/config.ts). Fields that say how much (data, split, limit, k), how
 * fast (concurrency, batch size) or what to keep afterwards (filter, order) reuse and extend the same
 * folder: raising k from 8 to 16 sends only samples 8..15; changing the filter resamples nothing.
 */
import { configIssuesError } from "../errors";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { z } from "zod";
import { canonicalJson, ConfigError, promptConfigSchema } from "../eval/config";
import { DEFAULT_ORDER_SEED, DEFAULT_PASS_COUNT_RANGE, PUBLISHED_PASS_COUNT_K } from "./filter";

export { ConfigError };

export const curateSamplingSchema = z
  .object({
    temperature: z.number().min(0).default(1.0),
    top_p: z.number().gt(0).max(1).default(1),
    max_tokens: z.number().int().min(1).default(4096),
    /** The request for samples s0..s0+m-1 of an item carries seed + s0 (see passrate.ts). */
    seed: z.number().int().default(42),
  })
  .strict();

export const rewardConfigSchema = z
  .object({
    /** "gate" (published): a response failing the format regex scores 0. */
    format: z.enum(["gate", "separate"]).default("gate"),
    /** "published": the first single-line <answer> compared exactly. */
    extraction: z.enum(["published", "loose"]).default("published"),
  })
  .strict();

export const curateConfigSchema = z
  .object({
    /** Names the policy in the run folder (the served model name; default: the policy's own name). */
    model: z.string().min(1).optional(),
    /** The OpenAI-compatible endpoint (used by the CLI; not part of the run key). */
    baseURL: z.string().optional(),
    /** Dataset names (src/data/registry.ts) or paths (any format loadPath reads). */
    data: z.array(z.string().min(1)).min(1),
    /** Split to take from each source ("train" keeps evaluation items out where a source has both). */
    split: z.enum(["train", "test", "all"]).default("all"),
    /** Root of the local datasets (default ../shared/data or $MEDVLTHINKER_DATA). */
    dataRoot: z.string().optional(),
    /** First N (closed) items of each source; null: all. */
    limit: z.number().int().min(1).nullable().default(null),
    /** Datasets (names or paths) whose items are removed from the pool (train/eval overlap, src/data/overlap.ts). */
    excludeOverlap: z.array(z.string().min(1)).default([]),
    /** Where run folders go. */
    out: z.string().default("runs/curate"),
    /** Samples per item. */
    k: z.number().int().min(1).default(PUBLISHED_PASS_COUNT_K),
    sampling: curateSamplingSchema.default(() => curateSamplingSchema.parse({})),
    prompt: promptConfigSchema.default(() => promptConfigSchema.parse({})),
    reward: rewardConfigSchema.default(() => rewardConfigSchema.parse({})),
    /**
     * Pass counts kept, inclusive (upstream --remove_pass_count_below 1 / _above 7). Unset: 1..7
     * when k = 16, else the same pass-rate band [1/16, 7/16] in counts of k (see filterRange).
     */
    filter: z.object({ min: z.number().int().min(0), max: z.number().int().min(0) }).strict().optional(),
    /** Order of the curated set; "none" keeps the source order (no shuffle). */
    order: z.enum(["easy_to_hard", "hard_to_easy", "none"]).default("easy_to_hard"),
    orderSeed: z.number().int().min(0).default(DEFAULT_ORDER_SEED),
    /**
     * Keep each sample's text in results.jsonl ("full", for inspection) or not ("none"). At the
     * published scale (23k items x 16 samples x up to 4096 tokens) "none" keeps the file small
     * enough to read back on resume; pass counts never need the text after grading.
     */
    responses: z.enum(["full", "none"]).default("full"),
    /** Policy calls in flight at once. */
    concurrency: z.number().int().min(1).default(64),
    /** Items per policy call (1 for HTTP; more for the embedded model's batched sampler). */
    batchSize: z.number().int().min(1).default(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.filter && c.filter.min > c.filter.max) ctx.addIssue({ code: "custom", path: ["filter"], message: `min ${c.filter.min} is above max ${c.filter.max}` });
    if (c.filter && c.filter.min > c.k) ctx.addIssue({ code: "custom", path: ["filter", "min"], message: `min ${c.filter.min} is above k ${c.k}: nothing could be kept` });
  });

export type CurateConfig = z.infer<typeof curateConfigSchema>;
export type CurateConfigInput = z.input<typeof curateConfigSchema>;

/** Validate; the error names every bad field. */
export function parseCurateConfig(value: unknown): CurateConfig {
  const r = curateConfigSchema.safeParse(value);
  if (!r.success) {
    throw configIssuesError("curate config", r.error.issues);
  }
  return r.data;
}

/**
 * The pass counts kept: the configured range, or the published band scaled to k. Upstream keeps
 * 1..7 of 16, i.e. pass rates in [1/16, 7/16]; for another k that is ceil(k/16) .. floor(7k/16),
 * at least min (k = 2 keeps 1 of 2). k = 1 cannot tell a sometimes-solved item: set filter yourself.
 */
export function filterRange(c: Pick<CurateConfig, "k" | "filter">): { min: number; max: number } {
  if (c.filter) return { ...c.filter };
  if (c.k === PUBLISHED_PASS_COUNT_K) return { ...DEFAULT_PASS_COUNT_RANGE };
  const min = Math.max(1, Math.ceil((c.k * DEFAULT_PASS_COUNT_RANGE.min) / PUBLISHED_PASS_COUNT_K));
  const max = Math.min(c.k - 1, Math.max(min, Math.floor((c.k * DEFAULT_PASS_COUNT_RANGE.max) / PUBLISHED_PASS_COUNT_K)));
  if (max < min) throw new ConfigError(`k = ${c.k} samples cannot separate sometimes-solved items from the rest; use k >= 2 or set filter {min, max}`);
  return { min, max };
}

/** What a sample depends on: the run folder's key. */
export function curateIdentity(c: CurateConfig, model: string): Record<string, unknown> {
  return { task: "pass-rate", model, sampling: c.sampling, prompt: c.prompt, reward: c.reward };
}

export function curateRunHash(c: CurateConfig, model: string): string {
  return createHash("sha256").update(canonicalJson(curateIdentity(c, model))).digest("hex").slice(0, 12);
}

/** `<out>/<model slug>-<hash>`. */
export function curateRunDir(c: CurateConfig, model: string): string {
  const slug = model.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || "model";
  return join(resolve(c.out), `${slug}-${curateRunHash(c, model)}`);
}

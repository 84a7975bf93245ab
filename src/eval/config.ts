/**
 * The one typed config of an evaluation run, validated before any work starts and saved in the
 * run folder. Defaults are the published protocol: greedy, 4096 new tokens, seed 42, 3 runs,
 * the regrade rule.
 *
 * The run folder is keyed by a hash of the fields that change what a response means (model,
 * sampling, prompt, grading, data source). Changing one of them starts a new run; fields that only
 * say how much or how fast (benchmarks, limit, runs, concurrency, URL) extend or resume the same one.
 */
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";

import { ConfigError, configIssuesError } from "../errors";
import { canonicalJson } from "../stable-json";
import { PROFILE_NAMES } from "../policy/profiles";

export { ConfigError, canonicalJson };

export const samplingSchema = z
  .object({
    /** Samples per item and run (the `n` of the request). */
    n: z.number().int().min(1).default(1),
    temperature: z.number().min(0).default(0),
    top_p: z.number().gt(0).max(1).default(1),
    max_tokens: z.number().int().min(1).default(4096),
    /** Sent with every request; upstream sends the same seed on all runs. */
    seed: z.number().int().default(42),
    /** Send seed + r on run r, so that sampled (temperature > 0) runs differ on servers that honour seeds. */
    seedPerRun: z.boolean().default(false),
    logprobs: z.boolean().default(false),
  })
  .strict();

export const promptConfigSchema = z
  .object({
    /** A real newline in the instruction instead of upstream's literal backslash-n. */
    realNewline: z.boolean().default(false),
    /** Replace the instruction entirely. */
    instruction: z.string().optional(),
    /** Send no images (a blind baseline). */
    ignoreImages: z.boolean().default(false),
    /** HTTP: images decoded and resized as qwen-vl-utils (the paper), sent as PNG; or the stored bytes. */
    images: z.enum(["qwen-vl-utils", "as-stored"]).default("qwen-vl-utils"),
  })
  .strict();

export const evalConfigSchema = z
  .object({
    /** The model name the server serves; also names the run folder and finds the paper's row. */
    model: z.string().min(1),
    /** The OpenAI-compatible endpoint (used by the CLI to build the policy; not part of the run key). */
    baseURL: z.string().optional(),
    /** An embedded checkpoint folder to evaluate instead of a server (CLI; not part of the run key: the model name carries its fingerprint). */
    checkpoint: z.string().optional(),
    /** The server kind (src/policy/profiles.ts): which extension fields each request carries. */
    profile: z.enum(PROFILE_NAMES).default("vllm"),
    /** Benchmark ids (see src/eval/benchmarks.ts). */
    benchmarks: z.array(z.string().min(1)).min(1),
    /** A MedVLThinker-Eval parquet; its dataset_name column tells the benchmark. Null: the local copies. */
    evalParquet: z.string().nullable().default(null),
    /** Root of the local datasets (default: ../shared/data or $MEDVLTHINKER_DATA). */
    dataRoot: z.string().optional(),
    /** Where run folders go. */
    out: z.string().default("runs/eval"),
    /** First N items of each benchmark (a quick look); null: all. */
    limit: z.number().int().min(1).nullable().default(null),
    runs: z.number().int().min(1).default(3),
    sampling: samplingSchema.default(() => samplingSchema.parse({})),
    prompt: promptConfigSchema.default(() => promptConfigSchema.parse({})),
    /** "regrade": upstream analysis/regrade_eval_results.py (the published numbers). */
    grading: z.literal("regrade").default("regrade"),
    /** Policy calls in flight at once. */
    concurrency: z.number().int().min(1).default(64),
    /** HTTP policy: retries per request and per-request timeout (seconds), as the CLI builds it. */
    retries: z.number().int().min(0).default(8),
    timeoutS: z.number().positive().default(600),
    /** Items per policy call (1 for HTTP; larger for the embedded model's batched sampler). */
    batchSize: z.number().int().min(1).default(1),
    /** The paper row to show beside ours ("MedVLThinker-7B RL(m23k)"); default: guessed from `model`. */
    paperModel: z.string().nullable().default(null),
  })
  .strict();

export type EvalConfig = z.infer<typeof evalConfigSchema>;
export type EvalConfigInput = z.input<typeof evalConfigSchema>;

/** Validate; the error names every bad field. */
export function parseEvalConfig(value: unknown): EvalConfig {
  const r = evalConfigSchema.safeParse(value);
  if (!r.success) {
    throw configIssuesError("eval config", r.error.issues);
  }
  return r.data;
}


/** What a response depends on: the run folder's key. */
export function runIdentity(c: EvalConfig): Record<string, unknown> {
  let source = "local";
  if (c.evalParquet) {
    const p = resolve(c.evalParquet);
    source = existsSync(p) ? `parquet:${p}:${statSync(p).size}` : `parquet:${p}`;
  }
  return { model: c.model, sampling: c.sampling, prompt: c.prompt, grading: c.grading, source, profile: c.profile };
}

export function runHash(c: EvalConfig): string {
  return createHash("sha256").update(canonicalJson(runIdentity(c))).digest("hex").slice(0, 12);
}

/** `<out>/<model slug>-<hash>`. */
export function runDir(c: EvalConfig): string {
  const slug = c.model.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || "model";
  return join(resolve(c.out), `${slug}-${runHash(c)}`);
}

/**
 * The SFT run config: one typed object (zod), validated before any work starts and saved in the
 * run folder. Named presets: "published" (the paper's TRL hyperparameters, recipe.md), "workshop"
 * (the embedded workshop model, a few minutes on 2 cores) and "smoke" (the tiny model, seconds;
 * what MEDVLTHINKER_SMOKE=1 selects). A config names a preset and overrides any field of it.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { DATASETS, isDatasetName } from "../data/registry";
import { dataRoot, dataRootProblem } from "../paths";
import { expandBenchmarks } from "../eval/benchmarks";
import { ConfigError } from "./runs";
import { ALL_LOCAL_EVALS, dataSourceFields, modelSizeSchema, resolvePresetConfig, type DeepPartial } from "./preset-config";

export { deepMerge } from "./preset-config";

export { ConfigError };

const modelSchema = z
  .object({
    /** "base": the warmed-up base model of `size` (runs/base-<size>, made if missing); else a checkpoint folder. */
    init: z.string().min(1),
    size: modelSizeSchema,
  })
  .strict();

const dataSchema = z
  .object({
    ...dataSourceFields,
    /** A MedVLThinker-Eval parquet to check overlap against as well (null: the local copies only). */
    evalParquet: z.string().nullable(),
    /** Train on items whose trace answer disagrees with the gold answer (they are always reported). */
    keepDisagreeing: z.boolean(),
    /** Fraction of items held out for the held-out loss (at least one item when > 0). */
    heldOutFraction: z.number().min(0).lt(1),
    /**
     * What to do with an item longer than the model's context: "cut" drops the end of the
     * sequence (TRL's max_seq_length truncation, the published behaviour), "truncate-reasoning"
     * drops reasoning tokens from the middle of the trace so the answer tags stay (for the tiny
     * context of the embedded model), "drop" leaves the item out. Every case is counted.
     */
    overlong: z.enum(["cut", "truncate-reasoning", "drop"]),
    /** Longest training sequence in tokens (prompt + target); null: the model's context. Shorter is faster. */
    maxLength: z.number().int().min(16).nullable(),
  })
  .strict();

const trainSchema = z
  .object({
    epochs: z.number().int().min(1),
    /** Stop after this many optimizer steps (null: all epochs). */
    maxSteps: z.number().int().min(1).nullable(),
    lr: z.number().positive(),
    /** Cosine decay with linear warm-up (transformers' get_cosine_schedule_with_warmup). */
    schedule: z.literal("cosine"),
    warmupRatio: z.number().min(0).max(1),
    /** Floor of the cosine as a fraction of lr (0: decay to zero, as transformers). */
    minLrRatio: z.number().min(0).max(1),
    weightDecay: z.number().min(0),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]),
    eps: z.number().positive(),
    /** Global gradient-norm clip (0: none). */
    maxGradNorm: z.number().min(0),
    /** Sequences per forward/backward pass. */
    microBatch: z.number().int().min(1),
    /** Micro-batches per optimizer step: global batch = microBatch * gradAccum. */
    gradAccum: z.number().int().min(1),
    /** "bucket": batches of similar length (less padding); "none": the shuffled order as is. */
    batching: z.enum(["bucket", "none"]),
    /** Sequence lengths are padded up to a multiple of this (fewer distinct compiled shapes). */
    padMultiple: z.number().int().min(1),
    seed: z.number().int(),
    /** Held-out loss every N optimizer steps (and at the end); 0: only at the end. */
    evalEvery: z.number().int().min(0),
    /** Checkpoint every N optimizer steps (0: none besides epoch ends and the end). */
    saveEvery: z.number().int().min(0),
    /** Checkpoint at the end of every epoch (kept; the published run reports epoch 3). */
    saveEpochs: z.boolean(),
    /** Keep the newest N step checkpoints besides the epoch ones. */
    keepLast: z.number().int().min(1),
    /** The epoch whose checkpoint the run reports (null: the last). */
    reportEpoch: z.number().int().min(1).nullable(),
  })
  .strict();

export const sftConfigSchema = z
  .object({
    /** The preset the config started from (informational once resolved). */
    preset: z.enum(["published", "workshop", "smoke"]),
    /** The run folder. */
    out: z.string().min(1),
    model: modelSchema,
    data: dataSchema,
    train: trainSchema,
  })
  .strict();

export type SftConfig = z.infer<typeof sftConfigSchema>;
export type PresetName = SftConfig["preset"];
export type SftConfigInput = DeepPartial<SftConfig>;

/** The paper's SFT (recipe.md, TRL 0.15.2): lr 1e-5, cosine, warm-up 5%, global batch 16, wd 1e-4, betas (0.9, 0.95), 5 epochs, epoch 3 reported. */
const PUBLISHED: SftConfig = {
  preset: "published",
  out: "runs/sft-published",
  model: { init: "base", size: "workshop" },
  data: { sources: ["huatuo-o1"], excludeEval: ALL_LOCAL_EVALS, evalParquet: null, keepDisagreeing: false, limit: null, heldOutFraction: 0.05, overlong: "cut", maxLength: null, realNewline: false },
  train: {
    epochs: 5,
    maxSteps: null,
    lr: 1e-5,
    schedule: "cosine",
    warmupRatio: 0.05,
    minLrRatio: 0,
    weightDecay: 1e-4,
    betas: [0.9, 0.95],
    eps: 1e-8,
    maxGradNorm: 1.0, // transformers' TrainingArguments default
    microBatch: 4,
    gradAccum: 4,
    batching: "bucket",
    padMultiple: 32,
    seed: 42,
    evalEvery: 10,
    saveEvery: 0,
    saveEpochs: true,
    keepLast: 2,
    reportEpoch: 3,
  },
};

/**
 * The workshop model (d 128, 4 layers, context 256): same recipe shape (cosine, warm-up 5%, global
 * batch 16, betas (0.9, 0.95), 5 epochs, epoch 3 reported) with a learning rate suited to a small
 * model trained from a short warm-up, and sequences of at most 256 tokens (reasoning shortened in
 * the middle to fit), which keeps the run to a few minutes on 2 cores.
 */
const WORKSHOP: SftConfig = {
  ...PUBLISHED,
  preset: "workshop",
  out: "runs/sft-workshop",
  // 256 tokens: the prompt (~175) and ~80 target tokens (the start and end of the trace, the answer).
  data: { ...PUBLISHED.data, heldOutFraction: 0.1, overlong: "truncate-reasoning", maxLength: 256 },
  train: { ...PUBLISHED.train, lr: 1e-3, minLrRatio: 0.1, weightDecay: 0.01, microBatch: 8, gradAccum: 2, evalEvery: 10, saveEvery: 20 },
};

/** The tiny model on a few items: seconds, for tests and CI notebooks. */
const SMOKE: SftConfig = {
  ...WORKSHOP,
  preset: "smoke",
  out: "runs/sft-smoke",
  model: { init: "base", size: "tiny" },
  data: { ...WORKSHOP.data, limit: 24, heldOutFraction: 0.15, maxLength: null },
  train: { ...WORKSHOP.train, epochs: 2, lr: 3e-3, microBatch: 4, gradAccum: 2, evalEvery: 2, saveEvery: 2, reportEpoch: null, padMultiple: 16 },
};

export const SFT_PRESETS: Record<PresetName, SftConfig> = { published: PUBLISHED, workshop: WORKSHOP, smoke: SMOKE };

/** The preset notebooks use: "smoke" when MEDVLTHINKER_SMOKE=1, else "workshop". */
export function defaultPreset(): PresetName {
  return process.env.MEDVLTHINKER_SMOKE === "1" ? "smoke" : "workshop";
}

/**
 * Resolve and validate a config: the named preset (default "workshop") with the given fields on
 * top. Unknown keys, wrong types and out-of-range values fail with every problem named.
 */
export function parseSftConfig(input: unknown, where = "SFT config"): SftConfig {
  return resolvePresetConfig(input, where, SFT_PRESETS, sftConfigSchema) as SftConfig;
}

/** Files the config names that must exist before training starts (data sources, init checkpoint, parquet). */
export function checkConfigFiles(c: SftConfig): void {
  const missing: string[] = [];
  const root = resolve(c.data.root ?? dataRoot());
  const rootProblem = c.data.sources.some(isDatasetName) ? dataRootProblem(c.data.root) : null;
  if (rootProblem) missing.push(`data.sources: ${rootProblem}`);
  for (const s of c.data.sources) {
    if (isDatasetName(s)) {
      const p = resolve(root, DATASETS[s].path);
      if (!existsSync(p) && !rootProblem) missing.push(`data.sources: dataset '${s}' expects ${p}, which does not exist`);
    } else if (!existsSync(resolve(s))) {
      missing.push(`data.sources: '${s}' is neither a dataset name (${Object.keys(DATASETS).join(", ")}) nor an existing file or folder`);
    }
  }
  if (c.data.evalParquet && !existsSync(resolve(c.data.evalParquet))) missing.push(`data.evalParquet: ${resolve(c.data.evalParquet)} does not exist`);
  if (c.model.init !== "base" && !existsSync(resolve(c.model.init, "config.json")) && !existsSync(resolve(`${c.model.init}.prev`, "config.json"))) {
    missing.push(`model.init: '${c.model.init}' is neither "base" nor a checkpoint folder (no config.json in ${resolve(c.model.init)})`);
  }
  // Unknown benchmark ids fail here, not after the base model has trained.
  try {
    expandBenchmarks(c.data.excludeEval);
  } catch (e) {
    missing.push(`data.excludeEval: ${(e as Error).message}`);
  }
  if (missing.length) throw new ConfigError(`SFT config refers to missing files or unknown names:\n  ${missing.join("\n  ")}`);
}

/**
 * The GRPO run config: one typed object (zod), validated before any work starts and saved in the
 * run folder. Named presets: "published" (MedVLThinker's verl settings, recipe.md), "workshop"
 * (the embedded workshop model, a few minutes on 2 cores) and "smoke" (the tiny model, seconds;
 * what MEDVLTHINKER_SMOKE=1 selects). A config names a preset and overrides any field of it.
 * verl's config names are given in the comments.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { DATASETS, isDatasetName } from "../data/registry";
import { expandBenchmarks } from "../eval/benchmarks";
import { dataRoot, dataRootProblem } from "../paths";
import { KL_PENALTIES, LOSS_AGG_MODES, MEDVLTHINKER_GRPO_LOSS as LOSS, type KlPenalty, type LossAggMode } from "./core";
import { ConfigError } from "./runs";
import { ALL_LOCAL_EVALS, dataSourceFields, modelSizeSchema, resolvePresetConfig, type DeepPartial } from "./preset-config";

export { ConfigError };

const modelSchema = z
  .object({
    /**
     * "base": the warmed-up base model of `size` (runs/base-<size>); "instruct": that base after a
     * format warm-up (runs/instruct-<size>, src/stages/instruct.ts; set warmup.formatSteps 0 then);
     * else a checkpoint folder (e.g. an SFT checkpoint).
     */
    init: z.string().min(1),
    size: modelSizeSchema,
  })
  .strict();

const dataSchema = z.object(dataSourceFields).strict();

const rolloutSchema = z
  .object({
    /** data.train_batch_size: prompts per step. */
    promptsPerStep: z.number().int().min(1),
    /** actor_rollout_ref.rollout.n: samples per prompt (a group). */
    n: z.number().int().min(1),
    temperature: z.number().min(0),
    topP: z.number().gt(0).max(1),
    /** data.max_response_length. */
    maxResponseTokens: z.number().int().min(1),
    /** data.max_prompt_length (longer prompts are middle-truncated and counted). */
    maxPromptTokens: z.number().int().min(1),
    /** Rows per compiled generation batch of the embedded sampler. */
    batchRows: z.number().int().min(1),
  })
  .strict();

const rewardSchema = z
  .object({
    /** "gate" (published): format failure scores 0. "separate": format earns formatWeight on its own. */
    format: z.enum(["gate", "separate"]),
    formatWeight: z.number().min(0).max(1),
    /** "published" answer extraction, or "loose". */
    extraction: z.enum(["published", "loose"]),
  })
  .strict();

const actorSchema = z
  .object({
    /** actor.optim.lr, constant (verl's default warm-up ratio 0). */
    lr: z.number().positive(),
    weightDecay: z.number().min(0),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]),
    eps: z.number().positive(),
    /** actor.grad_clip (0: none). */
    maxGradNorm: z.number().min(0),
    /** actor.ppo_mini_batch_size, in prompts (rows = prompts * n). */
    miniBatchPrompts: z.number().int().min(1),
    /** Rows per forward/backward pass (actor.ppo_micro_batch_size_per_gpu); gradients accumulate. */
    microBatchRows: z.number().int().min(1),
    /** actor.ppo_epochs. */
    ppoEpochs: z.number().int().min(1),
    clipRatioLow: z.number().min(0),
    clipRatioHigh: z.number().min(0),
    /** actor.clip_ratio_c (dual clip; > 1). */
    clipRatioC: z.number().gt(1),
    lossAggMode: z.enum(LOSS_AGG_MODES as [LossAggMode, ...LossAggMode[]]),
    klLossType: z.enum(KL_PENALTIES as [KlPenalty, ...KlPenalty[]]),
    /** actor.kl_loss_coef (0: no reference model at all). */
    klLossCoef: z.number().min(0),
    entropyCoeff: z.number(),
    /**
     * Old log-probs: "recompute" with the actor before the update (verl's compute_log_prob), or
     * "sampler": the log-probs the sampler drew the tokens with (same weights, other code path).
     */
    oldLogProb: z.enum(["recompute", "sampler"]),
    /** algorithm.norm_adv_by_std_in_grpo (false: Dr.GRPO). */
    normAdvByStd: z.boolean(),
    /** Sequence lengths are padded up to a multiple of this (fewer compiled shapes). */
    padMultiple: z.number().int().min(1),
  })
  .strict();

const warmupSchema = z
  .object({
    /**
     * SFT steps on the answer FORMAT only before GRPO (0: none, as published). Targets are
     * `<think> </think>\n<answer> L </answer>` with L a uniformly random option letter, so the
     * model learns the tags the format gate asks for and nothing about which answer is right.
     * For models that do not follow the format yet (the embedded base model).
     */
    formatSteps: z.number().int().min(0),
    lr: z.number().positive(),
    batchRows: z.number().int().min(1),
  })
  .strict();

const trainSchema = z
  .object({
    /** trainer.total_epochs over the prompts (steps per epoch = floor(items / promptsPerStep), verl drops the last partial batch). */
    epochs: z.number().int().min(1),
    /** Stop after this many steps (null: all epochs). */
    maxSteps: z.number().int().min(1).nullable(),
    seed: z.number().int(),
    /** Checkpoint every N steps (0: only at the end). */
    saveEvery: z.number().int().min(0),
    keepLast: z.number().int().min(1),
    /** Responses kept per step in samples.jsonl (0: none). */
    logSamples: z.number().int().min(0),
  })
  .strict();

export const grpoConfigSchema = z
  .object({
    preset: z.enum(["published", "workshop", "smoke"]),
    /** The run folder. */
    out: z.string().min(1),
    model: modelSchema,
    data: dataSchema,
    rollout: rolloutSchema,
    reward: rewardSchema,
    actor: actorSchema,
    warmup: warmupSchema,
    train: trainSchema,
  })
  .strict();

export type GrpoConfig = z.infer<typeof grpoConfigSchema>;
export type GrpoPresetName = GrpoConfig["preset"];
export type GrpoConfigInput = DeepPartial<GrpoConfig>;

/** recipe.md "GRPO": verl main_ppo with adv_estimator=grpo, as MedVLThinker ran it. */
const PUBLISHED: GrpoConfig = {
  preset: "published",
  out: "runs/grpo-published",
  model: { init: "base", size: "workshop" },
  data: { sources: ["huatuo-o1", "pubmedqa-train"], excludeEval: ALL_LOCAL_EVALS, limit: null, realNewline: false },
  rollout: { promptsPerStep: 256, n: 8, temperature: 1.0, topP: 1, maxResponseTokens: 4096, maxPromptTokens: 2048, batchRows: 16 },
  reward: { format: "gate", formatWeight: 0.1, extraction: "published" },
  actor: {
    lr: 1e-6,
    weightDecay: 0.01,
    betas: [0.9, 0.999], // torch AdamW defaults (verl sets none)
    eps: 1e-8,
    maxGradNorm: 1.0,
    miniBatchPrompts: 128,
    microBatchRows: 16,
    ppoEpochs: 1,
    clipRatioLow: LOSS.clipRatio,
    clipRatioHigh: LOSS.clipRatio,
    clipRatioC: LOSS.clipRatioC,
    lossAggMode: LOSS.lossAggMode,
    klLossType: LOSS.klLossType,
    klLossCoef: LOSS.klLossCoef,
    entropyCoeff: LOSS.entropyCoeff,
    oldLogProb: "recompute",
    normAdvByStd: LOSS.normAdvByStdInGrpo,
    padMultiple: 32,
  },
  warmup: { formatSteps: 0, lr: 1e-3, batchRows: 16 },
  train: { epochs: 5, maxSteps: null, seed: 42, saveEvery: 20, keepLast: 2, logSamples: 4 },
};

/**
 * The workshop model (d 128, context 256), a few minutes on 2 cores: 8 prompts x 8 samples per
 * step, one update per step, short responses, a learning rate for a small model, and a format
 * warm-up (the embedded base model never writes the tags on its own). Loss settings as published.
 */
const WORKSHOP: GrpoConfig = {
  ...PUBLISHED,
  preset: "workshop",
  out: "runs/grpo-workshop",
  data: { ...PUBLISHED.data, limit: null },
  rollout: { ...PUBLISHED.rollout, promptsPerStep: 8, maxResponseTokens: 24, maxPromptTokens: 224, batchRows: 16 },
  // One update per step (mini-batch = all prompts), so the sampler's log-probs are the old policy's:
  // taking them saves a forward pass per step (the published preset recomputes, as verl).
  // lr 5e-5: at 1e-4, 12 steps on notebook 02's kept items taught the instruct model (which answers
  // SLAKE from the image) to write "A" on most image questions (SLAKE 71% -> 61%).
  actor: { ...PUBLISHED.actor, lr: 5e-5, miniBatchPrompts: 8, microBatchRows: 8, padMultiple: 256, oldLogProb: "sampler" },
  warmup: { formatSteps: 40, lr: 2e-3, batchRows: 8 },
  train: { ...PUBLISHED.train, epochs: 1, maxSteps: 12, saveEvery: 6 },
};

/** The tiny model: seconds, for tests and CI notebooks. */
const SMOKE: GrpoConfig = {
  ...WORKSHOP,
  preset: "smoke",
  out: "runs/grpo-smoke",
  model: { init: "base", size: "tiny" },
  data: { ...WORKSHOP.data, limit: 32 },
  rollout: { ...WORKSHOP.rollout, promptsPerStep: 4, n: 4, maxResponseTokens: 12, maxPromptTokens: 48, batchRows: 16 },
  actor: { ...WORKSHOP.actor, lr: 1e-3, miniBatchPrompts: 4, microBatchRows: 16, padMultiple: 16 },
  warmup: { formatSteps: 20, lr: 1e-2, batchRows: 8 },
  train: { ...WORKSHOP.train, maxSteps: 3, saveEvery: 2 },
};

export const GRPO_PRESETS: Record<GrpoPresetName, GrpoConfig> = { published: PUBLISHED, workshop: WORKSHOP, smoke: SMOKE };

/** The preset notebooks use: "smoke" when MEDVLTHINKER_SMOKE=1, else "workshop". */
export function defaultGrpoPreset(): GrpoPresetName {
  return process.env.MEDVLTHINKER_SMOKE === "1" ? "smoke" : "workshop";
}

/**
 * Resolve and validate: the named preset (default "workshop") with the given fields on top.
 * Unknown keys, wrong types, out-of-range values and inconsistent batch sizes fail with every
 * problem named.
 */
export function parseGrpoConfig(input: unknown, where = "GRPO config"): GrpoConfig {
  const c = resolvePresetConfig(input, where, GRPO_PRESETS, grpoConfigSchema) as GrpoConfig;
  const problems: string[] = [];
  if (c.actor.miniBatchPrompts > c.rollout.promptsPerStep) problems.push(`actor.miniBatchPrompts (${c.actor.miniBatchPrompts}) exceeds rollout.promptsPerStep (${c.rollout.promptsPerStep})`);
  else if (c.rollout.promptsPerStep % c.actor.miniBatchPrompts !== 0) problems.push(`rollout.promptsPerStep (${c.rollout.promptsPerStep}) is not a multiple of actor.miniBatchPrompts (${c.actor.miniBatchPrompts})`);
  const miniRows = c.actor.miniBatchPrompts * c.rollout.n;
  if (miniRows % c.actor.microBatchRows !== 0 && c.actor.microBatchRows < miniRows) problems.push(`actor.microBatchRows (${c.actor.microBatchRows}) does not divide a mini-batch of ${miniRows} rows (miniBatchPrompts x n)`);
  if (problems.length) throw new ConfigError(`invalid ${where}:\n  ${problems.join("\n  ")}`);
  return c;
}

/** Files and names the config refers to, checked before training starts. */
export function checkGrpoConfigFiles(c: GrpoConfig): void {
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
  if (c.model.init !== "base" && c.model.init !== "instruct" && !existsSync(resolve(c.model.init, "config.json")) && !existsSync(resolve(`${c.model.init}.prev`, "config.json"))) {
    missing.push(`model.init: '${c.model.init}' is neither "base", "instruct" nor a checkpoint folder (no config.json in ${resolve(c.model.init)})`);
  }
  try {
    expandBenchmarks(c.data.excludeEval);
  } catch (e) {
    missing.push(`data.excludeEval: ${(e as Error).message}`);
  }
  if (missing.length) throw new ConfigError(`GRPO config refers to missing files or unknown names:\n  ${missing.join("\n  ")}`);
}

/**
 * Settings tables for the training notebooks: each setting of a preset beside the published value,
 * with one line on what it does. The lines are kept here (not read from the config files' comments)
 * so that a notebook explains a setting in workshop words; a test checks every setting has one.
 */

/** What each SFT setting does, by `part.key`. */
export const SFT_SETTING_DOCS: Record<string, string> = {
  "model.init": "the model SFT starts from",
  "model.size": "model size (width, layers, context)",
  "data.sources": "the reasoning traces trained on",
  "data.excludeEval": "evaluation sets whose items are removed from training",
  "data.evalParquet": "an extra evaluation file to check overlap against",
  "data.keepDisagreeing": "train on traces whose answer disagrees with the key",
  "data.limit": "at most this many items (null: all)",
  "data.heldOutFraction": "share of items held out for the held-out loss",
  "data.overlong": "what happens to a sequence longer than maxLength",
  "data.maxLength": "longest training sequence in tokens (null: the context)",
  "data.realNewline": "a real line break in the prompt instead of the literal \\n",
  "train.epochs": "passes over the training items",
  "train.maxSteps": "stop after this many optimizer steps (null: all epochs)",
  "train.lr": "peak learning rate",
  "train.schedule": "learning-rate shape over the run",
  "train.warmupRatio": "share of steps spent warming the learning rate up",
  "train.minLrRatio": "floor of the cosine, as a share of the peak",
  "train.weightDecay": "AdamW's pull of the weights towards zero",
  "train.betas": "AdamW's moving-average rates (gradient, squared gradient)",
  "train.eps": "AdamW's denominator guard",
  "train.maxGradNorm": "gradient-norm clip",
  "train.microBatch": "sequences per forward/backward pass",
  "train.gradAccum": "micro-batches per optimizer step (global batch = microBatch x gradAccum)",
  "train.batching": "batches of similar length (less padding) or the shuffled order",
  "train.padMultiple": "sequence lengths padded to a multiple of this",
  "train.seed": "seed of the shuffles and the held-out split",
  "train.evalEvery": "held-out loss every N steps",
  "train.saveEvery": "checkpoint every N steps (0: epoch ends only)",
  "train.saveEpochs": "checkpoint at the end of every epoch",
  "train.keepLast": "step checkpoints kept besides the epoch ones",
  "train.reportEpoch": "the epoch whose checkpoint is reported and evaluated",
};

/** What each GRPO setting does, by `part.key`. */
export const GRPO_SETTING_DOCS: Record<string, string> = {
  "model.init": "the model GRPO starts from (also the frozen reference)",
  "model.size": "model size (width, layers, context)",
  "data.sources": "the prompts trained on",
  "data.excludeEval": "evaluation sets whose items are removed from training",
  "data.limit": "at most this many prompts (null: all)",
  "data.realNewline": "a real line break in the prompt instead of the literal \\n",
  "rollout.promptsPerStep": "prompts per step (verl data.train_batch_size)",
  "rollout.n": "samples per prompt: one group",
  "rollout.temperature": "sampling temperature of the rollouts",
  "rollout.topP": "nucleus sampling (1: off)",
  "rollout.maxResponseTokens": "longest response sampled",
  "rollout.maxPromptTokens": "longest prompt, image tokens included",
  "rollout.batchRows": "rows per generation batch of the embedded sampler",
  "reward.format": "a response failing the format scores 0 (gate) or the format earns its own part",
  "reward.formatWeight": "weight of the format part when it is separate",
  "reward.extraction": "how the answer is read (published: the first single-line <answer>)",
  "actor.lr": "learning rate, constant",
  "actor.weightDecay": "AdamW's pull of the weights towards zero",
  "actor.betas": "AdamW's moving-average rates",
  "actor.eps": "AdamW's denominator guard",
  "actor.maxGradNorm": "gradient-norm clip",
  "actor.miniBatchPrompts": "prompts per update; fewer than promptsPerStep means several updates per step",
  "actor.microBatchRows": "rows per forward/backward pass (gradients accumulate)",
  "actor.ppoEpochs": "passes over one step's samples",
  "actor.clipRatioLow": "PPO clip below: ratio floored at 1 - this for negative advantages",
  "actor.clipRatioHigh": "PPO clip above: ratio capped at 1 + this for positive advantages",
  "actor.clipRatioC": "dual clip: bounds the loss of very negative-advantage tokens",
  "actor.lossAggMode": "how token losses are averaged",
  "actor.klLossType": "estimator of the KL to the reference",
  "actor.klLossCoef": "weight of the KL term in the loss",
  "actor.entropyCoeff": "weight of an entropy bonus (0: none)",
  "actor.oldLogProb": "old-policy log-probs: recomputed, or the sampler's (equal with one update per step)",
  "actor.normAdvByStd": "divide advantages by the group's std (false: Dr.GRPO)",
  "actor.padMultiple": "sequence lengths padded to a multiple of this",
  "warmup.formatSteps": "SFT steps on the answer format before GRPO (0: none, as published)",
  "warmup.lr": "learning rate of that format warm-up",
  "warmup.batchRows": "rows per step of that warm-up",
  "train.epochs": "passes over the prompts",
  "train.maxSteps": "stop after this many steps (null: all epochs)",
  "train.seed": "seed of the shuffles and the sampling",
  "train.saveEvery": "checkpoint every N steps",
  "train.keepLast": "checkpoints kept",
  "train.logSamples": "responses kept per step in samples.jsonl",
};

/** A value as a table cell: arrays with a space after each comma, strings without quotes. */
export function settingValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(settingValue).join(", ");
  if (typeof v === "string") return v;
  return JSON.stringify(v) ?? "";
}

/**
 * One row per setting of `parts` of `here`: its value here, the published value, and what it does.
 * Rows whose value equals the published one are marked, so the departures stand out.
 */
export function settingsRows(
  here: Record<string, unknown>,
  published: Record<string, unknown>,
  parts: readonly string[],
  docs: Record<string, string>,
  label = "here",
): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const part of parts) {
    const h = (here[part] ?? {}) as Record<string, unknown>;
    const p = (published[part] ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(h)) {
      const name = `${part}.${key}`;
      const hv = settingValue(h[key]);
      const pv = key in p ? settingValue(p[key]) : "—";
      rows.push({ setting: name, [label]: hv, published: pv, same: hv === pv ? "=" : "", "what it does": docs[name] ?? "" });
    }
  }
  return rows;
}

/**
 * GRPO core algorithms, reimplemented from verl's `verl/trainer/ppo/core_algos.py`
 * (and the helpers it uses from `verl/utils/torch_functional.py` and
 * `verl/workers/actor/dp_actor.py`). Each function keeps the verl name in its doc comment.
 *
 * Two kinds of functions live here:
 * - advantages, on plain numbers (they are never differentiated);
 * - losses, KL estimators, entropy and loss aggregation, on jax-js arrays, so that
 *   `grad` / `valueAndGrad` can differentiate them inside the embedded model's engine.
 *
 * Ownership (jax-js move semantics): every function that takes jax-js arrays CONSUMES
 * them, like jax-js's own functions. Pass `x.ref` for an array you still need afterwards.
 * Metrics come back as scalar arrays behind `stopGradient` (usable as the `aux` of
 * `valueAndGrad(..., { hasAux: true })`); read them with `.item()` outside the traced
 * function (`.item()` consumes the array) or with `metricsToNumbers`.
 *
 * No engine set-up here: callers run `initEngine()` (src/model/engine.ts) first. jax-js is
 * imported through ../model/jax so that the worker shim is installed before it loads.
 */
import { lax, numpy as np } from "../model/jax";
import type { Array as JaxArray } from "../model/jax";
import { computeEntropy } from "../model/transformer";

// ---------------------------------------------------------------------------------------
// Advantages (plain numbers)
// ---------------------------------------------------------------------------------------

export type GroupId = string | number;

export interface GrpoAdvantageOptions {
  /** verl `epsilon`: added to the std before dividing. Default 1e-6. */
  epsilon?: number;
  /** verl `norm_adv_by_std_in_grpo`. true = GRPO (default); false = Dr.GRPO (mean only). */
  normAdvByStdInGrpo?: boolean;
}

/**
 * verl `compute_grpo_outcome_advantage`: per-group normalised outcome advantage.
 *
 * `scores[i]` is the sequence reward of sample i (verl sums `token_level_rewards` over the
 * response; the reward sits on the last token). Samples with the same `index[i]` (verl's
 * `uid`, one per prompt) form a group. Within a group of size > 1:
 * `(r - mean) / (std + epsilon)` with the unbiased (Bessel, n - 1) std, as `torch.std`;
 * a group of one gets mean 0 and std 1 (so its advantage is `r / (1 + epsilon)`).
 * With `normAdvByStdInGrpo: false` (Dr.GRPO) it is `r - mean`.
 *
 * Returns one advantage per sample; verl then broadcasts it over the response tokens
 * (`scores.unsqueeze(-1) * response_mask`), which `broadcastAdvantages` does here.
 */
export function computeGrpoOutcomeAdvantage(
  scores: readonly number[],
  index: readonly GroupId[],
  options: GrpoAdvantageOptions = {},
): number[] {
  const epsilon = options.epsilon ?? 1e-6;
  const normByStd = options.normAdvByStdInGrpo ?? true;
  if (scores.length !== index.length) {
    throw new RangeError(
      `computeGrpoOutcomeAdvantage: scores has ${scores.length} entries but index has ${index.length}`,
    );
  }
  scores.forEach((s, i) => {
    if (!Number.isFinite(s)) throw new RangeError(`computeGrpoOutcomeAdvantage: scores[${i}] is ${s}, not a finite number`);
  });
  const groups = new Map<GroupId, number[]>();
  index.forEach((id, i) => {
    const members = groups.get(id);
    if (members) members.push(scores[i]);
    else groups.set(id, [scores[i]]);
  });
  const stats = new Map<GroupId, { mean: number; std: number }>();
  for (const [id, members] of groups) {
    if (members.length === 1) {
      stats.set(id, { mean: 0, std: 1 });
    } else {
      const mean = members.reduce((a, b) => a + b, 0) / members.length;
      const ss = members.reduce((a, b) => a + (b - mean) * (b - mean), 0);
      stats.set(id, { mean, std: Math.sqrt(ss / (members.length - 1)) });
    }
  }
  return scores.map((s, i) => {
    const { mean, std } = stats.get(index[i])!;
    return normByStd ? (s - mean) / (std + epsilon) : s - mean;
  });
}

/**
 * verl's broadcast step in `compute_grpo_outcome_advantage`: `adv.unsqueeze(-1) * response_mask`.
 * Returns a row-major Float32Array [B * T] (feed it to `np.array(buf).reshape([B, T])`).
 */
export function broadcastAdvantages(advantages: readonly number[], responseMask: readonly (readonly number[])[]): Float32Array {
  if (advantages.length !== responseMask.length) {
    throw new RangeError(
      `broadcastAdvantages: ${advantages.length} advantages but response_mask has ${responseMask.length} rows`,
    );
  }
  const t = responseMask.length === 0 ? 0 : responseMask[0].length;
  const out = new Float32Array(advantages.length * t);
  responseMask.forEach((row, b) => {
    if (row.length !== t) throw new RangeError(`broadcastAdvantages: response_mask row ${b} has ${row.length} columns, expected ${t}`);
    for (let j = 0; j < t; j++) out[b * t + j] = advantages[b] * row[j];
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// Masked reductions and loss aggregation (jax-js arrays)
// ---------------------------------------------------------------------------------------

/** The four aggregation modes of verl's `agg_loss`. */
export type LossAggMode = "token-mean" | "seq-mean-token-sum" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
export const LOSS_AGG_MODES: readonly LossAggMode[] = [
  "token-mean",
  "seq-mean-token-sum",
  "seq-mean-token-mean",
  "seq-mean-token-sum-norm",
];

/**
 * verl `verl_F.masked_mean` (whole array): `sum(values * mask) / (sum(mask) + 1e-8)`.
 * The 1e-8 (as in verl) makes an all-zero mask give 0 instead of NaN. Consumes both.
 */
export function maskedMean(values: JaxArray, mask: JaxArray): JaxArray {
  const m = mask.astype(np.float32);
  return np.sum(np.multiply(values, m.ref)).div(np.sum(m).add(1e-8));
}

export interface AggLossOptions {
  /**
   * verl `agg_loss(..., loss_scale_factor)`: the constant divisor of
   * "seq-mean-token-sum-norm" (Dr.GRPO). Defaults, as in verl, to the mask's last
   * dimension T; pass the configured max response length to keep it constant when
   * batches are padded to their own longest response.
   */
  lossScaleFactor?: number;
}

/**
 * verl `agg_loss`: reduce a [B, T] loss matrix to a scalar.
 * - "token-mean": masked mean over all tokens of the batch;
 * - "seq-mean-token-sum": per-sequence masked sum, then mean over sequences;
 * - "seq-mean-token-mean": per-sequence masked mean (divides by the row's mask sum, no
 *   epsilon, as verl: an all-masked row gives NaN), then mean over sequences;
 * - "seq-mean-token-sum-norm": total masked sum / lossScaleFactor (default T).
 * Consumes `lossMat` and `lossMask`.
 */
export function aggLoss(
  lossMat: JaxArray,
  lossMask: JaxArray,
  lossAggMode: LossAggMode = "token-mean",
  options: AggLossOptions = {},
): JaxArray {
  const mask = lossMask.astype(np.float32);
  switch (lossAggMode) {
    case "token-mean":
      return maskedMean(lossMat, mask);
    case "seq-mean-token-sum":
      return np.mean(np.sum(np.multiply(lossMat, mask), -1));
    case "seq-mean-token-mean": {
      const seqSums = np.sum(np.multiply(lossMat, mask.ref), -1);
      return np.mean(seqSums.div(np.sum(mask, -1)));
    }
    case "seq-mean-token-sum-norm": {
      const divisor = options.lossScaleFactor ?? mask.shape[mask.shape.length - 1];
      if (!(divisor > 0)) {
        lossMat.dispose();
        mask.dispose();
        throw new RangeError(`aggLoss: seq-mean-token-sum-norm needs a positive lossScaleFactor, got ${divisor}`);
      }
      return np.sum(np.multiply(lossMat, mask)).div(divisor);
    }
    default: {
      lossMat.dispose();
      mask.dispose();
      throw new RangeError(`aggLoss: invalid loss_agg_mode ${JSON.stringify(lossAggMode)}; expected one of ${LOSS_AGG_MODES.join(", ")}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Clipped policy loss (PPO / GRPO) with dual clip
// ---------------------------------------------------------------------------------------

export interface PolicyLossInputs {
  /** Log-probs of the sampled tokens under the rollout (old) policy, [B, T]. Constant. */
  oldLogProb: JaxArray;
  /** Log-probs under the current policy, [B, T]. The differentiated input. */
  logProb: JaxArray;
  /** Advantages, [B, T] or broadcastable to it (e.g. [B, 1]). Constant. */
  advantages: JaxArray;
  /** 1 for response tokens, 0 for padding, [B, T]. */
  responseMask: JaxArray;
}

export interface PolicyLossOptions {
  /** verl `clip_ratio` (epsilon); default 0.2. */
  clipRatio?: number;
  /** verl `clip_ratio_low`; defaults to clipRatio. Lower clip bound is 1 - clipRatioLow. */
  clipRatioLow?: number;
  /** verl `clip_ratio_high`; defaults to clipRatio. Upper clip bound is 1 + clipRatioHigh. */
  clipRatioHigh?: number;
  /** verl `clip_ratio_c` (dual-clip bound, must be > 1); default 3.0. */
  clipRatioC?: number;
  /** verl `loss_agg_mode`; default "token-mean". */
  lossAggMode?: LossAggMode;
  /** Passed to `aggLoss` (divisor of "seq-mean-token-sum-norm"). */
  lossScaleFactor?: number;
}

export interface PolicyLossOutput {
  /** verl `pg_loss`: the aggregated scalar loss (differentiable). */
  pgLoss: JaxArray;
  /** verl `pg_clipfrac`: masked fraction of tokens where the clipped term is larger. */
  pgClipfrac: JaxArray;
  /** verl `ppo_kl`: masked mean of (old_log_prob - log_prob), after the [-20, 20] clamp. */
  ppoKl: JaxArray;
  /** verl `pg_clipfrac_lower`: masked fraction of negative-advantage tokens where the dual clip bites. */
  pgClipfracLower: JaxArray;
}

function resolveClip(options: PolicyLossOptions): { low: number; high: number; c: number } {
  const clip = options.clipRatio ?? 0.2;
  const low = options.clipRatioLow ?? clip;
  const high = options.clipRatioHigh ?? clip;
  const c = options.clipRatioC ?? 3.0;
  if (!(c > 1)) throw new RangeError(`computePolicyLoss: clip_ratio_c must be > 1 for dual-clip PPO, got ${c}`);
  if (!(low >= 0) || !(high >= 0)) throw new RangeError(`computePolicyLoss: clip ratios must be >= 0, got low ${low}, high ${high}`);
  return { low, high, c };
}

/**
 * verl `compute_policy_loss` / `compute_policy_loss_vanilla` (policy_loss.loss_mode "vanilla"):
 * the PPO clipped surrogate with asymmetric clip and dual clip.
 *
 *   negative_approx_kl = clamp(logProb - oldLogProb, -20, 20);  ratio = exp(negative_approx_kl)
 *   pg1 = -A * ratio;  pg2 = -A * clamp(ratio, 1 - low, 1 + high);  clip1 = max(pg1, pg2)
 *   pg3 = -A * c;  clip2 = min(pg3, clip1)                       (dual clip)
 *   pg_losses = A < 0 ? clip2 : clip1;  pg_loss = agg_loss(pg_losses, mask, mode)
 *
 * Metrics: pg_clipfrac = masked_mean(pg2 > pg1), ppo_kl = masked_mean(-negative_approx_kl),
 * pg_clipfrac_lower = masked_mean((clip1 > pg3) * (A < 0)). Consumes all four inputs.
 */
export function computePolicyLoss(inputs: PolicyLossInputs, options: PolicyLossOptions = {}): PolicyLossOutput {
  const { oldLogProb, logProb, advantages, responseMask } = inputs;
  let clip: { low: number; high: number; c: number };
  try {
    clip = resolveClip(options);
  } catch (error) {
    for (const a of [oldLogProb, logProb, advantages, responseMask]) a.dispose();
    throw error;
  }
  const mask = responseMask.astype(np.float32);
  const adv = advantages;

  const negApproxKl = np.clip(logProb.sub(oldLogProb), -20, 20);
  const ratio = np.exp(negApproxKl.ref);
  const ppoKl = lax.stopGradient(maskedMean(np.negative(negApproxKl), mask.ref));

  const pg1 = np.negative(adv.ref).mul(ratio.ref);
  const pg2 = np.negative(adv.ref).mul(np.clip(ratio, 1 - clip.low, 1 + clip.high));
  const clip1 = np.maximum(pg1.ref, pg2.ref);
  const pgClipfrac = lax.stopGradient(maskedMean(np.greater(pg2, pg1).astype(np.float32), mask.ref));

  const pg3 = np.negative(adv.ref).mul(clip.c);
  const clip2 = np.minimum(pg3.ref, clip1.ref);
  const isNeg = np.less(adv, 0);
  const lowerHit = np.greater(clip1.ref, pg3).astype(np.float32).mul(isNeg.ref.astype(np.float32));
  const pgClipfracLower = lax.stopGradient(maskedMean(lowerHit, mask.ref));

  const pgLosses = np.where(isNeg, clip2, clip1);
  const pgLoss = aggLoss(pgLosses, mask, options.lossAggMode ?? "token-mean", { lossScaleFactor: options.lossScaleFactor });
  return { pgLoss, pgClipfrac, ppoKl, pgClipfracLower };
}

// ---------------------------------------------------------------------------------------
// KL to the reference model
// ---------------------------------------------------------------------------------------

/** verl `kl_loss_type` / `kl_penalty` names. */
export type KlPenalty = "kl" | "k1" | "abs" | "mse" | "k2" | "low_var_kl" | "k3";
export const KL_PENALTIES: readonly KlPenalty[] = ["kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3"];

/**
 * verl `kl_penalty(logprob, ref_logprob, kl_penalty)`: per-token KL estimate, [B, T].
 * - "kl" / "k1": logprob - ref_logprob
 * - "abs": |logprob - ref_logprob|
 * - "mse" / "k2": 0.5 * (logprob - ref_logprob)^2
 * - "low_var_kl" / "k3": with kl = clamp(ref - logprob, -20, 20), exp(kl) - kl - 1,
 *   clamped to [-10, 10] (Schulman's k3; the inner clamp is verl's, for stability)
 * ("full" and the "+" straight-through variants of newer verl are not implemented.)
 * Consumes both inputs.
 */
export function klPenalty(logProb: JaxArray, refLogProb: JaxArray, penalty: KlPenalty): JaxArray {
  switch (penalty) {
    case "kl":
    case "k1":
      return logProb.sub(refLogProb);
    case "abs":
      return np.abs(logProb.sub(refLogProb));
    case "mse":
    case "k2":
      return np.square(logProb.sub(refLogProb)).mul(0.5);
    case "low_var_kl":
    case "k3": {
      const kl = np.clip(refLogProb.sub(logProb), -20, 20);
      const kld = np.exp(kl.ref).sub(kl).sub(1);
      return np.clip(kld, -10, 10);
    }
    default: {
      logProb.dispose();
      refLogProb.dispose();
      throw new RangeError(`klPenalty: unknown kl_penalty ${JSON.stringify(penalty)}; expected one of ${KL_PENALTIES.join(", ")}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Entropy
// ---------------------------------------------------------------------------------------

// computeEntropy (verl `verl_F.entropy_from_logits`) lives with the model (model/transformer.ts),
// whose jax-js engine computes token entropies with it; re-exported here with the other verl pieces.
export { computeEntropy };

/** verl `compute_entropy_loss`: agg_loss of the token entropies. Consumes its inputs. */
export function computeEntropyLoss(
  logits: JaxArray,
  responseMask: JaxArray,
  lossAggMode: LossAggMode = "token-mean",
  options: AggLossOptions = {},
): JaxArray {
  return aggLoss(computeEntropy(logits), responseMask, lossAggMode, options);
}

// ---------------------------------------------------------------------------------------
// The actor's per-micro-batch loss (verl dp_actor `update_policy`)
// ---------------------------------------------------------------------------------------

export interface ActorLossInputs extends PolicyLossInputs {
  /** Reference-model log-probs [B, T]; required when klLossCoef > 0 (verl `use_kl_loss`). */
  refLogProb?: JaxArray;
  /** Token entropies [B, T] (from `computeEntropy`); required when entropyCoeff != 0. */
  entropy?: JaxArray;
}

export interface ActorLossOptions extends PolicyLossOptions {
  /** verl `kl_loss_type`; default "low_var_kl". */
  klLossType?: KlPenalty;
  /** verl `kl_loss_coef`; 0 turns the KL term off (verl `use_kl_loss: false`). Default 0. */
  klLossCoef?: number;
  /** verl `entropy_coeff`; default 0. */
  entropyCoeff?: number;
  /**
   * verl dp_actor's `loss_scale_factor` for gradient accumulation: 1 / gradient_accumulation
   * (micro-batches per mini-batch). Multiplies the final loss only. Default 1.
   */
  microBatchScale?: number;
}

export interface ActorLossOutput extends PolicyLossOutput {
  /** policy_loss * microBatchScale: the value to differentiate. */
  loss: JaxArray;
  /** The aggregated KL term (before its coefficient), or null when off. Metric (stopGradient). */
  klLoss: JaxArray | null;
  /** The aggregated entropy (before its coefficient), or null when off. Metric (stopGradient). */
  entropyLoss: JaxArray | null;
}

/**
 * verl dp_actor `update_policy`, one micro-batch:
 *   policy_loss = pg_loss - entropy_coeff * agg_loss(entropy) + kl_loss_coef * agg_loss(kl_penalty(logp, ref))
 *   loss = policy_loss * loss_scale_factor
 * All terms use the same loss_agg_mode. Consumes every array it is given.
 */
export function computeActorLoss(inputs: ActorLossInputs, options: ActorLossOptions = {}): ActorLossOutput {
  const klCoef = options.klLossCoef ?? 0;
  const entropyCoeff = options.entropyCoeff ?? 0;
  const mode = options.lossAggMode ?? "token-mean";
  const aggOptions: AggLossOptions = { lossScaleFactor: options.lossScaleFactor };
  const owned = [inputs.oldLogProb, inputs.logProb, inputs.advantages, inputs.responseMask, inputs.refLogProb, inputs.entropy];
  const missing =
    klCoef !== 0 && !inputs.refLogProb ? "refLogProb (klLossCoef is not 0)" :
    entropyCoeff !== 0 && !inputs.entropy ? "entropy (entropyCoeff is not 0)" : null;
  try {
    if (missing) throw new RangeError(`computeActorLoss: missing ${missing}`);
    resolveClip(options); // validate before any array is split between terms
  } catch (error) {
    for (const a of owned) a?.dispose();
    throw error;
  }
  const mask = inputs.responseMask.astype(np.float32);
  const logProb = inputs.logProb;
  const useKl = klCoef !== 0;

  const pg = computePolicyLoss(
    { oldLogProb: inputs.oldLogProb, logProb: useKl ? logProb.ref : logProb, advantages: inputs.advantages, responseMask: mask.ref },
    options,
  );
  let policyLoss = pg.pgLoss.ref;

  let entropyLoss: JaxArray | null = null;
  if (entropyCoeff !== 0) {
    const ent = aggLoss(inputs.entropy!, mask.ref, mode, aggOptions);
    policyLoss = policyLoss.sub(ent.ref.mul(entropyCoeff));
    entropyLoss = lax.stopGradient(ent);
  } else {
    inputs.entropy?.dispose();
  }

  let klLoss: JaxArray | null = null;
  if (useKl) {
    const kl = aggLoss(klPenalty(logProb, inputs.refLogProb!, options.klLossType ?? "low_var_kl"), mask.ref, mode, aggOptions);
    policyLoss = policyLoss.add(kl.ref.mul(klCoef));
    klLoss = lax.stopGradient(kl);
  } else {
    inputs.refLogProb?.dispose();
  }
  mask.dispose();

  const loss = policyLoss.mul(options.microBatchScale ?? 1);
  return { ...pg, pgLoss: lax.stopGradient(pg.pgLoss), loss, klLoss, entropyLoss };
}

// ---------------------------------------------------------------------------------------
// Metrics and recipe constants
// ---------------------------------------------------------------------------------------

/**
 * Read scalar metric arrays into numbers (consumes them). Nulls stay null.
 * Call outside any traced function (`grad`, `jit`).
 */
export function metricsToNumbers<K extends string>(metrics: Record<K, JaxArray | null>): Record<K, number | null> {
  const out = {} as Record<K, number | null>;
  for (const key of Object.keys(metrics) as K[]) {
    const value = metrics[key];
    out[key] = value === null ? null : value.item();
  }
  return out;
}

/** The published MedVLThinker GRPO loss settings (recipe.md "GRPO"; verl config names in comments). */
export const MEDVLTHINKER_GRPO_LOSS = {
  clipRatio: 0.2, // actor.clip_ratio (low and high)
  clipRatioC: 3.0, // actor.clip_ratio_c (dual clip)
  lossAggMode: "token-mean" as LossAggMode, // actor.loss_agg_mode
  klLossType: "low_var_kl" as KlPenalty, // actor.kl_loss_type, use_kl_loss = true
  klLossCoef: 0.01, // actor.kl_loss_coef
  entropyCoeff: 0, // actor.entropy_coeff
  advantageEpsilon: 1e-6, // compute_grpo_outcome_advantage epsilon
  normAdvByStdInGrpo: true, // algorithm.norm_adv_by_std_in_grpo (false = Dr.GRPO)
} as const;

/**
 * The GRPO actor, as verl's dp_actor: log-probs of the sampled responses under the current policy
 * (old) and the frozen reference, and the clipped policy update. One micro-batch = R rows (prompt +
 * response, right padded to T); the loss is src/train/core.ts computeActorLoss on per-token
 * log-probs, divided by the number of micro-batches in the mini-batch (verl's gradient
 * accumulation); gradients are summed over the micro-batches of a mini-batch, then one AdamW step
 * (optim.ts Optimizer). The passes go through the engine interface (model/lm-engine.ts): the loss
 * is a function of the per-token log-probs (and entropies), which each engine differentiates its
 * own way.
 */
import { lax, numpy as np, tree } from "../model/jax";
import { buildHostBatch, type HostBatch, type Sequence } from "../model/batch";
import type { ModelConfig } from "../model/config";
import type { Params } from "../model/params";
import type { TextTokenizer } from "../model/tokenizer";
import type { ModelInputs } from "../model/transformer";
import { logpAndEntropy } from "../model/jax-lm";
import { LazyEngine } from "../model/engines";
import type { LogpLoss } from "../model/lm-engine";
import { broadcastAdvantages, computeActorLoss, maskedMean, type ActorLossOptions } from "./core";
import { Optimizer, type AdamWConfig } from "./optim";

/** What the actor reads of a rollout row (train/rollout.ts RolloutRow): a prompt, one sampled response, its advantage. */
export interface GrpoRow {
  promptIds: number[];
  images: Float32Array[];
  responseIds: number[];
  advantage: number;
  /** The sampler's log-probs of responseIds (used when old log-probs are not recomputed). */
  samplerLogprobs?: number[];
  /** Old-policy and reference log-probs of each response token (scoreRows fills them). */
  oldLogProb?: Float32Array;
  refLogProb?: Float32Array;
}

export interface ActorLossSettings extends Omit<ActorLossOptions, "microBatchScale"> {
  klLossCoef: number;
  entropyCoeff: number;
}

/** Per micro-batch metrics (means over micro-batches are logged). */
export interface UpdateMetrics {
  pg_loss: number;
  pg_clipfrac: number;
  pg_clipfrac_lower: number;
  ppo_kl: number;
  /** KL to the reference (the configured estimator, aggregated as the loss); 0 when off. */
  kl_loss: number;
  /** Masked mean token entropy of the current policy. */
  entropy: number;
  grad_norm: number;
  /** Optimizer steps taken. */
  updates: number;
}

type Aux = { pgLoss: np.Array; pgClipfrac: np.Array; pgClipfracLower: np.Array; ppoKl: np.Array; klLoss: np.Array; entropy: np.Array };

/**
 * verl's policy loss (+ KL, - entropy) of one micro-batch times `scale`, as a function of the
 * per-token log-probs and entropies [R, T] (old, adv, mask, ref [R, T]; scale [1]), with the
 * metrics as aux. Consumes its arguments.
 */
export function grpoLoss(s: ActorLossSettings): LogpLoss<Aux> {
  const usesEntropy = s.entropyCoeff !== 0;
  return {
    usesEntropy,
    fn: (logp, ent, old, adv, mask, ref, scale) => {
      const out = computeActorLoss(
        { oldLogProb: old, logProb: logp, advantages: adv, responseMask: mask.ref, refLogProb: ref, entropy: usesEntropy ? ent.ref : undefined },
        { ...s, microBatchScale: 1 },
      );
      const entropy = lax.stopGradient(maskedMean(ent, mask));
      const loss = out.loss.mul(scale.reshape([]));
      return [loss, { pgLoss: out.pgLoss, pgClipfrac: out.pgClipfrac, pgClipfracLower: out.pgClipfracLower, ppoKl: out.ppoKl, klLoss: out.klLoss ?? np.zeros([]), entropy }];
    },
  };
}

/** grpoLoss over the model itself (params, inputs, targets, then grpoLoss's arrays): what jax-js differentiates. */
export function grpoMicroLoss(c: ModelConfig, s: ActorLossSettings): (p: Params, inp: ModelInputs, targets: np.Array, ...rest: np.Array[]) => [np.Array, Aux] {
  const loss = grpoLoss(s);
  return (p, inp, targets, ...rest) => {
    const [logp, ent] = logpAndEntropy(p, inp, targets, c, loss.usesEntropy);
    return loss.fn(logp, ent, ...rest);
  };
}

export interface MicroPlan {
  rows: number[];
  /** Padded length. */
  length: number;
}

/** Padded length: the longest row rounded up to `multiple`, at most maxSeq. */
export function padLength(n: number, multiple: number, maxSeq: number): number {
  return Math.min(maxSeq, Math.ceil(n / multiple) * multiple);
}

/** Mini-batches (consecutive rows) cut into micro-batches of at most `microRows` rows. */
export function planMiniBatches(rows: GrpoRow[], miniRows: number, microRows: number, padMultiple: number, maxSeq: number): MicroPlan[][] {
  const out: MicroPlan[][] = [];
  for (let i = 0; i < rows.length; i += miniRows) {
    const mini: MicroPlan[] = [];
    const end = Math.min(rows.length, i + miniRows);
    for (let j = i; j < end; j += microRows) {
      const idx = Array.from({ length: Math.min(microRows, end - j) }, (_, k) => j + k);
      const longest = Math.max(...idx.map((r) => rows[r].promptIds.length + rows[r].responseIds.length));
      mini.push({ rows: idx, length: padLength(longest, padMultiple, maxSeq) });
    }
    out.push(mini);
  }
  return out;
}

export class GrpoActor {
  readonly optimizer: Optimizer;
  readonly engine: LazyEngine;
  private readonly lossFn: LogpLoss<Aux>;

  /**
   * `params` is the policy (owned and updated); `ref` the frozen reference (owned; null when
   * klLossCoef is 0). `microRows` fixes the compiled batch size.
   */
  constructor(
    params: Params,
    public ref: Params | null,
    readonly config: ModelConfig,
    private readonly tok: TextTokenizer,
    optim: Partial<AdamWConfig>,
    readonly loss: ActorLossSettings,
    readonly microRows: number,
  ) {
    this.optimizer = new Optimizer(params, config, optim);
    this.engine = new LazyEngine(config);
    this.lossFn = grpoLoss(loss);
  }

  get params(): Params {
    return this.optimizer.params;
  }

  /** A micro-batch as host arrays (padded with empty rows to microRows) and its response mask. */
  private batch(rows: GrpoRow[], length: number): { batch: HostBatch; mask: Float32Array } {
    const seqs: Sequence[] = rows.map((r) => ({ ids: [...r.promptIds, ...r.responseIds], images: r.images }));
    while (seqs.length < this.microRows) seqs.push({ ids: [this.tok.ids.pad] });
    // Position t predicts ids[t + 1]: response tokens are scored at P-1 .. n-2 (padding rows: none).
    const mask = new Float32Array(this.microRows * length);
    rows.forEach((r, k) => {
      const n = Math.min(r.promptIds.length + r.responseIds.length, length);
      for (let t = r.promptIds.length - 1; t + 1 < n; t++) mask[k * length + t] = 1;
    });
    return { batch: buildHostBatch(seqs, this.config, { pad: "right", length, padId: this.tok.ids.pad, imageTokenId: this.tok.ids.image }), mask };
  }

  /** Per-position log-probs [microRows * T] of the rows' next tokens under `params` (not consumed). */
  async logprobs(params: Params, rows: GrpoRow[], length: number): Promise<Float32Array> {
    return (await (await this.engine.get()).logprobs(params, this.batch(rows, length).batch)).logp;
  }

  /** The sampler's log-probs laid out like `logprobs` (position P-1+j holds response token j). */
  samplerLayout(rows: GrpoRow[], length: number): Float32Array {
    return layout(rows, length, this.microRows, (r) => r.samplerLogprobs ?? []);
  }

  /**
   * Old-policy log-probs (recomputed under the current weights, or the sampler's) and reference
   * log-probs of every row's response tokens, micro-batch by micro-batch of `plan`: written into
   * the rows (oldLogProb, refLogProb), as verl's batch.union(old_log_prob).
   */
  async scoreRows(rows: GrpoRow[], plan: MicroPlan[][], oldLogProb: "recompute" | "sampler"): Promise<void> {
    for (const m of plan.flat()) {
      const mr = m.rows.map((i) => rows[i]);
      const old = oldLogProb === "recompute" ? await this.logprobs(this.params, mr, m.length) : this.samplerLayout(mr, m.length);
      const ref = this.ref ? await this.logprobs(this.ref, mr, m.length) : null;
      mr.forEach((r, k) => {
        r.oldLogProb = responseSlice(old, r, k, m.length);
        if (ref) r.refLogProb = responseSlice(ref, r, k, m.length);
      });
    }
  }

  /**
   * One mini-batch update: value-and-grad of each micro-batch (rows scored by scoreRows), gradients
   * summed, one AdamW step at `lr`.
   */
  async updateMiniBatch(rows: GrpoRow[], micros: MicroPlan[], lr: number): Promise<Omit<UpdateMetrics, "updates">> {
    const engine = await this.engine.get();
    const scale = 1 / micros.length;
    const R = this.microRows;
    const auxes: Aux[] = [];
    for (const m of micros) {
      const T = m.length;
      const mr = m.rows.map((r) => rows[r]);
      const b = this.batch(mr, T);
      const maskRows = Array.from({ length: R }, (_, k) => Array.from(b.mask.subarray(k * T, (k + 1) * T)));
      const adv = broadcastAdvantages(Array.from({ length: R }, (_, k) => mr[k]?.advantage ?? 0), maskRows);
      const old = layout(mr, T, R, (r) => r.oldLogProb ?? []);
      const ref = layout(mr, T, R, (r) => r.refLogProb ?? []);
      const rest = [np.array(old).reshape([R, T]), np.array(adv).reshape([R, T]), np.array(b.mask).reshape([R, T]), np.array(ref).reshape([R, T]), np.array([scale])];
      const { value, aux, grads } = await engine.valueAndGrad(this.params, b.batch, this.lossFn, rest);
      value.dispose(); // the loss is reported through aux; an undisposed scalar leaked per micro-batch
      auxes.push(aux);
      this.optimizer.accumulate(grads);
    }
    const gradNorm = await this.optimizer.step(lr);
    const mean = async (k: keyof Aux) => {
      let s = 0;
      for (const a of auxes) s += (await a[k].data())[0];
      return s / auxes.length;
    };
    return {
      pg_loss: await mean("pgLoss"),
      pg_clipfrac: await mean("pgClipfrac"),
      pg_clipfrac_lower: await mean("pgClipfracLower"),
      ppo_kl: await mean("ppoKl"),
      kl_loss: await mean("klLoss"),
      entropy: await mean("entropy"),
      grad_norm: gradNorm,
    };
  }

  /** Frees the engine, optimizer moments and the reference (not the policy params). */
  dispose(): void {
    this.engine.dispose();
    this.optimizer.dispose();
    if (this.ref) tree.dispose(this.ref);
    this.ref = null;
  }
}

/** Per-response-token values laid out [microRows * T]: position P-1+j holds token j's value. */
function layout(rows: GrpoRow[], T: number, microRows: number, values: (r: GrpoRow) => ArrayLike<number>): Float32Array {
  const out = new Float32Array(microRows * T);
  rows.forEach((r, b) => {
    const v = values(r);
    const P = r.promptIds.length;
    for (let j = 0; j < r.responseIds.length && P - 1 + j < T; j++) out[b * T + P - 1 + j] = v[j] ?? 0;
  });
  return out;
}

/** Row k's response-token values out of a [microRows * T] layout (inverse of layout()). */
function responseSlice(a: Float32Array, r: GrpoRow, k: number, T: number): Float32Array {
  const P = r.promptIds.length;
  const out = new Float32Array(r.responseIds.length);
  for (let j = 0; j < r.responseIds.length && P - 1 + j < T; j++) out[j] = a[k * T + P - 1 + j];
  return out;
}

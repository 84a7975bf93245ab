/**
 * The GRPO actor: log-probs of sampled responses (old policy, frozen reference) and the clipped
 * policy update, as verl's dp_actor does it. One micro-batch = R rows (prompt + response, right
 * padded to T); the loss is src/train/core.ts computeActorLoss on per-token log-probs, divided by
 * the number of micro-batches in the mini-batch (verl's gradient accumulation); gradients are
 * summed over the micro-batches of a mini-batch, then one AdamW step (global-norm clipping).
 * value-and-grad and the scoring pass are jit-compiled (one compile per (R, T) shape).
 *
 * With onnxruntime (model/ort, chosen by ort/runtime.ts) the loss is differentiated in two parts,
 * by the chain rule through the per-token log-probs: onnxruntime gives logp (and entropy), jax-js
 * differentiates the same computeActorLoss with respect to logp (tiny [R, T] arrays), and
 * onnxruntime back-propagates that gradient into the parameters (OrtLm.vjp). That needs one more
 * forward pass per micro-batch, and holds when the loss depends on the parameters only through
 * logp: with an entropy bonus (entropyCoeff != 0) the jax-js path is used.
 */
import { jit, lax, nn, numpy as np, tree, valueAndGrad } from "../model/jax";
import { buildBatch, type Sequence } from "../model/batch";
import type { ModelConfig } from "../model/config";
import { namedParams, paramsFromNamed, type Params } from "../model/params";
import type { Tensor } from "../model/safetensors";
import type { TextTokenizer } from "../model/tokenizer";
import { forward, tokenLogprobs, type ModelInputs } from "../model/transformer";
import { computeActorLoss, maskedMean, type ActorLossOptions } from "./core";
import { scatterAddRows } from "../model/grad";
import { LazyOrtLm, readInputs, readTargets, type OrtLm, type ParamFeeds } from "../model/ort/lm";
import { GradSum, adamw, initAdamW, stateToNamed, type AdamW, type AdamWConfig, type AdamWState, type Tree } from "./optim";

/** One training row: a prompt and one sampled response with its advantage. */
export interface GrpoRow {
  promptIds: number[];
  images: Float32Array[];
  responseIds: number[];
  advantage: number;
  /** The sampler's log-probs of responseIds (used when old log-probs are not recomputed). */
  samplerLogprobs?: number[];
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

type LossArgs = [p: Params, inp: ModelInputs, targets: np.Array, old: np.Array, adv: np.Array, mask: np.Array, ref: np.Array, scale: np.Array];
type Aux = { pgLoss: np.Array; pgClipfrac: np.Array; pgClipfracLower: np.Array; ppoKl: np.Array; klLoss: np.Array; entropy: np.Array };

/**
 * The differentiated function of one micro-batch: verl's policy loss (+ KL, - entropy) times
 * `scale`, with metrics as aux. Consumes everything it is given (pass tree.ref(params)).
 */
export function grpoMicroLoss(c: ModelConfig, s: ActorLossSettings): (...a: LossArgs) => [np.Array, Aux] {
  return (p, inp, targets, old, adv, mask, ref, scale) => {
    const logits = forward(p, inp, c);
    const logpAll = nn.logSoftmax(logits, -1);
    const logp = logpAll.ref.mul(nn.oneHot(targets, c.vocabSize)).sum(-1);
    // Entropy from the log-softmax (no division, see core.ts computeEntropy); differentiated only when used.
    const lpE = s.entropyCoeff !== 0 ? logpAll : lax.stopGradient(logpAll);
    const ent = np.sum(np.exp(lpE.ref).mul(lpE), -1).neg();
    const out = computeActorLoss(
      { oldLogProb: old, logProb: logp, advantages: adv, responseMask: mask.ref, refLogProb: ref, entropy: s.entropyCoeff !== 0 ? ent.ref : undefined },
      { ...s, microBatchScale: 1 },
    );
    const entropy = lax.stopGradient(maskedMean(ent, mask));
    const loss = out.loss.mul(scale.reshape([]));
    return [loss, { pgLoss: out.pgLoss, pgClipfrac: out.pgClipfrac, pgClipfracLower: out.pgClipfracLower, ppoKl: out.ppoKl, klLoss: out.klLoss ?? np.zeros([]), entropy }];
  };
}

/**
 * The same loss as grpoMicroLoss, as a function of the per-token log-probs (and the entropy,
 * a metric here): for the chain rule through logp (onnxruntime path, no entropy bonus).
 */
export function grpoLossOnLogp(s: ActorLossSettings): (logp: np.Array, ent: np.Array, old: np.Array, adv: np.Array, mask: np.Array, ref: np.Array, scale: np.Array) => [np.Array, Aux] {
  return (logp, ent, old, adv, mask, ref, scale) => {
    const out = computeActorLoss({ oldLogProb: old, logProb: logp, advantages: adv, responseMask: mask.ref, refLogProb: ref }, { ...s, microBatchScale: 1 });
    const entropy = maskedMean(ent, mask);
    const loss = out.loss.mul(scale.reshape([]));
    return [loss, { pgLoss: out.pgLoss, pgClipfrac: out.pgClipfrac, pgClipfracLower: out.pgClipfracLower, ppoKl: out.ppoKl, klLoss: out.klLoss ?? np.zeros([]), entropy }];
  };
}

type AnyFn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

export type EmbedValueAndGrad<A> = ((params: Params, inp: ModelInputs, ...rest: np.Array[]) => Promise<[np.Array, A, Params]>) & { dispose(): void };

/**
 * jit(valueAndGrad) of a loss with aux outputs, with the token-embedding gather taken out of the
 * differentiated function, as src/model/grad.ts does it (jax-js 0.1.25 cannot always compile the
 * scatter of take()'s gradient under jit): embeddings are gathered by a jitted take(), the loss is
 * differentiated with respect to (params, embeddings), and the embeddings' gradient rows are
 * added into the embedding matrix's gradient on the host. Does not consume `params`; consumes
 * `inp` and `rest`.
 */
export function makeEmbedValueAndGrad<A>(loss: (p: Params, inp: ModelInputs, ...rest: np.Array[]) => [np.Array, A]): EmbedValueAndGrad<A> {
  const gather = jit((embed: np.Array, tokens: np.Array) => np.take(embed, tokens, 0));
  const inner = (p: Params, tokEmb: np.Array, inp: ModelInputs, ...rest: np.Array[]) => loss(p, { ...inp, tokEmb }, ...rest);
  // Casts: tslab's TypeScript 5.0 cannot infer these generic signatures.
  const vg = jit(valueAndGrad(inner as AnyFn, { argnums: [0, 1], hasAux: true } as never) as unknown as AnyFn) as unknown as AnyFn & { dispose(): void };
  const fn = async (params: Params, inp: ModelInputs, ...rest: np.Array[]): Promise<[np.Array, A, Params]> => {
    const [B, T] = inp.tokens.shape;
    const ids = (await inp.tokens.ref.data()) as Int32Array;
    const tokEmb = gather(params.embed.ref, inp.tokens.ref);
    const [[value, aux], [g, gEmb]] = vg(tree.ref(params), tokEmb, inp, ...rest) as [[np.Array, A], [Params, np.Array]];
    const [V, d] = params.embed.shape;
    const acc = scatterAddRows(new Float32Array(V * d), (await gEmb.data()) as Float32Array, ids.subarray(0, B * T), d);
    g.embed = g.embed.add(np.array(acc).reshape([V, d]));
    return [value, aux, g];
  };
  return Object.assign(fn, {
    dispose() {
      gather.dispose();
      vg.dispose();
    },
  });
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
  readonly opt: AdamW;
  state: AdamWState<Params>;
  private vg: EmbedValueAndGrad<Aux>;
  private lpFn: ((p: Params, inp: ModelInputs, targets: np.Array) => np.Array) & { dispose(): void };
  private gradSum = new GradSum<Params>();
  private readonly ort: LazyOrtLm;
  private logpVg: (AnyFn & { dispose(): void }) | null = null;

  /**
   * `params` is the policy (owned and updated); `ref` the frozen reference (owned; null when
   * klLossCoef is 0). `microRows` fixes the compiled batch size.
   */
  constructor(
    public params: Params,
    public ref: Params | null,
    readonly config: ModelConfig,
    private readonly tok: TextTokenizer,
    optim: Partial<AdamWConfig>,
    readonly loss: ActorLossSettings,
    readonly microRows: number,
  ) {
    this.opt = adamw(optim);
    this.state = initAdamW(params);
    this.vg = makeEmbedValueAndGrad(grpoMicroLoss(config, loss));
    this.lpFn = jit((p: Params, inp: ModelInputs, targets: np.Array) => tokenLogprobs(p, inp, targets, config)) as never;
    this.ort = new LazyOrtLm(config);
  }

  /** The engine inputs of a micro-batch (padded with empty rows to microRows) and its mask. */
  private batch(rows: GrpoRow[], length: number): { inputs: ModelInputs; targets: np.Array; mask: Float32Array } {
    const seqs: (Sequence & { promptLength: number })[] = rows.map((r) => ({ ids: [...r.promptIds, ...r.responseIds], images: r.images, promptLength: r.promptIds.length }));
    while (seqs.length < this.microRows) seqs.push({ ids: [this.tok.ids.pad], promptLength: 1 });
    // Position t predicts ids[t + 1]: response tokens are scored at P-1 .. n-2 (padding rows: none).
    const mask = new Float32Array(this.microRows * length);
    rows.forEach((r, k) => {
      const n = Math.min(r.promptIds.length + r.responseIds.length, length);
      for (let t = r.promptIds.length - 1; t + 1 < n; t++) mask[k * length + t] = 1;
    });
    const b = buildBatch(seqs, this.config, { pad: "right", length, padId: this.tok.ids.pad, imageTokenId: this.tok.ids.image });
    return { inputs: b.inputs, targets: b.targets, mask };
  }

  /** Per-position log-probs [microRows * T] of the rows' next tokens under `params` (not consumed). */
  async logprobs(params: Params, rows: GrpoRow[], length: number): Promise<Float32Array> {
    const b = this.batch(rows, length);
    const lm = await this.ort.get();
    if (lm) return lm.logprobs(await lm.paramFeeds(params), await readInputs(b.inputs), await readTargets(b.targets));
    return new Float32Array((await this.lpFn(tree.ref(params), b.inputs, b.targets).data()) as Float32Array);
  }

  /** One micro-batch's loss, metrics and gradients by the chain rule through logp (module comment). */
  private async ortMicro(lm: OrtLm, pf: ParamFeeds, b: { inputs: ModelInputs; targets: np.Array }, rest: np.Array[]): Promise<[np.Array, Aux, Params]> {
    if (!this.logpVg) this.logpVg = jit(valueAndGrad(grpoLossOnLogp(this.loss) as AnyFn, { argnums: 0, hasAux: true } as never) as unknown as AnyFn) as unknown as AnyFn & { dispose(): void };
    const [R, T] = b.targets.shape;
    const x = await readInputs(b.inputs);
    const tg = await readTargets(b.targets);
    const f = await lm.logprobsEntropy(pf, x, tg);
    const [[value, aux], gLogp] = this.logpVg(np.array(f.logp).reshape([R, T]), np.array(f.entropy).reshape([R, T]), ...rest) as [[np.Array, Aux], np.Array];
    const w = new Float32Array((await gLogp.data()) as Float32Array);
    const r = await lm.vjp(pf, x, tg, w);
    return [value, aux, lm.gradTree(r.grads)];
  }

  /** The sampler's log-probs laid out like `logprobs` (position P-1+j holds response token j). */
  samplerLayout(rows: GrpoRow[], length: number): Float32Array {
    const out = new Float32Array(this.microRows * length);
    rows.forEach((r, b) => {
      const lp = r.samplerLogprobs ?? [];
      const P = r.promptIds.length;
      for (let j = 0; j < r.responseIds.length && P - 1 + j < length; j++) out[b * length + P - 1 + j] = lp[j] ?? 0;
    });
    return out;
  }

  /**
   * One mini-batch update: value-and-grad of each micro-batch (old and reference log-probs given
   * per micro-batch, laid out [microRows * T]), gradients summed, one AdamW step at `lr`.
   */
  async updateMiniBatch(rows: GrpoRow[], micros: MicroPlan[], old: Float32Array[], refLp: (Float32Array | null)[], lr: number): Promise<Omit<UpdateMetrics, "updates">> {
    const scale = 1 / micros.length;
    const lm = this.loss.entropyCoeff === 0 ? await this.ort.get() : null;
    const pf = lm ? await lm.paramFeeds(this.params) : null;
    const auxes: Aux[] = [];
    for (let i = 0; i < micros.length; i++) {
      const m = micros[i];
      const R = this.microRows;
      const T = m.length;
      const b = this.batch(m.rows.map((r) => rows[r]), T);
      const adv = new Float32Array(R * T);
      m.rows.forEach((r, k) => {
        for (let t = 0; t < T; t++) adv[k * T + t] = rows[r].advantage * b.mask[k * T + t];
      });
      const ref = refLp[i] ?? new Float32Array(R * T);
      const rest = [np.array(old[i]).reshape([R, T]), np.array(adv).reshape([R, T]), np.array(b.mask).reshape([R, T]), np.array(ref).reshape([R, T]), np.array([scale])];
      const [value, aux, grads] = lm && pf ? await this.ortMicro(lm, pf, b, rest) : await this.vg(this.params, b.inputs, b.targets, ...rest);
      value.dispose(); // the loss is reported through aux; an undisposed scalar leaked per micro-batch
      auxes.push(aux);
      this.gradSum.push(grads);
    }
    const r = this.opt.step(this.params, this.gradSum.take(), this.state, lr);
    this.params = r.params;
    this.state = r.state;
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
      grad_norm: (await r.gradNorm.data())[0],
    };
  }

  /** Optimizer moments as named arrays for a checkpoint (the caller disposes `step`). */
  optimizerArrays(): Record<string, np.Array> {
    return stateToNamed(this.state as unknown as AdamWState<Tree>, (t) => namedParams(t as unknown as Params));
  }

  restoreOptimizer(tensors: Record<string, Tensor>, step: number): void {
    const part = (prefix: string): Params => {
      const named: Record<string, np.Array> = {};
      for (const [k, t] of Object.entries(tensors)) if (k.startsWith(prefix)) named[k.slice(prefix.length)] = np.array(t.data).reshape(t.shape);
      return paramsFromNamed(this.config, named);
    };
    const m = part("m.");
    const v = part("v.");
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
    this.state = { step, m, v };
  }

  /** Frees the compiled functions, optimizer moments and the reference (not the policy params). */
  dispose(): void {
    this.vg.dispose();
    this.lpFn.dispose();
    this.logpVg?.dispose();
    this.ort.dispose();
    this.gradSum.dispose();
    this.opt.dispose();
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
    if (this.ref) tree.dispose(this.ref);
    this.ref = null;
  }
}

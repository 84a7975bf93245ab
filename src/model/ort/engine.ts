/**
 * The engine interface (../lm-engine.ts) on onnxruntime: the ONNX graphs of lm-graph.ts run by
 * OrtLm. A loss over log-probs is differentiated by the chain rule through them: onnxruntime
 * gives logp (and entropy), jax-js differentiates the loss with respect to logp (small [B, T]
 * arrays), and onnxruntime back-propagates that gradient into the parameters (OrtLm.vjp). That
 * holds when the loss depends on the parameters only through logp; a loss that uses the entropy
 * (an entropy bonus) goes to the jax-js engine instead.
 *
 * Decoding keeps a host KV cache [B, H, C, hd] per layer whose capacity C grows in chunks of
 * CACHE_CHUNK positions as tokens are added, and each step feeds only that: the filled part
 * rounded up to a chunk, not the whole context (which at 512 positions was most of a workshop
 * decoding step's memory traffic).
 */
import { jit, numpy as np, valueAndGrad } from "../jax";
import type { ModelConfig } from "../config";
import type { Params } from "../params";
import { buildHostBatch, type HostBatch } from "../batch";
import { ropeTables } from "../transformer";
import type { GenerateOptions, GenerationPlan } from "../sampling";
import type { DecodeSession, LmEngine, LogpLoss } from "../lm-engine";
import { JaxLm } from "../jax-lm";
import { OrtLm, type ParamFeeds } from "./lm";
import type { OrtModule } from "./runtime";

/** Cache capacity grows by this many positions (a multiple of 16, so the softmax's lanes line up as with the full context). */
export const CACHE_CHUNK = 32;

type AnyFn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
type LogpVg = AnyFn & { dispose(): void };

export class OrtEngine implements LmEngine {
  readonly name = "ort" as const;
  readonly lm: OrtLm;
  private logpVg = new Map<LogpLoss<unknown>, LogpVg>();
  private jaxLm: JaxLm | null = null;

  constructor(ort: OrtModule, readonly config: ModelConfig) {
    this.lm = new OrtLm(ort, config);
  }

  async logprobs(params: Params, b: HostBatch, o: { entropy?: boolean } = {}): Promise<{ logp: Float32Array; entropy: Float32Array | null }> {
    const pf = await this.lm.paramFeeds(params);
    if (o.entropy) return this.lm.logprobsEntropy(pf, b, b.targets);
    return { logp: await this.lm.logprobs(pf, b, b.targets), entropy: null };
  }

  async weightedGrad(params: Params, b: HostBatch, weights: Float32Array): Promise<{ value: number; grads: Params }> {
    const r = await this.lm.vjp(await this.lm.paramFeeds(params), b, b.targets, weights);
    let value = 0;
    for (let i = 0; i < weights.length; i++) if (weights[i] !== 0) value += weights[i] * r.logp[i];
    return { value, grads: this.lm.gradTree(r.grads) };
  }

  async valueAndGrad<A>(params: Params, b: HostBatch, loss: LogpLoss<A>, rest: np.Array[]): Promise<{ value: np.Array; aux: A; grads: Params }> {
    if (loss.usesEntropy) {
      if (!this.jaxLm) this.jaxLm = new JaxLm(this.config);
      return this.jaxLm.valueAndGrad(params, b, loss, rest);
    }
    let vg = this.logpVg.get(loss as LogpLoss<unknown>);
    if (!vg) {
      vg = jit(valueAndGrad(loss.fn as AnyFn, { argnums: 0, hasAux: true } as never) as unknown as AnyFn) as unknown as LogpVg;
      this.logpVg.set(loss as LogpLoss<unknown>, vg);
    }
    const pf = await this.lm.paramFeeds(params);
    const f = await this.lm.logprobsEntropy(pf, b, b.targets);
    const [[value, aux], gLogp] = vg(np.array(f.logp).reshape([b.B, b.T]), np.array(f.entropy).reshape([b.B, b.T]), ...rest) as [[np.Array, A], np.Array];
    const w = new Float32Array((await gLogp.data()) as Float32Array);
    const r = await this.lm.vjp(pf, b, b.targets, w);
    return { value, aux, grads: this.lm.gradTree(r.grads) };
  }

  async prefill(params: Params, plan: GenerationPlan, o: Pick<GenerateOptions, "imageTokenId" | "padId">): Promise<DecodeSession> {
    const pf = await this.lm.paramFeeds(params);
    // Prefill each distinct prompt once (GRPO groups repeat one prompt), then lay rows out.
    const b = buildHostBatch(plan.uniq, this.config, { pad: "left", length: plan.P, imageTokenId: o.imageTokenId, padId: o.padId });
    return new OrtDecodeSession(this.lm, pf, plan, await this.lm.prefill(pf, b));
  }

  dispose(): void {
    for (const f of this.logpVg.values()) f.dispose();
    this.logpVg.clear();
    this.jaxLm?.dispose();
    this.jaxLm = null;
    void this.lm.dispose();
  }
}

/**
 * The same positions, masks and token choice as the jax-js sampler: the prefill fills positions
 * 0..P-1, each step returns its token's key/value, written at its position here and attended to
 * from the next step on.
 */
class OrtDecodeSession implements DecodeSession {
  logits: Float32Array;
  private K: Float32Array[];
  private V: Float32Array[];
  private mask: Float32Array;
  /** Positions the cache holds (its row stride). */
  private cap: number;
  private readonly B: number;
  private readonly H: number;
  private readonly hd: number;

  constructor(
    private readonly lm: OrtLm,
    private readonly pf: ParamFeeds,
    plan: GenerationPlan,
    pre: { logits: Float32Array; k: Float32Array[]; v: Float32Array[] },
  ) {
    const c = lm.config;
    const { P, which } = plan;
    const S = c.maxSeq;
    const V = c.vocabSize;
    this.B = which.length;
    this.H = c.nHeads;
    this.hd = c.dModel / c.nHeads;
    const { B, H, hd } = this;
    this.cap = Math.min(S, Math.ceil((P + 1) / CACHE_CHUNK) * CACHE_CHUNK);
    this.K = Array.from({ length: c.nLayers }, () => new Float32Array(B * H * this.cap * hd));
    this.V = Array.from({ length: c.nLayers }, () => new Float32Array(B * H * this.cap * hd));
    this.mask = new Float32Array(B * this.cap);
    this.logits = new Float32Array(B * V);
    which.forEach((u, row) => {
      for (let l = 0; l < c.nLayers; l++)
        for (let h = 0; h < H; h++) {
          const src = (u * H + h) * P * hd;
          const dst = (row * H + h) * this.cap * hd;
          this.K[l].set(pre.k[l].subarray(src, src + P * hd), dst);
          this.V[l].set(pre.v[l].subarray(src, src + P * hd), dst);
        }
      for (let t = 0; t < P; t++) this.mask[row * this.cap + t] = plan.keyMask[row * S + t];
      this.logits.set(pre.logits.subarray(u * V, (u + 1) * V), row * V);
    });
  }

  /** Room for position `pos`: a larger cache (next chunk) with the filled part copied over. */
  private reserve(pos: number): void {
    if (pos < this.cap) return;
    const cap = Math.min(this.lm.config.maxSeq, Math.ceil((pos + 1) / CACHE_CHUNK) * CACHE_CHUNK);
    const { B, H, hd } = this;
    const grow = (a: Float32Array) => {
      const out = new Float32Array(B * H * cap * hd);
      for (let r = 0; r < B * H; r++) out.set(a.subarray(r * this.cap * hd, (r * this.cap + this.cap) * hd), r * cap * hd);
      return out;
    };
    this.K = this.K.map(grow);
    this.V = this.V.map(grow);
    const mask = new Float32Array(B * cap);
    for (let b = 0; b < B; b++) mask.set(this.mask.subarray(b * this.cap, (b + 1) * this.cap), b * cap);
    this.mask = mask;
    this.cap = cap;
  }

  async step(tokens: Int32Array, pos: number): Promise<Float32Array> {
    this.reserve(pos);
    const { B, H, hd, cap } = this;
    const rt = ropeTables(this.lm.config, [pos]);
    const r = await this.lm.decode(this.pf, tokens, rt.cos, rt.sin, this.K, this.V, this.mask);
    // The token's key/value join the cache at its position, attended to from the next step on.
    for (let l = 0; l < this.K.length; l++)
      for (let i = 0; i < B * H; i++) {
        this.K[l].set(r.k[l].subarray(i * hd, (i + 1) * hd), (i * cap + pos) * hd);
        this.V[l].set(r.v[l].subarray(i * hd, (i + 1) * hd), (i * cap + pos) * hd);
      }
    for (let b = 0; b < B; b++) this.mask[b * cap + pos] = 1;
    this.logits = r.logits;
    return this.logits;
  }

  dispose(): void {
    this.K = [];
    this.V = [];
  }
}

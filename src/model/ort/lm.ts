/**
 * The embedded model's heavy passes on onnxruntime: per-token log-probs, the gradient of a
 * weighted sum of them (training), prefill and one decoding step (sampling); engine.ts puts them
 * behind the engine interface. Parameters stay a jax-js tree everywhere else in the project
 * (optimizer, checkpoints); they are copied in once per tree (~22 MB for the reference model,
 * milliseconds) and gradients copied back as a tree.
 */
import { numpy as np } from "../jax";
import { patchDim, type ModelConfig } from "../config";
import { namedParams, paramsFromNamed, type Params } from "../params";
import type { HostBatch } from "../batch";
import { scatterAddRows } from "../grad";
import { buildDecodeGraph, buildLmGraph, type LmGraphKind } from "./lm-graph";
import { createSession, type OrtModule, type OrtSession, type OrtTensor } from "./runtime";

/** The input arrays of a batch (batch.ts HostBatch without targets). */
export type HostInputs = Omit<HostBatch, "targets" | "length">;

export type ParamFeeds = Record<string, OrtTensor>;

export class OrtLm {
  private sessions = new Map<LmGraphKind, Promise<OrtSession>>();
  private feedCache = new WeakMap<Params, Promise<ParamFeeds>>();

  constructor(
    readonly ort: OrtModule,
    readonly config: ModelConfig,
  ) {}

  private session(kind: LmGraphKind): Promise<OrtSession> {
    let s = this.sessions.get(kind);
    if (!s) {
      const model = kind === "decode" ? buildDecodeGraph(this.config) : buildLmGraph(this.config, kind);
      this.sessions.set(kind, (s = createSession(this.ort, model)));
    }
    return s;
  }

  f32(data: Float32Array, dims: number[]): OrtTensor {
    return new this.ort.Tensor("float32", data, dims);
  }

  i32(data: Int32Array, dims: number[]): OrtTensor {
    return new this.ort.Tensor("int32", data, dims);
  }

  /**
   * Copies of the parameters as input tensors (params not consumed), made once per parameter
   * tree: GRPO scores every micro-batch and the sampler every batch with the same weights. Trees
   * are never changed in place in this project (an optimizer step or an edit makes a new tree),
   * so a tree object stands for its values.
   */
  paramFeeds(p: Params): Promise<ParamFeeds> {
    let feeds = this.feedCache.get(p);
    if (!feeds) {
      feeds = (async () => {
        const out: ParamFeeds = {};
        for (const [name, a] of Object.entries(namedParams(p))) out[name] = this.f32(new Float32Array((await a.ref.data()) as Float32Array), a.shape);
        return out;
      })();
      this.feedCache.set(p, feeds);
    }
    return feeds;
  }

  private inputFeeds(x: HostInputs): Record<string, OrtTensor> {
    const half = this.config.dModel / this.config.nHeads / 2;
    return {
      tokens: this.i32(x.tokens, [x.B, x.T]),
      patches: this.f32(x.patches, [x.patchRows, patchDim(this.config)]),
      imageIndex: this.i32(x.imageIndex, [x.B, x.T]),
      isImage: this.f32(x.isImage, [x.B, x.T, 1]),
      keyMask: this.f32(x.keyMask, [x.B, x.T]),
      cos: this.f32(x.cos, [x.T, half]),
      sin: this.f32(x.sin, [x.T, half]),
    };
  }

  /** Log-prob of each target [B * T] (position t predicts targets[t]). */
  async logprobs(pf: ParamFeeds, x: HostInputs, targets: Int32Array): Promise<Float32Array> {
    return (await this.logprobsEntropy(pf, x, targets)).logp;
  }

  /** Log-probs of the targets and the entropy of each position's distribution, [B * T] each. */
  async logprobsEntropy(pf: ParamFeeds, x: HostInputs, targets: Int32Array): Promise<{ logp: Float32Array; entropy: Float32Array }> {
    const s = await this.session("logprobs");
    const r = await s.run({ ...pf, ...this.inputFeeds(x), targets: this.i32(targets, [x.B, x.T]) });
    return { logp: r.logp.data as Float32Array, entropy: r.entropy.data as Float32Array };
  }

  /**
   * Log-probs and the gradient of sum(weights * logp) for every parameter, by checkpoint name.
   * The loss of a run is then sum(weights * logp) plus whatever does not depend on the params.
   */
  async vjp(pf: ParamFeeds, x: HostInputs, targets: Int32Array, weights: Float32Array): Promise<{ logp: Float32Array; grads: Record<string, { data: Float32Array; shape: number[] }> }> {
    const s = await this.session("train");
    const r = await s.run({ ...pf, ...this.inputFeeds(x), targets: this.i32(targets, [x.B, x.T]), weights: this.f32(weights, [x.B, x.T]) });
    const grads: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const [k, t] of Object.entries(r)) if (k.startsWith("grad.")) grads[k.slice(5)] = { data: t.data as Float32Array, shape: [...t.dims] };
    // The token rows' gradients, added into the (tied) embedding's in a fixed order (lm-graph.ts embedBack).
    scatterAddRows(grads.embed.data, r.tokenGrad.data as Float32Array, x.tokens, this.config.dModel);
    return { logp: r.logp.data as Float32Array, grads };
  }

  /** Gradients (vjp's) as a jax-js parameter tree. */
  gradTree(grads: Record<string, { data: Float32Array; shape: number[] }>): Params {
    const named: Record<string, np.Array> = {};
    for (const [k, g] of Object.entries(grads)) named[k] = np.array(g.data).reshape(g.shape);
    return paramsFromNamed(this.config, named);
  }

  /** Keys/values [B, H, T, hd] per layer and the last position's logits [B, V]. */
  async prefill(pf: ParamFeeds, x: HostInputs): Promise<{ logits: Float32Array; k: Float32Array[]; v: Float32Array[] }> {
    const s = await this.session("prefill");
    const r = await s.run({ ...pf, ...this.inputFeeds(x) });
    const L = this.config.nLayers;
    return {
      logits: r.logits.data as Float32Array,
      k: Array.from({ length: L }, (_, l) => r[`k.${l}`].data as Float32Array),
      v: Array.from({ length: L }, (_, l) => r[`v.${l}`].data as Float32Array),
    };
  }

  /** One step (see lm-graph.ts buildDecodeGraph): caches [B, H, S, hd] per layer, pastMask [B, S], any S. */
  async decode(pf: ParamFeeds, token: Int32Array, cos: Float32Array, sin: Float32Array, pastK: Float32Array[], pastV: Float32Array[], pastMask: Float32Array): Promise<{ logits: Float32Array; k: Float32Array[]; v: Float32Array[] }> {
    const c = this.config;
    const B = token.length;
    const H = c.nHeads;
    const hd = c.dModel / H;
    const S = pastMask.length / B;
    const feeds: Record<string, OrtTensor> = { ...pf, token: this.i32(token, [B]), cos: this.f32(cos, [1, hd / 2]), sin: this.f32(sin, [1, hd / 2]), pastMask: this.f32(pastMask, [B, S]) };
    for (let l = 0; l < c.nLayers; l++) {
      feeds[`pastK.${l}`] = this.f32(pastK[l], [B, H, S, hd]);
      feeds[`pastV.${l}`] = this.f32(pastV[l], [B, H, S, hd]);
    }
    const s = await this.session("decode");
    const r = await s.run(feeds);
    return {
      logits: r.logits.data as Float32Array,
      k: Array.from({ length: c.nLayers }, (_, l) => r[`k.${l}`].data as Float32Array),
      v: Array.from({ length: c.nLayers }, (_, l) => r[`v.${l}`].data as Float32Array),
    };
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}

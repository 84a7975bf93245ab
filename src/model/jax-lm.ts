/**
 * The engine interface (lm-engine.ts) on jax-js: the model's own functions (transformer.ts,
 * decode.ts) jit-compiled per shape, gradients by jax-js autodiff (grad.ts keeps the embedding
 * gather outside the differentiated function). Runs everywhere; the fallback where onnxruntime
 * does not load, and the reference the onnxruntime graphs are tested against.
 */
import { blockUntilReady, jit, lax, nn, numpy as np, tree } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { buildHostBatch, toModelInputs, type HostBatch } from "./batch";
import { WINDOW, decodeStep, decodeWeights, flushWindow, prefill, rotaryMatrix, type DecodeWeights, type KVCache, type StepInputs } from "./decode";
import { makeValueAndGrad, makeValueAndGradAux, type ValueAndGrad, type ValueAndGradAux } from "./grad";
import { computeEntropy, forward, ropeTables, tokenLogprobs, type ModelInputs } from "./transformer";
import type { GenerateOptions, GenerationPlan } from "./sampling";
import type { DecodeSession, LmEngine, LogpLoss } from "./lm-engine";

type Jitted<F> = F & { dispose(): void };
type LogpFn = Jitted<(p: Params, inp: ModelInputs, targets: np.Array) => np.Array>;
type LogpEntFn = Jitted<(p: Params, inp: ModelInputs, targets: np.Array) => [np.Array, np.Array]>;

/**
 * Log-probs of the targets (as tokenLogprobs) and each position's entropy (computeEntropy) [B, T]
 * from one forward pass; the entropy is differentiated only when a loss uses it. Consumes all.
 */
export function logpAndEntropy(p: Params, inp: ModelInputs, targets: np.Array, c: ModelConfig, entropyGrad: boolean): [np.Array, np.Array] {
  const logits = forward(p, inp, c);
  const [B, T] = targets.shape;
  const logp = logits.ref.mul(nn.oneHot(targets, c.vocabSize)).sum(-1).sub(nn.logsumexp(logits.ref, -1)).reshape([B, T]);
  return [logp, computeEntropy(entropyGrad ? logits : lax.stopGradient(logits))];
}

type Compiled = {
  prefill: (p: Params, inp: ModelInputs) => { logits: np.Array; cache: KVCache };
  weights: (p: Params) => DecodeWeights;
  step: (p: Params, w: DecodeWeights, past: KVCache, win: KVCache, s: StepInputs) => { logits: np.Array; win: KVCache };
  flush: (past: KVCache, win: KVCache, place: np.Array) => KVCache;
  dispose(): void;
};

function compileDecode(c: ModelConfig, S: number, useJit: boolean): Compiled {
  const pre = (p: Params, inp: ModelInputs) => {
    const r = prefill(p, inp, c, S);
    tree.dispose(p);
    return r;
  };
  const weights = (p: Params) => {
    const r = decodeWeights(p);
    tree.dispose(p);
    return r;
  };
  const step = (p: Params, w: DecodeWeights, past: KVCache, win: KVCache, s: StepInputs) => {
    const r = decodeStep(p, w, past, win, s, c);
    tree.dispose(p);
    tree.dispose(w);
    return r;
  };
  if (!useJit) return { prefill: pre, weights, step, flush: flushWindow, dispose() {} };
  const fns = [jit(pre), jit(weights), jit(step), jit(flushWindow)];
  return {
    prefill: fns[0] as unknown as Compiled["prefill"],
    weights: fns[1] as unknown as Compiled["weights"],
    step: fns[2] as unknown as Compiled["step"],
    flush: fns[3] as unknown as Compiled["flush"],
    dispose() {
      for (const f of fns) f.dispose();
    },
  };
}

export class JaxLm implements LmEngine {
  readonly name = "jax" as const;
  private lpFn: LogpFn | null = null;
  private lpEntFn: LogpEntFn | null = null;
  private weighted: ValueAndGrad<[np.Array, np.Array]> | null = null;
  private losses = new Map<LogpLoss<unknown>, ValueAndGradAux<unknown>>();
  private decoders = new Map<boolean, Compiled>();

  constructor(readonly config: ModelConfig) {}

  async logprobs(params: Params, b: HostBatch, o: { entropy?: boolean } = {}): Promise<{ logp: Float32Array; entropy: Float32Array | null }> {
    const c = this.config;
    const { inputs, targets } = toModelInputs(b, c);
    if (!o.entropy) {
      if (!this.lpFn) this.lpFn = jit((p: Params, i: ModelInputs, t: np.Array) => tokenLogprobs(p, i, t, c)) as never;
      return { logp: new Float32Array((await this.lpFn!(tree.ref(params), inputs, targets).data()) as Float32Array), entropy: null };
    }
    if (!this.lpEntFn) this.lpEntFn = jit((p: Params, i: ModelInputs, t: np.Array) => logpAndEntropy(p, i, t, c, false)) as never;
    const [lp, ent] = this.lpEntFn!(tree.ref(params), inputs, targets);
    return { logp: new Float32Array((await lp.data()) as Float32Array), entropy: new Float32Array((await ent.data()) as Float32Array) };
  }

  async weightedGrad(params: Params, b: HostBatch, weights: Float32Array): Promise<{ value: number; grads: Params }> {
    const c = this.config;
    if (!this.weighted) this.weighted = makeValueAndGrad((p: Params, i: ModelInputs, t: np.Array, w: np.Array) => tokenLogprobs(p, i, t, c).mul(w).sum());
    const { inputs, targets } = toModelInputs(b, c);
    const [v, grads] = await this.weighted(params, inputs, targets, np.array(weights).reshape([b.B, b.T]));
    return { value: (await v.data())[0], grads };
  }

  async valueAndGrad<A>(params: Params, b: HostBatch, loss: LogpLoss<A>, rest: np.Array[]): Promise<{ value: np.Array; aux: A; grads: Params }> {
    const c = this.config;
    let vg = this.losses.get(loss as LogpLoss<unknown>) as ValueAndGradAux<A> | undefined;
    if (!vg) {
      vg = makeValueAndGradAux((p: Params, i: ModelInputs, t: np.Array, ...r: np.Array[]) => {
        const [logp, ent] = logpAndEntropy(p, i, t, c, loss.usesEntropy);
        return loss.fn(logp.reshape([b.B, b.T]), ent.reshape([b.B, b.T]), ...r);
      });
      this.losses.set(loss as LogpLoss<unknown>, vg as ValueAndGradAux<unknown>);
    }
    const { inputs, targets } = toModelInputs(b, c);
    const [value, aux, grads] = await vg(params, inputs, targets, ...rest);
    return { value, aux, grads };
  }

  async prefill(params: Params, plan: GenerationPlan, o: Pick<GenerateOptions, "imageTokenId" | "padId" | "jit">): Promise<DecodeSession> {
    const c = this.config;
    const useJit = o.jit ?? true;
    let fn = this.decoders.get(useJit);
    if (!fn) this.decoders.set(useJit, (fn = compileDecode(c, c.maxSeq, useJit)));
    const first = await prefillRows(fn, params, plan, o, c);
    return new JaxDecodeSession(fn, params, plan, first, c).ready();
  }

  dispose(): void {
    this.lpFn?.dispose();
    this.lpEntFn?.dispose();
    this.weighted?.dispose();
    for (const f of this.losses.values()) f.dispose();
    for (const d of this.decoders.values()) d.dispose();
    this.lpFn = this.lpEntFn = this.weighted = null;
    this.losses.clear();
    this.decoders.clear();
  }
}

/**
 * Prefill one distinct prompt at a time ([1, P]) and stack the rows. Why: jax-js's wasm
 * allocator keeps freed blocks per exact size class and never merges them, so every distinct
 * [B, P] prefill shape reserved its own peak (~0.2 GiB at B 8, P 208 for the workshop model)
 * for the life of the process; a long eval or a GRPO run then hit the 4 GiB memory32 limit.
 * Per row (each finished before the next is dispatched), that peak is B times smaller and
 * shared by every batch size. Repeated prompts (GRPO groups, padded batches: the same `ids`
 * array) are computed once.
 */
async function prefillRows(fn: Compiled, params: Params, plan: GenerationPlan, o: Pick<GenerateOptions, "imageTokenId" | "padId">, c: ModelConfig): Promise<{ logits: np.Array; cache: KVCache }> {
  const { P, uniq, which } = plan;
  const rows: { logits: np.Array; cache: KVCache }[] = [];
  for (const p of uniq) {
    const { inputs, targets } = toModelInputs(buildHostBatch([p], c, { pad: "left", length: P, imageTokenId: o.imageTokenId, padId: o.padId }), c);
    targets.dispose();
    const r = fn.prefill(tree.ref(params), inputs);
    // Wait for this row: jax-js is lazy, and rows dispatched together hold all their
    // intermediates at once (the batched peak again).
    await blockUntilReady(r);
    rows.push(r);
  }
  const stack = (get: (r: { logits: np.Array; cache: KVCache }) => np.Array) => np.concatenate(which.map((j) => get(rows[j]).ref), 0);
  const layer = (kind: "k" | "v") => Array.from({ length: c.nLayers }, (_, l) => stack((r) => r.cache[kind][l]));
  const out = { logits: stack((r) => r.logits), cache: { k: layer("k"), v: layer("v") } };
  for (const r of rows) {
    r.logits.dispose();
    tree.dispose(r.cache);
  }
  return out;
}

/**
 * Decoding with a fixed-size KV cache under jit. New keys/values go to a small window that is
 * flushed into the past cache every WINDOW tokens (decode.ts), so no step rewrites the whole cache.
 */
class JaxDecodeSession implements DecodeSession {
  logits: Float32Array = new Float32Array(0);
  private past: KVCache;
  private win: KVCache;
  private weights: DecodeWeights | null = null;
  private base: number;
  private readonly keyMask: Float32Array;
  private readonly winMask: Float32Array;
  private pending: np.Array | null;

  constructor(
    private readonly fn: Compiled,
    private readonly params: Params,
    plan: GenerationPlan,
    first: { logits: np.Array; cache: KVCache },
    private readonly c: ModelConfig,
  ) {
    const B = plan.which.length;
    this.past = first.cache;
    this.win = this.zeros(B);
    this.pending = first.logits;
    this.base = plan.P; // position held by window slot 0
    this.keyMask = plan.keyMask.slice();
    this.winMask = new Float32Array(B * WINDOW);
  }

  /** The first logits, read once (prefill is lazy until then). */
  async ready(): Promise<this> {
    if (this.pending) {
      this.logits = (await this.pending.data()) as Float32Array;
      this.pending = null;
    }
    return this;
  }

  private zeros(B: number): KVCache {
    const c = this.c;
    const z = () => Array.from({ length: c.nLayers }, () => np.zeros([B, c.nHeads, WINDOW, c.dModel / c.nHeads]));
    return { k: z(), v: z() };
  }

  async step(tokens: Int32Array, pos: number): Promise<Float32Array> {
    const c = this.c;
    const S = c.maxSeq;
    const B = tokens.length;
    const W = WINDOW;
    const hd = c.dModel / c.nHeads;
    if (!this.weights) this.weights = this.fn.weights(tree.ref(this.params));
    if (pos - this.base === W) {
      // Window full: move it into the past cache, start an empty one.
      const place = new Float32Array(S * W);
      for (let j = 0; j < W && this.base + j < S; j++) place[(this.base + j) * W + j] = 1;
      this.past = this.fn.flush(this.past, this.win, np.array(place).reshape([S, W]));
      this.win = this.zeros(B);
      for (let b = 0; b < B; b++) for (let j = 0; j < W && this.base + j < S; j++) this.keyMask[b * S + this.base + j] = 1;
      this.winMask.fill(0);
      this.base += W;
    }
    const slot = pos - this.base;
    for (let b = 0; b < B; b++) this.winMask[b * W + slot] = 1;
    const w = new Float32Array(W);
    w[slot] = 1;
    const rt = ropeTables(c, [pos]);
    const s: StepInputs = {
      token: np.array(tokens, { dtype: np.int32 }),
      write: np.array(w).reshape([1, 1, W, 1]),
      rot: np.array(rotaryMatrix(rt.cos, rt.sin)).reshape([hd, hd]),
      keyMask: np.array(this.keyMask.slice()).reshape([B, S]),
      winMask: np.array(this.winMask.slice()).reshape([B, W]),
    };
    const r = this.fn.step(tree.ref(this.params), tree.ref(this.weights), tree.ref(this.past), this.win, s);
    this.win = r.win;
    this.logits = (await r.logits.data()) as Float32Array;
    return this.logits;
  }

  dispose(): void {
    this.pending?.dispose();
    this.pending = null;
    tree.dispose(this.past);
    tree.dispose(this.win);
    if (this.weights) tree.dispose(this.weights);
    this.weights = null;
  }
}

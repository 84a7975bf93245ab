/**
 * Batched generation with a fixed-size KV cache under jit. Prompts are left-padded to a bucket
 * length (multiple of 16) so prefill compiles once per bucket, and the batch is padded to a fixed
 * row count so the decode step compiles once per model. New keys/values go to a small window that
 * is flushed into the past cache every WINDOW tokens (decode.ts). Stops a row at the end token or
 * at maxNewTokens; returns sampled ids and their log-probs under the model.
 */
import { blockUntilReady, jit, numpy as np, tree } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { buildBatch, type Sequence } from "./batch";
import { WINDOW, decodeStep, rotaryMatrix, decodeWeights, flushWindow, prefill, type DecodeWeights, type KVCache, type StepInputs } from "./decode";
import { ropeTables } from "./transformer";
import { chooseNext, planGeneration, type GenerateOptions, type Generation, type GenerationPlan } from "./sampling";

export type { GenerateOptions, Generation };
import { LazyOrtLm } from "./ort/lm";
import { ortGenerate } from "./ort/sampler";

type Compiled = {
  prefill: (p: Params, inp: Parameters<typeof prefill>[1]) => { logits: np.Array; cache: KVCache };
  weights: (p: Params) => DecodeWeights;
  step: (p: Params, w: DecodeWeights, past: KVCache, win: KVCache, s: StepInputs) => { logits: np.Array; win: KVCache };
  flush: (past: KVCache, win: KVCache, place: np.Array) => KVCache;
  dispose(): void;
};

function compile(c: ModelConfig, S: number, useJit: boolean): Compiled {
  const pre = (p: Params, inp: Parameters<typeof prefill>[1]) => {
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

export class Sampler {
  private compiled = new Map<string, Compiled>();
  private readonly ort: LazyOrtLm;

  constructor(readonly config: ModelConfig) {
    this.ort = new LazyOrtLm(config);
  }

  private get(useJit: boolean): Compiled {
    const key = String(useJit);
    let c = this.compiled.get(key);
    if (!c) this.compiled.set(key, (c = compile(this.config, this.config.maxSeq, useJit)));
    return c;
  }

  /**
   * Generate for each prompt (token ids incl. chat markers and image tokens). Does not consume
   * `params`. Prompts longer than maxSeq - 1 throw: truncate them first (chat.ts does).
   */
  async generate(params: Params, prompts: Sequence[], o: GenerateOptions): Promise<Generation[]> {
    if (prompts.length === 0) return [];
    const c = this.config;
    const plan = planGeneration(c, prompts, o);
    if (o.engine !== "jax" && o.jit !== false) {
      const lm = await this.ort.get();
      if (lm) return ortGenerate(lm, params, plan, o);
    }
    const { P, maxNew, keyMask } = plan;
    const S = c.maxSeq;
    const B = prompts.length;
    const fn = this.get(o.jit ?? true);
    const H = c.nHeads;
    const half = c.dModel / H / 2;
    let { logits, cache: past } = await this.prefillRows(fn, params, plan, o);
    const W = WINDOW;
    const hd = 2 * half;
    const zeros = () => Array.from({ length: c.nLayers }, () => np.zeros([B, H, W, hd]));
    let win: KVCache = { k: zeros(), v: zeros() };
    const weights = maxNew > 1 ? fn.weights(tree.ref(params)) : null;
    let base = P; // position held by window slot 0
    const winMask = new Float32Array(B * W);
    const V = c.vocabSize;
    if (maxNew <= 0) logits.dispose(); // otherwise each .data() below consumes it
    for (let i = 0; i < maxNew; i++) {
      const next = chooseNext((await logits.data()) as Float32Array, V, plan, o);
      const pos = P + i;
      if (plan.done.every(Boolean) || i === maxNew - 1 || pos >= S) break;
      if (pos - base === W) {
        // Window full: move it into the past cache, start an empty one.
        const place = new Float32Array(S * W);
        for (let j = 0; j < W && base + j < S; j++) place[(base + j) * W + j] = 1;
        past = fn.flush(past, win, np.array(place).reshape([S, W]));
        win = { k: zeros(), v: zeros() };
        for (let b = 0; b < B; b++) for (let j = 0; j < W && base + j < S; j++) keyMask[b * S + base + j] = 1;
        winMask.fill(0);
        base += W;
      }
      const slot = pos - base;
      for (let b = 0; b < B; b++) winMask[b * W + slot] = 1;
      const w = new Float32Array(W);
      w[slot] = 1;
      const rt = ropeTables(c, [pos]);
      const s: StepInputs = {
        token: np.array(next, { dtype: np.int32 }),
        write: np.array(w).reshape([1, 1, W, 1]),
        rot: np.array(rotaryMatrix(rt.cos, rt.sin)).reshape([hd, hd]),
        keyMask: np.array(keyMask.slice()).reshape([B, S]),
        winMask: np.array(winMask.slice()).reshape([B, W]),
      };
      ({ logits, win } = fn.step(tree.ref(params), tree.ref(weights!), tree.ref(past), win, s));
    }
    tree.dispose(past);
    tree.dispose(win);
    if (weights) tree.dispose(weights);
    return plan.out;
  }

  /**
   * Prefill one distinct prompt at a time ([1, P]) and stack the rows. Why: jax-js's wasm
   * allocator keeps freed blocks per exact size class and never merges them, so every distinct
   * [B, P] prefill shape reserved its own peak (~0.2 GiB at B 8, P 208 for the workshop model)
   * for the life of the process; a long eval or a GRPO run then hit the 4 GiB memory32 limit.
   * Per row (each finished before the next is dispatched), that peak is B times smaller and
   * shared by every batch size. Repeated prompts
   * (GRPO groups, padded batches: the same `ids` array) are computed once.
   */
  private async prefillRows(fn: Compiled, params: Params, plan: GenerationPlan, o: GenerateOptions): Promise<{ logits: np.Array; cache: KVCache }> {
    const c = this.config;
    const { P, uniq, which } = plan;
    const rows: { logits: np.Array; cache: KVCache }[] = [];
    for (const p of uniq) {
      const b = buildBatch([p], c, { pad: "left", length: P, imageTokenId: o.imageTokenId, padId: o.padId });
      b.targets.dispose();
      const r = fn.prefill(tree.ref(params), b.inputs);
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

  dispose(): void {
    for (const c of this.compiled.values()) c.dispose();
    this.compiled.clear();
    this.ort.dispose();
  }
}

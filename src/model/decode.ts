/**
 * KV-cache decoding as pure functions. `prefill` runs the prompt (left-padded to a bucket length)
 * and returns fixed-size "past" caches [B, H, S, hd] per layer. New keys/values do not go into
 * the past cache each step: rewriting a whole [B, H, S, hd] array per layer per token (the only
 * way to update it under jit, arrays being immutable) cost half of all decoding time. Instead
 * `decodeStep` writes into a small window [B, H, W, hd] through a one-hot mask and attends over
 * past and window together (one softmax over both, so the result is exact), and every W steps
 * `flushWindow` adds the window into the past cache at its positions with a one-hot placement
 * matmul. All shapes are fixed, so one jit compilation of each serves the whole generation.
 * Matmuls read weights transposed ([out, in], from `decodeWeights`): with the reduction axis
 * contiguous, jax-js's wasm kernels run these skinny [B, in] x [in, out] products ~1.5x faster.
 * All consume their inputs and not `p`.
 */
import { numpy as np, nn } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { forwardHidden, rmsNorm, type ModelInputs } from "./transformer";

/** Keys and values per layer: past [B, H, S, hd] and window [B, H, W, hd]. */
export type KVCache = { k: np.Array[]; v: np.Array[] };
export type DecodeCache = { past: KVCache; win: KVCache };

/** Positions the window holds between flushes. */
export const WINDOW = 16;

const NEG = -1e9;

/** Prompt pass: logits of the last position [B, V] and caches padded to S positions. */
export function prefill(p: Params, inp: ModelInputs, c: ModelConfig, S: number): { logits: np.Array; cache: KVCache } {
  const [B, P] = inp.tokens.shape;
  const { h, ks, vs } = forwardHidden(p, inp, c, true);
  const last = h.slice([], P - 1); // [B, d]
  const logits = np.matmul(last, p.embed.ref.transpose());
  const H = c.nHeads;
  const hd = c.dModel / H;
  const pad = (a: np.Array) => (S > P ? np.concatenate([a, np.zeros([B, H, S - P, hd])], 2) : a);
  return { logits, cache: { k: ks.map(pad), v: vs.map(pad) } };
}

/** Transposed ([out, in]) copies of the per-layer matmul weights, for decodeStep. */
export type DecodeWeights = { wqkvT: np.Array[]; woT: np.Array[]; wGateUpT: np.Array[]; wDownT: np.Array[] };

/** Consumes nothing of `p`; the result is owned by the caller (materialised copies). */
export function decodeWeights(p: Params): DecodeWeights {
  const t = (a: np.Array) => a.ref.transpose();
  return {
    wqkvT: p.layers.map((L) => t(L.wqkv)),
    woT: p.layers.map((L) => t(L.wo)),
    wGateUpT: p.layers.map((L) => t(L.wGateUp)),
    wDownT: p.layers.map((L) => t(L.wDown)),
  };
}

/**
 * The rotate-half rotary embedding (transformer.ts rope) for one position as a [hd, hd] matrix R,
 * row-major, so that rope(x) = x @ R: out[j] = x[j] cos_j - x[j+h] sin_j, out[j+h] = x[j] sin_j + x[j+h] cos_j.
 */
export function rotaryMatrix(cos: Float32Array, sin: Float32Array): Float32Array {
  const h = cos.length;
  const n = 2 * h;
  const R = new Float32Array(n * n);
  for (let j = 0; j < h; j++) {
    R[j * n + j] = cos[j];
    R[(j + h) * n + j] = -sin[j];
    R[j * n + j + h] = sin[j];
    R[(j + h) * n + j + h] = cos[j];
  }
  return R;
}

/** Per-step inputs, built on the JS side (stepInputs). */
export type StepInputs = {
  /** [B] int32 token fed at this step. */
  token: np.Array;
  /** [1, 1, W, 1] float32 one-hot of the window slot being written. */
  write: np.Array;
  /** [hd, hd] rotary embedding at that position as a matrix (rotaryMatrix): x_rot = x @ R. */
  rot: np.Array;
  /** [B, S] float32: 1 for past keys this step may attend to. */
  keyMask: np.Array;
  /** [B, W] float32: 1 for window slots written so far (including this step's). */
  winMask: np.Array;
};

/** x [B, in] times a weight stored transposed [out, in]: contraction over both last axes. */
function linT(x: np.Array, wT: np.Array): np.Array {
  return np.matmul(x, wT.ref.transpose());
}

/** One token per row. Reads `past` (not consumed: pass refs), consumes `win` and `s`. */
export function decodeStep(p: Params, w: DecodeWeights, past: KVCache, win: KVCache, s: StepInputs, c: ModelConfig): { logits: np.Array; win: KVCache } {
  const B = s.token.shape[0];
  const d = c.dModel;
  const H = c.nHeads;
  const hd = d / H;
  const S = s.keyMask.shape[1];
  const W = s.winMask.shape[1];
  let x = np.take(p.embed.ref, s.token, 0); // [B, d]
  const bias = np.concatenate([s.keyMask.reshape([B, 1, 1, S]), s.winMask.reshape([B, 1, 1, W])], -1).sub(1).mul(-NEG);
  const notWrite = np.subtract(1, s.write.ref);
  const k2: np.Array[] = [];
  const v2: np.Array[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const L = p.layers[l];
    const h = rmsNorm(x.ref, L.attnNorm.ref, c.normEps);
    const qkv = linT(h, w.wqkvT[l]); // [B, 3d]
    const heads = (a: np.Array) => a.reshape([B, 1, H, hd]).transpose([0, 2, 1, 3]); // [B, H, 1, hd]
    // Rotary on q and k of all heads at once: one [B * 2H, hd] x [hd, hd] product (fewer kernels than rope()).
    const qk = np.matmul(qkv.ref.slice([], [0, 2 * d]).reshape([B * 2 * H, hd]), s.rot.ref).reshape([B, 2 * d]);
    const q = heads(qk.ref.slice([], [0, d]));
    const k = heads(qk.slice([], [d, 2 * d]));
    const v = heads(qkv.slice([], [2 * d, 3 * d]));
    const kw = win.k[l].mul(notWrite.ref).add(k.mul(s.write.ref)); // [B, H, W, hd]
    const vw = win.v[l].mul(notWrite.ref).add(v.mul(s.write.ref));
    const sc = np.concatenate([np.einsum("bhqd,bhkd->bhqk", q.ref, past.k[l]), np.einsum("bhqd,bhkd->bhqk", q, kw.ref)], -1);
    const prob = nn.softmax(sc.mul(1 / Math.sqrt(hd)).add(bias.ref), -1); // [B, H, 1, S + W]
    const att = np.matmul(prob.ref.slice([], [], [], [0, S]), past.v[l]).add(np.matmul(prob.slice([], [], [], [S, S + W]), vw.ref)); // [B, H, 1, hd]
    k2.push(kw);
    v2.push(vw);
    x = x.add(linT(att.transpose([0, 2, 1, 3]).reshape([B, d]), w.woT[l]));
    const h2 = rmsNorm(x.ref, L.mlpNorm.ref, c.normEps);
    const gu = linT(h2, w.wGateUpT[l]);
    const f = c.dMlp;
    const act = nn.silu(gu.ref.slice([], [0, f])).mul(gu.slice([], [f, 2 * f]));
    x = x.add(linT(act, w.wDownT[l]));
  }
  bias.dispose();
  notWrite.dispose();
  s.write.dispose();
  s.rot.dispose();
  const hN = rmsNorm(x, p.finalNorm.ref, c.normEps);
  return { logits: np.matmul(hN, p.embed.ref.transpose()), win: { k: k2, v: v2 } };
}

/**
 * Past caches with the window added at its positions: `place` [S, W] is one-hot (place[t, j] = 1
 * when window slot j holds position t). The past holds zeros at those positions (prefill pads with
 * zeros and each window is flushed once), so adding is exact. Consumes all its inputs.
 */
export function flushWindow(past: KVCache, win: KVCache, place: np.Array): KVCache {
  const add = (a: np.Array, b: np.Array) => a.add(np.einsum("sw,bhwd->bhsd", place.ref, b));
  const out = { k: past.k.map((a, l) => add(a, win.k[l])), v: past.v.map((a, l) => add(a, win.v[l])) };
  place.dispose();
  return out;
}

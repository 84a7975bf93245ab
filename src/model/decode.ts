/**
 * KV-cache decoding as pure functions: `prefill` runs the prompt (left-padded to a bucket length)
 * and returns fixed-size caches [B, H, S, hd] per layer; `decodeStep` feeds one token per row and
 * writes its key/value at position `pos` through a one-hot mask, so every step has the same shapes
 * and one jit compilation serves the whole generation. Both consume their inputs and not `p`.
 */
import { numpy as np, nn } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { forwardHidden, rmsNorm, rope, type ModelInputs } from "./transformer";

export type KVCache = { k: np.Array[]; v: np.Array[] };

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

/** Per-step inputs, built on the JS side (stepInputs). */
export type StepInputs = {
  /** [B] int32 token fed at this step. */
  token: np.Array;
  /** [1, 1, S, 1] float32 one-hot of the position being written. */
  write: np.Array;
  /** [1, hd/2] rotary tables at that position. */
  cos: np.Array;
  sin: np.Array;
  /** [B, S] float32: 1 for keys this step may attend to. */
  keyMask: np.Array;
};

export function decodeStep(p: Params, cache: KVCache, s: StepInputs, c: ModelConfig): { logits: np.Array; cache: KVCache } {
  const B = s.token.shape[0];
  const d = c.dModel;
  const H = c.nHeads;
  const hd = d / H;
  const S = s.keyMask.shape[1];
  let x = np.take(p.embed.ref, s.token, 0); // [B, d]
  const bias = s.keyMask.reshape([B, 1, 1, S]).sub(1).mul(-NEG);
  const notWrite = np.subtract(1, s.write.ref);
  const k2: np.Array[] = [];
  const v2: np.Array[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const L = p.layers[l];
    const h = rmsNorm(x.ref, L.attnNorm.ref, c.normEps);
    const qkv = np.matmul(h, L.wqkv.ref); // [B, 3d]
    const heads = (a: np.Array) => a.reshape([B, 1, H, hd]).transpose([0, 2, 1, 3]); // [B, H, 1, hd]
    const q = rope(heads(qkv.ref.slice([], [0, d])), s.cos.ref, s.sin.ref);
    const k = rope(heads(qkv.ref.slice([], [d, 2 * d])), s.cos.ref, s.sin.ref);
    const v = heads(qkv.slice([], [2 * d, 3 * d]));
    const kc = cache.k[l].mul(notWrite.ref).add(k.mul(s.write.ref)); // [B, H, S, hd]
    const vc = cache.v[l].mul(notWrite.ref).add(v.mul(s.write.ref));
    const scores = np.einsum("bhqd,bhkd->bhqk", q, kc.ref).mul(1 / Math.sqrt(hd)).add(bias.ref); // [B, H, 1, S]
    const att = np.matmul(nn.softmax(scores, -1), vc.ref); // [B, H, 1, hd]
    k2.push(kc);
    v2.push(vc);
    const o = np.matmul(att.transpose([0, 2, 1, 3]).reshape([B, d]), L.wo.ref);
    x = x.add(o);
    const h2 = rmsNorm(x.ref, L.mlpNorm.ref, c.normEps);
    const gu = np.matmul(h2, L.wGateUp.ref);
    const f = c.dMlp;
    const act = nn.silu(gu.ref.slice([], [0, f])).mul(gu.slice([], [f, 2 * f]));
    x = x.add(np.matmul(act, L.wDown.ref));
  }
  bias.dispose();
  notWrite.dispose();
  s.write.dispose();
  s.cos.dispose();
  s.sin.dispose();
  const hN = rmsNorm(x, p.finalNorm.ref, c.normEps);
  return { logits: np.matmul(hN, p.embed.ref.transpose()), cache: { k: k2, v: v2 } };
}

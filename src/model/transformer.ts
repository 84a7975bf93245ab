/**
 * The decoder-only transformer as pure functions of (params, inputs): RMSNorm, rotary positions,
 * SwiGLU, causal attention with a key mask, tied embeddings. Image tokens are positions whose
 * embedding is replaced by the patch encoder's output (vision.ts), so text-only rows simply have
 * none. Every function follows jax-js move semantics: it consumes its array arguments.
 */
import { numpy as np, nn, tree } from "./jax";
import { imageTokens, type ModelConfig } from "./config";
import type { LayerParams, Params } from "./params";

/** What the forward pass reads. Build it with batch.ts (makeInputs). */
export type ModelInputs = {
  /** [B, T] int32 token ids (image positions hold the <image> id; its embedding is replaced). */
  tokens: np.Array;
  /** [B * maxImages * imageTokens, patchDim] float32 patches (zeros for rows without images). */
  patches: np.Array;
  /** [B, T] int32: row of `patches` each image position takes (0 elsewhere). */
  imageIndex: np.Array;
  /** [B, T, 1] float32: 1 at image positions. */
  isImage: np.Array;
  /** [B, T] float32: 1 for real positions, 0 for padding (keys never attended to). */
  keyMask: np.Array;
  /** [T, headDim/2] rotary tables for positions 0..T-1. */
  cos: np.Array;
  sin: np.Array;
  /**
   * [B, T, d] token embeddings gathered beforehand (the training passes do this for jit + grad, then
   * adds the embedding's input gradient by a host-side scatter). Absent: gathered here by take().
   * Either way the tokens array is consumed.
   */
  tokEmb?: np.Array;
};

const NEG = -1e9; // additive mask; finite so that fully masked rows (left padding) stay NaN-free

export function rmsNorm(x: np.Array, w: np.Array, eps: number): np.Array {
  const ms = np.square(x.ref).mean(-1, { keepdims: true });
  return x.div(np.sqrt(ms.add(eps))).mul(w);
}

/** Rotate-half rotary embedding. x [B, H, T, hd]; cos/sin broadcastable to [.., T, hd/2]. */
export function rope(x: np.Array, cos: np.Array, sin: np.Array): np.Array {
  const half = x.shape[x.ndim - 1] / 2;
  const x1 = x.ref.slice([], [], [], [0, half]);
  const x2 = x.slice([], [], [], [half, 2 * half]);
  const a = x1.ref.mul(cos.ref).sub(x2.ref.mul(sin.ref));
  const b = x1.mul(sin).add(x2.mul(cos));
  return np.concatenate([a, b], -1);
}

/** Rotary tables for `positions` (JS side; cheap). Returns [n, hd/2] Float32Arrays. */
export function ropeTables(c: ModelConfig, positions: number[]): { cos: Float32Array; sin: Float32Array } {
  const half = c.dModel / c.nHeads / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((p, i) => {
    for (let j = 0; j < half; j++) {
      const ang = p / Math.pow(c.ropeBase, (2 * j) / (2 * half));
      cos[i * half + j] = Math.cos(ang);
      sin[i * half + j] = Math.sin(ang);
    }
  });
  return { cos, sin };
}

/** Linear layer on the last axis via a 2-D matmul (the fast path in the wasm backend). */
function linear(x: np.Array, w: np.Array): np.Array {
  const shape = x.shape;
  const out = np.matmul(x.reshape([-1, shape[shape.length - 1]]), w.ref);
  return out.reshape([...shape.slice(0, -1), w.shape[1]]);
}

function swiglu(x: np.Array, wGateUp: np.Array, wDown: np.Array, f: number): np.Array {
  const gu = linear(x, wGateUp);
  const gate = gu.ref.slice([], [], [0, f]);
  const up = gu.slice([], [], [f, 2 * f]);
  return linear(nn.silu(gate).mul(up), wDown);
}

/** Embeddings of tokens with image positions replaced by patch embeddings. [B, T, d] */
export function embedInputs(p: Params, inp: Pick<ModelInputs, "tokens" | "patches" | "imageIndex" | "isImage" | "tokEmb">, c: ModelConfig): np.Array {
  const [B, T] = inp.tokens.shape;
  let tok: np.Array;
  if (inp.tokEmb) {
    tok = inp.tokEmb;
    inp.tokens.dispose();
  } else tok = np.take(p.embed.ref, inp.tokens, 0);
  const nTok = imageTokens(c);
  const pe = np.matmul(inp.patches, p.patchW.ref).add(p.patchB.ref);
  const peWithPos = pe.reshape([-1, nTok, c.dModel]).add(p.patchPos.ref).reshape([-1, c.dModel]);
  // Small gather ([B*T] x [B*images*patches]) by one-hot matmul: it stays differentiable under jit.
  const nRows = peWithPos.shape[0];
  const img = np.matmul(nn.oneHot(inp.imageIndex.reshape([B * T]), nRows), peWithPos).reshape([B, T, c.dModel]);
  const isImg = inp.isImage;
  return tok.mul(np.subtract(1, isImg.ref)).add(img.mul(isImg));
}

function splitHeads(x: np.Array, B: number, T: number, H: number, hd: number): np.Array {
  return x.reshape([B, T, H, hd]).transpose([0, 2, 1, 3]);
}

/**
 * One block over a full sequence. Returns the new residual stream and, when asked, the rotated
 * keys and values [B, H, T, hd] (the KV cache prefill).
 */
function block(L: LayerParams, x: np.Array, bias: np.Array, cos: np.Array, sin: np.Array, c: ModelConfig, keepKV: boolean): { x: np.Array; k?: np.Array; v?: np.Array } {
  const [B, T, d] = x.shape;
  const H = c.nHeads;
  const hd = d / H;
  const h = rmsNorm(x.ref, L.attnNorm.ref, c.normEps);
  const qkv = linear(h, L.wqkv);
  const q = rope(splitHeads(qkv.ref.slice([], [], [0, d]), B, T, H, hd), cos.ref, sin.ref);
  const k = rope(splitHeads(qkv.ref.slice([], [], [d, 2 * d]), B, T, H, hd), cos, sin);
  const v = splitHeads(qkv.slice([], [], [2 * d, 3 * d]), B, T, H, hd);
  const scores = np.einsum("bhqd,bhkd->bhqk", q, keepKV ? k.ref : k).mul(1 / Math.sqrt(hd)).add(bias);
  const att = np.matmul(nn.softmax(scores, -1), keepKV ? v.ref : v);
  const o = linear(att.transpose([0, 2, 1, 3]).reshape([B, T, d]), L.wo);
  let y = x.add(o);
  y = y.ref.add(swiglu(rmsNorm(y, L.mlpNorm.ref, c.normEps), L.wGateUp, L.wDown, c.dMlp));
  return keepKV ? { x: y, k, v } : { x: y };
}

/** Causal + key-padding additive bias [B, 1, T, T]. */
function attentionBias(keyMask: np.Array, T: number): np.Array {
  const allowed = np.tri(T).mul(keyMask.reshape([-1, 1, 1, T]));
  return allowed.sub(1).mul(-NEG);
}

/**
 * Final hidden states [B, T, d] (after the last norm), plus per-layer keys/values if keepKV.
 * Consumes `inp`; does not consume `p` (it takes refs): callers own p.
 */
export function forwardHidden(p: Params, inp: ModelInputs, c: ModelConfig, keepKV = false): { h: np.Array; ks: np.Array[]; vs: np.Array[] } {
  const T = inp.tokens.shape[1];
  let x = embedInputs(p, inp, c);
  const bias = attentionBias(inp.keyMask, T);
  const ks: np.Array[] = [];
  const vs: np.Array[] = [];
  const L = p.layers.length;
  for (let l = 0; l < L; l++) {
    const last = l === L - 1;
    const out = block(p.layers[l], x, last ? bias : bias.ref, last ? inp.cos : inp.cos.ref, last ? inp.sin : inp.sin.ref, c, keepKV);
    x = out.x;
    if (keepKV) {
      ks.push(out.k!);
      vs.push(out.v!);
    }
  }
  if (L === 0) {
    bias.dispose();
    inp.cos.dispose();
    inp.sin.dispose();
  }
  return { h: rmsNorm(x, p.finalNorm.ref, c.normEps), ks, vs };
}

/** Logits [B, T, V] with the tied embedding as output head. */
export function logitsFromHidden(p: Params, h: np.Array): np.Array {
  const [B, T, d] = h.shape;
  return np.matmul(h.reshape([B * T, d]), p.embed.ref.transpose()).reshape([B, T, -1]);
}

/** Logits [B, T, V]. Consumes `p` and `inp` (jax-js convention: pass `tree.ref(p)` to keep p). */
export function forward(p: Params, inp: ModelInputs, c: ModelConfig): np.Array {
  const out = logitsFromHidden(p, forwardHidden(p, inp, c).h);
  tree.dispose(p);
  return out;
}

/**
 * Per-token log-probability of `targets` [B, T] int32 (the next token at each position):
 * [B, T]. Differentiable in `p`. SFT loss = masked mean of the negative; GRPO ratios build on it.
 */
export function tokenLogprobs(p: Params, inp: ModelInputs, targets: np.Array, c: ModelConfig): np.Array {
  // log p(target) = logit[target] - logsumexp(logits): no [B, T, V] log-prob tensor is built.
  const logits = forward(p, inp, c);
  const [B, T] = targets.shape;
  const picked = logits.ref.mul(nn.oneHot(targets, c.vocabSize)).sum(-1);
  return picked.sub(nn.logsumexp(logits, -1)).reshape([B, T]);
}

/** Masked mean negative log-likelihood: the language-modelling / SFT loss. */
export function maskedNll(p: Params, inp: ModelInputs, targets: np.Array, lossMask: np.Array, c: ModelConfig): np.Array {
  const lp = tokenLogprobs(p, inp, targets, c);
  const total = lossMask.ref.sum();
  return lp.mul(lossMask).sum().neg().div(np.maximum(total, 1));
}

/**
 * verl `verl_F.entropy_from_logits` (what the actor's `compute_entropy` path uses):
 * logsumexp(logits) - sum(softmax(logits) * logits) over the last (vocabulary) axis.
 * [B, T, V] -> [B, T]. Consumes `logits`.
 *
 * softmax is formed as exp(logits - logsumexp) rather than with `nn.softmax`: in jax-js
 * 0.1.25 the JVP of `reciprocal` (used by every division whose denominator depends on the
 * differentiated input, hence by `nn.softmax`) leaks one buffer per `grad` call.
 */
export function computeEntropy(logits: np.Array): np.Array {
  const lse = nn.logsumexp(logits.ref, -1, { keepdims: true });
  const probs = np.exp(logits.ref.sub(lse.ref));
  const expected = np.sum(probs.mul(logits), -1);
  return np.squeeze(lse, -1).sub(expected);
}

/**
 * Turning token sequences (and image patches) into the arrays the forward pass reads.
 * All of it is plain JS on typed arrays; only the final arrays go to the engine.
 */
import { numpy as np } from "./jax";
import { imageTokens, patchDim, type ModelConfig } from "./config";
import type { ModelInputs } from "./transformer";
import { ropeTables } from "./transformer";

/** One sequence: token ids (image positions hold the <image> id) and its images' patches. */
export interface Sequence {
  ids: number[];
  /** One Float32Array [imageTokens * patchDim] per image, in order of the image positions. */
  images?: Float32Array[];
}

/**
 * A batch as plain typed arrays: what every engine reads (each converts it to its own arrays:
 * jax-js with `toModelInputs`, onnxruntime tensors in ort/lm.ts). Row-major [B, T] unless noted.
 */
export interface HostBatch {
  B: number;
  T: number;
  tokens: Int32Array;
  /** The next token at each position (0 where there is none). */
  targets: Int32Array;
  /** [patchRows, patchDim] image patches. */
  patches: Float32Array;
  patchRows: number;
  imageIndex: Int32Array;
  /** [B, T, 1]: 1 at image positions. */
  isImage: Float32Array;
  keyMask: Float32Array;
  /** [T, headDim/2] rotary tables. */
  cos: Float32Array;
  sin: Float32Array;
  /** Tokens per row (after cutting to T). */
  length: number[];
}

export interface BuiltBatch {
  inputs: ModelInputs;
  /** [B, T] int32: the next token at each position (0 where there is none). */
  targets: np.Array;
  /** Plain copies for callers that need them (masks, lengths). */
  length: number[];
}

export interface BatchOptions {
  /** Pad side: "right" for training/scoring, "left" for prompts before decoding. */
  pad?: "left" | "right";
  /** Total length T (default: longest sequence). */
  length?: number;
  imageTokenId: number;
  padId: number;
}

/**
 * Build inputs and next-token targets as host arrays. With right padding, position t predicts
 * ids[t + 1]. Sequences longer than T are cut (keeping the start).
 */
export function buildHostBatch(seqs: Sequence[], c: ModelConfig, opts: BatchOptions): HostBatch {
  const B = seqs.length;
  const T = opts.length ?? Math.max(...seqs.map((s) => s.ids.length));
  const nTok = imageTokens(c);
  const pd = patchDim(c);
  const perRow = c.maxImages * nTok;
  const tokens = new Int32Array(B * T).fill(opts.padId);
  const targets = new Int32Array(B * T);
  const keyMask = new Float32Array(B * T);
  const isImage = new Float32Array(B * T);
  const imageIndex = new Int32Array(B * T);
  const patches = new Float32Array(B * perRow * pd);
  const length: number[] = [];
  seqs.forEach((s, b) => {
    const ids = s.ids.slice(0, T);
    const n = ids.length;
    length.push(n);
    const off = opts.pad === "left" ? T - n : 0;
    let img = 0;
    const imgs = (s.images ?? []).slice(0, c.maxImages);
    imgs.forEach((im, i) => {
      if (im.length !== nTok * pd) throw new RangeError(`image ${i} of row ${b}: ${im.length} floats, expected ${nTok * pd}`);
      patches.set(im, (b * perRow + i * nTok) * pd);
    });
    for (let t = 0; t < n; t++) {
      const at = b * T + off + t;
      tokens[at] = ids[t];
      keyMask[at] = 1;
      if (t + 1 < n) targets[at] = ids[t + 1];
      if (ids[t] === opts.imageTokenId && img < imgs.length * nTok) {
        isImage[at] = 1;
        imageIndex[at] = b * perRow + img;
        img++;
      }
    }
  });
  const { cos, sin } = ropeTables(c, Array.from({ length: T }, (_, i) => i));
  return { B, T, tokens, targets, patches, patchRows: B * perRow, imageIndex, isImage, keyMask, cos, sin, length };
}

/** A host batch as jax-js arrays (the jax-js engine's conversion). */
export function toModelInputs(b: HostBatch, c: ModelConfig): { inputs: ModelInputs; targets: np.Array } {
  const { B, T } = b;
  const half = c.dModel / c.nHeads / 2;
  return {
    inputs: {
      tokens: np.array(b.tokens, { dtype: np.int32 }).reshape([B, T]),
      patches: np.array(b.patches).reshape([b.patchRows, patchDim(c)]),
      imageIndex: np.array(b.imageIndex, { dtype: np.int32 }).reshape([B, T]),
      isImage: np.array(b.isImage).reshape([B, T, 1]),
      keyMask: np.array(b.keyMask).reshape([B, T]),
      cos: np.array(b.cos).reshape([T, half]),
      sin: np.array(b.sin).reshape([T, half]),
    },
    targets: np.array(b.targets, { dtype: np.int32 }).reshape([B, T]),
  };
}

/** buildHostBatch as jax-js arrays. */
export function buildBatch(seqs: Sequence[], c: ModelConfig, opts: BatchOptions): BuiltBatch {
  const h = buildHostBatch(seqs, c, opts);
  return { ...toModelInputs(h, c), length: h.length };
}

/** Loss mask [B * T] as a host array: 1 where position t's target ids[t+1] is scored, from per-row start. */
export function lossMask(seqs: Sequence[], T: number, scoreFrom: number[]): Float32Array {
  const m = new Float32Array(seqs.length * T);
  seqs.forEach((s, b) => {
    const n = Math.min(s.ids.length, T);
    for (let t = Math.max(0, scoreFrom[b] - 1); t + 1 < n; t++) m[b * T + t] = 1;
  });
  return m;
}

/** Loss mask [B, T] (float32): 1 where position t's target ids[t+1] is scored, from per-row start. */
export function lossMaskFrom(seqs: Sequence[], T: number, scoreFrom: number[]): np.Array {
  return np.array(lossMask(seqs, T, scoreFrom)).reshape([seqs.length, T]);
}

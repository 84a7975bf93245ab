/**
 * Image preprocessing for the patch encoder (as a ViT does): decode with sharp, resize to
 * imageSize x imageSize RGB (stretching; medical images are roughly square), scale to [-1, 1],
 * and cut into patchSize x patchSize patches in raster order, each flattened as (row, col, rgb).
 */
import { isAbsolute, join } from "node:path";
import sharp from "sharp";
import type { ImageRef } from "../data/item";
import { imageTokens, patchDim, type ModelConfig } from "./config";
import { dataRoot } from "../paths";

/** Patches [imageTokens * patchDim] of one image. Paths are taken relative to the data root. */
export async function imagePatches(ref: ImageRef, c: ModelConfig): Promise<Float32Array> {
  return patchify(await imagePixels(ref, c), c.imageSize, c);
}

/** RGB bytes [imageSize, imageSize, 3] (raster) of one image, before patching. */
export async function imagePixels(ref: ImageRef, c: ModelConfig): Promise<Uint8Array> {
  const src = ref.bytes && ref.bytes.byteLength > 0 ? Buffer.from(ref.bytes) : ref.path ? (isAbsolute(ref.path) ? ref.path : join(dataRoot(), ref.path)) : null;
  if (!src) throw new Error("image has neither bytes nor path");
  const S = c.imageSize;
  return new Uint8Array(await modelView(src, S).raw().toBuffer());
}

/**
 * The picture moved by (dx, dy) pixels, edges repeated: the training-time augmentation of the
 * alignment stage. With a few hundred training images, a model that sees each one at one
 * position learns the images rather than what they show; small shifts (no flips: left and right
 * are answers in SLAKE) make it generalise to unseen ones, as random crops do for a ViT.
 */
export function shiftPixels(raw: Uint8Array, S: number, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(raw.length);
  const clamp = (v: number) => (v < 0 ? 0 : v >= S ? S - 1 : v);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const from = (clamp(y - dy) * S + clamp(x - dx)) * 3;
      const to = (y * S + x) * 3;
      out[to] = raw[from];
      out[to + 1] = raw[from + 1];
      out[to + 2] = raw[from + 2];
    }
  return out;
}

/** The picture the patch encoder reads: RGB, stretched to S x S (notebook 01 shows it beside the original). */
export function modelView(src: string | Buffer, S: number): ReturnType<typeof sharp> {
  return sharp(src).removeAlpha().toColourspace("srgb").resize(S, S, { fit: "fill" });
}

/** RGB bytes [S, S, 3] (raster) -> patches, scaled to [-1, 1]. */
export function patchify(raw: Uint8Array, S: number, c: ModelConfig): Float32Array {
  const ps = c.patchSize;
  const per = S / ps;
  const out = new Float32Array(imageTokens(c) * patchDim(c));
  let o = 0;
  for (let py = 0; py < per; py++)
    for (let px = 0; px < per; px++)
      for (let y = 0; y < ps; y++)
        for (let x = 0; x < ps; x++) {
          const at = ((py * ps + y) * S + (px * ps + x)) * 3;
          for (let ch = 0; ch < 3; ch++) out[o++] = raw[at + ch] / 127.5 - 1;
        }
  return out;
}

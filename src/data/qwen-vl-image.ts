/**
 * Images as the paper's evaluation prepared them: qwen-vl-utils `fetch_image` (QwenLM/Qwen2-VL
 * qwen-vl-utils/src/qwen_vl_utils/vision_process.py @ 487a12d6), which upstream's offline eval
 * runs through `process_vision_info`: decode, `convert("RGB")`, `smart_resize` (factor 28,
 * min 3,136 and max 12,845,056 pixels), PIL `resize` with its default bicubic filter. The HTTP
 * path then sends the result as a PNG data URL (upstream eval/run_api_inference.py), so the
 * server's own processor sees dimensions that are already multiples of 28 (its resize a no-op).
 */
import sharp from "sharp";
import { DataError, type ImageRef } from "./item";
import { imageBytes, type ItemContext } from "./images";

export const IMAGE_FACTOR = 28;
export const MIN_PIXELS = 4 * 28 * 28; // 3,136
export const MAX_PIXELS = 16384 * 28 * 28; // 12,845,056
export const MAX_RATIO = 200;

/** Python 3's round(): halves go to the even neighbour (round(2.5) == 2), unlike Math.round. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * qwen-vl-utils `smart_resize`: both sides multiples of `factor`, the pixel count within
 * [minPixels, maxPixels], the aspect ratio kept as closely as possible. Returns { height, width }.
 * Throws a RangeError past the 200:1 aspect ratio, as upstream raises ValueError.
 */
export function smartResize(height: number, width: number, o: { factor?: number; minPixels?: number; maxPixels?: number } = {}): { height: number; width: number } {
  const factor = o.factor ?? IMAGE_FACTOR;
  const minPixels = o.minPixels ?? MIN_PIXELS;
  const maxPixels = o.maxPixels ?? MAX_PIXELS;
  if (!(height > 0 && width > 0)) throw new RangeError(`image size ${width}x${height} is empty`);
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > MAX_RATIO) throw new RangeError(`absolute aspect ratio must be smaller than ${MAX_RATIO}, got ${ratio}`);
  let h = Math.max(factor, pyRound(height / factor) * factor);
  let w = Math.max(factor, pyRound(width / factor) * factor);
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.floor(height / beta / factor) * factor;
    w = Math.floor(width / beta / factor) * factor;
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return { height: h, width: w };
}

export interface PreparedImage {
  /** PNG bytes, RGB, at the smart_resize size. */
  png: Uint8Array;
  width: number;
  height: number;
  /** Size of the stored image. */
  sourceWidth: number;
  sourceHeight: number;
}

/** PIL's bicubic filter (Keys, a = -0.5), as Pillow's libImaging/Resample.c. */
function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, its first input pixel, count and fixed-point weights. */
function resampleCoefficients(inSize: number, outSize: number): { bounds: Int32Array; kk: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const pre = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates; a negative start is clamped to 0 either way.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicFilter((x + xmin - center + 0.5) * ss);
      pre[xx * ksize + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0) pre[xx * ksize + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const kk = new Int32Array(pre.length);
  for (let i = 0; i < pre.length; i++) kk[i] = pre[i] < 0 ? Math.trunc(-0.5 + pre[i] * (1 << PRECISION_BITS)) : Math.trunc(0.5 + pre[i] * (1 << PRECISION_BITS));
  return { bounds, kk, ksize };
}

const clip8 = (v: number) => {
  const x = v >> PRECISION_BITS; // sums stay within int32 (255 x at most ~1.3 x 2^22)
  return x < 0 ? 0 : x > 255 ? 255 : x;
};

/**
 * PIL's `Image.resize((w, h))` of an RGB image with its default bicubic filter, bit for bit:
 * a horizontal then a vertical pass (each only when that side changes), fixed-point weights as
 * Pillow's 8-bit path. Written out because no image library reproduces Pillow's resampler
 * (libvips' cubic, the nearest, differs by up to 190 levels on edges, 0.8 on average).
 */
export function pilResizeBicubic(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  let cur = src;
  let w = width;
  if (outWidth !== width) {
    const { bounds, kk, ksize } = resampleCoefficients(width, outWidth);
    const out = new Uint8Array(outWidth * height * 3);
    for (let y = 0; y < height; y++) {
      const row = y * width * 3;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        const k = xx * ksize;
        let s0 = 1 << (PRECISION_BITS - 1);
        let s1 = s0;
        let s2 = s0;
        for (let x = 0; x < xmax; x++) {
          const p = row + (x + xmin) * 3;
          const c = kk[k + x];
          s0 += cur[p] * c;
          s1 += cur[p + 1] * c;
          s2 += cur[p + 2] * c;
        }
        const o = (y * outWidth + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    cur = out;
    w = outWidth;
  }
  if (outHeight !== height) {
    const { bounds, kk, ksize } = resampleCoefficients(height, outHeight);
    const out = new Uint8Array(w * outHeight * 3);
    const n = w * 3;
    // Row by row (the input read in order, not column-wise), one accumulator per output byte.
    const acc = new Int32Array(n);
    for (let yy = 0; yy < outHeight; yy++) {
      const ymin = bounds[yy * 2];
      const ymax = bounds[yy * 2 + 1];
      acc.fill(1 << (PRECISION_BITS - 1));
      for (let y = 0; y < ymax; y++) {
        const c = kk[yy * ksize + y];
        const row = (y + ymin) * n;
        for (let i = 0; i < n; i++) acc[i] += cur[row + i] * c;
      }
      const o = yy * n;
      for (let i = 0; i < n; i++) out[o + i] = clip8(acc[i]);
    }
    cur = out;
  }
  return cur === src ? src.slice() : cur;
}

/**
 * Decode, RGB, smart_resize, PNG. No EXIF rotation (PIL's Image.open does not apply it); alpha is
 * dropped as PIL's convert("RGB") drops it; the resize is Pillow's bicubic (pilResizeBicubic).
 * Decoding is sharp's (libvips), which also maps an embedded ICC profile to sRGB where PIL keeps
 * the raw values. A corrupt image or a >200:1 one is a DataError naming the item.
 */
export async function prepareQwenVlImage(ref: ImageRef, ctx: ItemContext = "image"): Promise<PreparedImage> {
  const bytes = imageBytes(ref, ctx);
  const where = ref.path ?? "(inline bytes)";
  const name = typeof ctx === "string" ? ctx : `${ctx.dataset_name} item ${ctx.dataset_index}`;
  try {
    const { data, info } = await sharp(bytes, { failOn: "error" }).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    const sw = info.width;
    const sh = info.height;
    const d = smartResize(sh, sw);
    const rgb = pilResizeBicubic(new Uint8Array(data.buffer, data.byteOffset, data.length), sw, sh, d.width, d.height);
    const png = await sharp(rgb, { raw: { width: d.width, height: d.height, channels: 3 } }).png().toBuffer();
    return { png: new Uint8Array(png.buffer, png.byteOffset, png.length), width: d.width, height: d.height, sourceWidth: sw, sourceHeight: sh };
  } catch (e) {
    throw new DataError(where, name, "images", `cannot prepare image as qwen-vl-utils does: ${(e as Error).message}`);
  }
}

/** The PNG data URL of a prepared image, for an OpenAI `image_url` part. */
export async function qwenVlDataUrl(ref: ImageRef, ctx: ItemContext = "image"): Promise<string> {
  const p = await prepareQwenVlImage(ref, ctx);
  return `data:image/png;base64,${Buffer.from(p.png.buffer, p.png.byteOffset, p.png.byteLength).toString("base64")}`;
}

/**
 * Prompt tokens one image takes in Qwen2.5-VL: (H'/28)(W'/28) `<|image_pad|>` tokens after
 * smart_resize (14-pixel patches merged 2x2), plus `<|vision_start|>` and `<|vision_end|>`; they
 * count toward verl's data.max_prompt_length.
 */
export function qwenImageTokens(height: number, width: number): number {
  const r = smartResize(height, width);
  return (r.height / IMAGE_FACTOR) * (r.width / IMAGE_FACTOR) + 2;
}

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

/**
 * Decode, RGB, smart_resize, PNG. No EXIF rotation (PIL's Image.open does not apply it); alpha is
 * dropped as PIL's convert("RGB") drops it; the filter is bicubic (sharp's "cubic" is the
 * Catmull-Rom kernel, a = -0.5, the one PIL's BICUBIC uses; pixel-exact equality with PIL is not
 * claimed). A corrupt image or a >200:1 one is a DataError naming the item.
 */
export async function prepareQwenVlImage(ref: ImageRef, ctx: ItemContext = "image"): Promise<PreparedImage> {
  const bytes = imageBytes(ref, ctx);
  const where = ref.path ?? "(inline bytes)";
  const name = typeof ctx === "string" ? ctx : `${ctx.dataset_name} item ${ctx.dataset_index}`;
  try {
    const meta = await sharp(bytes).metadata();
    const sw = meta.width ?? 0;
    const sh = meta.height ?? 0;
    const d = smartResize(sh, sw);
    let img = sharp(bytes, { failOn: "error" }).removeAlpha().toColourspace("srgb");
    if (d.width !== sw || d.height !== sh) img = img.resize(d.width, d.height, { fit: "fill", kernel: "cubic" });
    const png = await img.png().toBuffer();
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

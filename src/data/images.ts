/**
 * Images: read (path or inline bytes), decode with sharp to RGB, and the paper's resize rule for
 * Qwen2.5-VL (data_process/train_dataset/resize_image.py): if a side is under 28 px, scale the
 * short side up to 28; else if a side is over 1024 px, scale the long side down to 1024; the other
 * side follows the aspect ratio, truncated to an integer as upstream does; bilinear filter.
 * A missing or corrupt image is a DataError naming the item and the file.
 */
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { DataError, type ImageRef, type Item } from "./item";

export const MIN_SIDE = 28;
export const MAX_SIDE = 1024;

export interface DecodedImage {
  /** Interleaved RGB, row-major, width * height * 3 bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

export type ItemContext = string | Pick<Item, "dataset_name" | "dataset_index">;

function ctxName(ctx: ItemContext): string {
  return typeof ctx === "string" ? ctx : `${ctx.dataset_name} item ${ctx.dataset_index}`;
}

/** The size upstream resizes an image to (unchanged when already within bounds). */
export function resizeDims(width: number, height: number, min = MIN_SIDE, max = MAX_SIDE): { width: number; height: number } {
  if (width < min || height < min) {
    return width < height ? { width: min, height: Math.trunc(height * (min / width)) } : { width: Math.trunc(width * (min / height)), height: min };
  }
  if (width > max || height > max) {
    return width > height ? { width: max, height: Math.trunc(height * (max / width)) } : { width: Math.trunc(width * (max / height)), height: max };
  }
  return { width, height };
}

/** The encoded bytes of an image: inline bytes first, else the file at `path`. */
export function imageBytes(ref: ImageRef, ctx: ItemContext): Uint8Array {
  if (ref.bytes && ref.bytes.length > 0) return ref.bytes;
  if (!ref.path) throw new DataError("(no file)", ctxName(ctx), "images", "image has neither bytes nor a path");
  try {
    return new Uint8Array(readFileSync(ref.path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(ref.path, ctxName(ctx), "images", code === "ENOENT" ? "image file not found" : `cannot read image file: ${(e as Error).message}`);
  }
}

/** Decode to RGB (alpha dropped, greyscale expanded), optionally resized by the paper's rule. */
export async function loadImage(ref: ImageRef, ctx: ItemContext, opts: { resize?: boolean } = {}): Promise<DecodedImage> {
  const bytes = imageBytes(ref, ctx);
  const file = ref.path ?? "(inline bytes)";
  try {
    let img = sharp(bytes, { failOn: "error" }).rotate().removeAlpha().toColourspace("srgb");
    if (opts.resize) {
      const meta = await sharp(bytes).metadata();
      const w = meta.autoOrient?.width ?? meta.width ?? 0;
      const h = meta.autoOrient?.height ?? meta.height ?? 0;
      const d = resizeDims(w, h);
      if (d.width !== w || d.height !== h) img = img.resize(d.width, d.height, { fit: "fill", kernel: "linear" });
    }
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, ctxName(ctx), "images", `cannot decode image: ${(e as Error).message}`);
  }
}

/** Apply the resize rule and re-encode (PNG keeps pixels exact; JPEG input stays JPEG). */
export async function resizeForModel(ref: ImageRef, ctx: ItemContext): Promise<ImageRef> {
  const bytes = imageBytes(ref, ctx);
  const file = ref.path ?? "(inline bytes)";
  try {
    const meta = await sharp(bytes).metadata();
    const d = resizeDims(meta.width ?? 0, meta.height ?? 0);
    if (d.width === meta.width && d.height === meta.height) return { bytes, path: ref.path };
    const pipeline = sharp(bytes, { failOn: "error" }).resize(d.width, d.height, { fit: "fill", kernel: "linear" });
    const out = meta.format === "jpeg" ? await pipeline.jpeg({ quality: 95 }).toBuffer() : await pipeline.png().toBuffer();
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.length), path: ref.path };
  } catch (e) {
    throw new DataError(file, ctxName(ctx), "images", `cannot decode image: ${(e as Error).message}`);
  }
}

const MIME: Record<string, string> = { jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif", tiff: "image/tiff" };

/** A data: URL for the OpenAI image_url part; the format is read from the bytes, not the name. */
export async function imageToDataUrl(ref: ImageRef, ctx: ItemContext = "image"): Promise<string> {
  const bytes = imageBytes(ref, ctx);
  let format: string | undefined;
  try {
    format = (await sharp(bytes).metadata()).format;
  } catch (e) {
    throw new DataError(ref.path ?? "(inline bytes)", ctxName(ctx), "images", `cannot decode image: ${(e as Error).message}`);
  }
  const mime = format ? MIME[format] : undefined;
  if (!mime) throw new DataError(ref.path ?? "(inline bytes)", ctxName(ctx), "images", `unsupported image format '${format}'`);
  return `data:${mime};base64,${Buffer.from(bytes).toString("base64")}`;
}

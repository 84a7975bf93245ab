/**
 * Images: read (path or inline bytes), decode with sharp to RGB, and the paper's resize rule for
 * Qwen2.5-VL (data_process/train_dataset/resize_image.py): if a side is under 28 px, scale the
 * short side up to 28; else if a side is over 1024 px, scale the long side down to 1024; the other
 * side follows the aspect ratio, truncated to an integer as upstream does; bilinear filter.
 * A missing or corrupt image is a DataError naming the item and the file.
 */
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { DataError, itemOrigin, type ImageRef, type Item } from "./item";

export const MIN_SIDE = 28;
export const MAX_SIDE = 1024;

export interface DecodedImage {
  /** Interleaved RGB, row-major, width * height * 3 bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

export type ItemContext = string | Pick<Item, "dataset_name" | "dataset_index">;

export function ctxName(ctx: ItemContext): string {
  if (typeof ctx === "string") return ctx;
  const from = itemOrigin(ctx);
  return `${ctx.dataset_name} item ${ctx.dataset_index}${from ? ` (${from.file}, record ${from.record})` : ""}`;
}

/** Formats read (sharp's decoders as bundled): listed in the README. */
export const IMAGE_FORMATS = ["jpeg", "png", "webp", "gif", "tiff", "avif", "heif", "svg"] as const;

/**
 * Check that bytes decode as an image (decoded at a small size; JPEG shrinks on load), before they
 * are written anywhere: a text file or a truncated JPEG fails, naming the image and the item.
 */
export async function verifyImageBytes(bytes: Uint8Array, file: string, ctx: ItemContext, index = 0): Promise<void> {
  try {
    await sharp(bytes, { failOn: "error" }).resize(16, 16, { fit: "fill" }).raw().toBuffer();
  } catch (e) {
    throw new DataError(file, ctxName(ctx), `images[${index}]`, `not a readable image (${IMAGE_FORMATS.join(", ")}): ${(e as Error).message}`);
  }
}

/** What is wrong with one image of an item, or null: missing file, unreadable, or not an image. */
export async function imageProblem(ref: ImageRef, ctx: ItemContext, index = 0): Promise<{ kind: "missing" | "corrupt"; message: string } | null> {
  let bytes: Uint8Array;
  try {
    bytes = imageBytes(ref, ctx);
  } catch (e) {
    return { kind: "missing", message: (e as Error).message };
  }
  try {
    await verifyImageBytes(bytes, ref.path ?? "(inline bytes)", ctx, index);
    return null;
  } catch (e) {
    return { kind: "corrupt", message: (e as Error).message };
  }
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

export interface ImageCheck {
  /** Distinct images checked (by path, or by item for inline bytes). */
  checked: number;
  missing: number;
  corrupt: number;
  /** The first problems, one line each. */
  problems: string[];
}

/** Check every image of the items: present and decodable (data stats reports what is not). */
export async function checkImages(items: Item[], maxProblems = 10): Promise<ImageCheck> {
  const out: ImageCheck = { checked: 0, missing: 0, corrupt: 0, problems: [] };
  const seen = new Set<string>();
  const jobs: (() => Promise<void>)[] = [];
  for (const it of items) {
    (it.images ?? []).forEach((ref, i) => {
      const key = ref.bytes && ref.bytes.length > 0 ? null : ref.path;
      if (key !== null) {
        if (seen.has(key ?? "")) return;
        seen.add(key ?? "");
      }
      jobs.push(async () => {
        out.checked++;
        const p = await imageProblem(ref, it, i);
        if (!p) return;
        out[p.kind]++;
        if (out.problems.length < maxProblems) out.problems.push(p.message);
      });
    });
  }
  for (let j = 0; j < jobs.length; j += 8) await Promise.all(jobs.slice(j, j + 8).map((f) => f()));
  return out;
}

/**
 * A grid of VQA items for notebooks: a few items with distinct images, closed and open mixed,
 * each shown as a PNG thumbnail with its question, answer and options underneath.
 */
import sharp from "sharp";
import { imageBytes } from "../data/images";
import { isOpen, type Item } from "../data/item";
import type { GridItem } from "./grid";
import { modelView } from "../model/vision";

/**
 * Up to `n` items with images, each image used once, alternating closed and open questions where
 * both exist, spread evenly over the list (deterministic: same items every run). Fewer than `n`
 * only when there are fewer distinct images.
 */
export function pickGridItems(items: Item[], n: number): Item[] {
  const withImage = items.filter((it) => it.images && it.images.length > 0);
  const pools = [withImage.filter((it) => !isOpen(it)), withImage.filter(isOpen)].filter((p) => p.length > 0);
  const out: Item[] = [];
  const usedImages = new Set<string>();
  const cursors = pools.map(() => 0);
  const wrapped = pools.map(() => false);
  const strides = pools.map((p) => Math.max(1, Math.floor(p.length / Math.max(1, Math.ceil(n / pools.length)))));
  let stalled = 0;
  for (let k = 0; out.length < n && stalled < pools.length; k++) {
    const p = k % pools.length;
    const pool = pools[p];
    let placed = false;
    // Jump by the stride after a placed item, step by one past an image already used.
    while (!placed) {
      if (cursors[p] >= pool.length) {
        // The stride may have jumped over unused images: one more pass, item by item.
        if (wrapped[p]) break;
        wrapped[p] = true;
        cursors[p] = 0;
        strides[p] = 1;
      }
      const it = pool[cursors[p]];
      const key = `${it.dataset_name}\u0000${it.images![0].path ?? it.dataset_index}`;
      if (usedImages.has(key)) {
        cursors[p] += 1;
        continue;
      }
      cursors[p] += strides[p];
      usedImages.add(key);
      out.push(it);
      placed = true;
    }
    stalled = placed ? 0 : stalled + 1;
  }
  return out;
}

/** "Q: … A: …" with the options of a closed item and the source's modality / organ. */
export function itemCaption(it: Item, maxQuestion = 160): string {
  const q = it.question.length > maxQuestion ? `${it.question.slice(0, maxQuestion - 1)}…` : it.question;
  const where = [it.misc?.modality, it.misc?.organ].filter((v) => v !== undefined && v !== null && v !== "").join(", ");
  const head = `${it.dataset_name} #${it.dataset_index}${where ? ` (${where})` : ""}, ${isOpen(it) ? "open" : "closed"}`;
  const answer = isOpen(it) ? `A: ${it.answer}` : `A: ${it.answer_label}. ${it.answer}  [${Object.entries(it.options).map(([l, t]) => `${l}. ${t}`).join(" / ")}]`;
  return `${head}. Q: ${q} ${answer}`;
}

/**
 * PNG thumbnails with captions, `scale` times the displayed `width` (default 1.5: sharper on
 * high-density screens, while the saved notebook stays small).
 */
export async function itemGridEntries(items: Item[], opts: { width?: number; scale?: number } = {}): Promise<GridItem[]> {
  const width = Math.round((opts.width ?? 220) * (opts.scale ?? 1.5));
  const out: GridItem[] = [];
  for (const it of items) {
    const ref = it.images?.[0];
    if (!ref) continue;
    const png = await sharp(imageBytes(ref, it)).rotate().resize({ width, withoutEnlargement: true }).png().toBuffer();
    out.push({ png: new Uint8Array(png.buffer, png.byteOffset, png.length), caption: itemCaption(it) });
  }
  return out;
}

/**
 * Each item's image twice: the original (its size in the caption) and what the embedded model's
 * patch encoder reads, `imageSize` x `imageSize` (src/model/vision.ts), enlarged with nearest-
 * neighbour so its pixels stay visible, with the patch grid drawn over it.
 */
export async function modelViewEntries(items: Item[], c: { imageSize: number; patchSize: number }, opts: { width?: number } = {}): Promise<GridItem[]> {
  const width = opts.width ?? 220;
  const out: GridItem[] = [];
  for (const it of items) {
    const ref = it.images?.[0];
    if (!ref) continue;
    const bytes = imageBytes(ref, it);
    const meta = await sharp(bytes).metadata();
    const orig = await sharp(bytes).resize({ width, height: width, fit: "inside" }).png().toBuffer();
    const small = await modelView(Buffer.from(bytes), c.imageSize).png().toBuffer();
    const cell = width / c.imageSize;
    const lines: string[] = [];
    for (let p = c.patchSize; p < c.imageSize; p += c.patchSize) {
      const x = Math.round(p * cell);
      lines.push(`<line x1="${x}" y1="0" x2="${x}" y2="${width}"/><line x1="0" y1="${x}" x2="${width}" y2="${x}"/>`);
    }
    const grid = Buffer.from(`<svg width="${width}" height="${width}" xmlns="http://www.w3.org/2000/svg"><g stroke="#ffcc00" stroke-width="1" opacity="0.7">${lines.join("")}</g></svg>`);
    const big = await sharp(small).resize(width, width, { kernel: "nearest" }).composite([{ input: grid }]).png().toBuffer();
    const head = `${it.dataset_name} #${it.dataset_index}`;
    out.push({ png: new Uint8Array(orig.buffer, orig.byteOffset, orig.length), caption: `${head}: the original, ${meta.width}x${meta.height} px` });
    out.push({ png: new Uint8Array(big.buffer, big.byteOffset, big.length), caption: `${head}: what the model reads, ${c.imageSize}x${c.imageSize} px in ${(c.imageSize / c.patchSize) ** 2} patches of ${c.patchSize}x${c.patchSize} (one token each)` });
  }
  return out;
}

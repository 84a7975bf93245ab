/**
 * Image sizes of items (each distinct image once), read from the file headers with sharp, with the
 * size the paper's resize rule gives (images.ts resizeDims: short side up to 28, long side down to
 * 1024) and the item's modality and organ where the source records them.
 */
import { basename } from "node:path";
import * as aq from "arquero";
import sharp from "sharp";
import { imageBytes, resizeDims } from "./images";
import type { Item } from "./item";
import type { ColumnTable } from "./summary";

export interface ImageSizeRow {
  dataset: string;
  image: string;
  format: string;
  width: number;
  height: number;
  /** The size after the resize rule (equal to width / height when it changes nothing). */
  model_width: number;
  model_height: number;
  /** 1 when the resize rule changes the size, else 0 (a number, so tables can sum it). */
  resized: number;
  modality: string;
  organ: string;
}

const label = (v: unknown, missing: string) => (v === undefined || v === null || String(v).trim() === "" ? missing : String(v).trim());

/** One row per distinct image (by path, else position) of the items; items without images are skipped. */
export async function imageSizeRows(items: Item[], opts: { missing?: string } = {}): Promise<ImageSizeRow[]> {
  const missing = opts.missing ?? "(not recorded)";
  const seen = new Set<string>();
  const rows: ImageSizeRow[] = [];
  for (const it of items) {
    for (const [i, ref] of (it.images ?? []).entries()) {
      const key = `${it.dataset_name}\u0000${ref.path ?? `${it.dataset_index}#${i}`}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const meta = await sharp(imageBytes(ref, it)).metadata();
      const width = meta.autoOrient?.width ?? meta.width ?? 0;
      const height = meta.autoOrient?.height ?? meta.height ?? 0;
      const d = resizeDims(width, height);
      rows.push({
        dataset: it.dataset_name,
        image: ref.path ? (basename(ref.path) === "source.jpg" ? ref.path.split(/[\\/]/).slice(-2).join("/") : basename(ref.path)) : `${it.dataset_index}#${i}`,
        format: meta.format ?? "?",
        width,
        height,
        model_width: d.width,
        model_height: d.height,
        resized: d.width !== width || d.height !== height ? 1 : 0,
        modality: label(it.misc?.modality, missing),
        // SLAKE writes "Lung", VQA-RAD "CHEST": one case, so the same organ groups together.
        organ: it.misc?.organ === undefined || it.misc?.organ === null || String(it.misc.organ).trim() === "" ? missing : String(it.misc.organ).trim().toUpperCase(),
      });
    }
  }
  return rows;
}

/** Count, median and range of widths and heights per dataset and `by` ("modality" or "organ"). */
export function imageSizeStats(rows: ImageSizeRow[], by: "modality" | "organ"): ColumnTable {
  if (!rows.length) return aq.table({ dataset: [], [by]: [], images: [] });
  return aq
    .from(rows)
    .groupby("dataset", by)
    .rollup({
      images: aq.op.count(),
      median_width: aq.op.median("width"),
      median_height: aq.op.median("height"),
      min_width: aq.op.min("width"),
      max_width: aq.op.max("width"),
      min_height: aq.op.min("height"),
      max_height: aq.op.max("height"),
      resized: aq.op.sum("resized"),
    })
    .orderby("dataset", aq.desc("images"));
}

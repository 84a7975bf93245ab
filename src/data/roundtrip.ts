/**
 * The parquet interchange round trip in one call: write items as HF-layout parquet (images
 * embedded as bytes), read them back and compare field by field. Used by notebook 01 to show the
 * format is lossless; the writer and reader themselves are in parquet.ts.
 */
import { statSync } from "node:fs";
import { imageBytes } from "./images";
import type { Item } from "./item";
import { readParquetAll, writeParquetItems } from "./parquet";

export interface RoundTrip {
  file: string;
  bytes: number;
  written: number;
  read: number;
  /** "record N: field" for every difference; empty when the round trip is exact. */
  differences: string[];
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Fields that differ between an item and its copy; image bytes compare as files' contents. */
export function itemDifferences(a: Item, b: Item): string[] {
  const out: string[] = [];
  for (const f of ["question", "answer_label", "answer", "reasoning", "dataset_name", "dataset_index", "hash"] as const) {
    if ((a[f] ?? null) !== (b[f] ?? null)) out.push(f);
  }
  if (JSON.stringify(a.options) !== JSON.stringify(b.options)) out.push("options");
  if (JSON.stringify(a.misc ?? null) !== JSON.stringify(b.misc ?? null)) out.push("misc");
  const ai = a.images ?? [];
  const bi = b.images ?? [];
  if ((a.images === null) !== (b.images === null) || ai.length !== bi.length) out.push("images");
  else
    ai.forEach((im, i) => {
      if (im.path !== bi[i].path) out.push(`images[${i}].path`);
      else if (!same(imageBytes(im, a), imageBytes(bi[i], b))) out.push(`images[${i}].bytes`);
    });
  return out;
}

export async function parquetRoundTrip(items: Item[], file: string): Promise<RoundTrip> {
  const written = await writeParquetItems(file, items);
  const back = await readParquetAll(file);
  const differences: string[] = [];
  if (back.length !== items.length) differences.push(`row count: wrote ${items.length}, read ${back.length}`);
  items.forEach((it, i) => {
    if (back[i]) for (const f of itemDifferences(it, back[i])) differences.push(`record ${i}: ${f}`);
  });
  return { file, bytes: statSync(file).size, written, read: back.length, differences };
}

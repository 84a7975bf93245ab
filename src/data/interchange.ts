/**
 * Conversions between an in-memory Item and its on-disk row (HF / parquet / interchange jsonl):
 * options and misc are JSON strings on disk; images are {bytes, path} structs.
 */
import { DataError, validateItem, type ImageRef, type Item } from "./item";

export interface ItemRow {
  images: { bytes: Uint8Array | null; path: string | null }[] | null;
  question: string;
  options: string;
  answer_label: string;
  answer: string;
  reasoning: string | null;
  dataset_name: string;
  dataset_index: number;
  hash: string | null;
  misc: string | null;
}

export function itemToRow(it: Item): ItemRow {
  return {
    images: it.images ? it.images.map((im) => ({ bytes: im.bytes ?? null, path: im.path ?? null })) : null,
    question: it.question,
    options: JSON.stringify(it.options),
    answer_label: it.answer_label,
    answer: it.answer,
    reasoning: it.reasoning ?? null,
    dataset_name: it.dataset_name,
    dataset_index: it.dataset_index,
    hash: it.hash ?? null,
    misc: it.misc ? JSON.stringify(it.misc) : null,
  };
}

function parseJsonField(v: unknown, file: string, record: string | number, field: string): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new DataError(file, record, field, `not valid JSON: ${(e as Error).message}`);
  }
}

/** Upstream's v1 eval set stores options as "A. x\nB. y" text in places; accept that too. */
function parseOptions(v: unknown, file: string, record: string | number): Record<string, string> {
  if (typeof v === "string" && !v.trim().startsWith("{")) {
    const out: Record<string, string> = {};
    for (const line of v.split("\n")) {
      const m = /^([A-Z])[.:)]\s*(.*)$/.exec(line.trim());
      if (!m) throw new DataError(file, record, "options", `cannot read option line '${line}'`);
      out[m[1]] = m[2];
    }
    return out;
  }
  const o = parseJsonField(v, file, record, "options");
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw new DataError(file, record, "options", "expected a JSON object {A: text, ...}");
  return o as Record<string, string>;
}

function toBytes(v: unknown, file: string, record: string | number, field: string): Uint8Array | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return new Uint8Array(Buffer.from(v, "base64"));
  if (Array.isArray(v)) return Uint8Array.from(v as number[]);
  throw new DataError(file, record, field, `expected image bytes, got ${typeof v}`);
}

/** A row read from parquet or jsonl back to a validated Item. */
export function rowToItem(row: Record<string, unknown>, file: string, record: string | number): Item {
  const imgs = row.images;
  let images: ImageRef[] | null = null;
  if (imgs !== null && imgs !== undefined) {
    if (!Array.isArray(imgs)) throw new DataError(file, record, "images", "expected a list of {bytes, path}");
    images = imgs.map((im, i) => {
      if (im === null || typeof im !== "object") throw new DataError(file, record, `images[${i}]`, "expected {bytes, path}");
      const o = im as Record<string, unknown>;
      const path = o.path === undefined || o.path === null ? null : String(o.path);
      return { bytes: toBytes(o.bytes, file, record, `images[${i}].bytes`), path };
    });
  }
  const misc = row.misc === null || row.misc === undefined ? undefined : parseJsonField(row.misc, file, record, "misc");
  const idx = row.dataset_index;
  const value = {
    images,
    question: row.question,
    options: parseOptions(row.options, file, record),
    answer_label: row.answer_label,
    answer: row.answer,
    reasoning: row.reasoning ?? null,
    dataset_name: row.dataset_name,
    dataset_index: typeof idx === "bigint" ? Number(idx) : idx,
    ...(row.hash !== null && row.hash !== undefined ? { hash: row.hash } : {}),
    ...(misc !== undefined && misc !== null ? { misc } : {}),
  };
  return validateItem(value, file, record);
}

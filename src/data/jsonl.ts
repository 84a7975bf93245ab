/**
 * Interchange JSONL: one item a line, in the HF row shape (options / misc as JSON strings are
 * accepted on read, objects are written). Images are written as {path} or, with embedImages, as
 * {bytes: base64, path}; bytes already in memory are always written.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Item } from "./item";
import { rowToItem } from "./interchange";
import { dataRoot } from "../paths";
import { asRecord, collectJsonl, Collector, confineItemImages, IndexRegistry } from "./source";

/**
 * Items of an interchange JSONL file. Image paths resolve against the file's folder and must stay
 * inside it (or `imageRoots`, default the shared data folder); a dataset_index reused for another
 * question is an error.
 */
export function readItemsJsonl(file: string, opts: { skipBad?: boolean; imageRoots?: string[] } = {}): Collector {
  const indices = new IndexRegistry();
  const roots = opts.imageRoots ?? [dataRoot()];
  return collectJsonl(new Collector(file, !!opts.skipBad), file, (value, record) => {
    const it = confineItemImages(rowToItem(asRecord(value, file, record), file, record), file, roots, record);
    indices.check(it, file, record);
    return it;
  });
}

export function itemToJson(it: Item, embedImages = false): Record<string, unknown> {
  return {
    images: it.images
      ? it.images.map((im) => {
          let bytes: Uint8Array | null = im.bytes;
          if (!bytes && embedImages && im.path) bytes = new Uint8Array(readFileSync(im.path));
          // Bytes held in memory are always written (an image with no path would be lost otherwise).
          return { bytes: bytes ? Buffer.from(bytes).toString("base64") : null, path: im.path };
        })
      : null,
    question: it.question,
    options: it.options,
    answer_label: it.answer_label,
    answer: it.answer,
    reasoning: it.reasoning,
    dataset_name: it.dataset_name,
    dataset_index: it.dataset_index,
    hash: it.hash ?? null,
    misc: it.misc ?? null,
  };
}

/** Write items atomically (temp file + rename). */
export function writeItemsJsonl(file: string, items: Iterable<Item>, opts: { embedImages?: boolean } = {}): number {
  const lines: string[] = [];
  for (const it of items) lines.push(JSON.stringify(itemToJson(it, opts.embedImages)));
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.length ? `${lines.join("\n")}\n` : "");
  renameSync(tmp, file);
  return lines.length;
}

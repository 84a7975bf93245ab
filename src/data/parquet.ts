/**
 * Hugging Face parquet in the interchange schema (UCSC-VLAA/MedVLThinker-Eval, -m23k-tokenized,
 * -pmc_vqa): images list<struct<bytes: binary, path: string>>, options and misc JSON strings.
 *
 * Reading streams one row group at a time over a file handle (an AsyncBuffer whose slices are
 * positioned reads), so memory stays bounded by a row group, not the file. Writing streams too:
 * row groups are encoded one by one and flushed to a temp file, renamed at the end.
 * Only the buffer APIs of hyparquet / hyparquet-writer are used (they type-check under tslab).
 */
import { closeSync, openSync, readSync, renameSync, fstatSync, writeSync, unlinkSync } from "node:fs";
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type Compressors, type FileMetaData } from "hyparquet";
import { decompressBrotli, decompressGzip, decompressLz4, decompressLz4Raw, decompressZstd } from "hyparquet-compressors";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import { dataRoot } from "../paths";
import { DataError, setItemOrigin, type Item } from "./item";
import { ctxName, verifyImageBytes } from "./images";
import { itemToRow, rowToItem, type ItemRow } from "./interchange";
import { confineItemImages, decodeUtf8, IndexRegistry, type SkippedRecord } from "./source";

/**
 * Codecs read: hyparquet's own UNCOMPRESSED and SNAPPY, and from hyparquet-compressors (the
 * library's codec package) ZSTD (DuckDB's and Polars' default), GZIP (Spark's), BROTLI, LZ4_RAW
 * and the older LZ4. Listed in the README; LZO is not read.
 */
export const PARQUET_CODECS = ["UNCOMPRESSED", "SNAPPY", "ZSTD", "GZIP", "BROTLI", "LZ4_RAW", "LZ4"] as const;
// An empty page (an all-null column in a v2 page) compresses to a codec's empty frame, e.g. LZ4's
// single 0x00 token, which hyparquet-compressors 1.1.2's LZ4 reader rejects: nothing to decode.
const orEmpty =
  (f: (input: Uint8Array, outputLength: number) => Uint8Array) =>
  (input: Uint8Array, outputLength: number): Uint8Array =>
    outputLength === 0 ? new Uint8Array(0) : f(input, outputLength);
const DECOMPRESSORS: Compressors = {
  ZSTD: orEmpty((input) => decompressZstd(input)),
  GZIP: orEmpty(decompressGzip),
  BROTLI: orEmpty(decompressBrotli),
  LZ4: orEmpty(decompressLz4),
  LZ4_RAW: orEmpty(decompressLz4Raw),
};

/** Strings must be UTF-8: a bad byte is an error naming the file, never a silent U+FFFD. */
const PARSERS = { stringFromBytes: (bytes: Uint8Array) => bytes && decodeUtf8(bytes, "(parquet)", "a string column") };

/** Text columns some writers store as plain BYTE_ARRAY (no UTF8 annotation): bytes -> text. */
const TEXT_COLUMNS = ["question", "options", "answer_label", "answer", "reasoning", "dataset_name", "hash", "misc"];

/** The interchange columns, in the order HF writes them. */
const COLUMNS: (keyof ItemRow)[] = ["images", "question", "options", "answer_label", "answer", "reasoning", "dataset_name", "dataset_index", "hash", "misc"];

/** An AsyncBuffer over an open file: each slice is one positioned read. */
export function fileAsyncBuffer(fd: number): AsyncBuffer {
  const size = fstatSync(fd).size;
  return {
    byteLength: size,
    slice(start: number, end?: number): ArrayBuffer {
      const stop = Math.min(end ?? size, size);
      const buf = Buffer.alloc(Math.max(0, stop - start));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + got) as ArrayBuffer;
    },
  };
}

/** Open a parquet file; a missing or unreadable one is a DataError naming it. */
function openParquet(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(path, "-", "(file)", code === "ENOENT" ? "no such file" : `cannot read: ${(e as Error).message}`);
  }
}

export async function parquetFileMetadata(path: string): Promise<FileMetaData> {
  const fd = openParquet(path);
  try {
    return await parquetMetadataAsync(fileAsyncBuffer(fd));
  } catch (e) {
    throw new DataError(path, "-", "(parquet)", `not a readable parquet file: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

export interface ReadParquetOptions {
  skipBad?: boolean;
  /** Filled with the rows that failed validation when skipBad is set. */
  skipped?: SkippedRecord[];
  /** Folders path-only images may live in besides the file's own (default: the shared data folder). */
  imageRoots?: string[];
  /** Shared across the shards of one dataset, so a dataset_index reused in another shard is caught. */
  indices?: IndexRegistry;
}

/** Items of a parquet file, one array per row group. */
export async function* readParquetItems(path: string, opts: ReadParquetOptions = {}): AsyncGenerator<Item[]> {
  const fd = openParquet(path);
  const roots = opts.imageRoots ?? [dataRoot()];
  const indices = opts.indices ?? new IndexRegistry();
  try {
    const file = fileAsyncBuffer(fd);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (e) {
      throw new DataError(path, "-", "(parquet)", `not a readable parquet file: ${(e as Error).message}`);
    }
    const columns = metadata.schema.slice(1).map((s) => s.name);
    for (const need of ["question", "options", "answer_label", "answer"]) {
      if (!columns.includes(need)) throw new DataError(path, "-", need, `column missing (columns: ${columns.join(", ")})`);
    }
    // Only the interchange columns: -m23k-tokenized and others carry extra (large) columns.
    const wanted = columns.filter((c) => (COLUMNS as string[]).includes(c));
    let rowStart = 0;
    for (const [g, rg] of metadata.row_groups.entries()) {
      const rowEnd = rowStart + Number(rg.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = (await parquetReadObjects({ file, metadata, columns: wanted, rowStart, rowEnd, utf8: false, compressors: DECOMPRESSORS, parsers: PARSERS })) as Record<string, unknown>[];
      } catch (e) {
        const msg = (e as Error).message;
        const codecs = [...new Set(rg.columns.map((c) => c.meta_data?.codec).filter(Boolean))].join(", ");
        const hint = /compression codec|decompress/i.test(msg) ? ` (codecs in this row group: ${codecs}; read: ${PARQUET_CODECS.join(", ")})` : "";
        throw new DataError(path, `row group ${g} (rows ${rowStart}..${rowEnd - 1})`, "(parquet)", `cannot decode: ${e instanceof DataError ? e.detail : msg}${hint}`);
      }
      const items: Item[] = [];
      rows.forEach((row, i) => {
        const record = `row ${rowStart + i}`;
        try {
          for (const c of TEXT_COLUMNS) if (row[c] instanceof Uint8Array) row[c] = decodeUtf8(row[c] as Uint8Array, path, record);
          const it = confineItemImages(rowToItem({ ...row, images: row.images ?? null }, path, record), path, roots, record);
          indices.check(it, path, record);
          items.push(setItemOrigin(it, path, record));
        } catch (e) {
          if (!(e instanceof DataError) || !opts.skipBad) throw e;
          opts.skipped?.push({ file: e.file, record: e.record, field: e.field, reason: e.detail });
        }
      });
      rowStart = rowEnd;
      yield items;
    }
  } finally {
    closeSync(fd);
  }
}

/** All items of a parquet file (convenience; memory grows with the file). */
export async function readParquetAll(path: string, opts: ReadParquetOptions = {}): Promise<Item[]> {
  const out: Item[] = [];
  for await (const chunk of readParquetItems(path, opts)) out.push(...chunk);
  return out;
}

const STRING = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" } as const;

/** The HF `datasets` layout: images is list<struct<bytes, path>>, everything else flat. */
export const ITEM_PARQUET_SCHEMA = [
  { name: "root", num_children: 10 },
  { name: "images", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "OPTIONAL", num_children: 2 },
  { name: "bytes", type: "BYTE_ARRAY", repetition_type: "OPTIONAL" },
  { name: "path", ...STRING },
  { name: "question", ...STRING },
  { name: "options", ...STRING },
  { name: "answer_label", ...STRING },
  { name: "answer", ...STRING },
  { name: "reasoning", ...STRING },
  { name: "dataset_name", ...STRING },
  { name: "dataset_index", type: "INT64", repetition_type: "OPTIONAL" },
  { name: "hash", ...STRING },
  { name: "misc", ...STRING },
] as const;


/** A Writer that appends to a file descriptor whenever the parquet writer flushes a row group. */
export function fdWriter(fd: number): ByteWriter {
  const w = new ByteWriter();
  const flush = () => {
    if (w.index > 0) writeSync(fd, new Uint8Array(w.buffer, 0, w.index));
    w.index = 0;
  };
  (w as unknown as { flush: () => void }).flush = flush;
  w.finish = flush;
  return w;
}

export interface WriteParquetOptions {
  /** Rows per row group (default 500: HF image sets use small groups because of the bytes). */
  rowGroupSize?: number;
  /** Read each image file into bytes when an ImageRef has only a path (default true). Bytes read from a file must decode as an image. */
  embedImages?: boolean;
  /** Also decode the bytes items already hold, so a corrupt image is never written (data convert). */
  verifyImages?: boolean;
}

/** Write items (an array or any iterable, async ones included) as parquet, atomically. */
export async function writeParquetItems(path: string, items: Iterable<Item> | AsyncIterable<Item>, opts: WriteParquetOptions = {}): Promise<number> {
  const size = opts.rowGroupSize ?? 500;
  const embed = opts.embedImages ?? true;
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  let count = 0;
  try {
    const writer = fdWriter(fd);
    const pw = new ParquetWriter({ writer, schema: ITEM_PARQUET_SCHEMA as unknown as ConstructorParameters<typeof ParquetWriter>[0]["schema"] });
    let batch: ItemRow[] = [];
    const flushBatch = async () => {
      if (!batch.length) return;
      const columnData = COLUMNS.map((name) => ({
        name,
        data: batch.map((r) => (name === "dataset_index" ? BigInt(r.dataset_index) : r[name])) as unknown[],
      }));
      await pw.write({ columnData: columnData as Parameters<ParquetWriter["write"]>[0]["columnData"], rowGroupSize: batch.length });
      (writer as unknown as { flush: () => void }).flush();
      batch = [];
    };
    for await (const it of items as AsyncIterable<Item>) {
      const row = itemToRow(it);
      if (row.images) {
        const out = [];
        for (const [i, im] of row.images.entries()) {
          let bytes = im.bytes;
          const fromFile = embed && !(bytes && bytes.length > 0) && !!im.path;
          if (fromFile) bytes = readImageFile(im.path as string, it);
          if (bytes && (fromFile || opts.verifyImages)) await verifyImageBytes(bytes, im.path ?? "(inline bytes)", it, i);
          out.push({ bytes: bytes ?? null, path: im.path });
        }
        row.images = out;
      }
      batch.push(row);
      count++;
      if (batch.length >= size) await flushBatch();
    }
    await flushBatch();
    await pw.finish();
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return count;
}

function readImageFile(path: string, it: Item): Uint8Array {
  try {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
      return new Uint8Array(buf.buffer, buf.byteOffset, size);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(path, ctxName(it), "images", code === "ENOENT" ? "image file not found" : `cannot read image file: ${(e as Error).message}`);
  }
}

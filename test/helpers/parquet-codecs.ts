/**
 * Parquet files as other writers make them (DuckDB / Polars ZSTD, Spark GZIP, BROTLI, LZ4_RAW;
 * several row groups; dictionary-encoded strings; null image lists), written with hyparquet-writer
 * and a compressor per codec. Node 20 has no zstd and no lz4: those two are written as valid
 * stored frames by hand (a ZSTD frame of raw blocks; an LZ4 block of literals), or, for ZSTD,
 * compressed by the zstd command when it is installed.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { parquetWriteBuffer } from "hyparquet-writer";
import { ITEM_PARQUET_SCHEMA } from "../../src/data/parquet";
import type { Item } from "../../src/data/item";
import { itemToRow } from "../../src/data/interchange";

function zstdRawFrame(data: Uint8Array): Uint8Array {
  const out: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0xa0]; // magic; single segment, 4-byte content size
  const n = data.length;
  out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  const MAX = 1 << 17;
  let pos = 0;
  do {
    const size = Math.min(MAX, n - pos);
    const last = pos + size >= n ? 1 : 0;
    const header = last | (0 << 1) | (size << 3); // Raw_Block
    out.push(header & 0xff, (header >>> 8) & 0xff, (header >>> 16) & 0xff);
    for (let i = 0; i < size; i++) out.push(data[pos + i]);
    pos += size;
  } while (pos < n);
  return Uint8Array.from(out);
}

let zstdCli: boolean | null = null;
function zstd(data: Uint8Array): Uint8Array {
  if (zstdCli === null) {
    try {
      execFileSync("zstd", ["--version"], { stdio: "ignore" });
      zstdCli = true;
    } catch {
      zstdCli = false;
    }
  }
  if (zstdCli) return new Uint8Array(execFileSync("zstd", ["-q", "-c", "-3", "--no-check"], { input: data }));
  return zstdRawFrame(data);
}

/** An LZ4 block holding one literal-only sequence (valid: the last sequence has no match). */
function lz4RawLiterals(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  const n = data.length;
  out.push(Math.min(n, 15) << 4);
  if (n >= 15) {
    let rest = n - 15;
    while (rest >= 255) {
      out.push(255);
      rest -= 255;
    }
    out.push(rest);
  }
  for (const b of data) out.push(b);
  return Uint8Array.from(out);
}

export const WRITE_COMPRESSORS = {
  GZIP: (d: Uint8Array) => new Uint8Array(gzipSync(d)),
  BROTLI: (d: Uint8Array) => new Uint8Array(brotliCompressSync(d)),
  ZSTD: zstd,
  LZ4_RAW: lz4RawLiterals,
};

export type ForeignCodec = keyof typeof WRITE_COMPRESSORS | "SNAPPY" | "UNCOMPRESSED";

/** Items as a foreign writer would store them: the codec given, `rowGroupSize` rows a group, dictionary strings. */
export function writeForeignParquet(file: string, items: Item[], codec: ForeignCodec, rowGroupSize = 3): void {
  const rows = items.map(itemToRow);
  const names = ITEM_PARQUET_SCHEMA.slice(1).filter((e) => !["list", "element", "bytes", "path"].includes(e.name)).map((e) => e.name);
  const columnData = names.map((name) => ({
    name,
    data: rows.map((r) => (name === "dataset_index" ? BigInt(r.dataset_index) : (r as unknown as Record<string, unknown>)[name])),
    ...(name === "dataset_name" || name === "answer_label" ? { encoding: "RLE_DICTIONARY" as const } : {}),
  }));
  const buf = parquetWriteBuffer({
    columnData: columnData as never,
    schema: ITEM_PARQUET_SCHEMA as never,
    codec,
    compressors: WRITE_COMPRESSORS as never,
    rowGroupSize,
  });
  writeFileSync(file, new Uint8Array(buf));
}

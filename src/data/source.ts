/**
 * Shared plumbing for the loaders: reading JSON / JSONL with errors that name the file, the
 * record and the field; typed field access that tolerates the known type slips (ints where
 * strings are expected, trailing spaces); and the skipBad collector, so that nothing is ever
 * dropped silently.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { DataError, setItemOrigin, validateItem, type Item } from "./item";

export interface SkippedRecord {
  file: string;
  record: string | number;
  field: string;
  reason: string;
}

/** Where the first invalid UTF-8 sequence starts in `buf` (-1 when the bytes are valid UTF-8). */
export function invalidUtf8At(buf: Uint8Array): number {
  // Written by hand: TextDecoder says only that the bytes are bad, not where (the error names the place).
  for (let i = 0; i < buf.length; ) {
    const b = buf[i];
    const n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= buf.length + (n === 0 ? 1 : 0)) return i;
    for (let k = 1; k <= n; k++) if ((buf[i + k] & 0xc0) !== 0x80) return i;
    // Overlong 3/4-byte forms, surrogates and code points above U+10FFFF.
    if ((b === 0xe0 && buf[i + 1] < 0xa0) || (b === 0xed && buf[i + 1] > 0x9f) || (b === 0xf0 && buf[i + 1] < 0x90) || (b === 0xf4 && buf[i + 1] > 0x8f)) return i;
    i += n + 1;
  }
  return -1;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Bytes as UTF-8 text; invalid UTF-8 is an error (never silently U+FFFD). */
export function decodeUtf8(bytes: Uint8Array, file: string, record: string | number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    const at = invalidUtf8At(bytes);
    throw new DataError(file, record, "(text)", `not valid UTF-8 (byte ${at} of the ${record === "-" ? "file" : /^line /.test(String(record)) ? "line" : "value"}); save the file as UTF-8`);
  }
}

export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(file, "-", "(file)", `cannot read: ${(e as Error).message}`);
  }
  return decodeUtf8(bytes, file, "-");
}

/** Parse a whole-file JSON document; a syntax error names the file. */
export function readJson(file: string): unknown {
  const text = readText(file);
  if (text.trim() === "") throw emptyFile(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(file, "-", "(json)", `malformed JSON: ${(e as Error).message}`);
  }
}

/** One parsed JSONL line: its 1-based line number and the value, or the parse error. */
export interface JsonlLine {
  line: number;
  value?: unknown;
  error?: DataError;
}

/** Split a JSONL text into parsed lines; blank lines are skipped, malformed ones carry a DataError. */
export function parseJsonl(file: string, text: string): JsonlLine[] {
  const out: JsonlLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (e) {
      out.push({ line: i + 1, error: new DataError(file, `line ${i + 1}`, "(json)", `malformed JSON line: ${(e as Error).message}`) });
    }
  }
  return out;
}

/** Longest JSONL line read (bytes): guards memory against a runaway line (default 64 MiB, $MEDVLTHINKER_MAX_LINE_BYTES). */
export function maxLineBytes(): number {
  const env = Number(process.env.MEDVLTHINKER_MAX_LINE_BYTES);
  return Number.isInteger(env) && env > 0 ? env : 64 * 1024 * 1024;
}

/**
 * The lines of a JSONL file, parsed, streamed in 1 MiB chunks: memory stays bounded by the longest
 * line, and a line over `limit` bytes is reported (and skipped to its end) without being held.
 * Blank lines are skipped; a line that is not valid UTF-8 or not JSON carries a DataError.
 */
export function* jsonlLines(file: string, limit = maxLineBytes()): Generator<JsonlLine> {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new DataError(file, "-", "(file)", `cannot read: ${(e as Error).message}`);
  }
  const chunk = Buffer.alloc(1 << 20);
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  let lineNo = 1;
  const finish = (): JsonlLine | null => {
    const at = `line ${lineNo}`;
    if (tooLong) return { line: lineNo, error: new DataError(file, at, "(line)", `longer than ${limit} bytes, the line limit that guards memory (set MEDVLTHINKER_MAX_LINE_BYTES to raise it)`) };
    let bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts, length);
    if (lineNo === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3); // a BOM
    let text: string;
    try {
      text = decodeUtf8(bytes, file, at);
    } catch (e) {
      return { line: lineNo, error: e as DataError };
    }
    const raw = text.trim();
    if (raw === "") return null;
    try {
      return { line: lineNo, value: JSON.parse(raw) };
    } catch (e) {
      return { line: lineNo, error: new DataError(file, at, "(json)", `malformed JSON line: ${(e as Error).message}`) };
    }
  };
  try {
    for (;;) {
      // Position null: read on from where the last read stopped, so a pipe (/dev/stdin) works too.
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      let start = 0;
      while (start < n) {
        const nl = chunk.indexOf(10, start);
        const end = nl === -1 || nl >= n ? n : nl;
        if (!tooLong) {
          if (length + (end - start) > limit) {
            tooLong = true;
            parts = [];
          } else if (end > start) {
            parts.push(Buffer.from(chunk.subarray(start, end)));
            length += end - start;
          }
        }
        if (end === n) break;
        const ln = finish();
        if (ln) yield ln;
        parts = [];
        length = 0;
        tooLong = false;
        lineNo++;
        start = end + 1;
      }
    }
    if (length > 0 || tooLong) {
      const ln = finish();
      if (ln) yield ln;
    }
  } finally {
    closeSync(fd);
  }
}

/** A JSON object record, or a DataError naming the record. */
export function asRecord(value: unknown, file: string, record: string | number): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DataError(file, record, "(record)", `expected a JSON object, got ${Array.isArray(value) ? "an array" : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/**
 * A required text field. Numbers are accepted and turned into text (VQA-RAD stores a few answers
 * and one qid as ints); surrounding whitespace is trimmed (VQA-RAD's "CLOSED ").
 */
/** The `label` field of the MedMCQA-style formats: one letter, alone or as a one-element list. */
export function singleLabel(rec: Record<string, unknown>, file: string, record: string | number): string {
  const label = Array.isArray(rec.label) ? rec.label : [rec.label];
  if (label.length !== 1 || typeof label[0] !== "string") throw new DataError(file, record, "label", `expected one letter, got ${JSON.stringify(rec.label)}`);
  return label[0];
}

export function str(rec: Record<string, unknown>, field: string, file: string, record: string | number): string {
  const v = rec[field];
  if (v === undefined || v === null) throw new DataError(file, record, field, "missing");
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v !== "string") throw new DataError(file, record, field, `expected text, got ${Array.isArray(v) ? "an array" : typeof v}`);
  const t = v.trim();
  if (t === "") throw new DataError(file, record, field, "empty");
  return t;
}

/** An optional text field: undefined when absent or null. */
export function optStr(rec: Record<string, unknown>, field: string, file: string, record: string | number): string | undefined {
  const v = rec[field];
  if (v === undefined || v === null) return undefined;
  return str(rec, field, file, record);
}

/** `abs` with symlinks resolved (only the part that exists: a missing file is reported on use). */
function realish(abs: string): string {
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realish(parent), basename(abs));
  }
}

function inside(root: string, abs: string): boolean {
  const r = relative(root, abs);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
}

/** Resolve a relative image path inside `root`; a path that escapes the folder (symlinks included) is an error. */
export function safeJoin(root: string, rel: string, file: string, record: string | number, field: string): string {
  if (isAbsolute(rel)) throw new DataError(file, record, field, `image path '${rel}' is absolute; it must be relative to ${root}`);
  const abs = resolve(root, rel);
  if (!inside(resolve(root), abs) || !inside(realish(resolve(root)), realish(abs))) throw new DataError(file, record, field, `image path '${rel}' escapes the dataset folder ${root}`);
  return abs;
}

/**
 * An image path read from a dataset file (interchange jsonl / parquet), resolved against the
 * file's folder, never the working directory. It must stay inside that folder or one of `roots`
 * (the shared data folder), symlinks resolved: a dataset file cannot make us read /etc/passwd.
 */
export function confinedImagePath(path: string, datasetFile: string, roots: string[], record: string | number, field: string): string {
  const folder = dirname(resolve(datasetFile));
  const abs = resolve(folder, path);
  const real = realish(abs);
  for (const root of [folder, ...roots]) {
    if (inside(resolve(root), abs) && inside(realish(resolve(root)), real)) return abs;
  }
  throw new DataError(datasetFile, record, field, `image path '${path}' is outside the dataset's folder ${folder}${real !== abs ? ` (a link to ${real})` : ""}; image paths must stay inside it`);
}

/** The same for every path-only image of an item (refs holding bytes are left as they are). */
export function confineItemImages(it: Item, datasetFile: string, roots: string[], record: string | number): Item {
  if (!it.images) return it;
  it.images = it.images.map((im, i) => (im.path && !(im.bytes && im.bytes.length > 0) ? { ...im, path: confinedImagePath(im.path, datasetFile, roots, record, `images[${i}].path`) } : im));
  return it;
}

/**
 * Collects items and, with skipBad, the records that failed; without skipBad the first
 * failure is thrown. Every produced item is validated against itemSchema.
 */
export class Collector {
  readonly items: Item[] = [];
  readonly skipped: SkippedRecord[] = [];
  readonly warnings: string[] = [];
  constructor(
    readonly file: string,
    readonly skipBad: boolean,
  ) {}

  /** Run `build` for one record; validate and keep its item, or record / throw the failure. */
  add(record: string | number, build: () => Item | null): void {
    try {
      const item = build();
      if (item) this.items.push(setItemOrigin(validateItem(item, this.file, record), this.file, record));
    } catch (e) {
      if (!(e instanceof DataError) || !this.skipBad) throw e;
      this.skipped.push({ file: e.file, record: e.record, field: e.field, reason: e.detail });
    }
  }

  /** A failure found outside `add` (a malformed JSONL line). */
  fail(e: DataError): void {
    if (!this.skipBad) throw e;
    this.skipped.push({ file: e.file, record: e.record, field: e.field, reason: e.detail });
  }
}

/**
 * Every non-empty line of a JSONL file through `build` into the collector: a malformed line fails
 * with its line number like any other bad record. `position` counts every line read (malformed
 * ones too), so item indices do not shift when one line is broken. A file with no line at all is
 * an error (an empty file is a mistake, never "0 items").
 */
export function collectJsonl(c: Collector, file: string, build: (value: unknown, record: string, position: number) => Item | null): Collector {
  let position = 0;
  for (const ln of jsonlLines(file)) {
    const at = position++;
    if (ln.error) {
      c.fail(ln.error);
      continue;
    }
    const record = `line ${ln.line}`;
    c.add(record, () => build(ln.value, record, at));
  }
  if (position === 0) throw emptyFile(file);
  return c;
}

export function emptyFile(file: string): DataError {
  return new DataError(file, "-", "(file)", "the file is empty (no JSON lines); check that it was written completely");
}

/**
 * Items that reuse one dataset_index of a dataset for another question: results, grades and
 * curation are keyed by (dataset_name, dataset_index), so such a file would mix two items' answers.
 */
export class IndexRegistry {
  private seen = new Map<string, { question: string; record: string | number }>();

  check(it: Pick<Item, "dataset_name" | "dataset_index" | "question">, file: string, record: string | number): void {
    const key = `${it.dataset_name}\t${it.dataset_index}`;
    const q = createHash("sha256").update(it.question).digest("hex").slice(0, 16);
    const prev = this.seen.get(key);
    if (!prev) this.seen.set(key, { question: q, record });
    else if (prev.question !== q) {
      throw new DataError(file, record, "dataset_index", `${it.dataset_index} of '${it.dataset_name}' is already used by ${prev.record} for a different question; give every item its own dataset_index`);
    }
  }
}

/**
 * Shared plumbing for the loaders: reading JSON / JSONL with errors that name the file, the
 * record and the field; typed field access that tolerates the known type slips (ints where
 * strings are expected, trailing spaces); and the skipBad collector, so that nothing is ever
 * dropped silently.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { DataError, validateItem, type Item } from "./item";

export interface SkippedRecord {
  file: string;
  record: string | number;
  field: string;
  reason: string;
}

export function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new DataError(file, "-", "(file)", `cannot read: ${(e as Error).message}`);
  }
}

/** Parse a whole-file JSON document; a syntax error names the file. */
export function readJson(file: string): unknown {
  const text = readText(file);
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

/** Resolve a relative image path inside `root`; a path that escapes the folder is an error. */
export function safeJoin(root: string, rel: string, file: string, record: string | number, field: string): string {
  if (isAbsolute(rel)) throw new DataError(file, record, field, `image path '${rel}' is absolute; it must be relative to ${root}`);
  const abs = resolve(root, rel);
  const r = relative(resolve(root), abs);
  if (r.startsWith("..") || isAbsolute(r)) throw new DataError(file, record, field, `image path '${rel}' escapes the dataset folder ${root}`);
  return abs;
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
      if (item) this.items.push(validateItem(item, this.file, record));
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
 * ones too), so item indices do not shift when one line is broken.
 */
export function collectJsonl(c: Collector, file: string, build: (value: unknown, record: string, position: number) => Item | null): Collector {
  let position = 0;
  for (const ln of parseJsonl(file, readText(file))) {
    const at = position++;
    if (ln.error) {
      c.fail(ln.error);
      continue;
    }
    const record = `line ${ln.line}`;
    c.add(record, () => build(ln.value, record, at));
  }
  return c;
}

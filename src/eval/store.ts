/**
 * The results file of an evaluation run: one JSON line per (benchmark, item, run, sample),
 * appended and handed to the OS as each answer arrives, so a killed process loses nothing it
 * already received. On open, a torn last line (a crash mid-write) is cut off; other bad lines
 * are skipped with a warning rather than mixed into the results.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { PROMPT_TOO_LONG } from "../policy/policy";

export const RESULTS_FILE = "results.jsonl";
export const CONFIG_FILE = "config.json";

export interface ResultRecord {
  benchmark: string;
  /** Position of the item in the benchmark's item list (stable for a given data source). */
  index: number;
  /** The item's hash (sha256(question + answer)[:16]): checks the item did not change on resume. */
  hash: string;
  run: number;
  sample: number;
  response: string;
  finish_reason: string;
  correct: boolean;
  /** The letter the grader read from the response, or null. */
  predicted: string | null;
  gold: string;
  /** The string the grader read (before mapping to a letter); null if none. */
  extracted?: string | null;
  /** How the grader found it: answer_tag, fallback or none. */
  via?: string;
  logprobs?: number[];
  /** The server's reason when it refused the item (finish_reason PROMPT_TOO_LONG). */
  error?: string;
}

/**
 * A record the next run keeps. A PROMPT_TOO_LONG one is not final: the next run sends the item
 * again (the server may have been restarted with a larger --max-model-len), and a later record
 * of the same key replaces it.
 */
export function isFinal(r: Pick<ResultRecord, "finish_reason">): boolean {
  return r.finish_reason !== PROMPT_TOO_LONG;
}

/** One record per key: the first final one, else the last non-final one. */
export function latestRecords(records: ResultRecord[]): ResultRecord[] {
  const byKey = new Map<string, ResultRecord>();
  for (const r of records) {
    const k = recordKey(r);
    const have = byKey.get(k);
    if (!have || !isFinal(have)) byKey.set(k, r);
  }
  return [...byKey.values()];
}

export function recordKey(r: { benchmark: string; index: number; run: number; sample: number }): string {
  return `${r.benchmark}\t${r.index}\t${r.run}\t${r.sample}`;
}

export interface LoadedResults {
  records: ResultRecord[];
  /** Bytes of a torn last line that were ignored (0 if none). */
  tornBytes: number;
  /** Records that repeat a (benchmark, index, run, sample) already read: dropped, the first kept. */
  duplicates: number;
  warnings: string[];
}

/** Read a results file, tolerating a torn last line and skipping (with a warning) bad ones. */
export function readResults(file: string): LoadedResults {
  if (!existsSync(file)) return { records: [], tornBytes: 0, duplicates: 0, warnings: [] };
  const text = readFileSync(file, "utf8");
  return parseResults(text, file);
}

export function parseResults(text: string, file = "results.jsonl"): LoadedResults {
  const warnings: string[] = [];
  const records: ResultRecord[] = [];
  const lastNl = text.lastIndexOf("\n");
  const tornBytes = Buffer.byteLength(text.slice(lastNl + 1));
  const body = text.slice(0, lastNl + 1);
  if (tornBytes > 0) warnings.push(`${file}: ignored a torn last line (${tornBytes} bytes, a crash mid-write)`);
  let lineNo = 0;
  // key -> position in records: a later record replaces a non-final one (a prompt refused as too
  // long and sent again); repeating a final one is a duplicate (two writers on one folder).
  const seen = new Map<string, number>();
  let duplicates = 0;
  let firstDuplicate = "";
  for (const line of body.split("\n")) {
    lineNo++;
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ResultRecord;
      if (typeof r.benchmark !== "string" || !Number.isInteger(r.index) || !Number.isInteger(r.run) || !Number.isInteger(r.sample) || typeof r.correct !== "boolean") {
        throw new Error("missing fields");
      }
      const key = recordKey(r);
      const at = seen.get(key);
      if (at !== undefined) {
        if (!isFinal(records[at])) {
          records[at] = r;
          continue;
        }
        if (duplicates++ === 0) firstDuplicate = `line ${lineNo}: ${key.replace(/\t/g, "/")}`;
        continue;
      }
      seen.set(key, records.length);
      records.push(r);
    } catch (e) {
      warnings.push(`${file}: line ${lineNo}: skipped (${(e as Error).message})`);
    }
  }
  if (duplicates > 0) {
    warnings.push(`${file}: ${duplicates} duplicate records (the same benchmark/item/run/sample written again, as two processes sharing one run folder do; first at ${firstDuplicate}); the first of each is used`);
  }
  return { records, tornBytes, duplicates, warnings };
}

/** Append-only writer. Open it after readResults: it cuts a torn tail so new lines start clean. */
export class ResultWriter {
  private fd: number;
  private lastSync = Date.now();

  constructor(
    readonly file: string,
    tornBytes = 0,
  ) {
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, "a+");
    if (tornBytes > 0) {
      ftruncateSync(this.fd, fstatSync(this.fd).size - tornBytes);
    }
  }

  /** Write records as whole lines in one call (one item's samples land together). */
  append(records: ResultRecord[]): void {
    if (records.length === 0) return;
    const text = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
    writeSync(this.fd, text);
    // The OS has the bytes now (a killed process loses nothing); fsync every few seconds for power loss.
    if (Date.now() - this.lastSync >= ResultWriter.SYNC_EVERY_MS) this.sync();
  }

  static SYNC_EVERY_MS = 2000;

  sync(): void {
    fsyncSync(this.fd);
    this.lastSync = Date.now();
  }

  close(): void {
    if (this.fd < 0) return;
    this.sync();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Whole-file atomic writes (temp file, fsync, rename) live in src/atomic.ts. */
export { writeFileAtomic } from "../atomic";

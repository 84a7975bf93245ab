/**
 * Run folders, shared by every training loop (SFT, GRPO):
 *
 *   <run>/config.json         the run's config, written once; resuming with another config is refused
 *   <run>/metrics.jsonl       one JSON object per step, appended and flushed; a torn last line
 *                             (a kill mid-write) is tolerated on read and dropped on resume
 *   <run>/checkpoints/step-N  one folder per checkpoint, complete only when it holds STATE_FILE
 *
 * Checkpoint folders are written under a temporary name and renamed into place, so a crash leaves
 * either the whole folder or none. `Rng` is a seeded generator whose state is one number, so the
 * state can be saved in a checkpoint and restored.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../atomic";
import { LOCK_FILE } from "../run-lock";

export const RUN_CONFIG_FILE = "config.json";
export const METRICS_FILE = "metrics.jsonl";
export const CHECKPOINTS_DIR = "checkpoints";
/** Written last into a checkpoint folder: its presence marks the checkpoint complete. */
export const STATE_FILE = "trainer-state.json";

import { ConfigError } from "../errors";
import { canonicalJson } from "../stable-json";

export { ConfigError, canonicalJson };


/** Dotted paths where two JSON values differ (for a readable "config changed" error). */
export function jsonDiff(a: unknown, b: unknown, path = ""): string[] {
  const isObj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
    return keys.flatMap((k) => jsonDiff(ao[k], bo[k], path ? `${path}.${k}` : k));
  }
  if (canonicalJson(a) === canonicalJson(b)) return [];
  return [`${path || "(config)"}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`];
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

export interface RunFolder {
  dir: string;
  /** True when an earlier run's folder was reopened. */
  resumed: boolean;
  metricsPath: string;
  checkpointsDir: string;
}

export interface OpenRunOptions {
  /** Continue the run in `dir` (its config must equal `config`). */
  resume?: boolean;
  /** Start afresh in a folder that already holds a run, deleting it. */
  overwrite?: boolean;
}

/**
 * Create or reopen a run folder. A new run refuses a folder that already holds one (unless
 * `overwrite`); a resumed run refuses a config that differs from the saved one and names the
 * fields. `config` must be plain JSON.
 */
export function openRun(dir: string, config: unknown, opts: OpenRunOptions = {}): RunFolder {
  dir = resolve(dir);
  const cfgPath = join(dir, RUN_CONFIG_FILE);
  const folder = { dir, metricsPath: join(dir, METRICS_FILE), checkpointsDir: join(dir, CHECKPOINTS_DIR) };
  const saved = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, "utf8")) as unknown) : undefined;
  if (opts.resume && saved !== undefined) {
    const diff = jsonDiff(saved, JSON.parse(JSON.stringify(config)));
    if (diff.length) throw new ConfigError(`cannot resume ${dir}: its config differs from the one given:\n  ${diff.join("\n  ")}\n(start a new run with another output folder, or resume with the saved config ${cfgPath})`);
    mkdirSync(folder.checkpointsDir, { recursive: true });
    return { ...folder, resumed: true };
  }
  if (saved !== undefined && !opts.resume) {
    if (!opts.overwrite) throw new ConfigError(`run folder ${dir} already holds a run; pass resume to continue it, overwrite to replace it, or choose another output folder`);
    // Everything but the run-folder lock this process holds (src/run-lock.ts).
    for (const name of readdirSync(dir)) if (name !== LOCK_FILE) rmSync(join(dir, name), { recursive: true, force: true });
  }
  // A resume with nothing saved yet (killed before the config was written) starts the run.
  mkdirSync(folder.checkpointsDir, { recursive: true });
  writeJsonAtomic(cfgPath, config);
  return { ...folder, resumed: false };
}

// ---------------------------------------------------------------------------------------------
// Metrics

export interface MetricsRead<T> {
  records: T[];
  /** Lines that were not valid JSON (a torn last line after a kill). */
  torn: number;
  warnings: string[];
}

/** Read metrics.jsonl; malformed lines are skipped and counted, not fatal. */
export function readMetrics<T = Record<string, number>>(path: string): MetricsRead<T> {
  if (!existsSync(path)) return { records: [], torn: 0, warnings: [] };
  const lines = readFileSync(path, "utf8").split("\n");
  const records: T[] = [];
  const warnings: string[] = [];
  let torn = 0;
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      records.push(JSON.parse(l) as T);
    } catch {
      torn++;
      warnings.push(`${path}: line ${i + 1} is not valid JSON (a torn write?); skipped`);
    }
  });
  return { records, torn, warnings };
}

/**
 * Rewrite metrics.jsonl keeping only valid records with `step <= upTo` (atomically). A resumed run
 * calls this with its checkpoint's step, so the steps it repeats are not recorded twice and a torn
 * line never merges with the next append.
 */
export function truncateMetrics(path: string, upTo: number, stepKey = "step"): number {
  const { records } = readMetrics<Record<string, unknown>>(path);
  const keep = records.filter((r) => typeof r[stepKey] === "number" && (r[stepKey] as number) <= upTo);
  writeFileAtomic(path, keep.map((r) => JSON.stringify(r) + "\n").join(""));
  return keep.length;
}

/** Appends one JSON line per call and flushes it to disk (one write + fsync per line). */
export class MetricsWriter {
  private fd: number | null;

  constructor(readonly path: string, private readonly sync = true) {
    this.fd = openSync(path, "a");
  }

  append(record: Record<string, unknown>): void {
    if (this.fd === null) throw new Error(`metrics writer for ${this.path} is closed`);
    const buf = Buffer.from(JSON.stringify(record) + "\n", "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    if (this.sync) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export function checkpointName(step: number): string {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`checkpoint step must be a non-negative integer, got ${step}`);
  return `step-${step}`;
}

export function checkpointPath(checkpointsDir: string, step: number): string {
  return join(checkpointsDir, checkpointName(step));
}

export interface CheckpointRef {
  step: number;
  dir: string;
}

/** Complete checkpoints (folders step-N holding `marker`), by ascending step. */
export function listCheckpoints(checkpointsDir: string, marker = STATE_FILE): CheckpointRef[] {
  if (!existsSync(checkpointsDir)) return [];
  const out: CheckpointRef[] = [];
  for (const name of readdirSync(checkpointsDir)) {
    const m = /^step-(\d+)$/.exec(name);
    if (!m) continue;
    const dir = join(checkpointsDir, name);
    if (existsSync(join(dir, marker))) out.push({ step: Number(m[1]), dir });
  }
  return out.sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(checkpointsDir: string, marker = STATE_FILE): CheckpointRef | null {
  const all = listCheckpoints(checkpointsDir, marker);
  return all.length ? all[all.length - 1] : null;
}

/**
 * Write a checkpoint folder atomically: `write(tmp)` fills a temporary folder, `state` goes in
 * last as STATE_FILE, then the folder is renamed to step-N (replacing an older one of that step).
 */
export async function writeCheckpoint(checkpointsDir: string, step: number, write: (tmpDir: string) => Promise<void>, state: unknown): Promise<string> {
  const final = checkpointPath(checkpointsDir, step);
  const tmp = `${final}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(checkpointsDir, { recursive: true });
  await write(tmp);
  writeJsonAtomic(join(tmp, STATE_FILE), state);
  if (existsSync(final)) rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  return final;
}

export function readCheckpointState<T>(dir: string): T {
  return JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")) as T;
}

/** Remove checkpoints except the newest `keepLast` and the steps in `keep`; also stale partial folders. */
export function pruneCheckpoints(checkpointsDir: string, keepLast: number, keep: Iterable<number> = []): number[] {
  const keepSet = new Set(keep);
  const all = listCheckpoints(checkpointsDir);
  const removed: number[] = [];
  all.forEach((c, i) => {
    if (i >= all.length - keepLast || keepSet.has(c.step)) return;
    rmSync(c.dir, { recursive: true, force: true });
    removed.push(c.step);
  });
  if (existsSync(checkpointsDir)) {
    for (const name of readdirSync(checkpointsDir)) if (/\.partial-\d+$/.test(name)) rmSync(join(checkpointsDir, name), { recursive: true, force: true });
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// RNG

/** Seeded generator (mulberry32) whose whole state is one uint32: save `state`, restore with `new Rng(0, state)`. */
export class Rng {
  state: number;

  constructor(seed: number, state?: number) {
    this.state = (state ?? hashSeed(seed)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** Spread small seeds (0, 1, 2...) over the state space (splitmix-style finaliser). */
export function hashSeed(seed: number): number {
  let z = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * One process at a time in a run folder (evaluation, curation, training): two processes appending
 * to one results.jsonl or metrics.jsonl would interleave and duplicate records.
 *
 * The lock is the file `<run>/.lock`, created with O_EXCL (atomic on local disks and NFSv3+) and
 * holding who took it: pid, host, command and when. A second process is refused with a message
 * naming the holder, or waits for it with `wait`. A lock left by a killed process is taken over:
 * on the same host when its pid is gone; from another host (a shared disk) when the holder stopped
 * refreshing the file's mtime (it does every minute) for `staleMs`. Within one process the lock is
 * re-entrant (curate() holds it while estimatePassCounts() takes it again).
 * (src/dir-lock.ts is the other lock: it serialises building one shared model, waiting by design.)
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { pidAlive } from "./dir-lock";

export const LOCK_FILE = ".lock";

export interface LockHolder {
  pid: number;
  host: string;
  /** The command line that holds it (what a user recognises in `ps`). */
  command: string;
  /** ISO time it was taken. */
  since: string;
  /** Random token: the holder releases only its own lock. */
  token: string;
}

/** Another live process holds the run folder. */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
  ) {
    super(`run folder ${dir} is in use by ${describeHolder(holder)}; wait for it to finish, pass --wait to start when it does, or use another output folder (if that process is gone for good, delete ${join(dir, LOCK_FILE)})`);
    this.name = "RunLockedError";
  }
}

export interface RunLockOptions {
  /** Wait for the holder instead of failing: true (no limit) or at most this many ms. */
  wait?: boolean | number;
  /** Poll interval while waiting (default 1000 ms). */
  pollMs?: number;
  /** A lock from another host whose mtime is older than this is stale (default 10 min). */
  staleMs?: number;
  /** Where the "waiting for ..." note goes (default console.error). */
  log?: (message: string) => void;
}

export interface RunLock {
  dir: string;
  release(): void;
}

const HEARTBEAT_MS = 60_000;

function describeHolder(h: LockHolder | null): string {
  if (!h) return "another process (its lock file is being written)";
  const cmd = h.command.length > 120 ? `${h.command.slice(0, 117)}...` : h.command;
  return `pid ${h.pid} on ${h.host} since ${h.since} (${cmd})`;
}

function readHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === "string" ? h : null;
  } catch {
    return null;
  }
}

/** The holder is gone: its pid is dead here, or (another host) it stopped refreshing the lock. */
function isStale(path: string, h: LockHolder | null, staleMs: number): boolean {
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return false; // released meanwhile: just retry
  }
  if (!h) return age > 10_000; // unreadable for 10 s: not a half-written lock but a broken one
  if (h.host === hostname()) return h.pid !== process.pid ? !pidAlive(h.pid) : !held.has(path);
  return age > staleMs;
}

/** Locks this process holds: path -> count and heartbeat (re-entrant within the process). */
const held = new Map<string, { count: number; token: string; timer: NodeJS.Timeout }>();

function releaseAll(): void {
  for (const path of held.keys()) removeIfOurs(path);
  held.clear();
}

function removeIfOurs(path: string): void {
  const h = held.get(path);
  if (h && readHolder(path)?.token === h.token) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}

let exitHook = false;

function tryCreate(path: string): LockHolder | null {
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command: process.argv.slice(1).join(" "),
    since: new Date().toISOString(),
    token: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  };
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return null;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(holder) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return holder;
}

/** Move a stale lock aside; if what was moved is not the lock judged stale (a race), put it back. */
function takeOver(path: string, judged: LockHolder | null): void {
  const aside = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = readHolder(aside);
  if (judged && moved?.token !== judged.token) {
    try {
      linkSync(aside, path); // fails if a third process already locked: then theirs stands
    } catch {
      /* theirs stands */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
}

/**
 * Take the run folder `dir` (created if missing) for this process; release() gives it back.
 * Throws RunLockedError when another live process holds it (unless `wait`).
 */
export async function lockRunFolder(dir: string, opts: RunLockOptions = {}): Promise<RunLock> {
  dir = resolve(dir);
  const path = join(dir, LOCK_FILE);
  const mine = held.get(path);
  if (mine) {
    mine.count++;
    return { dir, release: () => release(path) };
  }
  mkdirSync(dir, { recursive: true });
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const deadline = opts.wait === true ? Infinity : typeof opts.wait === "number" ? Date.now() + opts.wait : -Infinity;
  let told = false;
  for (;;) {
    const holder = tryCreate(path);
    if (holder) {
      const timer = setInterval(() => {
        try {
          if (existsSync(path)) utimesSync(path, new Date(), new Date());
        } catch {
          /* the folder went away: nothing to refresh */
        }
      }, HEARTBEAT_MS);
      timer.unref();
      held.set(path, { count: 1, token: holder.token, timer });
      if (!exitHook) {
        process.on("exit", releaseAll);
        exitHook = true;
      }
      return { dir, release: () => release(path) };
    }
    const other = readHolder(path);
    if (isStale(path, other, staleMs)) {
      (opts.log ?? console.error)(`note: ${dir}: taking over a stale lock from ${describeHolder(other)}, which is no longer running`);
      takeOver(path, other);
      continue;
    }
    if (Date.now() >= deadline) throw new RunLockedError(dir, other);
    if (!told) {
      (opts.log ?? console.error)(`waiting for ${describeHolder(other)} to finish with ${dir}...`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}

function release(path: string): void {
  const h = held.get(path);
  if (!h) return;
  if (--h.count > 0) return;
  clearInterval(h.timer);
  removeIfOurs(path);
  held.delete(path);
}

/** Run `fn` holding the run folder's lock (released however fn ends). */
export async function withRunLock<T>(dir: string, opts: RunLockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await lockRunFolder(dir, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

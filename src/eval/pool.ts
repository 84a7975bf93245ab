/**
 * The resumable sampling skeleton shared by evaluation (harness.ts, graded by the evaluation rule)
 * and pass-rate curation (curate/passrate.ts, graded by the training reward): `runResumableSampling`
 * reads what the run's results file already holds, sends only what is missing, grades each
 * completion with the caller's grader and reports what is left.
 *
 * Its loop: `concurrency` workers take consecutive tasks in batches (up to batchSize that can share
 * one request), ask the policy, turn the completions into records and append them to the run's
 * results file as they arrive (so a crash loses at most the requests in flight). A request that
 * fails after the policy's own retries counts its tasks as failed and the loop goes on; a
 * ConfigError or DataError stops every worker and is thrown; an abort (`signal`) stops sending.
 */
import { setMaxListeners } from "node:events";
import type { Completion, Policy, SamplingParams } from "../policy/policy";
import { itemHash, type Item } from "../data/item";
import { ConfigError } from "../errors";
import { isFinal, readResults, recordKey, ResultWriter, type ResultRecord } from "./store";
import { createProgress, type Progress } from "../viz/progress";

export interface PoolOptions<T, R extends ResultRecord> {
  tasks: T[];
  policy: Policy;
  concurrency: number;
  batchSize: number;
  /** Whether `task` can join a batch that starts with `first` (one request serves both). */
  sameRequest: (task: T, first: T) => boolean;
  /** The request of a batch, from its first task. */
  params: (first: T) => SamplingParams;
  item: (task: T) => Item;
  /** Records of a batch's completions (completions[j] for batch[j]) and how many tasks stay incomplete. */
  records: (batch: T[], completions: Completion[][]) => { records: R[]; incomplete: number };
  writer: ResultWriter;
  progress: Progress | null;
  signal?: AbortSignal;
}

export interface PoolResult<R> {
  fresh: R[];
  sent: number;
  failed: number;
  firstFailure: string;
}

async function runSamplingPool<T, R extends ResultRecord>(o: PoolOptions<T, R>): Promise<PoolResult<R>> {
  const inner = new AbortController();
  setMaxListeners(0, inner.signal); // one listener per request in flight
  const onOuterAbort = () => inner.abort(o.signal!.reason);
  if (o.signal?.aborted) inner.abort(o.signal.reason);
  o.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const out: PoolResult<R> = { fresh: [], sent: 0, failed: 0, firstFailure: "" };
  let next = 0;
  let fatal: unknown = null;

  const worker = async () => {
    while (!inner.signal.aborted && fatal === null) {
      const batch: T[] = [];
      while (next < o.tasks.length && batch.length < o.batchSize && (batch.length === 0 || o.sameRequest(o.tasks[next], batch[0]))) batch.push(o.tasks[next++]);
      if (batch.length === 0) return;
      let completions: Completion[][];
      try {
        out.sent++;
        completions = await o.policy.sample(batch.map(o.item), o.params(batch[0]), inner.signal);
      } catch (e) {
        if (inner.signal.aborted) return;
        const name = (e as Error)?.name;
        if (name === "ConfigError" || name === "DataError") {
          fatal = e;
          inner.abort(e);
          return;
        }
        out.failed += batch.length;
        if (!out.firstFailure) out.firstFailure = (e as Error)?.message ?? String(e);
        o.progress?.tick(batch.length, "failed");
        continue;
      }
      const r = o.records(batch, completions);
      out.failed += r.incomplete;
      o.writer.append(r.records);
      for (const x of r.records) out.fresh.push(x);
      o.progress?.tick(batch.length);
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, o.tasks.length)) }, worker));
  } finally {
    o.writer.close();
    o.progress?.done();
    o.signal?.removeEventListener("abort", onOuterAbort);
  }
  if (fatal) throw fatal;
  return out;
}

/** One unit of work: samples 0..n-1 of one item in one run, named as its records are. */
export interface SampleUnit {
  benchmark: string;
  index: number;
  run: number;
  item: Item;
}

/** A unit still to send, with the sample indices its request returns, in order. */
export interface SampleTask extends SampleUnit {
  hash: string;
  samples: number[];
}

/** What a grader reads from one completion: `correct`, `predicted`, then the fields that follow `gold` in the record. */
export type Graded<R extends ResultRecord> = Omit<R, "benchmark" | "index" | "hash" | "run" | "sample" | "response" | "finish_reason" | "gold">;

export interface ResumableOptions<R extends ResultRecord> {
  /** The run folder (for messages) and its results file. */
  dir: string;
  file: string;
  /** Everything asked for, in sending order. */
  units: SampleUnit[];
  /** Samples per unit. */
  n: number;
  policy: Policy;
  concurrency: number;
  batchSize: number;
  /**
   * "whole": a unit missing any sample is requested again for all n (a seeded server repeats the
   * ones on disk, which are kept as they are); "missing": only the missing samples are requested.
   */
  resend: "whole" | "missing";
  /** Send again the samples a server refused as longer than its context (records that are not final). */
  retryRefused: boolean;
  sameRequest: (task: SampleTask, first: SampleTask) => boolean;
  params: (first: SampleTask) => SamplingParams;
  /** The pluggable grader: the fields a sample's record gets from its completion. */
  grade: (item: Item, completion: Completion) => Graded<R>;
  /** Keep each response's text in its record (false: ""; the grader still reads it). */
  keepResponses: boolean;
  /** Notes so far; the results file's and the end-of-run ones are added. */
  warnings: string[];
  log: (message: string) => void;
  /** Progress bar label, or null for none. */
  progress: string | null;
  signal?: AbortSignal;
  words: {
    /** What changed when an item's hash no longer matches ("benchmark", "source"). */
    source: string;
    resuming: (done: number, toSend: number) => string;
    aborted: (fresh: number, file: string) => string;
    failed: (failed: number, first: string) => string;
  };
}

export interface ResumableResult<R extends ResultRecord> {
  /** Every record of the units' samples 0..n-1, earlier calls' and this one's. */
  records: R[];
  fresh: R[];
  sent: number;
  /** Units found complete on disk. */
  resumed: number;
  /** Units left incomplete (requests that failed after all retries). */
  failed: number;
}

/**
 * The resumable skeleton of evaluation and curation: read what the results file has, send only
 * what is missing through the pool, grade each completion with the caller's grader, append, and
 * return everything asked for. The caller writes the run folder's config first.
 */
export async function runResumableSampling<R extends ResultRecord>(o: ResumableOptions<R>): Promise<ResumableResult<R>> {
  const { file, n, warnings } = o;
  const prior = readResults(file);
  warnings.push(...prior.warnings);
  const done = new Map<string, R>();
  // Prompts the server found too long last time (when retried): sent again (its context may have grown).
  const stale = new Map<string, R>();
  for (const r of prior.records as R[]) {
    const k = recordKey(r);
    if (o.retryRefused && !isFinal(r)) {
      if (!done.has(k)) stale.set(k, r);
    } else if (done.has(k)) warnings.push(`${file}: duplicate record ${k.replace(/\t/g, "/")} ignored`);
    else {
      done.set(k, r);
      stale.delete(k);
    }
  }

  const tasks: SampleTask[] = [];
  let resumed = 0;
  for (const u of o.units) {
    const hash = itemHash(u.item);
    const missing: number[] = [];
    for (let sample = 0; sample < n; sample++) {
      const r = done.get(recordKey({ ...u, sample }));
      if (!r) {
        missing.push(sample);
        continue;
      }
      if (r.hash !== hash) {
        throw new ConfigError(`${file}: ${u.benchmark} item ${u.index} had hash ${r.hash}, the data now gives ${hash}: the ${o.words.source} changed since this run began; use another --out`);
      }
    }
    if (missing.length === 0) resumed++;
    else tasks.push({ ...u, hash, samples: o.resend === "whole" ? Array.from({ length: n }, (_, s) => s) : missing });
  }
  for (const w of warnings) o.log(`warning: ${w}`);
  if (resumed > 0) o.log(o.words.resuming(resumed, tasks.length));
  if (stale.size > 0) o.log(`${stale.size} answers were refused last time as longer than the server's context: sending them again`);

  const { fresh, sent, failed, firstFailure } = await runSamplingPool<SampleTask, R>({
    tasks,
    policy: o.policy,
    concurrency: o.concurrency,
    batchSize: o.batchSize,
    sameRequest: o.sameRequest,
    params: o.params,
    item: (t) => t.item,
    records: (batch, completions) => {
      const lines: R[] = [];
      let incomplete = 0;
      batch.forEach((t, j) => {
        const got = completions[j] ?? [];
        t.samples.forEach((sample, m) => {
          if (done.has(recordKey({ ...t, sample }))) return;
          const c = got[m];
          if (!c) return;
          const { correct, predicted, ...rest } = o.grade(t.item, c);
          const head = { benchmark: t.benchmark, index: t.index, hash: t.hash, run: t.run, sample, response: o.keepResponses ? c.text : "", finish_reason: c.finish_reason };
          lines.push({ ...head, correct, predicted, gold: t.item.answer_label, ...rest } as unknown as R);
        });
        if (got.length < t.samples.length) incomplete++;
      });
      return { records: lines, incomplete };
    },
    writer: new ResultWriter(file, prior.tornBytes),
    progress: o.progress === null || tasks.length === 0 ? null : createProgress({ total: tasks.length, label: o.progress }),
    signal: o.signal,
  });
  if (o.signal?.aborted) {
    const e = new Error(o.words.aborted(fresh.length, file));
    e.name = "AbortError";
    throw e;
  }
  if (failed > 0) {
    const msg = o.words.failed(failed, firstFailure);
    warnings.push(msg);
    o.log(`warning: ${msg}`);
  }

  // Everything asked for, old and new.
  const wanted = new Set(o.units.map((u) => `${u.benchmark}\t${u.index}\t${u.run}`));
  const freshKeys = new Set(fresh.map(recordKey));
  const oldTooLong = [...stale].filter(([k]) => !freshKeys.has(k)).map(([, r]) => r);
  const records: R[] = [];
  for (const r of [...done.values(), ...fresh, ...oldTooLong]) {
    if (r.sample < n && wanted.has(`${r.benchmark}\t${r.index}\t${r.run}`)) records.push(r);
  }
  return { records, fresh, sent, resumed, failed };
}

/**
 * The sampling loop shared by evaluation (harness.ts) and pass-rate curation (curate/passrate.ts):
 * `concurrency` workers take consecutive tasks in batches (up to batchSize that can share one
 * request), ask the policy, turn the completions into records and append them to the run's
 * results file as they arrive (so a crash loses at most the requests in flight). A request that
 * fails after the policy's own retries counts its tasks as failed and the loop goes on; a
 * ConfigError or DataError stops every worker and is thrown; an abort (`signal`) stops sending.
 */
import { setMaxListeners } from "node:events";
import type { Completion, Policy, SamplingParams } from "../policy/policy";
import type { Item } from "../data/item";
import type { ResultRecord, ResultWriter } from "./store";
import type { Progress } from "../viz/progress";

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

export async function runSamplingPool<T, R extends ResultRecord>(o: PoolOptions<T, R>): Promise<PoolResult<R>> {
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

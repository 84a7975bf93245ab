/**
 * Follow a verl job on Ray: poll its status and log, append each finished step to
 * RUN_DIR/metrics.jsonl (the embedded GRPO's run-folder format, so notebook 04's views read it),
 * until the job ends. Following again resumes after the last recorded step; a poll that fails
 * (dashboard restarting, dropped connection) is retried, never fatal on its own.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../atomic";
import { METRICS_FILE, MetricsWriter, readMetrics } from "../train/runs";
import { RayJobsError, TERMINAL_STATUSES, type JobDetails, type RayJobsClient } from "./ray-jobs";
import { VerlLogReader, type VerlStepRecord } from "./verl-log";

export interface FollowOptions {
  /** The local run folder (metrics.jsonl, job.json). */
  out: string;
  /** Seconds between polls (default 10). */
  pollS?: number;
  /** Consecutive failed polls tolerated before giving up (default 30). */
  maxFailedPolls?: number;
  /** Stop following after this many polls (tests, notebooks); the job keeps running. */
  maxPolls?: number;
  onStep?: (r: VerlStepRecord) => void;
  onStatus?: (j: JobDetails) => void;
  signal?: AbortSignal;
}

export interface FollowResult {
  status: JobDetails["status"] | "FOLLOWING";
  message: string;
  /** Steps appended by this call. */
  steps: VerlStepRecord[];
  /** All steps in metrics.jsonl. */
  lastStep: number;
  details: JobDetails | null;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res) => {
    const t = setTimeout(res, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), res()), { once: true });
  });

export async function followJob(client: RayJobsClient, id: string, o: FollowOptions): Promise<FollowResult> {
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const metricsPath = join(dir, METRICS_FILE);
  const prior = readMetrics<{ step: number }>(metricsPath).records;
  let lastStep = prior.length ? Math.max(...prior.map((r) => r.step)) : -1;
  const reader = new VerlLogReader(lastStep);
  const writer = new MetricsWriter(metricsPath);
  const steps: VerlStepRecord[] = [];
  const record = (rs: VerlStepRecord[]) => {
    for (const r of rs) {
      writer.append(r as unknown as Record<string, unknown>);
      steps.push(r);
      lastStep = r.step;
      o.onStep?.(r);
    }
  };
  let failed = 0;
  let details: JobDetails | null = null;
  try {
    for (let poll = 0; ; poll++) {
      if (o.signal?.aborted || (o.maxPolls !== undefined && poll >= o.maxPolls)) return { status: "FOLLOWING", message: "stopped following; the job goes on", steps, lastStep, details };
      try {
        details = await client.job(id);
        o.onStatus?.(details);
        // Logs after the status: a terminal status means the log is complete when read.
        record(reader.feedWhole(await client.logs(id)));
        failed = 0;
      } catch (e) {
        if (e instanceof RayJobsError && e.status === 404) throw new RayJobsError(`no job '${id}' at ${client.address}`, 404);
        if (++failed > (o.maxFailedPolls ?? 30)) throw e;
        await sleep(1000 * (o.pollS ?? 10), o.signal);
        continue;
      }
      if (!existsSync(join(dir, "job.json")) || TERMINAL_STATUSES.includes(details.status)) {
        writeFileAtomic(join(dir, "job.json"), JSON.stringify({ address: client.address, submission_id: id, status: details.status, message: details.message ?? null, metadata: details.metadata ?? null }, null, 2) + "\n");
      }
      if (TERMINAL_STATUSES.includes(details.status)) {
        record(reader.finish());
        return { status: details.status, message: details.message ?? "", steps, lastStep, details };
      }
      await sleep(1000 * (o.pollS ?? 10), o.signal);
    }
  } finally {
    writer.close();
  }
}

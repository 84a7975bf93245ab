/**
 * The resumable evaluation loop: benchmarks -> policy -> grade -> one JSON line per answer.
 *
 * A fixed pool of `concurrency` workers pulls (item, run) tasks in run-major order, asks the
 * policy for `n` samples, grades them and appends the lines at once. Rerunning the same config
 * reads the results file first and sends only what is missing; a changed config lands in
 * another folder (see config.ts).
 */
import { join } from "node:path";
import type { Item } from "../data/item";
import { gradeResponse } from "../grade";
import type { Policy } from "../policy/policy";
import { withRunLock } from "../run-lock";
import { scrubUrl } from "../policy/secrets";
import { loadBenchmarks, type LoadedBenchmark } from "./benchmarks";
import { parseEvalConfig, runDir, runHash, runIdentity, type EvalConfig, type EvalConfigInput } from "./config";
import { runResumableSampling, type SampleUnit } from "./pool";
import { CONFIG_FILE, RESULTS_FILE, writeFileAtomic, type ResultRecord } from "./store";

export interface RunEvalOptions {
  signal?: AbortSignal;
  /** Evaluate these items instead of loading `config.benchmarks` (tests, notebooks with their own data). */
  datasets?: Record<string, Item[]>;
  /** Show a progress bar (default true). */
  progress?: boolean;
  /** Where notes go (default console.error). */
  log?: (message: string) => void;
  /** When another process holds the run folder: wait for it (true, or at most ms) instead of failing. */
  wait?: boolean | number;
}

export interface EvalRun {
  dir: string;
  runId: string;
  config: EvalConfig;
  /** Every record of the requested benchmarks, items, runs and samples, this call's and earlier ones'. */
  records: ResultRecord[];
  /** Items per benchmark, in order. */
  benchmarks: { id: string; label: string; items: number; notes: string[] }[];
  /** Policy calls made by this call, and (item, run) tasks found already done. */
  sent: number;
  resumed: number;
  /** (item, run) tasks still missing (requests that failed after all retries); rerun to retry them. */
  missing: number;
  warnings: string[];
}

export { RESULTS_FILE, CONFIG_FILE };
export const BENCHMARKS_FILE = "benchmarks.json";

/** Run (or resume) an evaluation. Same call from the CLI and a notebook. One process at a time per run folder. */
export async function runEval(configInput: EvalConfigInput | EvalConfig, policy: Policy, opts: RunEvalOptions = {}): Promise<EvalRun> {
  const config = parseEvalConfig(configInput);
  return withRunLock(runDir(config), { wait: opts.wait, log: opts.log }, () => runEvalLocked(config, policy, opts));
}

async function runEvalLocked(configInput: EvalConfigInput | EvalConfig, policy: Policy, opts: RunEvalOptions): Promise<EvalRun> {
  const config = parseEvalConfig(configInput);
  const log = opts.log ?? ((m: string) => console.error(m));
  const warnings: string[] = [];

  // 1. Items, before any request: a missing benchmark fails here, not an hour in.
  let loaded: LoadedBenchmark[];
  if (opts.datasets) {
    loaded = Object.entries(opts.datasets).map(([id, items]) => ({ id, label: id, items, notes: [] }));
  } else {
    loaded = await loadBenchmarks(config.benchmarks, { evalParquet: config.evalParquet, dataRoot: config.dataRoot });
  }
  for (const b of loaded) {
    if (config.limit !== null) b.items = b.items.slice(0, config.limit);
    for (const n of b.notes) warnings.push(`${b.id}: ${n}`);
  }

  // 2. The run folder and its config.
  const dir = runDir(config);
  const runId = runHash(config);
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify({ runId, identity: runIdentity(config), config: { ...config, baseURL: scrubUrl(config.baseURL) } }, null, 2) + "\n");
  // What was evaluated and how it was cut (counts, notes), for reports read back from the folder.
  writeFileAtomic(join(dir, BENCHMARKS_FILE), JSON.stringify(loaded.map((b) => ({ id: b.id, label: b.label, items: b.items.length, notes: b.notes })), null, 2) + "\n");
  const file = join(dir, RESULTS_FILE);

  // 3. What is missing (run-major, so a partial evaluation has whole runs first): send, grade with
  // the evaluation rule, append. A changed benchmark fails here, before any request.
  const n = config.sampling.n;
  const units: SampleUnit[] = [];
  for (let run = 0; run < config.runs; run++) {
    for (const b of loaded) b.items.forEach((item, index) => units.push({ benchmark: b.id, index, run, item }));
  }
  const { seedPerRun, ...sampling } = config.sampling;
  const { records, sent, resumed, failed } = await runResumableSampling<ResultRecord>({
    dir,
    file,
    units,
    n,
    policy,
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    resend: "whole",
    retryRefused: true,
    // A batch: up to batchSize consecutive tasks of the same run.
    sameRequest: (t, first) => t.run === first.run,
    params: (t) => ({ ...sampling, seed: seedPerRun ? sampling.seed + t.run : sampling.seed }),
    grade: (item, c) => {
      const g = gradeResponse(c.text, item.options, item.answer_label);
      return {
        correct: g.correct,
        predicted: g.predicted ?? null,
        extracted: g.extracted,
        via: g.via,
        ...(config.sampling.logprobs && c.logprobs ? { logprobs: c.logprobs } : {}),
        ...(c.error ? { error: c.error } : {}),
      };
    },
    keepResponses: true,
    warnings,
    log,
    progress: opts.progress === false ? null : `eval ${config.model}`,
    signal: opts.signal,
    words: {
      source: "benchmark",
      resuming: (done, toSend) => `resuming ${dir}: ${done} (item, run) pairs done, ${toSend} to send`,
      aborted: (fresh, f) => `evaluation aborted; ${fresh} new records are saved in ${f}; rerun to resume`,
      failed: (count, first) => `${count} (item, run) tasks failed after all retries (first: ${first}); rerun the same command to send only those`,
    },
  });

  return {
    dir,
    runId,
    config,
    records,
    benchmarks: loaded.map((b) => ({ id: b.id, label: b.label, items: b.items.length, notes: b.notes })),
    sent,
    resumed,
    missing: failed,
    warnings,
  };
}

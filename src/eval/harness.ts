/**
 * The resumable evaluation loop: benchmarks -> policy -> grade -> one JSON line per answer.
 *
 * A fixed pool of `concurrency` workers pulls (item, run) tasks in run-major order, asks the
 * policy for `n` samples, grades them and appends the lines at once. Rerunning the same config
 * reads the results file first and sends only what is missing; a changed config lands in
 * another folder (see config.ts).
 */
import { join } from "node:path";
import { itemHash, type Item } from "../data/item";
import { gradeResponse } from "../grade";
import type { Policy } from "../policy/policy";
import { scrubUrl } from "../policy/secrets";
import { createProgress } from "../viz/progress";
import { loadBenchmarks, type LoadedBenchmark } from "./benchmarks";
import { ConfigError, parseEvalConfig, runDir, runHash, runIdentity, type EvalConfig, type EvalConfigInput } from "./config";
import { runSamplingPool } from "./pool";
import { CONFIG_FILE, readResults, recordKey, RESULTS_FILE, ResultWriter, writeFileAtomic, type ResultRecord } from "./store";

export interface RunEvalOptions {
  signal?: AbortSignal;
  /** Evaluate these items instead of loading `config.benchmarks` (tests, notebooks with their own data). */
  datasets?: Record<string, Item[]>;
  /** Show a progress bar (default true). */
  progress?: boolean;
  /** Where notes go (default console.error). */
  log?: (message: string) => void;
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

interface Task {
  benchmark: string;
  index: number;
  hash: string;
  item: Item;
  run: number;
}

/** Run (or resume) an evaluation. Same call from the CLI and a notebook. */
export async function runEval(configInput: EvalConfigInput | EvalConfig, policy: Policy, opts: RunEvalOptions = {}): Promise<EvalRun> {
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

  // 2. The run folder, its config and what is already there.
  const dir = runDir(config);
  const runId = runHash(config);
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify({ runId, identity: runIdentity(config), config: { ...config, baseURL: scrubUrl(config.baseURL) } }, null, 2) + "\n");
  // What was evaluated and how it was cut (counts, notes), for reports read back from the folder.
  writeFileAtomic(join(dir, BENCHMARKS_FILE), JSON.stringify(loaded.map((b) => ({ id: b.id, label: b.label, items: b.items.length, notes: b.notes })), null, 2) + "\n");
  const file = join(dir, RESULTS_FILE);
  const prior = readResults(file);
  warnings.push(...prior.warnings);
  const done = new Map<string, ResultRecord>();
  for (const r of prior.records) {
    const k = recordKey(r);
    if (done.has(k)) warnings.push(`${file}: duplicate record ${k.replace(/\t/g, "/")} ignored`);
    else done.set(k, r);
  }

  // 3. What is missing: run-major, so a partial evaluation has whole runs first.
  const n = config.sampling.n;
  const tasks: Task[] = [];
  let resumed = 0;
  for (let run = 0; run < config.runs; run++) {
    for (const b of loaded) {
      b.items.forEach((item, index) => {
        const hash = itemHash(item);
        let have = 0;
        for (let s = 0; s < n; s++) {
          const r = done.get(recordKey({ benchmark: b.id, index, run, sample: s }));
          if (!r) continue;
          if (r.hash !== hash) {
            throw new ConfigError(`${file}: ${b.id} item ${index} had hash ${r.hash}, the data now gives ${hash}: the benchmark changed since this run began; use another --out`);
          }
          have++;
        }
        if (have === n) resumed++;
        else tasks.push({ benchmark: b.id, index, hash, item, run });
      });
    }
  }
  for (const w of warnings) log(`warning: ${w}`);
  if (resumed > 0) log(`resuming ${dir}: ${resumed} (item, run) pairs done, ${tasks.length} to send`);

  // 4. Send, grade, append.
  const { seedPerRun, ...sampling } = config.sampling;
  const { fresh, sent, failed, firstFailure } = await runSamplingPool<Task, ResultRecord>({
    tasks,
    policy,
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    // A batch: up to batchSize consecutive tasks of the same run.
    sameRequest: (t, first) => t.run === first.run,
    params: (t) => ({ ...sampling, seed: seedPerRun ? sampling.seed + t.run : sampling.seed }),
    item: (t) => t.item,
    records: (batch, completions) => {
      const lines: ResultRecord[] = [];
      let incomplete = 0;
      batch.forEach((t, j) => {
        const samples = completions[j] ?? [];
        for (let s = 0; s < n; s++) {
          if (done.has(recordKey({ ...t, sample: s }))) continue;
          const c = samples[s];
          if (!c) continue;
          const g = gradeResponse(c.text, t.item.options, t.item.answer_label);
          const rec: ResultRecord = {
            benchmark: t.benchmark,
            index: t.index,
            hash: t.hash,
            run: t.run,
            sample: s,
            response: c.text,
            finish_reason: c.finish_reason,
            correct: g.correct,
            predicted: g.predicted ?? null,
            gold: t.item.answer_label,
            extracted: g.extracted,
            via: g.via,
          };
          if (config.sampling.logprobs && c.logprobs) rec.logprobs = c.logprobs;
          lines.push(rec);
        }
        if (samples.length < n) incomplete++;
      });
      return { records: lines, incomplete };
    },
    writer: new ResultWriter(file, prior.tornBytes),
    progress: opts.progress === false || tasks.length === 0 ? null : createProgress({ total: tasks.length, label: `eval ${config.model}` }),
    signal: opts.signal,
  });
  if (opts.signal?.aborted) {
    const e = new Error(`evaluation aborted; ${fresh.length} new records are saved in ${file}; rerun to resume`);
    e.name = "AbortError";
    throw e;
  }
  if (failed > 0) {
    const msg = `${failed} (item, run) tasks failed after all retries (first: ${firstFailure}); rerun the same command to send only those`;
    warnings.push(msg);
    log(`warning: ${msg}`);
  }

  // 5. Everything this config asks for, old and new.
  const wanted = new Map(loaded.map((b) => [b.id, b.items.length]));
  const records: ResultRecord[] = [];
  for (const r of [...done.values(), ...fresh]) {
    const count = wanted.get(r.benchmark);
    if (count !== undefined && r.index < count && r.run < config.runs && r.sample < n) records.push(r);
  }
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

/**
 * Pass-rate estimation (upstream eval/estimate_pass_rate.sh): k samples per item from any Policy,
 * each graded with the training reward (src/reward.ts computeReward, not the evaluation grader),
 * one JSON line per sample in the run folder's results.jsonl.
 *
 * Storage is the evaluation harness's append-only store (src/eval/store.ts: ResultRecord lines,
 * torn-line recovery, ResultWriter), with run = 0 and `benchmark` = the data source. The loop is
 * our own because the harness grades with the evaluation rule; it follows the harness's design:
 * a pool of workers, all samples of an item appended in one write, resume by sending only the
 * samples not yet on disk.
 *
 * Seeds: a request for samples s0 .. s0+m-1 of an item carries seed + s0, so a resumed partial
 * item asks a seeded server for new samples rather than the first m again.
 */
import { join } from "node:path";
import type { Item } from "../data/item";
import { itemHash } from "../data/item";
import { scrubUrl } from "../policy/secrets";
import { createProgress } from "../viz/progress";
import { runSamplingPool } from "../eval/pool";
import { CONFIG_FILE, readResults, recordKey, RESULTS_FILE, ResultWriter, writeFileAtomic, type ResultRecord } from "../eval/store";
import type { Policy } from "../policy/policy";
import { computeReward, type RewardOptions } from "../reward";
import { ConfigError, curateIdentity, curateRunDir, curateRunHash, type CurateConfig } from "./config";

/** One sample's line: the evaluation record plus what the training reward saw. */
export interface PassRecord extends ResultRecord {
  /** The response passed the format fullmatch. */
  format?: boolean;
  /** The reward's scalar (equals correct ? 1 : 0 under the published gate). */
  reward?: number;
}

/** Items of one data source; `id` names it in the results file. */
export interface PassRateSource {
  id: string;
  items: Item[];
  /**
   * Stable position of each item in its source (default: its position in `items`). Give it when
   * `items` is a selection (a limit, an overlap exclusion), so that changing the selection keeps
   * every sample already on disk attached to the right item.
   */
  indices?: number[];
}

/** The stable index of items[j] of a source. */
export function sourceIndex(s: PassRateSource, j: number): number {
  return s.indices ? s.indices[j] : j;
}

/** The pass count of one item over samples 0..k-1. */
export interface ItemPassCount {
  source: string;
  /** Position in the source's item list. */
  index: number;
  hash: string;
  /** Samples that earned reward 1. */
  passCount: number;
  /** Samples that passed the format gate (a diagnostic: 0 everywhere means the model never uses the tags). */
  formatCount: number;
  /** Samples on disk (k when the item is complete). */
  samples: number;
  k: number;
}

export interface PassRateRun {
  dir: string;
  runId: string;
  /** Every record of the requested sources, items and samples, this call's and earlier ones'. */
  records: PassRecord[];
  /** One entry per item of every source, in source then item order (incomplete ones too). */
  counts: ItemPassCount[];
  /** Policy calls this call made; items found already complete. */
  sent: number;
  resumed: number;
  /** Items still incomplete (a request failed after all retries); rerun to send only those. */
  missing: number;
  warnings: string[];
}

export interface PassRateOptions {
  signal?: AbortSignal;
  /** Name used for the run folder when config.model is unset (default policy.name). */
  model?: string;
  progress?: boolean;
  log?: (message: string) => void;
  /** Extra fields saved in config.json (how the data was chosen, say). */
  meta?: Record<string, unknown>;
}

interface Task {
  source: string;
  index: number;
  hash: string;
  item: Item;
  /** Sample indices still missing, ascending. */
  missing: number[];
}

/** Grade one sample with the training reward (src/reward.ts computeReward): correct iff score 1. */
export function gradeSample(item: Item, text: string, reward: RewardOptions): { correct: boolean; format: boolean; reward: number; predicted: string | null; extracted: string | null; via: string } {
  const r = computeReward(text, item, reward);
  return { correct: r.score === 1, format: r.format, reward: r.reward, predicted: r.predicted, extracted: r.extracted, via: r.reason };
}

/** Pass counts per item from records (samples 0..k-1 only; the first record of a key wins). */
export function passCountsFromRecords(sources: PassRateSource[], records: readonly PassRecord[], k: number): ItemPassCount[] {
  const byKey = new Map<string, PassRecord>();
  for (const r of records) if (r.run === 0 && !byKey.has(recordKey(r))) byKey.set(recordKey(r), r);
  const out: ItemPassCount[] = [];
  for (const s of sources) {
    s.items.forEach((item, j) => {
      const index = sourceIndex(s, j);
      let passCount = 0;
      let formatCount = 0;
      let samples = 0;
      for (let sample = 0; sample < k; sample++) {
        const r = byKey.get(recordKey({ benchmark: s.id, index, run: 0, sample }));
        if (!r) continue;
        samples++;
        if (r.correct) passCount++;
        if (r.format) formatCount++;
      }
      out.push({ source: s.id, index, hash: itemHash(item), passCount, formatCount, samples, k });
    });
  }
  return out;
}

/** Sample (or resume) k answers per item and grade them. Same call from the CLI and a notebook. */
export async function estimatePassCounts(sources: PassRateSource[], policy: Policy, config: CurateConfig, opts: PassRateOptions = {}): Promise<PassRateRun> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const model = config.model ?? opts.model ?? policy.name;
  const ids = new Set<string>();
  for (const s of sources) {
    if (ids.has(s.id)) throw new ConfigError(`data source '${s.id}' is given twice`);
    if (s.indices && (s.indices.length !== s.items.length || new Set(s.indices).size !== s.indices.length)) {
      throw new ConfigError(`data source '${s.id}': indices must give one distinct index per item`);
    }
    ids.add(s.id);
  }

  // 1. The run folder, its config and what is already there.
  const dir = curateRunDir(config, model);
  const runId = curateRunHash(config, model);
  writeFileAtomic(
    join(dir, CONFIG_FILE),
    JSON.stringify({ runId, identity: curateIdentity(config, model), config: { ...config, model, baseURL: scrubUrl(config.baseURL) }, ...(opts.meta ? { meta: opts.meta } : {}) }, null, 2) + "\n",
  );
  const file = join(dir, RESULTS_FILE);
  const prior = readResults(file);
  const warnings = [...prior.warnings];
  const done = new Map<string, PassRecord>();
  for (const r of prior.records) {
    const key = recordKey(r);
    if (done.has(key)) warnings.push(`${file}: duplicate record ${key.replace(/\t/g, "/")} ignored`);
    else done.set(key, r);
  }

  // 2. What is missing, item by item.
  const k = config.k;
  const tasks: Task[] = [];
  let resumed = 0;
  for (const s of sources) {
    s.items.forEach((item, j) => {
      const index = sourceIndex(s, j);
      const hash = itemHash(item);
      const missing: number[] = [];
      for (let sample = 0; sample < k; sample++) {
        const r = done.get(recordKey({ benchmark: s.id, index, run: 0, sample }));
        if (!r) {
          missing.push(sample);
          continue;
        }
        if (r.hash !== hash) {
          throw new ConfigError(`${file}: ${s.id} item ${index} had hash ${r.hash}, the data now gives ${hash}: the source changed since this run began; use another --out`);
        }
      }
      if (missing.length === 0) resumed++;
      else tasks.push({ source: s.id, index, hash, item, missing });
    });
  }
  for (const w of warnings) log(`warning: ${w}`);
  if (resumed > 0) log(`resuming ${dir}: ${resumed} items complete, ${tasks.length} to sample`);

  // 3. Sample, grade, append.
  const progress = opts.progress === false || tasks.length === 0 ? null : createProgress({ total: tasks.length, label: `pass rate ${model} (k=${k})` });
  const { fresh, sent, failed, firstFailure } = await runSamplingPool<Task, PassRecord>({
    tasks,
    policy,
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    // A batch: consecutive tasks that need the same request (same count, same first sample).
    sameRequest,
    params: (t) => ({ ...config.sampling, n: t.missing.length, seed: config.sampling.seed + t.missing[0] }),
    item: (t) => t.item,
    records: (batch, completions) => {
      const lines: PassRecord[] = [];
      let incomplete = 0;
      batch.forEach((t, j) => {
        const samples = completions[j] ?? [];
        t.missing.forEach((sample, m) => {
          const c = samples[m];
          if (!c) return;
          const g = gradeSample(t.item, c.text, config.reward);
          lines.push({
            benchmark: t.source,
            index: t.index,
            hash: t.hash,
            run: 0,
            sample,
            response: config.responses === "none" ? "" : c.text,
            finish_reason: c.finish_reason,
            correct: g.correct,
            predicted: g.predicted,
            gold: t.item.answer_label,
            extracted: g.extracted,
            via: g.via,
            format: g.format,
            reward: g.reward,
          });
        });
        if (samples.length < t.missing.length) incomplete++;
      });
      return { records: lines, incomplete };
    },
    writer: new ResultWriter(file, prior.tornBytes),
    progress,
    signal: opts.signal,
  });
  if (opts.signal?.aborted) {
    const e = new Error(`pass-rate sampling aborted; ${fresh.length} new samples are saved in ${file}; rerun to resume`);
    e.name = "AbortError";
    throw e;
  }
  if (failed > 0) {
    const msg = `${failed} items are incomplete (requests failed after all retries; first: ${firstFailure}); rerun the same call to send only those`;
    warnings.push(msg);
    log(`warning: ${msg}`);
  }

  // 4. Everything asked for, old and new.
  const wanted = new Set(sources.flatMap((s) => s.items.map((_, j) => `${s.id}\t${sourceIndex(s, j)}`)));
  const records: PassRecord[] = [];
  for (const r of [...done.values(), ...fresh]) {
    if (r.run === 0 && r.sample < k && wanted.has(`${r.benchmark}\t${r.index}`)) records.push(r);
  }
  const counts = passCountsFromRecords(sources, records, k);
  return { dir, runId, records, counts, sent, resumed, missing: counts.filter((c) => c.samples < k).length, warnings };
}

function sameRequest(a: Task, b: Task): boolean {
  return a.missing.length === b.missing.length && a.missing[0] === b.missing[0];
}


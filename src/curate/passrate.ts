/**
 * Pass-rate estimation (upstream eval/estimate_pass_rate.sh): k samples per item from any Policy,
 * each graded with the training reward (src/reward.ts computeReward, not the evaluation grader),
 * one JSON line per sample in the run folder's results.jsonl.
 *
 * Storage is the evaluation harness's append-only store (src/eval/store.ts: ResultRecord lines,
 * torn-line recovery, ResultWriter), with run = 0 and `benchmark` = the data source. The loop is
 * the harness's resumable skeleton (src/eval/pool.ts runResumableSampling) with the reward as its
 * grader: a pool of workers, all samples of an item appended in one write, resume by sending only
 * the samples not yet on disk.
 *
 * Seeds: a request for samples s0 .. s0+m-1 of an item carries seed + s0, so a resumed partial
 * item asks a seeded server for new samples rather than the first m again.
 */
import { join } from "node:path";
import type { Item } from "../data/item";
import { itemHash } from "../data/item";
import { scrubUrl } from "../policy/secrets";
import { withRunLock } from "../run-lock";
import { runResumableSampling, type SampleUnit } from "../eval/pool";
import { CONFIG_FILE, recordKey, RESULTS_FILE, writeFileAtomic, type ResultRecord } from "../eval/store";
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
  /** When another process holds the run folder: wait for it (true, or at most ms) instead of failing. */
  wait?: boolean | number;
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

/** The run folder of a curation with this config and policy. */
export function passRateRunDir(config: CurateConfig, policy: Pick<Policy, "name">, opts: Pick<PassRateOptions, "model"> = {}): string {
  return curateRunDir(config, config.model ?? opts.model ?? policy.name);
}

/** Sample (or resume) k answers per item and grade them. Same call from the CLI and a notebook. One process at a time per run folder. */
export async function estimatePassCounts(sources: PassRateSource[], policy: Policy, config: CurateConfig, opts: PassRateOptions = {}): Promise<PassRateRun> {
  return withRunLock(passRateRunDir(config, policy, opts), { wait: opts.wait, log: opts.log }, () => estimatePassCountsLocked(sources, policy, config, opts));
}

async function estimatePassCountsLocked(sources: PassRateSource[], policy: Policy, config: CurateConfig, opts: PassRateOptions): Promise<PassRateRun> {
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

  // 1. The run folder and its config.
  const dir = curateRunDir(config, model);
  const runId = curateRunHash(config, model);
  writeFileAtomic(
    join(dir, CONFIG_FILE),
    JSON.stringify({ runId, identity: curateIdentity(config, model), config: { ...config, model, baseURL: scrubUrl(config.baseURL) }, ...(opts.meta ? { meta: opts.meta } : {}) }, null, 2) + "\n",
  );
  const file = join(dir, RESULTS_FILE);
  const warnings: string[] = [];

  // 2. What is missing, item by item: sample, grade with the training reward, append.
  const k = config.k;
  const units: SampleUnit[] = sources.flatMap((s) => s.items.map((item, j) => ({ benchmark: s.id, index: sourceIndex(s, j), run: 0, item })));
  const { records, sent, resumed } = await runResumableSampling<PassRecord>({
    dir,
    file,
    units,
    n: k,
    policy,
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    resend: "missing",
    retryRefused: false,
    // A batch: consecutive tasks that need the same request (same count, same first sample).
    sameRequest: (a, b) => a.samples.length === b.samples.length && a.samples[0] === b.samples[0],
    params: (t) => ({ ...config.sampling, n: t.samples.length, seed: config.sampling.seed + t.samples[0] }),
    grade: (item, c) => {
      const g = gradeSample(item, c.text, config.reward);
      return { correct: g.correct, predicted: g.predicted, extracted: g.extracted, via: g.via, format: g.format, reward: g.reward };
    },
    keepResponses: config.responses !== "none",
    warnings,
    log,
    progress: opts.progress === false ? null : `pass rate ${model} (k=${k})`,
    signal: opts.signal,
    words: {
      source: "source",
      resuming: (done, toSend) => `resuming ${dir}: ${done} items complete, ${toSend} to sample`,
      aborted: (fresh, f) => `pass-rate sampling aborted; ${fresh} new samples are saved in ${f}; rerun to resume`,
      failed: (count, first) => `${count} items are incomplete (requests failed after all retries; first: ${first}); rerun the same call to send only those`,
    },
  });
  const counts = passCountsFromRecords(sources, records, k);
  return { dir, runId, records, counts, sent, resumed, missing: counts.filter((c) => c.samples < k).length, warnings };
}

/**
 * Difficulty curation, the whole stage: load the pool, sample k answers per item and grade them
 * with the training reward (passrate.ts, resumable), keep the published pass-count band, shuffle
 * with the seed and sort easy to hard (filter.ts), and write the curated set in the interchange
 * schema (parquet and jsonl, pass counts in misc.pass_count / misc.pass_k) with the pass-count
 * histogram beside the published one. `curate(config, policy)` is what the CLI and notebook call.
 */
import { join } from "node:path";
import { closedOnly, isOpen, type Item } from "../data/item";
import { writeItemsJsonl } from "../data/jsonl";
import { excludeOverlap } from "../data/overlap";
import { writeParquetItems } from "../data/parquet";
import { loadAny } from "../data/registry";
import { writeFileAtomic } from "../eval/store";
import type { Policy } from "../policy/policy";
import { filterRange, parseCurateConfig, type CurateConfig, type CurateConfigInput } from "./config";
import { curateByDifficulty, filterByPassCount, type PassCountRange } from "./filter";
import { histogramWithPublished, type PassCountHistogram } from "./histogram";
import { estimatePassCounts, sourceIndex, type ItemPassCount, type PassRateOptions, type PassRateSource, type PassRecord } from "./passrate";
import { ConfigError } from "../errors";

export const CURATED_PARQUET = "curated.parquet";
export const CURATED_JSONL = "curated.jsonl";
export const SCORED_JSONL = "scored.jsonl";
export const HISTOGRAM_JSON = "histogram.json";
export const SUMMARY_JSON = "summary.json";

/** How one source's pool was chosen. */
export interface SourceSummary {
  id: string;
  /** Items the loader gave for the split. */
  loaded: number;
  /** Open questions dropped (no options: the reward cannot grade them). */
  open: number;
  /** Items dropped because they are also in an `excludeOverlap` set. */
  overlapping: number;
  /** Items sampled (after the limit). */
  used: number;
  notes: string[];
}

export interface CurateOptions extends PassRateOptions {
  /** Curate these items instead of loading `config.data` (tests, notebooks with their own pool). */
  sources?: PassRateSource[];
  /** Write the output files (default true). */
  write?: boolean;
}

export interface CurateResult {
  dir: string;
  runId: string;
  config: CurateConfig;
  /** The pass-count band kept. */
  range: PassCountRange;
  /** Every item of the pool (incomplete ones have samples < k). */
  passCounts: ItemPassCount[];
  /** The complete items with misc.pass_count and misc.pass_k, in pool order. */
  scored: Item[];
  /** The kept items in training order. */
  curated: Item[];
  histogram: PassCountHistogram;
  sources: SourceSummary[];
  /** Every sample record (responses and what the reward read). */
  records: PassRecord[];
  /** Paths written (empty when write is false). */
  files: Record<string, string>;
  sent: number;
  resumed: number;
  missing: number;
  warnings: string[];
}

/** The pool: each source loaded for the split, open questions dropped, overlap removed, limited. */
export async function loadCurationSources(config: CurateConfig): Promise<{ sources: PassRateSource[]; summaries: SourceSummary[] }> {
  const evalSets: Item[][] = [];
  for (const x of config.excludeOverlap) evalSets.push((await loadAny(x, { root: config.dataRoot, split: "test" })).items);
  const sources: PassRateSource[] = [];
  const summaries: SourceSummary[] = [];
  for (const entry of config.data) {
    const res = await loadAny(entry, { root: config.dataRoot, split: config.split });
    const closed = closedOnly(res.items);
    const position = new Map<Item, number>(closed.map((it, i) => [it, i]));
    const { kept, excluded } = evalSets.length ? excludeOverlap(closed, evalSets) : { kept: closed, excluded: [] as Item[] };
    const used = config.limit === null ? kept : kept.slice(0, config.limit);
    const id = config.split === "all" ? entry : `${entry}@${config.split}`;
    sources.push({ id, items: used, indices: used.map((it) => position.get(it) as number) });
    summaries.push({ id, loaded: res.items.length, open: res.items.filter(isOpen).length, overlapping: excluded.length, used: used.length, notes: res.warnings });
  }
  return { sources, summaries };
}

/** An item with its pass count in misc (the interchange schema keeps extras there). */
export function withPassCount(item: Item, passCount: number, k: number): Item {
  return { ...item, misc: { ...(item.misc ?? {}), pass_count: passCount, pass_k: k } };
}

/** Filter to the band and order as configured ("none": filter only, pool order). */
export function selectCurated<T extends { passCount: number }>(entries: readonly T[], config: Pick<CurateConfig, "order" | "orderSeed">, range: PassCountRange): T[] {
  if (config.order === "none") return filterByPassCount(entries, range);
  return curateByDifficulty(entries, { range, seed: config.orderSeed, order: config.order });
}

/** Run (or resume) the whole curation. Same call from the CLI and a notebook. */
export async function curate(configInput: CurateConfigInput | CurateConfig, policy: Policy, opts: CurateOptions = {}): Promise<CurateResult> {
  const config = parseCurateConfig(configInput);
  const range = filterRange(config);
  const log = opts.log ?? ((m: string) => console.error(m));
  let sources = opts.sources;
  let summaries: SourceSummary[];
  if (sources) {
    summaries = sources.map((s) => ({ id: s.id, loaded: s.items.length, open: 0, overlapping: 0, used: s.items.length, notes: [] }));
  } else {
    ({ sources, summaries } = await loadCurationSources(config));
  }
  for (const s of sources) {
    const open = s.items.filter(isOpen).length;
    if (open > 0) throw new Error(`data source '${s.id}' has ${open} open questions: the reward grades multiple-choice items only (use closedOnly)`);
  }
  const pool = sources.reduce((a, s) => a + s.items.length, 0);
  if (pool === 0) throw new ConfigError(`no items to curate in ${config.data.join(", ")} (split ${config.split})`);

  const run = await estimatePassCounts(sources, policy, config, { ...opts, log, meta: { ...(opts.meta ?? {}), sources: summaries } });

  // Complete items only: an incomplete one has no pass count yet.
  const itemAt = new Map<string, Item>();
  for (const s of sources) s.items.forEach((it, j) => itemAt.set(`${s.id}\t${sourceIndex(s, j)}`, it));
  const entries = run.counts
    .filter((c) => c.samples === c.k)
    .map((c) => ({ passCount: c.passCount, item: withPassCount(itemAt.get(`${c.source}\t${c.index}`) as Item, c.passCount, c.k) }));
  const scored = entries.map((e) => e.item);
  const curated = selectCurated(entries, config, range).map((e) => e.item);
  const histogram = histogramWithPublished(
    entries.map((e) => e.passCount),
    config.k,
    range,
  );

  const files: Record<string, string> = {};
  if (opts.write !== false) {
    files.curatedParquet = join(run.dir, CURATED_PARQUET);
    files.curatedJsonl = join(run.dir, CURATED_JSONL);
    files.scoredJsonl = join(run.dir, SCORED_JSONL);
    files.histogram = join(run.dir, HISTOGRAM_JSON);
    files.summary = join(run.dir, SUMMARY_JSON);
    await writeParquetItems(files.curatedParquet, curated);
    writeItemsJsonl(files.curatedJsonl, curated);
    writeItemsJsonl(files.scoredJsonl, scored);
    writeFileAtomic(files.histogram, JSON.stringify(histogram, null, 2) + "\n");
    const summary = {
      runId: run.runId,
      k: config.k,
      range,
      order: config.order,
      orderSeed: config.orderSeed,
      pool,
      scored: scored.length,
      curated: curated.length,
      incomplete: run.missing,
      sources: summaries,
    };
    writeFileAtomic(files.summary, JSON.stringify(summary, null, 2) + "\n");
  }
  return {
    dir: run.dir,
    runId: run.runId,
    config,
    range,
    passCounts: run.counts,
    scored,
    curated,
    histogram,
    sources: summaries,
    records: run.records,
    files,
    sent: run.sent,
    resumed: run.resumed,
    missing: run.missing,
    warnings: run.warnings,
  };
}

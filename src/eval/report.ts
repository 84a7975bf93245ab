/**
 * The report of a run: per-benchmark accuracy (runs and samples averaged per item, then over
 * items) with a 95% percentile-bootstrap interval over items, each run's accuracy, and the
 * paper's figure for the same model beside ours.
 */
import * as aq from "arquero";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sampleMetrics } from "../grade";
import { BENCHMARKS } from "./benchmarks";
import { parseEvalConfig, type EvalConfig } from "./config";
import type { EvalRun } from "./harness";
import { findPaperRow, loadPaperResults, type PaperRow } from "./paper";
import { bootstrapMeanCI, mean, sampleStd } from "./stats";
import { CONFIG_FILE, readResults, RESULTS_FILE, type ResultRecord } from "./store";
import { ConfigError } from "../errors";

export interface BenchmarkSummary {
  benchmark: string;
  label: string;
  items: number;
  runs: number;
  /** Records (answers) graded. */
  answers: number;
  /** Percent, runs and samples averaged per item, then over items. */
  accuracy: number;
  ci_lo: number;
  ci_hi: number;
  /** Accuracy of each run (percent), for the spread between runs. */
  run_accuracy: number[];
  run_std: number;
  /** Responses that hit max_tokens. */
  truncated: number;
  /** Responses the grader could not read a letter from. */
  unparsed: number;
  paper: number | null;
  /** With more than one answer per item (samples or runs): share of items with any right answer, and whose majority vote is right. */
  pass_at_k: number | null;
  majority_at_k: number | null;
}

/** Per-item score: mean correctness over that item's runs and samples. Keyed by index. */
export function itemScores(records: ResultRecord[]): Map<number, number> {
  const acc = new Map<number, { s: number; n: number }>();
  for (const r of records) {
    const a = acc.get(r.index) ?? { s: 0, n: 0 };
    a.s += r.correct ? 1 : 0;
    a.n++;
    acc.set(r.index, a);
  }
  return new Map([...acc].map(([k, v]) => [k, v.s / v.n]));
}

/** Summaries in registry order (then any other benchmark ids). */
export function summarize(records: ResultRecord[], paper: PaperRow | null = null, opts: { resamples?: number } = {}): BenchmarkSummary[] {
  const byBench = new Map<string, ResultRecord[]>();
  for (const r of records) {
    if (!byBench.has(r.benchmark)) byBench.set(r.benchmark, []);
    byBench.get(r.benchmark)!.push(r);
  }
  const order = [...BENCHMARKS.map((b) => b.id).filter((id) => byBench.has(id)), ...[...byBench.keys()].filter((id) => !BENCHMARKS.some((b) => b.id === id))];
  return order.map((id) => {
    const rs = byBench.get(id)!;
    const spec = BENCHMARKS.find((b) => b.id === id);
    const scores = [...itemScores(rs).values()];
    const ci = bootstrapMeanCI(scores, { resamples: opts.resamples ?? 2000, seed: 42 });
    const runs = [...new Set(rs.map((r) => r.run))].sort((a, b) => a - b);
    const runAcc = runs.map((run) => 100 * mean(rs.filter((r) => r.run === run).map((r) => (r.correct ? 1 : 0))));
    const col = spec?.paperColumn;
    return {
      benchmark: id,
      label: spec?.label ?? id,
      items: scores.length,
      runs: runs.length,
      answers: rs.length,
      accuracy: 100 * mean(scores),
      ci_lo: 100 * ci.lo,
      ci_hi: 100 * ci.hi,
      run_accuracy: runAcc,
      run_std: sampleStd(runAcc),
      truncated: rs.filter((r) => r.finish_reason === "length").length,
      unparsed: rs.filter((r) => r.predicted === null || r.predicted === undefined).length,
      paper: col && paper && paper.scores[col] !== undefined ? paper.scores[col] : null,
      ...multiSample(rs),
    };
  });
}

/** pass@k and majority@k over each item's answers (all runs and samples), via src/grade.ts. */
function multiSample(rs: ResultRecord[]): { pass_at_k: number | null; majority_at_k: number | null } {
  const byItem = new Map<number, ResultRecord[]>();
  for (const r of rs) {
    if (!byItem.has(r.index)) byItem.set(r.index, []);
    byItem.get(r.index)!.push(r);
  }
  const groups = [...byItem.values()].map((g) => g.sort((a, b) => a.run - b.run || a.sample - b.sample));
  if (!groups.some((g) => g.length > 1)) return { pass_at_k: null, majority_at_k: null };
  const m = sampleMetrics(
    groups.map((g) => g.map((r) => r.correct)),
    groups.map((g) => g.map((r) => r.predicted ?? r.extracted ?? null)),
    groups.map((g) => g[0].gold),
  );
  return { pass_at_k: 100 * m.pass_at_k, majority_at_k: 100 * m.majority_at_k };
}

const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

/** The summary as an arquero table (percent, two decimals). */
export function summaryTable(summaries: BenchmarkSummary[]): aq.ColumnTable {
  return aq.from(
    summaries.map((s) => ({
      benchmark: s.label,
      items: s.items,
      runs: s.runs,
      accuracy: r2(s.accuracy),
      ci95: Number.isFinite(s.ci_lo) ? `${r2(s.ci_lo)}-${r2(s.ci_hi)}` : null,
      runs_std: r2(s.run_std),
      paper: s.paper,
      diff: s.paper === null ? null : r2(s.accuracy - s.paper),
      ...(summaries.some((x) => x.pass_at_k !== null) ? { pass_at_k: s.pass_at_k === null ? null : r2(s.pass_at_k), maj_at_k: s.majority_at_k === null ? null : r2(s.majority_at_k) } : {}),
      truncated: s.truncated,
      unparsed: s.unparsed,
    })),
  );
}

/** Markdown of a table with empty cells for nulls (arquero prints "null"). */
export function markdown(table: aq.ColumnTable): string {
  return table.toMarkdown({ format: Object.fromEntries(table.columnNames().map((c) => [c, (v: unknown) => (v === null || v === undefined ? "" : String(v))])) });
}

export interface Report {
  dir: string | null;
  model: string;
  paperRow: PaperRow | null;
  summaries: BenchmarkSummary[];
  table: aq.ColumnTable;
  /** Markdown: the table plus a line on method and source. */
  text: string;
}

/** Benchmark notes saved by runEval (benchmarks.json); none for older folders. */
function readNotes(dir: string): { id: string; notes: string[] }[] {
  const f = join(dir, "benchmarks.json");
  if (!existsSync(f)) return [];
  try {
    return JSON.parse(readFileSync(f, "utf8"));
  } catch {
    return [];
  }
}

/** A run folder's config and records (tolerating a torn last line). */
export function loadRun(dir: string): { config: EvalConfig; records: ResultRecord[]; warnings: string[] } {
  const cfgFile = join(dir, CONFIG_FILE);
  if (!existsSync(cfgFile)) throw new ConfigError(`${dir}: not a run folder (no ${CONFIG_FILE})`);
  const saved = JSON.parse(readFileSync(cfgFile, "utf8"));
  const config = parseEvalConfig(saved.config);
  const { records, warnings } = readResults(join(dir, RESULTS_FILE));
  // The newest of duplicate keys would only come from a hand-edited file; keep the first.
  const seen = new Set<string>();
  const unique = records.filter((r) => {
    const k = `${r.benchmark}\t${r.index}\t${r.run}\t${r.sample}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { config, records: unique, warnings };
}

/** Mean over the paper's six benchmarks, as its "avg" column, when all six are there. */
export function paperAverage(summaries: BenchmarkSummary[]): BenchmarkSummary | null {
  const six = BENCHMARKS.filter((b) => b.paperColumn).map((b) => summaries.find((s) => s.benchmark === b.id));
  if (six.some((s) => !s)) return null;
  const ss = six as BenchmarkSummary[];
  const avg = (f: (s: BenchmarkSummary) => number) => mean(ss.map(f));
  const papers = ss.map((s) => s.paper);
  return {
    benchmark: "avg",
    label: "average of the six",
    items: ss.reduce((a, s) => a + s.items, 0),
    runs: Math.min(...ss.map((s) => s.runs)),
    answers: ss.reduce((a, s) => a + s.answers, 0),
    accuracy: avg((s) => s.accuracy),
    ci_lo: NaN,
    ci_hi: NaN,
    run_accuracy: [],
    run_std: NaN,
    truncated: ss.reduce((a, s) => a + s.truncated, 0),
    unparsed: ss.reduce((a, s) => a + s.unparsed, 0),
    paper: papers.every((p) => p !== null) ? mean(papers as number[]) : null,
    pass_at_k: null,
    majority_at_k: null,
  };
}

/** Report of a run (the object runEval returned, or a run folder path). */
export function report(run: EvalRun | string, opts: { paperModel?: string | null; paperRows?: PaperRow[]; resamples?: number } = {}): Report {
  const { config, records, dir } = typeof run === "string" ? { ...loadRun(run), dir: run } : { config: run.config, records: run.records, dir: run.dir };
  const rows = opts.paperRows ?? loadPaperResults();
  const paperRow = findPaperRow(config.model, rows, opts.paperModel ?? config.paperModel);
  const summaries = summarize(records, paperRow, { resamples: opts.resamples });
  const avg = paperAverage(summaries);
  const table = summaryTable(avg ? [...summaries, avg] : summaries);
  const notes = typeof run === "string" ? readNotes(run) : run.benchmarks.map((b) => ({ id: b.id, notes: b.notes }));
  const noteLines = notes.flatMap((b) => b.notes.map((n) => `note: ${b.id}: ${n}`));
  const method = "accuracy %: each item's runs and samples averaged, then items; ci95: percentile bootstrap over items (2000 resamples, seed 42)";
  const paperLine = paperRow
    ? `paper: ${paperRow.model} ${paperRow.training || ""} (arXiv 2508.02669, README table)`.replace(/\s+\(/, " (")
    : "paper: no matching row (set paperModel, e.g. \"MedVLThinker-7B RL(m23k)\")";
  const text = `model: ${config.model}${dir ? `  run: ${dir}` : ""}\n\n${markdown(table)}\n${method}\n${paperLine}\n${noteLines.map((l) => l + "\n").join("")}`;
  return { dir, model: config.model, paperRow, summaries, table, text };
}

/**
 * What notebook 05 shows about evaluation runs: which embedded checkpoints exist (base, SFT,
 * GRPO), the paper's nearest rows beside ours, a grouped bar chart, example responses with their
 * grades, the flips of a paired comparison, and how to point the harness at a served model.
 * Pure functions over reports and records; the notebook cells only call them.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Item } from "../data/item";
import { checkpointFingerprint } from "../curate/policies";
import { listCheckpoints } from "../train/runs";
import type { Figure, Trace } from "../viz/plotly";
import { BENCHMARKS } from "./benchmarks";
// Re-exported: notebook 05 imports it from here.
export { chanceAccuracy, constantLetter } from "./baselines";
import { letterDistribution, type ConstantLetter } from "./baselines";
import type { Comparison } from "./compare";
import { findPaperRow, type PaperRow } from "./paper";
import type { Report } from "./report";
import type { ResultRecord } from "./store";
import { ConfigError } from "../errors";

/**
 * The paper's row closest to each training stage of the embedded model (3B, text-only training
 * data). The paper's starting model is an instruct model (it writes the answer format), so its
 * row sits beside our instruct model; our base model (no format yet) has no paper counterpart.
 */
export const PAPER_ANALOGUE: Record<string, string> = {
  instruct: "Qwen2.5-VL-3B-Instruct base",
  sft: "MedVLThinker-3B SFT(m23k)",
  grpo: "MedVLThinker-3B RL(m23k)",
};

export interface FoundModel {
  /** Short label for tables and charts: base, sft, grpo. */
  label: string;
  stage: string;
  /** The checkpoint folder. */
  dir: string;
  /** sha256 of its weights (first 10 hex): part of the eval run's model name, so retrained weights never reuse cached answers. */
  fingerprint: string;
  /** Eval model name: `<label>-<preset>-<fingerprint>`. */
  name: string;
  /** Paper row shown beside it (PAPER_ANALOGUE), or null. */
  paperModel: string | null;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function hasWeights(dir: string): boolean {
  return existsSync(join(dir, "config.json")) && existsSync(join(dir, "model.safetensors"));
}

/**
 * The checkpoint a training run folder offers: the one its summary.json reports (SFT: the
 * report epoch, as the paper reports epoch 3; GRPO: the final one), else its latest complete one.
 */
export function runCheckpoint(runDir: string): string | null {
  const summary = readJson(join(runDir, "summary.json"));
  for (const k of ["reportCheckpoint", "finalCheckpoint"]) {
    const d = summary?.[k];
    if (typeof d !== "string") continue;
    // The summary holds absolute paths; a moved or copied checkout finds the same step folder here.
    for (const c of [resolve(runDir, d), join(resolve(runDir), "checkpoints", basename(d))]) if (hasWeights(c)) return c;
  }
  const all = listCheckpoints(join(runDir, "checkpoints")).filter((c) => hasWeights(c.dir));
  return all.length ? all[all.length - 1].dir : null;
}

/**
 * The embedded models there are to evaluate for a preset: the base model (`baseDir`, its
 * checkpoint) and every `runs/<stage>-<preset>` training folder (sft-workshop, grpo-smoke, ...)
 * that holds a checkpoint. Base first, then sft, then grpo, then any other stage by name.
 */
export function discoverModels(o: { preset: string; baseDir: string; runsRoot?: string; instructDir?: string }): FoundModel[] {
  const out: FoundModel[] = [];
  const make = (label: string, stage: string, dir: string): FoundModel => {
    const fingerprint = checkpointFingerprint(dir);
    return { label, stage, dir, fingerprint, name: `${label}-${o.preset}-${fingerprint}`, paperModel: PAPER_ANALOGUE[stage] ?? null };
  };
  const baseCk = join(resolve(o.baseDir), "checkpoint");
  if (hasWeights(baseCk)) out.push(make("base", "base", baseCk));
  // The instruct model (runs/instruct-<size>/checkpoint): the base after the instruction tuning.
  const instructCk = o.instructDir ? join(resolve(o.instructDir), "checkpoint") : null;
  if (instructCk && hasWeights(instructCk)) out.push(make("instruct", "instruct", instructCk));
  const root = resolve(o.runsRoot ?? join(resolve(o.baseDir), ".."));
  if (!existsSync(root)) return out;
  const suffix = `-${o.preset}`;
  const found: FoundModel[] = [];
  for (const name of readdirSync(root).sort()) {
    if (!name.endsWith(suffix) || name.startsWith("base-") || name.startsWith("eval")) continue;
    const stage = name.slice(0, -suffix.length);
    if (!/^[a-z][a-z0-9]*$/.test(stage)) continue;
    const ck = runCheckpoint(join(root, name));
    if (ck) found.push(make(stage, stage, ck));
  }
  const rank = (s: string) => (s === "sft" ? 0 : s === "grpo" ? 1 : 2);
  found.sort((a, b) => rank(a.stage) - rank(b.stage) || (a.stage < b.stage ? -1 : 1));
  return [...out, ...found];
}

function benchLabel(id: string): string {
  return BENCHMARKS.find((b) => b.id === id)?.label ?? id;
}

const r1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);

export interface LabelledReport {
  label: string;
  report: Report;
}

/** The paper rows to show: each report's matched row, then `extra` ("MODEL TRAINING"), without repeats. */
export function paperRowsFor(reports: LabelledReport[], rows: PaperRow[], extra: string[] = []): PaperRow[] {
  const out: PaperRow[] = [];
  const add = (r: PaperRow | null) => {
    if (r && !out.includes(r)) out.push(r);
  };
  for (const { report } of reports) add(report.paperRow && (rows.find((x) => x.model === report.paperRow!.model && x.training === report.paperRow!.training) ?? report.paperRow));
  for (const e of extra) add(findPaperRow(e, rows, e));
  return out;
}

/**
 * The results table as the paper prints it: one row per model (ours, then the paper's rows, then
 * chance and the best constant-letter predictor), one column per benchmark evaluated (percent, one decimal). Only benchmarks with a
 * paper column get paper figures; the others are left empty there.
 */
export function resultsRows(reports: LabelledReport[], paperRows: PaperRow[], chance: Record<string, number> = {}, constant: Record<string, ConstantLetter> = {}): Record<string, unknown>[] {
  const ids: string[] = [];
  for (const { report } of reports) for (const s of report.summaries) if (!ids.includes(s.benchmark)) ids.push(s.benchmark);
  const rows: Record<string, unknown>[] = [];
  for (const { label, report } of reports) {
    const row: Record<string, unknown> = { model: `ours: ${label}`, source: report.model };
    for (const id of ids) row[benchLabel(id)] = r1(report.summaries.find((s) => s.benchmark === id)?.accuracy);
    rows.push(row);
  }
  for (const p of paperRows) {
    const row: Record<string, unknown> = { model: `paper: ${p.model} ${p.training}`.trim(), source: "arXiv 2508.02669" };
    for (const id of ids) {
      const col = BENCHMARKS.find((b) => b.id === id)?.paperColumn;
      row[benchLabel(id)] = col && p.scores[col] !== undefined ? p.scores[col] : null;
    }
    rows.push(row);
  }
  if (Object.keys(chance).length) {
    const row: Record<string, unknown> = { model: "chance (uniform guess)", source: "1 / options, averaged" };
    for (const id of ids) row[benchLabel(id)] = r1(chance[id]);
    rows.push(row);
  }
  if (Object.keys(constant).length) {
    const which = ids.filter((id) => constant[id]).map((id) => `${benchLabel(id)}: ${constant[id].letter}`).join(", ");
    const row: Record<string, unknown> = { model: "best constant letter", source: `always the most frequent gold letter (${which})` };
    for (const id of ids) row[benchLabel(id)] = constant[id] ? r1(constant[id].accuracy) : null;
    rows.push(row);
  }
  return rows;
}

const OURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"];
const PAPER = ["#9ecae1", "#fc9272", "#a1d99b", "#bcbddc", "#c49c94"];

/**
 * Grouped bars per benchmark: each of our models (solid, with its 95% bootstrap interval) and the
 * paper's rows (hatched, lighter), values printed on the bars, plus a dashed chance line and a dotted
 * best-constant-letter line per benchmark. Benchmarks without a paper
 * column show only ours.
 */
export function comparisonFigure(reports: LabelledReport[], paperRows: PaperRow[], o: { chance?: Record<string, number>; constant?: Record<string, ConstantLetter>; title?: string } = {}): Figure {
  const ids: string[] = [];
  for (const { report } of reports) for (const s of report.summaries) if (!ids.includes(s.benchmark)) ids.push(s.benchmark);
  const x = ids.map(benchLabel);
  const data: Trace[] = [];
  // A model beside a paper row takes that row's colour (dark for ours, light for the paper's), so a
  // pair reads as a pair; models without a paper row take the colours after the paper rows'.
  let spare = paperRows.length;
  const colour = reports.map(({ report }) => {
    const j = report.paperRow ? paperRows.findIndex((p) => p.model === report.paperRow!.model && p.training === report.paperRow!.training) : -1;
    return j >= 0 ? j : spare++;
  });
  reports.forEach(({ label, report }, i) => {
    const ss = ids.map((id) => report.summaries.find((s) => s.benchmark === id));
    const ys = ss.map((s) => r1(s?.accuracy));
    data.push({
      type: "bar",
      name: `ours: ${label}`,
      x,
      y: ys,
      // Printed on the bar, so that a zero still shows.
      text: ys.map((y) => (y === null ? "" : y.toFixed(1))),
      textposition: "outside",
      cliponaxis: false,
      marker: { color: OURS[colour[i] % OURS.length] },
      error_y: {
        type: "data",
        symmetric: false,
        array: ss.map((s) => (s && Number.isFinite(s.ci_hi) ? s.ci_hi - s.accuracy : 0)),
        arrayminus: ss.map((s) => (s && Number.isFinite(s.ci_lo) ? s.accuracy - s.ci_lo : 0)),
        thickness: 1,
        width: 3,
        color: "#444",
      },
      hovertemplate: "%{x}: %{y:.1f}%<extra>ours: " + label + "</extra>",
    });
  });
  paperRows.forEach((p, i) => {
    const ys = ids.map((id) => {
      const col = BENCHMARKS.find((b) => b.id === id)?.paperColumn;
      return col && p.scores[col] !== undefined ? p.scores[col] : null;
    });
    data.push({
      type: "bar",
      name: `paper: ${p.model} ${p.training}`.trim(),
      x,
      y: ys,
      text: ys.map((y) => (y === null ? "" : y.toFixed(1))),
      textposition: "outside",
      cliponaxis: false,
      marker: { color: PAPER[i % PAPER.length], pattern: { shape: "/", fillmode: "overlay", fgcolor: OURS[i % OURS.length], size: 7, solidity: 0.25 } },
      hovertemplate: "%{x}: %{y:.1f}%<extra>paper</extra>",
    });
  });
  // Chance: a dashed line across each benchmark's group (layout shapes on the category positions),
  // and a legend entry for it.
  const shapes: Record<string, unknown>[] = [];
  if (o.chance && Object.keys(o.chance).length) {
    ids.forEach((id, k) => {
      const y = r1(o.chance![id]);
      if (y === null) return;
      shapes.push({ type: "line", layer: "below", xref: "x", yref: "y", x0: k - 0.45, x1: k + 0.45, y0: y, y1: y, line: { color: "#000", width: 2, dash: "dash" } });
    });
    data.push({ type: "scatter", mode: "lines", name: "chance (uniform guess)", x: [null], y: [null], line: { color: "#000", width: 2, dash: "dash" }, hoverinfo: "skip" });
  }
  // The best constant-letter predictor: a dotted line, which a model stuck on one letter sits at (or under).
  if (o.constant && Object.keys(o.constant).length) {
    ids.forEach((id, k) => {
      const y = r1(o.constant![id]?.accuracy);
      if (y === null) return;
      shapes.push({ type: "line", layer: "below", xref: "x", yref: "y", x0: k - 0.45, x1: k + 0.45, y0: y, y1: y, line: { color: "#e377c2", width: 2, dash: "dot" } });
    });
    data.push({ type: "scatter", mode: "lines", name: "best constant letter", x: [null], y: [null], line: { color: "#e377c2", width: 2, dash: "dot" }, hoverinfo: "skip" });
  }
  return {
    data,
    layout: {
      title: { text: o.title ?? "Accuracy per benchmark: ours vs the paper" },
      barmode: "group",
      bargap: 0.2,
      yaxis: { title: { text: "accuracy (%)" }, range: [0, 100] },
      legend: { orientation: "h", y: -0.18 },
      shapes,
      margin: { t: 60, b: 110 },
      height: 480,
    },
  };
}

function clip(s: string, n: number): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > n ? `${flat.slice(0, n)}…` : flat;
}

/**
 * A few graded responses per benchmark (first run and sample): right ones first, then wrong,
 * so a table shows both when both exist. `items` gives the question text.
 */
export function exampleRows(records: ResultRecord[], items: Record<string, Item[]> = {}, o: { perBenchmark?: number; clip?: number } = {}): Record<string, unknown>[] {
  const per = o.perBenchmark ?? 2;
  const width = o.clip ?? 160;
  const byBench = new Map<string, ResultRecord[]>();
  for (const r of records) {
    if (r.run !== 0 || r.sample !== 0) continue;
    if (!byBench.has(r.benchmark)) byBench.set(r.benchmark, []);
    byBench.get(r.benchmark)!.push(r);
  }
  const rows: Record<string, unknown>[] = [];
  for (const [bench, rs] of byBench) {
    const sorted = [...rs].sort((a, b) => a.index - b.index);
    const right = sorted.filter((r) => r.correct);
    const wrong = sorted.filter((r) => !r.correct);
    const pick: ResultRecord[] = [];
    for (let k = 0; pick.length < per && (k < right.length || k < wrong.length); k++) {
      if (k < right.length && pick.length < per) pick.push(right[k]);
      if (k < wrong.length && pick.length < per) pick.push(wrong[k]);
    }
    for (const r of pick) {
      const item = items[bench]?.[r.index];
      rows.push({
        benchmark: benchLabel(bench),
        item: r.index,
        question: item ? clip(item.question, 90) : "",
        gold: r.gold,
        // With no tag and no "answer:" the grader matches the whole response, so `read` is the response.
        read: r.extracted === null || r.extracted === undefined ? null : clip(r.extracted, 40),
        via: r.via ?? "",
        predicted: r.predicted,
        correct: r.correct,
        finish: r.finish_reason,
        response: clip(r.response, width),
      });
    }
  }
  return rows;
}

/** The items a paired comparison flipped, with their questions (first `limit`). */
export function flipRows(cmp: Comparison, items: Record<string, Item[]> = {}, limit = 10): Record<string, unknown>[] {
  return cmp.flips.slice(0, limit).map((f) => ({
    benchmark: benchLabel(f.benchmark),
    item: f.index_a,
    question: items[f.benchmark]?.[f.index_a] ? clip(items[f.benchmark][f.index_a].question, 90) : "",
    "right in": f.winner,
    "A share right": Math.round(f.score_a * 100) / 100,
    "B share right": Math.round(f.score_b * 100) / 100,
  }));
}

export interface ServerTarget {
  baseURL: string;
  model: string;
  /** Items per benchmark (null: all). */
  limit: number | null;
  paperModel: string | null;
  /** A MedVLThinker-Eval parquet (all six benchmarks), or null: the local copies. */
  evalParquet: string | null;
}

/**
 * The served model to evaluate, from MEDVLTHINKER_BASE_URL and MEDVLTHINKER_MODEL (and optionally
 * MEDVLTHINKER_EVAL_LIMIT, "all" or a number, default 50; MEDVLTHINKER_PAPER_MODEL;
 * MEDVLTHINKER_EVAL_PARQUET, the MedVLThinker-Eval parquet with all six benchmarks), or null when
 * no URL is set. The API key is read by OpenAIPolicy itself and never passes through here.
 */
export function serverFromEnv(env: NodeJS.ProcessEnv = process.env): ServerTarget | null {
  const baseURL = env.MEDVLTHINKER_BASE_URL?.trim();
  if (!baseURL) return null;
  const model = env.MEDVLTHINKER_MODEL?.trim();
  if (!model) throw new ConfigError("MEDVLTHINKER_BASE_URL is set but MEDVLTHINKER_MODEL is not: set it to the name the server serves (e.g. Qwen/Qwen2.5-VL-3B-Instruct)");
  const raw = env.MEDVLTHINKER_EVAL_LIMIT?.trim() || "50";
  let limit: number | null = null;
  if (raw !== "all") {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`MEDVLTHINKER_EVAL_LIMIT: expected a positive integer or "all", got '${raw}'`);
  }
  return { baseURL, model, limit, paperModel: env.MEDVLTHINKER_PAPER_MODEL?.trim() || null, evalParquet: env.MEDVLTHINKER_EVAL_PARQUET?.trim() || null };
}

/** How to point the harness at a served model (markdown), shown when no URL is set. */
export function serverInstructions(): string {
  return [
    "No served model configured: set `MEDVLTHINKER_BASE_URL` (and `MEDVLTHINKER_MODEL`) before starting Jupyter, then rerun this cell.",
    "",
    "| server | start it | MEDVLTHINKER_BASE_URL |",
    "|:-|:-|:-|",
    "| vLLM | `vllm serve Qwen/Qwen2.5-VL-3B-Instruct --port 8000` | `http://127.0.0.1:8000/v1` |",
    "| SGLang | `python -m sglang.launch_server --model-path Qwen/Qwen2.5-VL-3B-Instruct --port 30000` | `http://127.0.0.1:30000/v1` |",
    "| llama.cpp | `llama-server -m MODEL.gguf --mmproj MMPROJ.gguf --port 8080` | `http://127.0.0.1:8080/v1` |",
    "| Ollama | `ollama serve` (then `ollama pull qwen2.5vl:3b`) | `http://127.0.0.1:11434/v1` |",
    "",
    "`MEDVLTHINKER_MODEL` is the name the server serves (vLLM: the HF path or `--served-model-name`; Ollama: the tag).",
    "Optional: `MEDVLTHINKER_EVAL_LIMIT` (items per benchmark, default 50, `all` for the full sets), `MEDVLTHINKER_PAPER_MODEL`",
    "(the paper row to compare with, e.g. `MedVLThinker-3B RL(m23k)`), and an API key in `MEDVLTHINKER_API_KEY` or `OPENAI_API_KEY`",
    "for hosted endpoints (local servers need none). Only VQA-RAD, SLAKE and a text-only MedXpertQA-MM are in `../shared/data`;",
    "for all six of the paper's benchmarks download the MedVLThinker-Eval parquet (huggingface.co/datasets/UCSC-VLAA/MedVLThinker-Eval)",
    "and set `MEDVLTHINKER_EVAL_PARQUET` to its path. The same run from a terminal:",
    "`node bin/medvlthinker.js eval --base-url URL --model NAME --benchmarks vqa-rad,slake` (`--eval-parquet FILE --benchmarks paper` for all six).",
  ].join("\n");
}

/** `runs/<folder>` of a path, for short labels. */
export function shortPath(dir: string): string {
  const parts = resolve(dir).split(/[\\/]/);
  const i = parts.lastIndexOf("runs");
  return i >= 0 ? parts.slice(i).join("/") : basename(dir);
}

const LETTER_COLORS: Record<string, string> = { A: "#1f77b4", B: "#ff7f0e", C: "#2ca02c", D: "#d62728", E: "#9467bd", none: "#bbbbbb" };

/**
 * The answer-letter distribution of each row on one benchmark, as stacked bars (percent of its
 * answers per letter, unreadable answers as "none"), with the gold distribution as the first bar:
 * a row that collapsed onto one letter is one solid bar.
 */
export function letterDistributionFigure(rows: { name: string; records: ResultRecord[] }[], benchmark: string, items: Item[], o: { title?: string } = {}): Figure {
  const gold: Record<string, number> = {};
  for (const it of items) gold[it.answer_label] = (gold[it.answer_label] ?? 0) + 1;
  const bars = [{ name: "gold answers", counts: gold }, ...rows.map((r) => ({ name: r.name, counts: letterDistribution(r.records.filter((x) => x.benchmark === benchmark))[benchmark] ?? {} }))];
  const keys = [...new Set(bars.flatMap((b) => Object.keys(b.counts)))].sort((a, b) => (a === "none" ? 1 : b === "none" ? -1 : a < b ? -1 : 1));
  const x = bars.map((b) => b.name);
  const data: Trace[] = keys.map((k, i) => {
    const y = bars.map((b) => {
      const total = Object.values(b.counts).reduce((a, n) => a + n, 0);
      return total ? Math.round((1000 * (b.counts[k] ?? 0)) / total) / 10 : 0;
    });
    return {
      type: "bar",
      name: k,
      x,
      y,
      text: y.map((v) => (v >= 5 ? `${k} ${v.toFixed(0)}%` : "")),
      textposition: "inside",
      marker: { color: LETTER_COLORS[k] ?? ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"][i % 5] },
      hovertemplate: `%{x}: ${k} %{y:.1f}%<extra></extra>`,
    };
  });
  const label = BENCHMARKS.find((b) => b.id === benchmark)?.label ?? benchmark;
  return {
    data,
    layout: {
      title: { text: o.title ?? `Answer letters on ${label}: gold vs each row` },
      barmode: "stack",
      yaxis: { title: { text: "share of answers (%)" }, range: [0, 100] },
      legend: { orientation: "h", y: -0.2 },
      margin: { t: 60, b: 120 },
      height: 420,
    },
  };
}

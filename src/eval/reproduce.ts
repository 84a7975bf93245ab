/**
 * One row of the paper's table, reproduced against any OpenAI-compatible server:
 *
 *   const r = await reproduceRow({ baseURL: "http://127.0.0.1:8000/v1", model: "medvlthinker-3b",
 *                                  paperModel: "MedVLThinker-3B RL(m23k)", evalParquet: "eval.parquet" });
 *   console.log(r.text);   // ours beside the paper's, per benchmark, with intervals
 *
 * The published protocol, fixed: the six image-text benchmarks, greedy (temperature 0, top_p 1),
 * 4096 new tokens, seed 42, one sample, 3 runs, the MedVLThinker prompt, the regrade rule; requests
 * exact to the paper's offline vLLM run (src/policy/profiles.ts), images as qwen-vl-utils prepared
 * them. Resumable like every eval run (the same folder under `out`): rerunning sends only what is
 * missing. `medvlthinker reproduce` and `cluster serve` call this function.
 */
import * as aq from "arquero";
import type { Item } from "../data/item";
import { OpenAIPolicy } from "../policy/openai";
import type { Policy } from "../policy/policy";
import type { ServerProfileName } from "../policy/profiles";
import { PAPER_BENCHMARKS } from "./benchmarks";
import { ConfigError, type EvalConfigInput } from "./config";
import { runEval, type EvalRun } from "./harness";
import { findPaperRow, loadPaperResults, type PaperRow } from "./paper";
import { itemScores, markdown, report, tooLongHint, type Report } from "./report";
import { mean, mulberry32, quantileSorted } from "./stats";

export interface ReproduceOptions {
  /** The OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1. */
  baseURL: string;
  /** The name the server serves (vLLM: --served-model-name). */
  model: string;
  /** The paper row to compare with, "MODEL TRAINING" ("MedVLThinker-3B RL(m23k)"); default: guessed from `model`. */
  paperModel?: string | null;
  /** The MedVLThinker-Eval parquet (all six benchmarks); without it, only the local copies (3 of 6). */
  evalParquet?: string | null;
  /** Root of the local datasets (default ../shared/data or $MEDVLTHINKER_DATA). */
  dataRoot?: string;
  /** Where run folders go (default runs/eval, shared with `medvlthinker eval`). */
  out?: string;
  /** The server kind (default "vllm", the paper's server). */
  profile?: ServerProfileName;
  /** Requests in flight (default 64), retries per request (8), per-request timeout in seconds (600). */
  concurrency?: number;
  retries?: number;
  timeoutS?: number;
  /** A subset of the six (default all six). Fewer is a partial row, and said so. */
  benchmarks?: string[];
  /** First N items of each benchmark: a quick look, not the protocol (said so in the text). */
  limit?: number | null;
  /** Use this policy instead of an OpenAIPolicy built from baseURL (notebooks, tests). */
  policy?: Policy;
  /** Evaluate these items instead of loading the benchmarks (keys: benchmark ids). */
  datasets?: Record<string, Item[]>;
  signal?: AbortSignal;
  /** Progress bar (default true). */
  progress?: boolean;
  log?: (message: string) => void;
}

/** One benchmark of the row: ours (with its 95% bootstrap interval), the paper's, and the difference. */
export interface RowComparison {
  benchmark: string;
  label: string;
  items: number;
  runs: number;
  /** Our accuracy, percent, and its 95% percentile-bootstrap interval over items. */
  ours: number;
  ci_lo: number;
  ci_hi: number;
  paper: number | null;
  /** ours - paper, and the interval of that difference (the paper's figure taken as fixed). */
  diff: number | null;
  diff_lo: number | null;
  diff_hi: number | null;
  /** Whether the paper's figure lies inside our interval. */
  paper_inside: boolean | null;
  too_long: number;
  truncated: number;
}

export interface Reproduction {
  run: EvalRun;
  report: Report;
  paperRow: PaperRow;
  /** The six benchmarks (those evaluated), then "avg" when all six are there. */
  rows: RowComparison[];
  table: aq.ColumnTable;
  /** Markdown: the protocol, the table, how many paper figures lie inside our intervals, notes. */
  text: string;
  /** All six benchmarks, all items, 3 runs, nothing missing. */
  complete: boolean;
}

const RESAMPLES = 2000;

/** Percentile interval of the mean of per-benchmark means, resampling items within each benchmark. */
function averageCI(groups: number[][], resamples = RESAMPLES, seed = 42): { lo: number; hi: number } {
  const rand = mulberry32(seed);
  const means: number[] = [];
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (const g of groups) {
      let t = 0;
      for (let i = 0; i < g.length; i++) t += g[Math.floor(rand() * g.length)];
      s += t / g.length;
    }
    means.push(s / groups.length);
  }
  means.sort((x, y) => x - y);
  return { lo: quantileSorted(means, 0.025), hi: quantileSorted(means, 0.975) };
}

function compare(b: Omit<RowComparison, "diff" | "diff_lo" | "diff_hi" | "paper_inside">): RowComparison {
  if (b.paper === null) return { ...b, diff: null, diff_lo: null, diff_hi: null, paper_inside: null };
  return { ...b, diff: b.ours - b.paper, diff_lo: b.ci_lo - b.paper, diff_hi: b.ci_hi - b.paper, paper_inside: b.ci_lo <= b.paper && b.paper <= b.ci_hi };
}

/**
 * Evaluate `model` at `baseURL` with the published protocol and put the result beside the paper's
 * row. Throws a ConfigError before any request when the paper row or a benchmark is not found.
 */
export async function reproduceRow(options: ReproduceOptions): Promise<Reproduction> {
  const o = options;
  const rows = loadPaperResults();
  const paperRow = findPaperRow(o.model, rows, o.paperModel ?? null);
  if (!paperRow) {
    const known = rows.map((r) => `"${r.model} ${r.training}"`).join(", ");
    throw new ConfigError(`reproduce: no row of the paper's table matches ${o.paperModel ? `'${o.paperModel}'` : `the model name '${o.model}'`}; pass --paper-model, one of: ${known}`);
  }
  const benchmarks = o.benchmarks ?? PAPER_BENCHMARKS;
  for (const b of benchmarks) if (!PAPER_BENCHMARKS.includes(b)) throw new ConfigError(`reproduce: '${b}' is not one of the paper's six benchmarks (${PAPER_BENCHMARKS.join(", ")})`);
  const config: EvalConfigInput = {
    model: o.model,
    baseURL: o.baseURL,
    benchmarks,
    evalParquet: o.evalParquet ?? null,
    dataRoot: o.dataRoot,
    out: o.out,
    limit: o.limit ?? null,
    runs: 3,
    // The paper's protocol, spelled out rather than left to defaults.
    sampling: { n: 1, temperature: 0, top_p: 1, max_tokens: 4096, seed: 42, seedPerRun: false, logprobs: false },
    prompt: { realNewline: false, ignoreImages: false, images: "qwen-vl-utils" },
    grading: "regrade",
    profile: o.profile ?? "vllm",
    concurrency: o.concurrency ?? 64,
    retries: o.retries ?? 8,
    timeoutS: o.timeoutS ?? 600,
    paperModel: `${paperRow.model} ${paperRow.training}`,
  };
  const policy =
    o.policy ??
    new OpenAIPolicy({
      baseURL: o.baseURL,
      model: o.model,
      profile: o.profile ?? "vllm",
      images: "qwen-vl-utils",
      concurrency: o.concurrency ?? 64,
      retry: { maxRetries: o.retries ?? 8 },
      timeoutMs: (o.timeoutS ?? 600) * 1000,
    });
  let run: EvalRun;
  try {
    run = await runEval(config, policy, { datasets: o.datasets, signal: o.signal, progress: o.progress, log: o.log });
  } catch (e) {
    if ((e as Error).name === "ConfigError" && /benchmarks not available/.test((e as Error).message)) {
      throw new ConfigError(
        `${(e as Error).message}\nreproduce needs the MedVLThinker-Eval parquet for all six (--eval-parquet FILE), or --benchmarks vqa-rad,slake for the part of the row that ../shared/data holds`,
      );
    }
    throw e;
  }
  const rep = report(run, { paperModel: config.paperModel as string });
  const out: RowComparison[] = rep.summaries
    .filter((s) => PAPER_BENCHMARKS.includes(s.benchmark))
    .map((s) => compare({ benchmark: s.benchmark, label: s.label, items: s.items, runs: s.runs, ours: s.accuracy, ci_lo: s.ci_lo, ci_hi: s.ci_hi, paper: s.paper, too_long: s.too_long, truncated: s.truncated }));
  const all6 = PAPER_BENCHMARKS.every((id) => out.some((r) => r.benchmark === id));
  if (all6) {
    const groups = PAPER_BENCHMARKS.map((id) => [...itemScores(run.records.filter((r) => r.benchmark === id)).values()]);
    const ci = averageCI(groups);
    const paperAvg = paperRow.scores.avg ?? mean(PAPER_BENCHMARKS.map((id) => out.find((r) => r.benchmark === id)!.paper ?? NaN));
    out.push(
      compare({
        benchmark: "avg",
        label: "average of the six",
        items: out.reduce((a, r) => a + r.items, 0),
        runs: Math.min(...out.map((r) => r.runs)),
        ours: mean(out.map((r) => r.ours)),
        ci_lo: 100 * ci.lo,
        ci_hi: 100 * ci.hi,
        paper: Number.isFinite(paperAvg) ? paperAvg : null,
        too_long: out.reduce((a, r) => a + r.too_long, 0),
        truncated: out.reduce((a, r) => a + r.truncated, 0),
      }),
    );
  }
  const r2 = (x: number | null) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
  const table = aq.from(
    out.map((r) => ({
      benchmark: r.label,
      items: r.items,
      runs: r.runs,
      ours: r2(r.ours),
      ci95: `${r2(r.ci_lo)}-${r2(r.ci_hi)}`,
      paper: r.paper,
      diff: r2(r.diff),
      "diff ci95": r.diff === null ? null : `${r2(r.diff_lo)} to ${r2(r.diff_hi)}`,
      "paper inside": r.paper_inside === null ? null : r.paper_inside ? "yes" : "no",
      truncated: r.truncated,
      "too long": r.too_long,
    })),
  );
  const per = out.filter((r) => r.benchmark !== "avg" && r.paper_inside !== null);
  const inside = per.filter((r) => r.paper_inside).length;
  const complete = all6 && run.missing === 0 && (o.limit ?? null) === null && run.records.length > 0 && out.every((r) => r.runs === 3);
  const lines = [
    `reproduce: ${o.model} (${o.policy ? policy.name : `${config.profile} server`}) beside the paper's ${paperRow.model} ${paperRow.training} (arXiv 2508.02669)`,
    "protocol: greedy (temperature 0, top_p 1), max_tokens 4096, seed 42, n 1, 3 runs averaged; MedVLThinker prompt; regrade rule; images RGB, smart_resize 28, PNG",
    "",
    markdown(table),
    `${inside} of ${per.length} paper figures lie inside our 95% intervals (percentile bootstrap over items, ${RESAMPLES} resamples, seed 42; diff = ours - paper, the paper's figure taken as fixed)`,
  ];
  if (!all6) lines.push(`partial row: ${out.length} of the six benchmarks (pass --eval-parquet FILE, the MedVLThinker-Eval parquet, for all six)`);
  if (o.limit) lines.push(`first ${o.limit} items of each benchmark only: not the published protocol`);
  if (run.missing > 0) lines.push(`${run.missing} answers are missing (requests failed after retries): rerun the same command to send only those`);
  for (const b of run.benchmarks) for (const n of b.notes) lines.push(`note: ${b.id}: ${n}`);
  const hint = tooLongHint(rep.summaries);
  if (hint) lines.push(hint.trimEnd());
  lines.push(`results: ${run.dir}`);
  return { run, report: rep, paperRow, rows: out, table, text: lines.join("\n") + "\n", complete };
}

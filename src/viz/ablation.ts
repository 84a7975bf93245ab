/**
 * Views of an ablation run (stages/ablation.ts results): the table beside the paper's rows, one
 * chart per benchmark (accuracy with its 95% interval, the blind run, the best constant letter and
 * chance), the answer-letter distribution of each row, and the findings written from the numbers.
 */
import type { AblationResults, AblationRowResult, BenchmarkResult } from "../stages/ablation";
import type { PaperRow } from "../eval/paper";
import type { Figure } from "./plotly";

/** The paper's column of a benchmark id (null: not one of the paper's six). */
export const PAPER_COLUMN: Record<string, string> = { slake: "slake", "vqa-rad": "vqa_rad", "medxpertqa-mm": "medxpertqa_mm" };

const r1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const pfmt = (p: number | null) => (p === null ? "" : p < 0.001 ? p.toExponential(1) : p.toFixed(3));

function paperScore(paper: PaperRow[], label: string, column: string): number | null {
  const [model, ...rest] = label.split(" ");
  const training = rest.join(" ") || "base";
  const row = paper.find((r) => r.model === model && (r.training === training || (training === "base" && r.training === "base"))) ?? paper.find((r) => r.model === label);
  return row?.scores[column] ?? null;
}

/** One row per (row, benchmark): ours with interval, blind, p-values, constant letter, the paper's. */
export function ablationTableRows(res: AblationResults, paper: PaperRow[]): Record<string, unknown>[] {
  return res.rows.flatMap((row) =>
    Object.entries(row.benchmarks).map(([id, b]) => ({
      row: row.name,
      seed: row.seed,
      benchmark: id,
      items: b.items,
      "accuracy %": r1(b.accuracy),
      ci95: `${b.ci95[0].toFixed(1)}-${b.ci95[1].toFixed(1)}`,
      "blind %": r1(b.blind_accuracy),
      "p vs blind": pfmt(b.p_vs_blind),
      "p vs base": pfmt(b.p_vs_base),
      [`constant letter %`]: `${r1(b.constant_accuracy)} (${b.constant_letter})`,
      "p vs constant": pfmt(b.p_vs_constant),
      "chance %": r1(b.chance),
      "paper %": PAPER_COLUMN[id] ? paperScore(paper, row.paper_row, PAPER_COLUMN[id]) : null,
    })),
  );
}

/** Accuracy per row on one benchmark: ours (with interval) and blind, the constant letter and chance as lines, the paper's rows hatched. */
export function ablationFigure(res: AblationResults, benchmark: string, paper: PaperRow[]): Figure {
  const rows = res.rows.filter((r) => r.benchmarks[benchmark]);
  const names = rows.map((r) => `${r.name}${res.rows.filter((x) => x.name === r.name).length > 1 ? ` s${r.seed}` : ""}`);
  const b = (r: AblationRowResult) => r.benchmarks[benchmark];
  const data: Figure["data"] = [
    {
      type: "bar",
      name: "ours",
      x: names,
      y: rows.map((r) => r1(b(r).accuracy)),
      error_y: { type: "data", symmetric: false, array: rows.map((r) => b(r).ci95[1] - b(r).accuracy), arrayminus: rows.map((r) => b(r).accuracy - b(r).ci95[0]) },
      marker: { color: "#1f77b4" },
    },
  ];
  if (rows.some((r) => b(r).blind_accuracy !== null)) data.push({ type: "bar", name: "ours, images removed", x: names, y: rows.map((r) => r1(b(r).blind_accuracy)), marker: { color: "#9ecae1" } });
  const col = PAPER_COLUMN[benchmark];
  if (col) data.push({ type: "bar", name: "paper (3B)", x: names, y: rows.map((r) => paperScore(paper, r.paper_row, col)), marker: { color: "#ff7f0e", pattern: { shape: "/" } }, opacity: 0.6 });
  const first = b(rows[0]);
  const line = (y: number, name: string, dash: string) => ({ type: "scatter", mode: "lines", name, x: names, y: names.map(() => y), line: { color: "#333", dash } });
  if (first) {
    data.push(line(first.constant_accuracy, `always "${first.constant_letter}" (best constant letter)`, "dash"));
    data.push(line(first.chance, "uniform chance", "dot"));
  }
  return { data, layout: { title: { text: `${benchmark} (${first?.items ?? 0} items): accuracy per row` }, barmode: "group", yaxis: { title: { text: "accuracy (%)" }, range: [0, 100] }, height: 420, legend: { orientation: "h", y: -0.35 } } };
}

/** Answer letters per row on one benchmark, stacked: a collapse onto one letter is one solid bar. */
export function letterFigure(res: AblationResults, benchmark: string): Figure {
  const rows = res.rows.filter((r) => r.benchmarks[benchmark]);
  const letters = [...new Set(rows.flatMap((r) => Object.keys(r.benchmarks[benchmark].letters)))].sort();
  const names = rows.map((r) => `${r.name}${res.rows.filter((x) => x.name === r.name).length > 1 ? ` s${r.seed}` : ""}`);
  return {
    data: letters.map((L) => ({ type: "bar", name: L === "none" ? "no letter" : L, x: names, y: rows.map((r) => Math.round(1000 * (r.benchmarks[benchmark].letters[L] ?? 0)) / 10) })),
    layout: { title: { text: `${benchmark}: answer letters per row (%)` }, barmode: "stack", yaxis: { title: { text: "share of answers (%)" }, range: [0, 100] }, height: 380, legend: { orientation: "h", y: -0.35 } },
  };
}

const acc = (res: AblationResults, name: string, id: string): number | null => {
  const rs = res.rows.filter((r) => r.name === name && r.benchmarks[id]);
  return rs.length ? rs.reduce((a, r) => a + r.benchmarks[id].accuracy, 0) / rs.length : null;
};

/** Is b - a beyond noise? Uses the McNemar p of each row against the base as the yardstick. */
function gap(res: AblationResults, a: string, b: string, ids: string[]): { diff: number; per: string } {
  const parts = ids.map((id) => ({ id, a: acc(res, a, id), b: acc(res, b, id) })).filter((x) => x.a !== null && x.b !== null) as { id: string; a: number; b: number }[];
  const diff = parts.reduce((s, x) => s + (x.b - x.a), 0) / Math.max(1, parts.length);
  return { diff, per: parts.map((x) => `${x.id} ${x.b.toFixed(1)} vs ${x.a.toFixed(1)}`).join(", ") };
}

/**
 * The paper's three findings checked on this run's numbers (mean accuracy over the image
 * benchmarks), with a tolerance: a difference under `tolerance` points is "no difference".
 */
export function findingsMarkdown(res: AblationResults, opts: { imageBenchmarks?: string[]; tolerance?: number } = {}): string {
  const ids = opts.imageBenchmarks ?? ["slake", "vqa-rad"];
  const tol = opts.tolerance ?? 2;
  const verdict = (d: number, wantPositive: boolean, orEqual = false) => (orEqual ? (wantPositive ? d > -tol : d < tol) : wantPositive ? d >= tol : d <= -tol) ? "**holds**" : Math.abs(d) < tol ? "**not visible** (within the noise)" : "**does not hold** (the opposite direction)";
  const f1a = gap(res, "SFT(text)", "RL(text)", ids);
  const f1b = gap(res, "SFT(image-text)", "RL(image-text)", ids);
  const f2 = gap(res, "base", "SFT(text)", ids);
  const f3 = gap(res, "RL(image-text)", "RL(text)", ids);
  const slake = res.rows.find((r) => r.name === "RL(image-text)")?.benchmarks.slake;
  const lines = [
    `1. *RLVR beats SFT.* RL(text) - SFT(text): ${f1a.diff >= 0 ? "+" : ""}${f1a.diff.toFixed(1)} points (${f1a.per}); RL(image-text) - SFT(image-text): ${f1b.diff >= 0 ? "+" : ""}${f1b.diff.toFixed(1)} points (${f1b.per}). In miniature: ${verdict((f1a.diff + f1b.diff) / 2, true)}.`,
    `2. *SFT on text traces lowers image accuracy below the base.* SFT(text) - base: ${f2.diff >= 0 ? "+" : ""}${f2.diff.toFixed(1)} points (${f2.per}). In miniature: ${verdict(f2.diff, false)}.`,
    `3. *Text-only RLVR is as good as or better than image-text RLVR on image benchmarks.* RL(text) - RL(image-text): ${f3.diff >= 0 ? "+" : ""}${f3.diff.toFixed(1)} points (${f3.per}). In miniature: ${verdict(f3.diff, true, true)}.`,
  ];
  // A row that writes one letter (or none) for nearly every item differs from others by its habit.
  const habits = res.rows
    .map((r) => ({ r, top: Object.entries(r.benchmarks[ids[0]]?.letters ?? {}).sort((a, b) => b[1] - a[1])[0] }))
    .filter((x) => x.top && x.top[1] >= 0.9)
    .map((x) => `${x.r.name} (${x.top[0] === "none" ? "no letter" : x.top[0]} ${(100 * x.top[1]).toFixed(0)}%)`);
  if (habits.length) lines.push("", `Read these against the letters: on ${ids[0]}, ${habits.join(", ")} answer with one letter (or none) nearly every time, so the differences above between such rows measure which habit training left, not what the model knows or sees.`);
  if (slake) {
    const sees = slake.blind_accuracy !== null && slake.accuracy > slake.blind_accuracy && (slake.p_vs_blind ?? 1) < 0.05;
    lines.push(
      "",
      `Does the RL(image-text) model look at the image? On SLAKE it scores ${slake.accuracy.toFixed(1)}% with images and ${slake.blind_accuracy?.toFixed(1)}% without (exact McNemar p = ${pfmt(slake.p_vs_blind)}); ` +
        `the best constant letter ("${slake.constant_letter}") scores ${slake.constant_accuracy.toFixed(1)}% (p = ${pfmt(slake.p_vs_constant)}); on yes/no questions it answers "Yes" ${(100 * (slake.yes_share ?? 0)).toFixed(0)}% and "No" ${(100 * (slake.no_share ?? 0)).toFixed(0)}% of the time. ` +
        (sees ? "The images make a measurable difference." : "The images make no measurable difference: what it gets right, it gets right from the question alone (or by its letter habit)."),
    );
  }
  return lines.join("\n");
}

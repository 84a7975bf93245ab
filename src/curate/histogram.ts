/**
 * The pass-count histogram beside the published one (recipe.md: Qwen2.5-VL-7B on m23k, n = 23,456,
 * k = 16). Both are normalised to fractions of items so that pools of different size compare; the
 * x axis is the pass rate (correct / k) so that a run with another k still lines up.
 * Pure functions: numbers, a table and a plotly figure; the notebook shows them.
 */
import type { Figure } from "../viz/plotly";
import { passCountHistogram, PUBLISHED_PASS_COUNT_HISTOGRAM_7B, PUBLISHED_PASS_COUNT_K, PUBLISHED_PASS_COUNT_N, type PassCountRange } from "./filter";

export interface HistogramSeries {
  k: number;
  /** Items counted. */
  n: number;
  /** counts[c] = items with c correct of k. */
  counts: number[];
  /** counts / n (all 0 when n = 0). */
  fractions: number[];
  /** Fraction of items inside the kept range, never solved (0 of k), always solved (k of k). */
  kept: number;
  never: number;
  always: number;
}

export interface PassCountHistogram {
  ours: HistogramSeries;
  published: HistogramSeries;
  /** The range the curation kept (ours) and the published 1..7 of 16. */
  range: PassCountRange;
  publishedRange: PassCountRange;
}

export function histogramSeries(counts: readonly number[], k: number, range: PassCountRange): HistogramSeries {
  const n = counts.reduce((a, b) => a + b, 0);
  const frac = (x: number) => (n === 0 ? 0 : x / n);
  const keptCount = counts.reduce((a, c, i) => a + (i >= range.min && i <= range.max ? c : 0), 0);
  return { k, n, counts: [...counts], fractions: counts.map(frac), kept: frac(keptCount), never: frac(counts[0] ?? 0), always: frac(counts[k] ?? 0) };
}

/** Our histogram from per-item pass counts, with the published one beside it. */
export function histogramWithPublished(passCounts: readonly number[], k: number, range: PassCountRange): PassCountHistogram {
  const publishedRange = { min: 1, max: 7 };
  return {
    ours: histogramSeries(passCountHistogram(passCounts, k), k, range),
    published: histogramSeries(PUBLISHED_PASS_COUNT_HISTOGRAM_7B, PUBLISHED_PASS_COUNT_K, publishedRange),
    range,
    publishedRange,
  };
}

/** A type alias (not an interface) so rows pass as Record<string, unknown> to table helpers. */
export type HistogramRow = {
  pass_count: number;
  pass_rate: number;
  ours_items: number;
  ours_fraction: number;
  paper_items: number | null;
  paper_fraction: number | null;
};

/** One row per pass count of ours; the paper's column is filled where k matches (16). */
export function histogramRows(h: PassCountHistogram): HistogramRow[] {
  const sameK = h.ours.k === h.published.k;
  return h.ours.counts.map((c, i) => ({
    pass_count: i,
    pass_rate: round(i / h.ours.k, 4),
    ours_items: c,
    ours_fraction: round(h.ours.fractions[i], 4),
    paper_items: sameK ? h.published.counts[i] : null,
    paper_fraction: sameK ? round(h.published.fractions[i], 4) : null,
  }));
}

/** The comparable summary (any k): never / kept / always solved, as fractions. */
export function histogramSummaryRows(h: PassCountHistogram): Record<string, string | number>[] {
  const row = (name: string, s: HistogramSeries, r: PassCountRange) => ({
    series: name,
    items: s.n,
    k: s.k,
    kept_range: `${r.min}..${r.max}`,
    never_solved: round(s.never, 4),
    kept: round(s.kept, 4),
    always_solved: round(s.always, 4),
  });
  return [row("ours", h.ours, h.range), row(`paper (Qwen2.5-VL-7B, m23k)`, h.published, h.publishedRange)];
}

/** One series of a histogram figure. */
export interface NamedSeries {
  name: string;
  series: HistogramSeries;
  color?: string;
}

const COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
const PAPER_COLOR = "#ff7f0e";

/**
 * Grouped bars over the pass rate (one group per pass count of each series' own k), the kept band
 * shaded. Series with different k still line up on the pass-rate axis.
 */
export function seriesFigure(series: NamedSeries[], range: PassCountRange, k: number, title: string): Figure {
  const m = series.length;
  const data = series.map((ns, j) => {
    const s = ns.series;
    const w = 0.8 / (s.k * m);
    const name = ns.name;
    return {
      type: "bar",
      name,
      x: s.counts.map((_, i) => i / s.k + (j - (m - 1) / 2) * w),
      y: s.fractions,
      width: s.counts.map(() => w),
      marker: { color: ns.color ?? COLORS[j % COLORS.length] },
      customdata: s.counts.map((c, i) => [i, s.k, c]),
      hovertemplate: "%{customdata[0]} of %{customdata[1]} correct: %{customdata[2]} items (%{y:.1%})<extra>" + name + "</extra>",
    };
  });
  const x0 = (range.min - 0.5) / k;
  const x1 = (range.max + 0.5) / k;
  return {
    data,
    layout: {
      title: { text: title },
      xaxis: { title: { text: "pass rate (correct / k)" }, range: [-0.05, 1.05], tickformat: ".0%" },
      yaxis: { title: { text: "fraction of items" }, tickformat: ".0%" },
      bargap: 0,
      legend: { orientation: "h", y: -0.2 },
      shapes: [{ type: "rect", xref: "x", yref: "paper", x0, x1, y0: 0, y1: 1, fillcolor: "#2ca02c", opacity: 0.1, line: { width: 0 } }],
      annotations: [{ x: (x0 + x1) / 2, y: 1, xref: "x", yref: "paper", text: `kept: ${range.min}..${range.max} of ${k}`, showarrow: false, yanchor: "bottom" }],
    },
  };
}

const paperName = `paper 7B on m23k (n = ${PUBLISHED_PASS_COUNT_N.toLocaleString("en-US")}, k = 16)`;

/** Ours beside the paper's, the kept band shaded. */
export function histogramFigure(h: PassCountHistogram, title = "Pass-count histogram"): Figure {
  return seriesFigure(
    [
      { name: `ours (n = ${h.ours.n}, k = ${h.ours.k})`, series: h.ours },
      { name: paperName, series: h.published, color: PAPER_COLOR },
    ],
    h.range,
    h.ours.k,
    title,
  );
}

/**
 * One series per data source (e.g. text items vs image items), each normalised within its source,
 * with the paper's beside them. `items` carry misc.pass_count / misc.pass_k (CurateResult.scored).
 */
export function sourceHistogramFigure(items: readonly { dataset_name: string; misc?: Record<string, unknown> }[], range: PassCountRange, title = "Pass counts per source"): Figure {
  const bySource = new Map<string, number[]>();
  let k = PUBLISHED_PASS_COUNT_K;
  for (const it of items) {
    const pc = it.misc?.pass_count;
    if (typeof pc !== "number") continue;
    k = (it.misc?.pass_k as number) ?? k;
    const list = bySource.get(it.dataset_name) ?? [];
    list.push(pc);
    bySource.set(it.dataset_name, list);
  }
  const series: NamedSeries[] = [...bySource].map(([name, counts]) => ({
    name: `${name} (n = ${counts.length})`,
    series: histogramSeries(passCountHistogram(counts, k), k, range),
  }));
  series.push({ name: paperName, series: histogramSeries(PUBLISHED_PASS_COUNT_HISTOGRAM_7B, PUBLISHED_PASS_COUNT_K, { min: 1, max: 7 }), color: PAPER_COLOR });
  return seriesFigure(series, range, k, title);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A plain-text table of the histogram (the CLI prints it). */
export function formatHistogram(h: PassCountHistogram): string {
  const sameK = h.ours.k === h.published.k;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [`pass count  ours (n=${h.ours.n}, k=${h.ours.k})${sameK ? `   paper 7B m23k (n=${h.published.n})` : ""}`];
  h.ours.counts.forEach((c, i) => {
    const mark = i >= h.range.min && i <= h.range.max ? "*" : " ";
    const ours = `${String(c).padStart(7)} ${pct(h.ours.fractions[i]).padStart(6)}`;
    const paper = sameK ? `   ${String(h.published.counts[i]).padStart(7)} ${pct(h.published.fractions[i]).padStart(6)}` : "";
    lines.push(`${mark} ${String(i).padStart(2)}/${h.ours.k}`.padEnd(12) + ours.padEnd(24) + paper);
  });
  lines.push(`kept (* ${h.range.min}..${h.range.max}): ours ${pct(h.ours.kept)}, paper ${pct(h.published.kept)} (1..7 of 16); never solved: ours ${pct(h.ours.never)}, paper ${pct(h.published.never)}`);
  return lines.join("\n");
}

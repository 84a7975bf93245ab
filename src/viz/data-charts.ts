/**
 * Plotly figures for notebook 01, built from the tables of src/data/summary.ts and
 * src/data/image-sizes.ts. Pure: each returns { data, layout } for showPlot / savePlotPng.
 */
import type { ImageSizeRow } from "../data/image-sizes";
import type { ColumnTable } from "../data/summary";
import type { Figure, Layout, Trace } from "./plotly";

type Row = Record<string, unknown>;
const rowsOf = (t: ColumnTable): Row[] => t.objects() as Row[];
const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];

/** Height for a horizontal chart with one bar per category. */
const barHeight = (n: number) => Math.max(280, 140 + 34 * n);

function base(title: string, extra: Layout = {}): Layout {
  return { title: { text: title }, font: { size: 13 }, margin: { l: 140, r: 30, t: 60, b: 60 }, ...extra };
}

/** Horizontal bars stacked per source (one row per source, top to bottom), counted in items. */
function stackedSourcesLayout(title: string, rows: number): Layout {
  return base(title, {
    barmode: "stack",
    height: barHeight(rows),
    xaxis: { title: { text: "items" } },
    yaxis: { autorange: "reversed", automargin: true },
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom", traceorder: "normal" },
    margin: { l: 140, r: 30, t: 95, b: 60 },
  });
}

/** Items per source, stacked closed (multiple-choice) and open (free-text answer). */
export function itemsPerSourceFigure(perSource: ColumnTable): Figure {
  const rows = rowsOf(perSource);
  const y = rows.map((r) => String(r.dataset));
  const data: Trace[] = [
    { type: "bar", orientation: "h", name: "closed (multiple-choice)", y, x: rows.map((r) => r.closed), text: rows.map((r) => String(r.closed)), textposition: "auto" },
    { type: "bar", orientation: "h", name: "open (free text)", y, x: rows.map((r) => r.open), text: rows.map((r) => (Number(r.open) > 0 ? String(r.open) : "")), textposition: "auto" },
  ];
  return {
    data,
    layout: stackedSourcesLayout("Items per source", y.length),
  };
}

/** Items by number of options per source (0 = open question), one stacked segment per count. */
export function optionCountsFigure(options: ColumnTable): Figure {
  const rows = rowsOf(options);
  const datasets = uniq(rows.map((r) => String(r.dataset)));
  const counts = uniq(rows.map((r) => Number(r.options))).sort((a, b) => a - b);
  const data: Trace[] = counts.map((n) => {
    const x = datasets.map((d) => Number(rows.find((r) => r.dataset === d && Number(r.options) === n)?.items ?? 0));
    return { type: "bar", orientation: "h", name: n === 0 ? "open (no options)" : `${n} options`, y: datasets, x, text: x.map((v) => (v > 0 ? String(v) : "")), textposition: "auto" };
  });
  return {
    data,
    layout: stackedSourcesLayout("Number of options per item", datasets.length),
  };
}

/** Box plot of a length column ("question_chars" or "prompt_chars") per dataset, log scale. */
export function lengthFigure(lengths: ColumnTable, column: "question_chars" | "prompt_chars" = "question_chars"): Figure {
  const datasets = uniq(lengths.array("dataset") as string[]);
  const ds = lengths.array("dataset") as string[];
  const vs = lengths.array(column) as number[];
  const data: Trace[] = datasets.map((d) => ({
    type: "box",
    orientation: "h",
    name: d,
    x: vs.filter((_, i) => ds[i] === d),
    boxpoints: false,
    showlegend: false,
  }));
  const what = column === "question_chars" ? "Question length" : "Prompt length (the published prompt)";
  return {
    data,
    layout: base(`${what} per source`, {
      height: barHeight(datasets.length),
      xaxis: { title: { text: "characters (log scale)" }, type: "log", tickvals: [10, 30, 100, 300, 1000, 3000, 10000] },
      yaxis: { autorange: "reversed", automargin: true },
    }),
  };
}

/**
 * Answer-letter balance: a heatmap of observed / expected share per dataset and letter (1 =
 * balanced, as if keys were placed at random), the observed percentage written in each cell.
 */
export function answerLetterFigure(letters: ColumnTable): Figure {
  const rows = rowsOf(letters);
  const datasets = uniq(rows.map((r) => String(r.dataset)));
  const ls = uniq(rows.map((r) => String(r.letter))).sort();
  const cell = (d: string, l: string) => rows.find((r) => r.dataset === d && r.letter === l);
  const z = datasets.map((d) => ls.map((l) => (cell(d, l) ? Number(cell(d, l)!.ratio) : null)));
  const text = datasets.map((d) => ls.map((l) => (cell(d, l) ? `${(100 * Number(cell(d, l)!.share)).toFixed(1)}%` : "")));
  const data: Trace[] = [
    {
      type: "heatmap",
      x: ls,
      y: datasets,
      z,
      text,
      texttemplate: "%{text}",
      hovertemplate: "%{y} letter %{x}: %{text} of closed items, %{z:.2f}× the random-placement share<extra></extra>",
      // plotly's RdBu runs blue (low) to red (high): over-represented letters red, rare ones blue.
      colorscale: "RdBu",
      zmid: 1,
      zmin: 0.5,
      zmax: 1.5,
      colorbar: { title: { text: "observed /<br>expected<br>(clipped to<br>0.5-1.5)" } },
    },
  ];
  return {
    data,
    layout: base("Answer-letter balance (closed items; % of items keyed to each letter)", {
      height: barHeight(datasets.length),
      xaxis: { title: { text: "answer letter" }, side: "bottom" },
      yaxis: { autorange: "reversed", automargin: true },
    }),
  };
}

/**
 * Image sizes: one marker per distinct (group, width, height), its area growing with the number
 * of images of that size; `by` colours by modality or organ. Dashed lines: the 1024 px limit of
 * the paper's resize rule (a longer side is scaled down to it).
 */
export function imageSizeFigure(rows: ImageSizeRow[], by: "modality" | "organ"): Figure {
  // Larger groups first, so the small ones are drawn on top of them and stay visible.
  const size = (g: string) => rows.filter((r) => `${r.dataset} · ${r[by]}` === g).length;
  const groups = uniq(rows.map((r) => `${r.dataset} · ${r[by]}`)).sort((a, b) => size(b) - size(a) || a.localeCompare(b));
  const data: Trace[] = groups.map((g) => {
    const counts = new Map<string, number>();
    for (const r of rows) if (`${r.dataset} · ${r[by]}` === g) counts.set(`${r.width}x${r.height}`, (counts.get(`${r.width}x${r.height}`) ?? 0) + 1);
    const sizes = [...counts.entries()].map(([k, n]) => ({ w: Number(k.split("x")[0]), h: Number(k.split("x")[1]), n }));
    return {
      type: "scatter",
      mode: "markers",
      name: g,
      x: sizes.map((s) => s.w),
      y: sizes.map((s) => s.h),
      text: sizes.map((s) => `${s.n} image${s.n === 1 ? "" : "s"}`),
      hovertemplate: `${g}<br>%{x} × %{y} px: %{text}<extra></extra>`,
      marker: { size: sizes.map((s) => 7 + 3 * Math.sqrt(s.n)), opacity: 0.7, line: { width: 0.5, color: "#333" }, symbol: g.startsWith("SLAKE") ? "diamond" : "circle" },
    };
  });
  const maxSide = Math.max(1100, ...rows.map((r) => Math.max(r.width, r.height))) * 1.05;
  const limit = { type: "line", line: { dash: "dash", color: "#888", width: 1 } };
  return {
    data,
    layout: base(`Image sizes by ${by} (marker area: number of images)`, {
      height: 560,
      margin: { l: 70, r: 30, t: 60, b: 60 },
      xaxis: { title: { text: "width (px)" }, range: [0, maxSide] },
      yaxis: { title: { text: "height (px)" }, range: [0, maxSide] },
      shapes: [
        { ...limit, x0: 1024, x1: 1024, y0: 0, y1: maxSide },
        { ...limit, x0: 0, x1: maxSide, y0: 1024, y1: 1024 },
      ],
      annotations: [{ x: 1024, y: maxSide, text: "1024 px: resized down beyond", showarrow: false, xanchor: "left", yanchor: "top", font: { size: 11, color: "#666" } }],
      legend: { title: { text: by } },
    }),
  };
}

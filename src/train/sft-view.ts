/**
 * What notebooks show about an SFT run: loss curves (plotly) from metrics.jsonl, and sampled
 * completions with their training reward (computeReward) before and after training.
 */
import { join } from "node:path";
import type { Item } from "../data/item";
import type { EmbeddedModel } from "../model/model";
import { buildPrompt } from "../prompt";
import { computeReward } from "../reward";
import { showPlot, type Figure, type Trace } from "../viz/plotly";
import { METRICS_FILE, readMetrics } from "./runs";
import type { SftMetrics } from "./sft";

/** Metrics of a run folder (or given records). */
export function runMetrics(runOrMetrics: string | SftMetrics[]): SftMetrics[] {
  return typeof runOrMetrics === "string" ? readMetrics<SftMetrics>(join(runOrMetrics, METRICS_FILE)).records : runOrMetrics;
}

/**
 * Training loss per step, held-out loss where measured, learning rate on a second axis; a labelled
 * dashed line at the end of each epoch and, with `reportEpoch`, a marker on the checkpoint the
 * run reports (the paper reports epoch 3). The loss axis starts at 0 so that noise does not look
 * like movement.
 */
export function lossCurveFigure(runOrMetrics: string | SftMetrics[], title = "SFT loss", o: { reportEpoch?: number | null } = {}): Figure {
  const m = runMetrics(runOrMetrics);
  const held = m.filter((r) => r.held_out_loss !== undefined);
  const data: Trace[] = [
    { type: "scatter", mode: "lines", name: "train loss (token mean)", x: m.map((r) => r.step), y: m.map((r) => r.loss) },
    { type: "scatter", mode: "lines+markers", name: "held-out loss", x: held.map((r) => r.step), y: held.map((r) => r.held_out_loss) },
    { type: "scatter", mode: "lines", name: "learning rate", x: m.map((r) => r.step), y: m.map((r) => r.lr), yaxis: "y2", line: { dash: "dot", width: 1 } },
  ];
  const ends = m.filter((r, i) => Math.floor(r.epoch + 1e-9) > Math.floor((i > 0 ? m[i - 1].epoch : 0) + 1e-9));
  const epochEnds = ends.map((r) => r.step);
  const reported = o.reportEpoch ? ends.find((r) => Math.floor(r.epoch + 1e-9) === o.reportEpoch) : undefined;
  if (reported) data.push({ type: "scatter", mode: "markers", name: `reported checkpoint (end of epoch ${o.reportEpoch})`, x: [reported.step], y: [reported.loss], marker: { size: 12, symbol: "star", color: "#d62728" } });
  const maxLoss = Math.max(...m.map((r) => r.loss), ...held.map((r) => r.held_out_loss as number));
  return {
    data,
    layout: {
      title: { text: title },
      xaxis: { title: { text: "optimizer step" } },
      yaxis: { title: { text: "NLL per target token" }, range: [0, Number.isFinite(maxLoss) ? maxLoss * 1.05 : 1] },
      yaxis2: { title: { text: "learning rate" }, overlaying: "y", side: "right", showgrid: false, tickformat: ".1e", rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 },
      shapes: epochEnds.map((x) => ({ type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { color: "#bbb", width: 1, dash: "dash" } })),
      annotations: ends.map((r) => ({ x: r.step, y: 1, yref: "paper", text: `end of epoch ${Math.floor(r.epoch + 1e-9)}`, showarrow: false, xanchor: "right", yanchor: "top", textangle: -90, font: { size: 10, color: "#888" } })),
      height: 420,
    },
  };
}

export function showLossCurves(runOrMetrics: string | SftMetrics[], title?: string, o: { reportEpoch?: number | null } = {}): void {
  const f = lossCurveFigure(runOrMetrics, title, o);
  showPlot(f.data, f.layout);
}

/** A type alias (not an interface) so rows pass as Record<string, unknown> to showTable. */
export type SampleRow = {
  item: string;
  gold: string;
  completion: string;
  format: boolean;
  predicted: string | null;
  reward: number;
};

/** One completion per item under the published prompt, scored with the training reward. */
export async function sampleWithRewards(model: EmbeddedModel, items: Item[], o: { maxNewTokens?: number; temperature?: number; seed?: number; clip?: number } = {}): Promise<SampleRow[]> {
  const gens = await model.generate(
    items.map((it) => ({ text: buildPrompt(it), images: it.images })),
    { maxNewTokens: o.maxNewTokens ?? 128, temperature: o.temperature ?? 0, seed: o.seed ?? 42 },
  );
  const clip = o.clip ?? 300;
  return items.map((it, i) => {
    const r = computeReward(gens[i].text, it);
    const text = gens[i].text;
    return {
      item: `${it.dataset_name}#${it.dataset_index}`,
      gold: it.answer_label,
      completion: text.length > clip ? `${text.slice(0, clip)}...` : text,
      format: r.format,
      predicted: r.predicted,
      reward: r.reward,
    };
  });
}

/** Share of well-formed completions and mean reward, in percent. */
export function sampleSummary(rows: SampleRow[]): { samples: number; well_formed_pct: number; reward_pct: number } {
  const n = Math.max(1, rows.length);
  return {
    samples: rows.length,
    well_formed_pct: (100 * rows.filter((r) => r.format).length) / n,
    reward_pct: (100 * rows.reduce((s, r) => s + r.reward, 0)) / n,
  };
}

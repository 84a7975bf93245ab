/**
 * Notebook views of a GRPO run: the reward / accuracy / KL / length curves as one plotly figure,
 * a live version updated in place as steps finish (one display, replaced), and sample responses
 * with their rewards.
 */
import type { Item } from "../data/item";
import type { EmbeddedModel } from "../model/model";
import { buildPrompt } from "../prompt";
import { computeReward } from "../reward";
import { isTslab, newDisplayId, sendBundle } from "../viz/display";
import { plotBundle, showPlot, type Figure } from "../viz/plotly";
import type { GrpoStepMetrics } from "./grpo";
import { readMetrics } from "./runs";
import { join } from "node:path";

/** Metrics of a run folder (or the given list). */
export function grpoMetrics(runOrMetrics: string | GrpoStepMetrics[]): GrpoStepMetrics[] {
  return typeof runOrMetrics === "string" ? readMetrics<GrpoStepMetrics>(join(runOrMetrics, "metrics.jsonl")).records : runOrMetrics;
}

/** Four panels: reward and accuracy, format failures and no-signal groups, KL to the reference, response length. */
export function grpoCurvesFigure(runOrMetrics: string | GrpoStepMetrics[], title = "GRPO"): Figure {
  const ms = grpoMetrics(runOrMetrics);
  const x = ms.map((m) => m.step);
  const line = (name: string, y: number[], axis: string, dash?: string) => ({ type: "scatter", mode: "lines+markers", name, x, y, xaxis: `x${axis}`, yaxis: `y${axis}`, line: dash ? { dash } : undefined });
  return {
    data: [
      line("reward", ms.map((m) => m.reward_mean), ""),
      line("accuracy", ms.map((m) => m.accuracy), "", "dot"),
      line("format failures", ms.map((m) => m.format_failure_rate), "2"),
      line("groups without signal", ms.map((m) => m.zero_signal_groups), "2", "dot"),
      line("KL to reference", ms.map((m) => m.kl_loss), "3"),
      line("response tokens", ms.map((m) => m.response_length_mean), "4"),
    ],
    layout: {
      title: { text: title },
      height: 520,
      grid: { rows: 2, columns: 2, pattern: "independent" },
      yaxis: { title: { text: "reward / accuracy" }, range: [0, 1] },
      yaxis2: { title: { text: "share" }, range: [0, 1] },
      yaxis3: { title: { text: "KL (low_var_kl)" }, rangemode: "tozero" },
      yaxis4: { title: { text: "tokens" }, rangemode: "tozero" },
      xaxis3: { title: { text: "step" } },
      xaxis4: { title: { text: "step" } },
      legend: { orientation: "h", y: -0.2 },
      margin: { b: 90 },
    },
  };
}

export function showGrpoCurves(runOrMetrics: string | GrpoStepMetrics[], title?: string): void {
  const f = grpoCurvesFigure(runOrMetrics, title);
  showPlot(f.data, f.layout);
}

const INLINED = Symbol.for("medvlthinker.viz.plotlyInlined");

export interface LiveCurves {
  /** Add a step and redraw (at most every `throttleMs`). */
  update(m: GrpoStepMetrics): void;
  /** Final redraw. */
  done(): void;
}

/**
 * A chart replaced in place as steps arrive (update_display_data), so the notebook shows the
 * curves growing while training runs and keeps only the final chart. Outside a notebook: a line
 * per step on stderr.
 */
export function liveGrpoCurves(title = "GRPO (live)", throttleMs = 1500): LiveCurves {
  const ms: GrpoStepMetrics[] = [];
  const id = newDisplayId();
  const g = globalThis as { [INLINED]?: boolean };
  // The chart replaces itself, so it carries plotly.js itself when no earlier chart did.
  const includePlotlyJs = g[INLINED] !== true;
  const divId = `grpo-live-${id}`;
  let shown = false;
  let last = 0;
  const draw = () => {
    const f = grpoCurvesFigure(ms, title);
    sendBundle(plotBundle(f.data, f.layout, { includePlotlyJs, divId }), { displayId: id, update: shown });
    shown = true;
    last = Date.now();
  };
  const tslab = isTslab();
  if (tslab) draw();
  return {
    update(m) {
      ms.push(m);
      if (!tslab) {
        console.error(`step ${m.step}: reward ${m.reward_mean.toFixed(3)} accuracy ${m.accuracy.toFixed(3)} KL ${m.kl_loss.toFixed(4)} length ${m.response_length_mean.toFixed(1)}`);
        return;
      }
      if (Date.now() - last >= throttleMs) draw();
    },
    done() {
      if (tslab) draw();
      if (includePlotlyJs && tslab) g[INLINED] = true;
    },
  };
}

export interface ResponseRow {
  item: string;
  key: string;
  response: string;
  reward: number;
  reason: string;
}

/** Responses of a model to items (greedy by default) with the training reward. */
export async function sampleResponses(model: EmbeddedModel, items: Item[], o: { maxNewTokens?: number; temperature?: number; seed?: number; realNewline?: boolean } = {}): Promise<ResponseRow[]> {
  const gens = await model.generate(
    items.map((it) => ({ text: buildPrompt(it, { realNewline: o.realNewline }), images: it.images })),
    { maxNewTokens: o.maxNewTokens ?? 24, temperature: o.temperature ?? 0, seed: o.seed ?? 0 },
  );
  return gens.map((g, i) => {
    const it = items[i];
    const r = computeReward(g.text, it);
    return { item: `${it.dataset_name}#${it.dataset_index}`, key: it.answer_label, response: g.text, reward: r.reward, reason: r.reason };
  });
}

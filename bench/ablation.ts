/**
 * The ablation's bar (issue 13): on the full SLAKE closed English test (416), the workshop run's
 * RL(image-text) model against the best constant-letter predictor and against its own blind run
 * (exact McNemar p-values), and its shares of "Yes" and "No" on the yes/no questions. Runs (or
 * resumes: finished stages and evaluation answers are reused) `runAblation("workshop")`, the run
 * notebook 06 and `medvlthinker ablation --preset workshop` make, and prints the figures of
 * runs/ablation-workshop/results.json with the stage timings of this call.
 *
 *   npm run bench -- ablation     (BENCH_ABLATION_PRESET=smoke for the tiny model)
 */
import { runAblation, type AblationPresetName } from "../src/stages/ablation";

export async function run(): Promise<Record<string, number | string>> {
  const preset = (process.env.BENCH_ABLATION_PRESET ?? "workshop") as AblationPresetName;
  const t0 = performance.now();
  const res = await runAblation(preset, { progress: false, log: () => {} });
  const seconds = (performance.now() - t0) / 1000;
  const figures: Record<string, number | string> = { preset };
  for (const row of res.rows) {
    const s = row.benchmarks.slake;
    if (!s) continue;
    const tag = row.name.replace(/[()]/g, "").replace(/\+/g, "_plus_").replace(/-/g, "_").toLowerCase();
    figures[`${tag}_slake_accuracy_pct`] = round(s.accuracy);
    if (row.name !== "RL(image-text)") continue;
    figures.rl_image_text_slake_items = s.items;
    figures.rl_image_text_slake_blind_accuracy_pct = round(s.blind_accuracy ?? NaN);
    figures.rl_image_text_slake_constant_letter = s.constant_letter;
    figures.rl_image_text_slake_constant_accuracy_pct = round(s.constant_accuracy);
    figures.rl_image_text_slake_p_vs_constant = s.p_vs_constant;
    figures.rl_image_text_slake_p_vs_blind = s.p_vs_blind ?? NaN;
    figures.rl_image_text_slake_yes_share_pct = round(100 * (s.yes_share ?? NaN));
    figures.rl_image_text_slake_no_share_pct = round(100 * (s.no_share ?? NaN));
    const bar = s.accuracy > s.constant_accuracy && s.p_vs_constant < 0.05 && s.blind_accuracy !== null && s.accuracy > s.blind_accuracy && (s.p_vs_blind ?? 1) < 0.05 && (s.yes_share ?? 0) >= 0.2 && (s.no_share ?? 0) >= 0.2;
    figures.bar_met = bar ? "yes" : "no";
  }
  for (const [k, v] of Object.entries(res.timings)) figures[`${k.replace(/[^a-z0-9]+/gi, "_").toLowerCase()}_s`] = round(v);
  figures.this_call_s = round(seconds);
  return figures;
}

const round = (x: number) => Math.round(x * 10) / 10;

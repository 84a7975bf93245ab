/**
 * `medvlthinker ablation --preset smoke|workshop|full`: the paper's ablation in miniature
 * (src/stages/ablation.ts, the same call notebook 06 makes). Writes runs/ablation-<preset>/
 * results.json; rerunning reuses every finished stage and evaluation answer.
 */
import { parseArgs } from "node:util";
import { ABLATION_PRESETS, ABLATION_ROWS, runAblation, type AblationPresetName, type AblationRowName } from "../stages/ablation";
import { ConfigError } from "../errors";

const USAGE = `usage: medvlthinker ablation --preset smoke|workshop|full [--out DIR] [--rows LIST]

Trains the ablation's rows from one instruct model (base; SFT(text); SFT(image-text); RL(text);
RL(image-text); RL(text)+RL(image-text); SFT(text)+RL(image-text)), evaluates each on the full
closed VQA-RAD and SLAKE test sets (and with images removed) and samples of the others, and
writes runs/ablation-<preset>/results.json. full: 3 seeds, mean and spread.

options:
  --preset P     smoke (tiny model, seconds), workshop (default), full (3 seeds)
  --out DIR      run folder (default runs/ablation-<preset>)
  --rows LIST    comma-separated row names (default: all; base is always evaluated)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { preset: { type: "string" }, out: { type: "string" }, rows: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const preset = (values.preset ?? "workshop") as AblationPresetName;
  if (!(preset in ABLATION_PRESETS)) throw new ConfigError(`--preset: '${preset}' is not one of ${Object.keys(ABLATION_PRESETS).join(", ")}`);
  const rows = values.rows?.split(",").map((s) => s.trim()).filter(Boolean) as AblationRowName[] | undefined;
  for (const r of rows ?? []) if (!(ABLATION_ROWS as readonly string[]).includes(r)) throw new ConfigError(`--rows: unknown row '${r}' (${ABLATION_ROWS.join(", ")})`);
  const res = await runAblation(preset, { out: values.out, rows });
  for (const r of res.rows) {
    const cells = Object.entries(r.benchmarks).map(([id, b]) => `${id} ${b.accuracy.toFixed(1)}${b.blind_accuracy !== null ? ` (blind ${b.blind_accuracy.toFixed(1)}, p ${b.p_vs_blind?.toExponential(1)})` : ""}`);
    console.log(`${r.name.padEnd(26)} seed ${r.seed}  ${cells.join("  ")}`);
  }
  console.log(`results: ${res.out}/results.json`);
  return 0;
}

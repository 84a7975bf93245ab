/**
 * `medvlthinker train grpo --config FILE [--resume | --overwrite]`: one GRPO run (src/train/grpo.ts),
 * the same call notebook 04 makes. `--preset NAME` alone runs a preset as is; `--print-config`
 * shows the resolved config without training. Ctrl-C stops after the current step with a checkpoint.
 */
import { parseArgs } from "node:util";
import { readConfigFile } from "./args";
import { runInterruptible } from "./interrupt";
import { ConfigError, GRPO_PRESETS, parseGrpoConfig } from "../train/grpo-config";
import { trainGrpo } from "../train/grpo";

const USAGE = `usage: medvlthinker train grpo --config FILE [options]
       medvlthinker train grpo --preset published|workshop|smoke [options]

GRPO (RLVR) on the embedded model. The config is JSON: a preset name and any fields to override
(see src/train/grpo-config.ts; "published" holds the paper's verl settings). It is validated
before any work starts and saved in the run folder (config.out).

options:
  --config FILE     the run config (JSON)
  --preset NAME     start from this preset (${Object.keys(GRPO_PRESETS).join(", ")}); with --config, overrides its preset
  --out DIR         the run folder (overrides config.out)
  --max-steps N     stop after N steps (overrides train.maxSteps)
  --resume          continue the run in the output folder from its latest checkpoint
  --overwrite       replace an existing run in the output folder
  --print-config    print the resolved config and exit
  --no-progress     no progress bar`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      preset: { type: "string" },
      out: { type: "string" },
      "max-steps": { type: "string" },
      resume: { type: "boolean" },
      overwrite: { type: "boolean" },
      "print-config": { type: "boolean" },
      "no-progress": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.config && !values.preset) {
    console.error(USAGE);
    return 2;
  }
  let input: Record<string, unknown> = readConfigFile(values.config);
  if (values.preset) input = { ...input, preset: values.preset };
  if (values.out) input = { ...input, out: values.out };
  if (values["max-steps"] !== undefined) {
    const n = Number(values["max-steps"]);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--max-steps: expected a positive integer, got '${values["max-steps"]}'`);
    const train = (input.train ?? {}) as Record<string, unknown>;
    input = { ...input, train: { ...train, maxSteps: n } };
  }
  const config = parseGrpoConfig(input, values.config ? `GRPO config ${values.config}` : "GRPO config");
  if (values["print-config"]) {
    console.log(JSON.stringify(config, null, 2));
    return 0;
  }
  return runInterruptible("stopping after the current step (Ctrl-C again to kill)", async (signal) => {
    const { stageModels } = await import("../stages/models");
    const r = await trainGrpo(config, { resume: values.resume, overwrite: values.overwrite, progress: !values["no-progress"], signal, models: stageModels });
    const last = r.metrics[r.metrics.length - 1];
    console.log(`${r.finished ? "finished" : "stopped"}: ${r.steps}/${r.totalSteps} steps in ${r.dir}`);
    if (last) console.log(`last step: reward ${last.reward_mean.toFixed(3)}, accuracy ${last.accuracy.toFixed(3)}, format failures ${last.format_failure_rate.toFixed(3)}, KL ${last.kl_loss.toFixed(4)}`);
    if (r.finalCheckpoint) console.log(`checkpoint: ${r.finalCheckpoint}`);
    r.model.dispose();
    return 0;
  });
}

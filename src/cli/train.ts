/**
 * `medvlthinker train sft --config FILE [--resume]` runs (or continues) an SFT run, the same
 * runSft a notebook calls. `medvlthinker train grpo ...` is handed to src/cli/train-grpo.ts.
 */
import { parseArgs } from "node:util";
import { readConfigFile } from "./args";
import { runInterruptible } from "./interrupt";
import { ConfigError } from "../train/runs";

const HELP = `usage: medvlthinker train <sft|grpo> [options]

sft     supervised fine-tuning on reasoning traces
        --config FILE    the run config (JSON): { "preset": "published"|"workshop"|"smoke", "out": DIR,
                         "model": {...}, "data": {...}, "train": {...} }; fields override the preset
        --preset NAME    start from a preset without a file (default workshop)
        --out DIR        the run folder (overrides the config's "out")
        --resume         continue the run in the folder from its latest checkpoint
        --overwrite      replace a run already in the folder
        --quiet          no progress bar
        Writes DIR/config.json, metrics.jsonl, data-report.json, checkpoints/step-N, summary.json.
        Ctrl-C stops after the current step with a checkpoint; --resume continues it.
grpo    reinforcement learning with verifiable rewards (see 'medvlthinker train grpo --help')`;

async function sft(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      preset: { type: "string" },
      out: { type: "string" },
      resume: { type: "boolean", default: false },
      overwrite: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.config && !values.preset) throw new ConfigError("train sft: give --config FILE (or --preset NAME)");
  const input: Record<string, unknown> = readConfigFile(values.config);
  if (values.preset) input.preset = values.preset;
  if (values.out) input.out = values.out;
  // Loaded here so `train --help` and config errors stay fast (no engine start).
  const { runSft } = await import("../train/sft");
  const { stageModels } = await import("../stages/models");
  return runInterruptible("stopping after this step (Ctrl-C again to quit at once)...", async (signal) => {
    const r = await runSft(input, { resume: values.resume, overwrite: values.overwrite, progress: !values.quiet, signal, models: stageModels });
    const last = r.metrics[r.metrics.length - 1];
    console.log(`run: ${r.dir}`);
    console.log(`data: ${r.tokenized.trainExamples} train / ${r.tokenized.heldOutExamples} held-out examples; ${r.data.overlap.excluded.length} excluded as evaluation items, ${r.data.disagreeing.length} disagreeing traces ${r.data.disagreeingKept ? "kept" : "left out"}`);
    console.log(`steps: ${r.steps}/${r.totalSteps}; final loss ${last ? last.loss.toFixed(4) : "n/a"}, held-out ${r.heldOutLoss?.toFixed(4) ?? "n/a"}; ${Math.round(r.tokensPerSecond)} tokens/s`);
    if (r.finalCheckpoint) console.log(`final checkpoint: ${r.finalCheckpoint}`);
    if (r.reportCheckpoint) console.log(`reported checkpoint (epoch ${r.config.train.reportEpoch ?? r.config.train.epochs}): ${r.reportCheckpoint}`);
    r.model.dispose();
    return r.finished ? 0 : 130;
  });
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "-h" || cmd === "--help") {
    console.log(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === "sft") return sft(rest);
  if (cmd === "grpo") {
    let mod: { run(argv: string[]): Promise<number> };
    const path = "./train-grpo.ts"; // written separately; a variable keeps the type checker from requiring it
    try {
      mod = (await import(path)) as typeof mod;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && String(e).includes("train-grpo")) {
        console.error("medvlthinker train grpo: not implemented yet (src/cli/train-grpo.ts is missing)");
        return 2;
      }
      throw e;
    }
    return mod.run(rest);
  }
  console.error(`medvlthinker train: unknown command '${cmd}'\n\n${HELP}`);
  return 2;
}

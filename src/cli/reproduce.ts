/**
 * `medvlthinker reproduce --base-url URL --model NAME --paper-model "MedVLThinker-3B RL(m23k)"`:
 * one row of the paper's table with the published protocol, beside the paper's. A thin layer over
 * src/eval/reproduce.ts (reproduceRow).
 */
import { parseArgs } from "node:util";
import { missingServerFlag, REPRODUCE_FLAGS, reproduceOptions, requestHelp, requestOptions, SERVER_FLAGS, SERVER_HELP } from "./args";
import { runInterruptible } from "./interrupt";
import { reproduceRow } from "../eval/reproduce";
import { PROFILE_NAMES } from "../policy/profiles";

const USAGE = `usage: medvlthinker reproduce --base-url URL --model NAME --paper-model "MODEL TRAINING" [--eval-parquet FILE] [options]

Evaluate a served model with the paper's protocol on its six image-text benchmarks (greedy,
4096 new tokens, seed 42, 3 runs, the MedVLThinker prompt, the regrade rule; requests exact to
the paper's offline vLLM run) and print the row beside the paper's, with per-benchmark differences,
their 95% intervals and whether the paper's figure lies inside ours. Rerunning resumes.

options:
${SERVER_HELP}
  --paper-model TEXT    the paper's row, e.g. "MedVLThinker-3B RL(m23k)" (default: guessed from --model)
  --eval-parquet FILE   the MedVLThinker-Eval parquet (all six benchmarks; without it only the local copies)
  --data-root DIR       local datasets (default ../shared/data or $MEDVLTHINKER_DATA)
  --benchmarks LIST     a part of the six (default all six)
  --profile NAME        ${PROFILE_NAMES.join(", ")} (default vllm)
  --out DIR             run folders (default runs/eval, shared with 'medvlthinker eval')
  --limit N             first N items of each benchmark (a quick look, not the protocol)
${requestHelp("64")}
  --no-progress         no progress bar
The API key, for hosted endpoints, is read from MEDVLTHINKER_API_KEY or OPENAI_API_KEY.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: { ...SERVER_FLAGS, ...REPRODUCE_FLAGS, out: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const baseURL = values["base-url"];
  if (!baseURL) throw missingServerFlag("base-url");
  const model = values.model;
  if (!model) throw missingServerFlag("model");
  return runInterruptible("interrupted: saving what arrived; rerun the same command to resume", async (signal) => {
    const r = await reproduceRow({ baseURL, model, ...reproduceOptions(values), ...requestOptions(values), out: values.out, signal });
    console.log(r.text);
    return r.run.missing > 0 ? 1 : 0;
  });
}

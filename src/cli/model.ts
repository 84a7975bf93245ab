/**
 * `medvlthinker model <pretrain|sample|info> ...`: the embedded model from the command line, a
 * thin layer over src/model (the same functions the notebooks call).
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { PRETRAIN_DEFAULTS, pretrain } from "../stages/pretrain";
import { EmbeddedModel } from "../model/model";
import { SIZES, sizeConfig } from "../model/config";
import { countParams } from "../model/params";
import { engineName } from "../model/ort/runtime";
import { ConfigError } from "../errors";

const HELP = `usage: medvlthinker model <command> [options]

commands:
  pretrain   language-modelling warm-up on the shared medical text
             --size tiny|workshop|small|reference (default workshop)  --out DIR (required)
             --steps N --batch N --seq-len N --lr X --seed N --corpus train|all --threads N
             --vocab N (tokenizer size; 265 = bytes + specials only) --max-seconds S
             (writes DIR/metrics.jsonl, DIR/run.json, DIR/checkpoint/)
  sample     --checkpoint DIR --prompt TEXT [--n N] [--max-tokens N] [--temperature X]
             [--top-p X] [--seed N]
  info       --size NAME | --checkpoint DIR: config and parameter count

'--corpus all' adds the benchmarks' question text: evaluation after it is contaminated.`;

function configError(msg: string): Error {
  return new ConfigError(msg);
}

function num(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw configError(`--${name}: '${v}' is not a number`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "-h" || cmd === "--help") {
    console.log(HELP);
    return cmd ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      size: { type: "string" },
      out: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      "seq-len": { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      corpus: { type: "string" },
      threads: { type: "string" },
      vocab: { type: "string" },
      "max-seconds": { type: "string" },
      checkpoint: { type: "string" },
      prompt: { type: "string" },
      n: { type: "string" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  // Thread count must be known before jax-js loads (src/model/worker-setup.ts).
  if (values.threads) process.env.MEDVLTHINKER_THREADS = values.threads;

  if (cmd === "pretrain") {
    const size = values.size ?? "workshop";
    if (!(size in PRETRAIN_DEFAULTS)) throw configError(`--size: unknown '${size}' (${Object.keys(SIZES).join(", ")})`);
    if (!values.out) throw configError("--out DIR is required");
    const d = PRETRAIN_DEFAULTS[size];
    const corpus = (values.corpus ?? d.corpus) as "train" | "all";
    if (corpus !== "train" && corpus !== "all") throw configError(`--corpus: '${corpus}' (train, all)`);
    const out = resolve(values.out);
    console.log(`engine: ${(await engineName()) === "ort" ? "onnxruntime (gradients) + jax-js (optimizer)" : "jax-js"}; MEDVLTHINKER_ENGINE=jax|ort to choose`);
    const r = await pretrain({
      ...d,
      size,
      out,
      corpus,
      steps: num(values.steps, "steps", d.steps),
      batchSize: num(values.batch, "batch", d.batchSize),
      seqLen: num(values["seq-len"], "seq-len", d.seqLen),
      lr: num(values.lr, "lr", d.lr),
      seed: num(values.seed, "seed", d.seed),
      maxSeconds: num(values["max-seconds"], "max-seconds", 0),
      overrides: values.vocab ? { vocabSize: num(values.vocab, "vocab", 0) } : undefined,
      onLog: (m) => {
        if (m.step === 1 || m.step % 10 === 0 || m.held_out_loss !== undefined) {
          const held = m.held_out_loss !== undefined ? ` held-out ${m.held_out_loss.toFixed(3)}` : "";
          console.log(`step ${m.step}  loss ${m.loss.toFixed(3)}${held}  lr ${m.lr.toExponential(2)}  ${Math.round(m.tokens_per_s)} tok/s`);
        }
      },
    });
    console.log(`done: ${r.steps} steps, final loss ${r.finalLoss.toFixed(3)}, held-out ${r.heldOutLoss?.toFixed(3) ?? "n/a"} (${r.heldOutBitsPerChar?.toFixed(3) ?? "n/a"} bits/char), ${Math.round(r.tokensPerSecond)} tok/s`);
    console.log(`checkpoint: ${r.checkpointDir}\nmetrics: ${r.metricsPath}`);
    r.model.dispose();
    return 0;
  }
  if (cmd === "sample") {
    if (!values.checkpoint) throw configError("--checkpoint DIR is required");
    if (values.prompt === undefined) throw configError("--prompt TEXT is required");
    const model = await EmbeddedModel.load(resolve(values.checkpoint));
    const n = num(values.n, "n", 1);
    const gens = await model.generate(
      Array.from({ length: n }, () => ({ text: values.prompt! })),
      { maxNewTokens: num(values["max-tokens"], "max-tokens", 64), temperature: num(values.temperature, "temperature", 1), topP: num(values["top-p"], "top-p", 1), seed: num(values.seed, "seed", 0) },
    );
    gens.forEach((g, i) => console.log(`--- sample ${i + 1} (${g.finishReason}, ${g.ids.length} tokens)\n${g.text}`));
    model.dispose();
    return 0;
  }
  if (cmd === "info") {
    if (values.checkpoint) {
      const model = await EmbeddedModel.load(resolve(values.checkpoint));
      console.log(JSON.stringify({ config: model.config, params: countParams(model.config), info: model.info }, null, 2));
      model.dispose();
    } else {
      const cfg = sizeConfig(values.size ?? "workshop");
      console.log(JSON.stringify({ config: cfg, params: countParams(cfg) }, null, 2));
    }
    return 0;
  }
  console.error(`medvlthinker model: unknown command '${cmd}'\n\n${HELP}`);
  return 2;
}

/**
 * SFT speed on the workshop model: tokens/s of the real loop (runSft: batch building from
 * examples, gradient accumulation, AdamW, metrics) against the engine's raw training throughput
 * (LmTrainer.step on pre-built batches of the same shapes, compiled beforehand), in one process.
 *
 * The loop runs 2 epochs of the workshop preset on the HuatuoGPT-o1 traces; its figure is taken
 * over epoch 2 (every shape already compiled), from the per-step metrics (step_ms covers building
 * the batch and the step). Raw runs the same micro-batches through LmTrainer.step, interleaved
 * step by step with the loop so that both see the same machine load (timings here vary a lot
 * with other work on the machine; the ratio is what to read).
 * `sft_whole_run_tokens_per_s` is the whole call: compilation, held-out loss and checkpoint included.
 *
 *   npx tsx bench/sft.ts
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../src/data/registry";
import { initEngine } from "../src/model/engine";
import { EmbeddedModel } from "../src/model/model";
import { initParams } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { LmTrainer } from "../src/train/lm-step";
import { tree } from "../src/model/jax";
import { REPO_ROOT } from "../src/paths";
import { buildPrompt } from "../src/prompt";
import { parseSftConfig } from "../src/train/config";
import { Rng } from "../src/train/runs";
import { buildMicroBatch, prepareSftData, runSft } from "../src/train/sft";
import { planEpoch, targetTokens } from "../src/train/sft-data";
import type { MicroBatch } from "../src/train/lm-step";

async function workshopTokenizer(): Promise<TextTokenizer> {
  const base = join(REPO_ROOT, "runs", "base-workshop", "checkpoint", "tokenizer.json");
  if (existsSync(base)) return TextTokenizer.load(base);
  const items = (await loadDataset("huatuo-o1")).items;
  return TextTokenizer.fit(items.map((it) => `${buildPrompt(it)}\n${it.reasoning ?? ""}`), 2048);
}

export async function run(): Promise<Record<string, number | string>> {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), "bench-sft-"));
  try {
    const tok = await workshopTokenizer();
    const init = join(dir, "init");
    const m0 = await EmbeddedModel.create("workshop", tok, 0);
    await m0.save(init);
    const mc = m0.config;
    m0.dispose();
    const cfg = parseSftConfig({
      preset: "workshop",
      out: join(dir, "run"),
      model: { init, size: "workshop" },
      data: { excludeEval: ["medmcqa"] },
      train: { epochs: 2, evalEvery: 0, saveEvery: 0, saveEpochs: false },
    });

    // The same micro-batches for the raw engine: the loop's plan, rebuilt from the same seed (runSft
    // draws epoch e's order and buckets from one Rng, in order).
    const data = await prepareSftData(cfg, tok, mc);
    const lengths = data.train.map((e) => e.ids.length);
    const counts = data.train.map((e) => targetTokens(e));
    const rng = new Rng(cfg.train.seed);
    const plan = () => planEpoch(lengths, counts, rng.shuffle(data.train.map((_, i) => i)), cfg.train, mc.maxSeq, rng);
    const steps = [...plan(), ...plan()];
    const perEpoch = steps.length / 2;
    const trainer = new LmTrainer(initParams(mc, 0), mc, { lr: 1e-3, beta1: 0.9, beta2: 0.95, weightDecay: 0.01, maxGradNorm: 1 });
    const build = (m: { rows: number[]; length: number }) => buildMicroBatch(data.train, m.rows, m.length, cfg.train.microBatch, mc, tok);

    // The loop, with the raw engine interleaved: after each loop step (outside its timing), the same
    // step's micro-batches, pre-built, go through LmTrainer.step. Interleaving keeps both figures
    // under the same machine load. Epoch 1 compiles every shape for both; epoch 2 is timed.
    let rawS = 0;
    let rawTokens = 0;
    const rawStep = async (step: number) => {
      const built: { micro: MicroBatch; tokens: number }[] = [];
      for (const m of steps[step - 1].micro) built.push(await build(m));
      for (const b of built) {
        const s0 = performance.now();
        await trainer.step(b.micro, 1e-4);
        if (step > perEpoch) {
          rawS += (performance.now() - s0) / 1000;
          rawTokens += b.tokens;
        }
      }
    };
    const t0 = performance.now();
    let rawWallS = 0;
    const r = await runSft(cfg, {
      progress: false,
      log: () => {},
      onStep: async (m) => {
        const w0 = performance.now();
        await rawStep(m.step);
        rawWallS += (performance.now() - w0) / 1000;
      },
    });
    const wallS = (performance.now() - t0) / 1000 - rawWallS;
    if (r.totalSteps !== steps.length) throw new Error(`bench: the loop ran ${r.totalSteps} steps, the replayed plan has ${steps.length}`);
    const epoch2 = r.metrics.filter((m) => m.step > perEpoch);
    const loopTokens = epoch2.reduce((s, m) => s + m.tokens, 0);
    if (loopTokens !== rawTokens) throw new Error(`bench: loop and raw token counts differ (${loopTokens} vs ${rawTokens})`);
    const loopS = epoch2.reduce((s, m) => s + m.step_ms, 0) / 1000;
    r.model.dispose();
    tree.dispose(trainer.params);
    trainer.dispose();
    const micros = steps.slice(perEpoch).flatMap((s) => s.micro);

    const loopTps = loopTokens / loopS;
    const rawTps = rawTokens / rawS;
    return {
      model: `workshop (d ${mc.dModel}, ${mc.nLayers} layers, context ${mc.maxSeq}); micro-batch ${cfg.train.microBatch} x accumulation ${cfg.train.gradAccum}`,
      train_examples: data.train.length,
      steps_timed: epoch2.length,
      micro_batches_timed: micros.length,
      sft_loop_tokens_per_s: Math.round(loopTps),
      raw_lmtrainer_tokens_per_s: Math.round(rawTps),
      loop_fraction_of_raw_pct: Number(((100 * loopTps) / rawTps).toFixed(1)),
      sft_whole_run_tokens_per_s: Math.round(r.tokensPerSecond),
      sft_whole_run_s: Number(wallS.toFixed(1)),
      raw_s: Number(rawS.toFixed(1)),
      loop_s: Number(loopS.toFixed(1)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly (npx tsx bench/sft.ts), not when imported by a bench runner.
if (process.argv[1] && /bench[\\/]sft\.ts$/.test(process.argv[1])) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(30)} ${v}`);
  });
}

/**
 * GRPO step time on the workshop model, split into sampling, scoring and update, beside the raw
 * engine on the same shapes:
 *   - sampling: the trainer's rollout (sampleGroups: n samples per prompt, decode, reward text) vs
 *     bare Sampler.generate calls on the same rows, in the same batch size;
 *   - update: the trainer's update (GrpoActor.updateMiniBatch: clipped loss + KL + entropy metric,
 *     micro-batches, AdamW) vs a bare jit(valueAndGrad(masked NLL)) + AdamW step (LmTrainer) on the
 *     same micro-batch shapes;
 *   - scoring: old and reference log-probs (two forward passes) and rewards.
 * Shapes are the workshop preset's (8 prompts x 8 samples, sampler batches of 16 rows, responses
 * up to 24 tokens, micro-batches of 8 rows); the weights are a fresh workshop-size model (responses then run to the length limit,
 * the worst case). Prompts are real HuatuoGPT-o1 items.
 *
 *   npx tsx bench/grpo.ts
 *   BENCH_STEPS=3 BENCH_PROMPTS=8 BENCH_N=8 BENCH_RESPONSE=24 npx tsx bench/grpo.ts
 */
import { initEngine } from "../src/model/engine";
import { sizeConfig } from "../src/model/config";
import { initParams } from "../src/model/params";
import { Sampler } from "../src/model/sampler";
import { TextTokenizer } from "../src/model/tokenizer";
import { LmTrainer } from "../src/train/lm-step";
import { buildHostBatch, lossMask } from "../src/model/batch";
import { tree } from "../src/model/jax";
import { loadDataset } from "../src/data/registry";
import { buildPrompt } from "../src/prompt";
import { computeGrpoOutcomeAdvantage } from "../src/train/core";
import { GRPO_PRESETS } from "../src/train/grpo-config";
import { GrpoActor, planMiniBatches, type GrpoRow } from "../src/train/grpo-step";
import { encodePrompt, sampleGroups, scoreSamples } from "../src/train/rollout";

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);

export async function run(): Promise<Record<string, number | string>> {
  const engine = await initEngine();
  const preset = GRPO_PRESETS.workshop;
  const steps = env("BENCH_STEPS", 3);
  const P = env("BENCH_PROMPTS", preset.rollout.promptsPerStep);
  const n = env("BENCH_N", preset.rollout.n);
  const maxResp = env("BENCH_RESPONSE", preset.rollout.maxResponseTokens);
  const microRows = Math.min(preset.actor.microBatchRows, P * n);
  const items = (await loadDataset("huatuo-o1", { split: "train" })).items.filter((it) => Object.keys(it.options).length >= 2);
  const tok = TextTokenizer.fit(items.slice(0, 400).map((it) => buildPrompt(it) + " <think> </think> <answer> A </answer>"), 2048);
  const c = sizeConfig("workshop", { vocabSize: tok.vocabSize });
  const rollout = { ...preset.rollout, n, maxResponseTokens: maxResp, seed: 1 };
  const actor = new GrpoActor(
    initParams(c, 0),
    initParams(c, 0),
    c,
    tok,
    { lr: 1e-4, weightDecay: 0.01, maxGradNorm: 1 },
    { clipRatioLow: 0.2, clipRatioHigh: 0.2, clipRatioC: 3, lossAggMode: "token-mean", klLossType: "low_var_kl", klLossCoef: 0.01, entropyCoeff: 0 },
    microRows,
  );
  const sampler = new Sampler(c);
  const raw = new Sampler(c);
  const lm = new LmTrainer(initParams(c, 1), c, { lr: 1e-4, weightDecay: 0.01, maxGradNorm: 1 });
  const t = { sample: 0, score: 0, update: 0, rawSample: 0, rawUpdate: 0, tokens: 0, rows: 0, T: 0 };
  for (let s = 0; s <= steps; s++) {
    const warm = s === 0; // the first step compiles; not timed
    const prompts = await Promise.all(items.slice(s * P, (s + 1) * P).map((it, uid) => encodePrompt(it, uid, tok, c, rollout)));
    let t0 = performance.now();
    const gen = await sampleGroups(sampler, actor.params, prompts, tok, { ...rollout, seed: s });
    const tSample = performance.now() - t0;
    t0 = performance.now();
    const samples = scoreSamples(gen, prompts);
    const adv = computeGrpoOutcomeAdvantage(samples.map((x, i) => (i % 3 === 0 ? 1 : 0)), samples.map((x) => x.uid)); // synthetic rewards: random weights never answer
    const rows: GrpoRow[] = samples.map((x, i) => ({ promptIds: x.promptIds, images: x.images, responseIds: x.responseIds, advantage: adv[i], samplerLogprobs: x.samplerLogprobs }));
    const plan = planMiniBatches(rows, P * n, microRows, preset.actor.padMultiple, c.maxSeq);
    await actor.scoreRows(rows, plan, "recompute");
    const tScore = performance.now() - t0;
    t0 = performance.now();
    await actor.updateMiniBatch(rows, plan[0], 1e-4);
    const tUpdate = performance.now() - t0;
    // Raw sampler: the same prompt rows (each repeated n times), one generate call.
    const seqs = prompts.flatMap((p) => Array.from({ length: n }, () => ({ ids: p.ids, images: p.images })));
    t0 = performance.now();
    for (let i = 0; i < seqs.length; i += rollout.batchRows) {
      await raw.generate(actor.params, seqs.slice(i, i + rollout.batchRows), { maxNewTokens: maxResp, temperature: 1, topP: 1, seed: s, stopIds: [tok.ids.end], padId: tok.ids.pad, imageTokenId: tok.ids.image });
    }
    const tRawSample = performance.now() - t0;
    // Raw update: masked NLL value-and-grad + AdamW on the same micro-batch shapes.
    t0 = performance.now();
    for (const m of plan[0]) {
      const ss = m.rows.map((i) => ({ ids: [...rows[i].promptIds, ...rows[i].responseIds], promptLength: rows[i].promptIds.length }));
      while (ss.length < microRows) ss.push({ ids: [tok.ids.pad], promptLength: 1 });
      const batch = buildHostBatch(ss, c, { pad: "right", length: m.length, padId: tok.ids.pad, imageTokenId: tok.ids.image });
      await lm.step({ batch, mask: lossMask(ss, m.length, ss.map((x) => x.promptLength)) }, 1e-4);
    }
    const tRawUpdate = performance.now() - t0;
    if (!warm) {
      t.sample += tSample;
      t.score += tScore;
      t.update += tUpdate;
      t.rawSample += tRawSample;
      t.rawUpdate += tRawUpdate;
      t.tokens += gen.reduce((a, x) => a + x.responseIds.length, 0);
      t.rows += rows.length;
      t.T = Math.max(t.T, ...plan[0].map((m) => m.length));
    }
  }
  sampler.dispose();
  raw.dispose();
  tree.dispose(lm.params);
  lm.dispose();
  tree.dispose(actor.params);
  actor.dispose();
  const per = (ms: number) => Number((ms / 1000 / steps).toFixed(3));
  return {
    model: `workshop (d ${c.dModel}, ${c.nLayers} layers, vocab ${c.vocabSize}), ${engine.threads} thread(s)`,
    shape: `${P} prompts x ${n} samples, sampler batch ${rollout.batchRows}, responses <= ${maxResp} tokens, micro-batch ${microRows} rows, T <= ${t.T}`,
    steps,
    sample_s: per(t.sample),
    score_s: per(t.score),
    update_s: per(t.update),
    step_s: per(t.sample + t.score + t.update),
    raw_sample_s: per(t.rawSample),
    raw_update_s: per(t.rawUpdate),
    sample_ratio_grpo_over_raw: Number((t.sample / t.rawSample).toFixed(3)),
    update_ratio_grpo_over_raw: Number((t.update / t.rawUpdate).toFixed(3)),
    sample_tokens_per_s: Math.round(t.tokens / (t.sample / 1000)),
  };
}

// Run directly (npx tsx bench/grpo.ts), not when imported by a bench runner.
if (process.argv[1] && /bench[\\/]grpo\.ts$/.test(process.argv[1])) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(30)} ${v}`);
  });
}

/**
 * The GRPO update on onnxruntime (chain rule through logp: model/ort + jax-js on [R, T]) against
 * the all-jax-js update: same metrics and same new weights, with clipping and the KL term active.
 * Skipped where onnxruntime-node is absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { tree } from "../src/model/jax";
import { sizeConfig } from "../src/model/config";
import { initParams, makeRng, namedParams } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { GrpoActor, planMiniBatches, type GrpoRow } from "../src/train/grpo-step";
import { loadOrt } from "../src/model/ort/runtime";

test("GRPO mini-batch update: onnxruntime path equals jax-js (metrics, weights)", async (t) => {
  await initEngine();
  if (!(await loadOrt())) return t.skip("onnxruntime-node not installed");
  const tok = TextTokenizer.fit(["what is the answer to this question", "<think> because </think> <answer> A </answer>"], 300);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 64 });
  const rng = makeRng(3);
  const rows: GrpoRow[] = Array.from({ length: 6 }, (_, i) => ({
    promptIds: Array.from({ length: 5 + i }, () => 10 + Math.floor(rng.uniform() * 200)),
    images: [],
    responseIds: Array.from({ length: 4 + (i % 3) }, () => 10 + Math.floor(rng.uniform() * 200)),
    advantage: rng.normal(),
  }));
  const plan = planMiniBatches(rows, 6, 4, 16, c.maxSeq)[0];
  const loss = { klLossCoef: 0.1, entropyCoeff: 0, klLossType: "low_var_kl" as const, clipRatioLow: 0.2, clipRatioHigh: 0.2, clipRatioC: 3 };
  const run = async (engine: "jax" | "auto") => {
    const prev = process.env.MEDVLTHINKER_ENGINE;
    process.env.MEDVLTHINKER_ENGINE = engine;
    try {
      const actor = new GrpoActor(initParams(c, 4), initParams(c, 5), c, tok, { lr: 1e-2, maxGradNorm: 1 }, loss, 4);
      // Old log-probs off the current policy (so ratios clip) and reference log-probs from the reference.
      await actor.scoreRows(rows, [plan], "recompute");
      for (const r of rows) r.oldLogProb = r.oldLogProb!.map((v, i) => v + (i % 3 === 0 ? 0.5 : -0.3));
      const metrics = await actor.updateMiniBatch(rows, plan, 1e-2);
      const weights: Record<string, Float32Array> = {};
      for (const [k, a] of Object.entries(namedParams(actor.params))) weights[k] = new Float32Array((await a.ref.data()) as Float32Array);
      actor.dispose();
      tree.dispose(actor.params);
      return { metrics, weights };
    } finally {
      if (prev === undefined) delete process.env.MEDVLTHINKER_ENGINE;
      else process.env.MEDVLTHINKER_ENGINE = prev;
    }
  };
  const jax = await run("jax");
  const ort = await run("auto");
  assert.ok(jax.metrics.pg_clipfrac > 0, "some ratios clip");
  assert.ok(jax.metrics.kl_loss > 0, "the KL term is active");
  for (const k of Object.keys(jax.metrics) as (keyof typeof jax.metrics)[]) {
    assert.ok(Math.abs(jax.metrics[k] - ort.metrics[k]) <= 1e-4 + 1e-3 * Math.abs(jax.metrics[k]), `${k}: jax ${jax.metrics[k]} ort ${ort.metrics[k]}`);
  }
  for (const [k, w] of Object.entries(jax.weights)) {
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i] - ort.weights[k][i]));
    assert.ok(worst < 1e-4, `${k}: max |diff| ${worst}`);
  }
  const init = namedParams(initParams(c, 4));
  const moved = Math.max(...Array.from((await init.embed.ref.data()) as Float32Array, (v, i) => Math.abs(v - jax.weights.embed[i])));
  assert.ok(moved > 1e-3, "the update moved the weights");
});

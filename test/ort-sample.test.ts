/**
 * Sampling and scoring on onnxruntime against jax-js: greedy and seeded sampling give the same
 * tokens, log-probs agree, rows of different prompt lengths and an image prompt included, and
 * a long generation's log-probs equal full-forward scoring. Skipped where onnxruntime-node is absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { sizeConfig, imageTokens, patchDim } from "../src/model/config";
import { initParams, makeRng } from "../src/model/params";
import { Sampler } from "../src/model/sampler";
import { Scorer } from "../src/model/score";
import { loadOrt } from "../src/model/ort/runtime";
import { tree } from "../src/model/jax";

const c = sizeConfig("tiny", { vocabSize: 64, imageSize: 16, patchSize: 8 });
const IMG = 63;
const rng = makeRng(5);
const img = Float32Array.from({ length: imageTokens(c) * patchDim(c) }, () => rng.normal());
const prompts = [{ ids: [1, 2, 3, 4, 5, 6, 7] }, { ids: [9, 8, 7] }, { ids: [11] }, { ids: [2, IMG, IMG, IMG, IMG, 4, 5], images: [img] }];
const opts = { maxNewTokens: 12, temperature: 1, topP: 1, seed: 42, stopIds: [60], padId: 0, imageTokenId: IMG, bannedIds: [0, IMG] };

test("onnxruntime sampling gives jax-js's tokens and log-probs (greedy and seeded)", async (t) => {
  await initEngine();
  if (!(await loadOrt())) return t.skip("onnxruntime-node not installed");
  const params = initParams(c, 3);
  const s = new Sampler(c);
  for (const o of [{ ...opts, temperature: 0 }, opts]) {
    const a = await s.generate(params, prompts, { ...o, engine: "ort" });
    const b = await s.generate(params, prompts, { ...o, engine: "jax" });
    assert.deepEqual(a.map((g) => g.ids), b.map((g) => g.ids), `temperature ${o.temperature}`);
    assert.deepEqual(a.map((g) => g.finishReason), b.map((g) => g.finishReason));
    a.forEach((g, r) => g.logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - b[r].logprobs[i]) < 1e-3, `row ${r} token ${i}: ${lp} vs ${b[r].logprobs[i]}`)));
  }
  for (const engine of ["ort", "jax"] as const) assert.deepEqual(await s.generate(params, [], { ...opts, engine }), [], `no prompts (${engine})`);
  s.dispose();
  tree.dispose(params);
});

test("onnxruntime: a generation filling the context keeps full-forward log-probs; scoring equals jax-js's", async (t) => {
  await initEngine();
  if (!(await loadOrt())) return t.skip("onnxruntime-node not installed");
  const params = initParams(c, 6);
  const s = new Sampler(c);
  const n = c.maxSeq - 16;
  const g = await s.generate(params, prompts, { ...opts, maxNewTokens: n, stopIds: [], engine: "ort" });
  for (const x of g) assert.equal(x.ids.length, n);
  const sc = new Scorer(c, { padId: 0, imageTokenId: IMG });
  const items = prompts.map((p, r) => ({ ...p, ids: [...p.ids, ...g[r].ids], promptLength: p.ids.length }));
  const ort = await sc.score(params, items, 8, "ort");
  const jax = await sc.score(params, items, 8, "jax");
  g.forEach((x, r) =>
    x.logprobs.forEach((v, i) => {
      assert.ok(Math.abs(v - ort[r][i]) < 2e-3, `row ${r} token ${i}: sampled ${v}, scored ${ort[r][i]}`);
      assert.ok(Math.abs(jax[r][i] - ort[r][i]) < 1e-3, `row ${r} token ${i}: jax ${jax[r][i]}, ort ${ort[r][i]}`);
    }),
  );
  sc.dispose();
  s.dispose();
  tree.dispose(params);
});

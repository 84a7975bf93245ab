/** Gradients of the embedded model against central finite differences, on a tiny config with an image. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { grad, numpy as np, tree } from "../src/model/jax";
import { sizeConfig, imageTokens, patchDim } from "../src/model/config";
import { initParams, namedParams, paramsFromNamed, makeRng, type Params } from "../src/model/params";
import { buildBatch, lossMaskFrom, type Sequence } from "../src/model/batch";
import { maskedNll } from "../src/model/transformer";

test("gradients match finite differences (text and image tokens)", async () => {
  await initEngine();
  const c = sizeConfig("tiny", { vocabSize: 40, dModel: 16, nHeads: 2, dMlp: 24, maxSeq: 32, imageSize: 16, patchSize: 8 });
  const rng = makeRng(7);
  const IMG = 39;
  const img = Float32Array.from({ length: imageTokens(c) * patchDim(c) }, () => rng.normal());
  const seqs: Sequence[] = [
    { ids: [1, IMG, IMG, IMG, IMG, 5, 9, 3, 7, 2], images: [img] },
    { ids: [4, 8, 15, 16, 23, 30] },
  ];
  const T = 10;
  // Parameters scaled up so the loss is not flat (0.02 init gives tiny gradients).
  const base = initParams(c, 3);
  const named = namedParams(base);
  const host: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, a] of Object.entries(named)) {
    const d = new Float32Array((await a.ref.data()) as Float32Array);
    const scale = k.endsWith("Norm") ? 1 : 5;
    for (let i = 0; i < d.length; i++) d[i] = k.endsWith("Norm") ? 1 + 0.1 * rng.normal() : d[i] * scale;
    host[k] = { shape: a.shape, data: d };
  }
  tree.dispose(base);
  const mk = (h: typeof host): Params => {
    const arrs: Record<string, np.Array> = {};
    for (const [k, t] of Object.entries(h)) arrs[k] = np.array(t.data.slice()).reshape(t.shape);
    return paramsFromNamed(c, arrs);
  };
  const lossOf = (p: Params) => {
    const b = buildBatch(seqs, c, { pad: "right", length: T, imageTokenId: IMG, padId: 0 });
    const m = lossMaskFrom(seqs, T, [1, 1]);
    return maskedNll(p, b.inputs, b.targets, m, c);
  };
  const g = grad(lossOf)(mk(host));
  const gNamed = namedParams(g);
  const checks: [string, number][] = [
    ["embed", 5 * 16 + 3],
    ["embed", 39 * 16 + 1], // the <image> row: only the tied output head reaches it
    ["patchW", 7],
    ["patchPos", 2],
    ["layers.0.wqkv", 11],
    ["layers.0.wqkv", 16 * 48 - 5],
    ["layers.1.wo", 30],
    ["layers.1.wGateUp", 100],
    ["layers.0.wDown", 50],
    ["layers.1.attnNorm", 3],
    ["finalNorm", 9],
  ];
  const eps = 1e-2;
  for (const [name, idx] of checks) {
    const analytic = ((await gNamed[name].ref.data()) as Float32Array)[idx];
    const f = async (delta: number) => {
      const h2 = { ...host, [name]: { shape: host[name].shape, data: host[name].data.slice() } };
      h2[name].data[idx] += delta;
      return ((await lossOf(mk(h2)).data()) as Float32Array)[0];
    };
    const numeric = ((await f(eps)) - (await f(-eps))) / (2 * eps);
    const tol = 2e-3 + 0.05 * Math.abs(numeric);
    assert.ok(Math.abs(analytic - numeric) <= tol, `${name}[${idx}]: analytic ${analytic} vs numeric ${numeric}`);
  }
  tree.dispose(g);
});

test("the training gradient (jit, embeddings gathered outside, host scatter-add) equals eager grad", async () => {
  await initEngine();
  const { makeValueAndGrad } = await import("../src/model/grad");
  const c = sizeConfig("tiny", { vocabSize: 40, dModel: 16, nHeads: 2, dMlp: 24, maxSeq: 32, imageSize: 16, patchSize: 8 });
  const rng = makeRng(3);
  const IMG = 39;
  const img = Float32Array.from({ length: imageTokens(c) * patchDim(c) }, () => rng.normal());
  // Token 5 repeats, so its embedding row collects several gradient rows.
  const seqs: Sequence[] = [{ ids: [1, IMG, IMG, IMG, IMG, 5, 9, 5, 7, 5], images: [img] }, { ids: [5, 8, 15, 16, 23, 30] }];
  const T = 10;
  const params = initParams(c, 4);
  const batch = () => {
    const b = buildBatch(seqs, c, { pad: "right", length: T, imageTokenId: IMG, padId: 0 });
    return [b.inputs, b.targets, lossMaskFrom(seqs, T, [1, 1])] as const;
  };
  const [i1, t1, m1] = batch();
  const eager = grad((p: Params) => maskedNll(p, i1, t1, m1, c))(tree.ref(params));
  const vg = makeValueAndGrad((p: Params, inp, tg: np.Array, m: np.Array) => maskedNll(p, inp, tg, m, c));
  const [i2, t2, m2] = batch();
  const [loss, g] = await vg(params, i2, t2, m2);
  assert.ok(Number.isFinite((await loss.data())[0]));
  const a = namedParams(eager);
  const b = namedParams(g);
  for (const k of Object.keys(a)) {
    const x = (await a[k].ref.data()) as Float32Array;
    const y = (await b[k].ref.data()) as Float32Array;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
      maxAbs = Math.max(maxAbs, Math.abs(x[i]));
    }
    assert.ok(maxDiff <= 1e-5 + 1e-3 * maxAbs, `${k}: max difference ${maxDiff} (max |g| ${maxAbs})`);
  }
  vg.dispose();
  tree.dispose([eager, g, params]);
});

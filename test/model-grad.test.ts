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

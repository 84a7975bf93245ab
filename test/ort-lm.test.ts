/**
 * The onnxruntime graphs (src/model/ort) against the jax-js model they restate: same log-probs,
 * same gradients of a weighted log-prob sum, same prefill keys/values, on a tiny config with an
 * image, padding and scaled-up weights (so nothing is flat). Skipped where onnxruntime-node is absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { jit, numpy as np, tree } from "../src/model/jax";
import { sizeConfig, imageTokens, patchDim } from "../src/model/config";
import { initParams, namedParams, paramsFromNamed, makeRng, type Params } from "../src/model/params";
import { buildBatch, buildHostBatch, type Sequence } from "../src/model/batch";
import { forwardHidden, tokenLogprobs, type ModelInputs } from "../src/model/transformer";
import { makeValueAndGrad } from "../src/model/grad";
import { loadOrt } from "../src/model/ort/runtime";
import { OrtLm } from "../src/model/ort/lm";

const c = sizeConfig("tiny", { vocabSize: 40, dModel: 16, nHeads: 2, dMlp: 24, maxSeq: 32, imageSize: 16, patchSize: 8 });
const IMG = 39;

async function setup() {
  await initEngine();
  const ort = await loadOrt();
  const rng = makeRng(11);
  const base = initParams(c, 5);
  const arrs: Record<string, np.Array> = {};
  for (const [k, a] of Object.entries(namedParams(base))) {
    const d = new Float32Array((await a.ref.data()) as Float32Array);
    for (let i = 0; i < d.length; i++) d[i] = k.endsWith("Norm") ? 1 + 0.2 * rng.normal() : k === "patchB" ? 0.3 * rng.normal() : d[i] * 5;
    arrs[k] = np.array(d).reshape(a.shape);
  }
  tree.dispose(base);
  const params = paramsFromNamed(c, arrs);
  const img = Float32Array.from({ length: imageTokens(c) * patchDim(c) }, () => rng.normal());
  const seqs: Sequence[] = [
    { ids: [1, IMG, IMG, IMG, IMG, 5, 9, 3, 7, 2, 11], images: [img] },
    { ids: [4, 8, 15, 16, 23, 30] },
    { ids: [6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20] },
  ];
  return { ort, params, seqs, rng };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0;
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(worst <= tol * scale, `${what}: max |diff| ${worst} > ${tol} x max |ref| ${scale}`);
};

test("onnxruntime log-probs and gradients equal jax-js's (text, image, padding)", async (t) => {
  const { ort, params, seqs, rng } = await setup();
  if (!ort) return t.skip("onnxruntime-node not installed");
  const lm = new OrtLm(ort, c);
  const T = 12;
  const batch = () => buildBatch(seqs, c, { pad: "right", length: T, imageTokenId: IMG, padId: 0 });
  const weights = Float32Array.from({ length: seqs.length * T }, () => rng.normal());

  // jax-js reference: logp and d/dparams of sum(w * logp).
  const lpFn = jit((p: Params, inp: ModelInputs, tg: np.Array) => tokenLogprobs(p, inp, tg, c));
  let b = batch();
  const refLp = new Float32Array((await lpFn(tree.ref(params), b.inputs, b.targets).data()) as Float32Array);
  const vg = makeValueAndGrad((p: Params, inp: ModelInputs, tg: np.Array, w: np.Array) => tokenLogprobs(p, inp, tg, c).mul(w).sum());
  b = batch();
  const [val, g] = await vg(params, b.inputs, b.targets, np.array(weights).reshape([seqs.length, T]));
  const refVal = (await val.data())[0];

  const pf = await lm.paramFeeds(params);
  const x = buildHostBatch(seqs, c, { pad: "right", length: T, imageTokenId: IMG, padId: 0 });
  const tg = x.targets;
  const lp = await lm.logprobs(pf, x, tg);
  close(lp, refLp, 1e-4, "logp");
  const r = await lm.vjp(pf, x, tg, weights);
  close(r.logp, refLp, 1e-4, "vjp logp");
  assert.ok(Math.abs(r.logp.reduce((s, v, i) => s + v * weights[i], 0) - refVal) < 1e-3 * Math.abs(refVal) + 1e-4);
  const gNamed = namedParams(g);
  for (const [name, a] of Object.entries(gNamed)) {
    const ref = (await a.ref.data()) as Float32Array;
    close(r.grads[name].data, ref, 2e-4, `grad ${name}`);
    assert.ok(ref.some((v) => v !== 0), `grad ${name} is not all zero`);
  }
  tree.dispose(g);
  lpFn.dispose();
  vg.dispose();
  await lm.dispose();
  tree.dispose(params);
});

test("onnxruntime prefill keys/values and last logits equal jax-js's (left padding)", async (t) => {
  const { ort, params, seqs } = await setup();
  if (!ort) return t.skip("onnxruntime-node not installed");
  const lm = new OrtLm(ort, c);
  const P = 16;
  const b = () => buildBatch(seqs, c, { pad: "left", length: P, imageTokenId: IMG, padId: 0 });
  const fn = jit((p: Params, inp: ModelInputs) => {
    const { h, ks, vs } = forwardHidden(p, inp, c, true);
    const logits = np.matmul(h.slice([], P - 1), p.embed.ref.transpose());
    tree.dispose(p);
    return { logits, ks, vs };
  });
  const b1 = b();
  b1.targets.dispose();
  const ref = fn(tree.ref(params), b1.inputs) as { logits: np.Array; ks: np.Array[]; vs: np.Array[] };
  const r = await lm.prefill(await lm.paramFeeds(params), buildHostBatch(seqs, c, { pad: "left", length: P, imageTokenId: IMG, padId: 0 }));
  close(r.logits, (await ref.logits.data()) as Float32Array, 1e-4, "logits");
  for (let l = 0; l < c.nLayers; l++) {
    close(r.k[l], (await ref.ks[l].data()) as Float32Array, 1e-4, `k.${l}`);
    close(r.v[l], (await ref.vs[l].data()) as Float32Array, 1e-4, `v.${l}`);
  }
  fn.dispose();
  await lm.dispose();
  tree.dispose(params);
});

test("onnxruntime gradients are bit-for-bit reproducible (repeated tokens, 2+ threads)", async (t) => {
  await initEngine();
  const ort = await loadOrt();
  if (!ort) return t.skip("onnxruntime-node not installed");
  // Workshop-sized: a parallel scatter-add of the token rows (ScatterND, reduction "add") summed
  // repeated tokens in a thread-dependent order here; the embedding gradient then differed.
  const wc = sizeConfig("workshop");
  const lm = new OrtLm(ort, wc);
  const params = initParams(wc, 0);
  const rng = makeRng(1);
  const seqs = Array.from({ length: 8 }, (_, i) => ({ ids: Array.from({ length: 150 + i * 9 }, () => Math.floor(rng.uniform() * 50)) }));
  const w = Float32Array.from({ length: 8 * 224 }, () => rng.normal());
  const pf = await lm.paramFeeds(params);
  const once = async () => {
    const x = buildHostBatch(seqs, wc, { pad: "right", length: 224, padId: 0, imageTokenId: 2043 });
    return lm.vjp(pf, x, x.targets, w);
  };
  const first = await once();
  for (let k = 0; k < 3; k++) {
    const again = await once();
    for (const [name, g] of Object.entries(first.grads)) assert.ok(g.data.every((v, i) => v === again.grads[name].data[i]), `grad ${name} differs between identical runs`);
  }
  await lm.dispose();
  tree.dispose(params);
});

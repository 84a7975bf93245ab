/** AdamW and the cosine schedule against values worked out by hand. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { numpy as np } from "../src/model/jax";
import { adamw, initAdamW } from "../src/train/optim";
import { cosineWithWarmup, warmupSteps } from "../src/train/schedule";

test("cosine with warmup: linear rise, half cosine, floor", () => {
  const s = { peak: 1, warmupSteps: 10, totalSteps: 110 };
  assert.equal(cosineWithWarmup(0, s), 0);
  assert.equal(cosineWithWarmup(5, s), 0.5);
  assert.equal(cosineWithWarmup(10, s), 1);
  assert.ok(Math.abs(cosineWithWarmup(60, s) - 0.5) < 1e-12);
  assert.ok(Math.abs(cosineWithWarmup(110, s)) < 1e-12);
  assert.ok(Math.abs(cosineWithWarmup(110, { ...s, minRatio: 0.1 }) - 0.1) < 1e-12);
  assert.equal(warmupSteps(0.05, 100), 5);
});

test("AdamW: two steps match the torch.optim.AdamW formulas; clipping by global norm", async () => {
  await initEngine();
  const cfg = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5, maxGradNorm: 0 };
  const opt = adamw(cfg);
  let params = { w: np.array([1, -2]) };
  let st = initAdamW(params);
  // Reference in plain JS.
  let p = [1, -2];
  let m = [0, 0];
  let v = [0, 0];
  const grads = [[0.5, -1], [2, 0.25]];
  for (let t = 1; t <= 2; t++) {
    const g = grads[t - 1];
    const r = opt.step(params, { w: np.array(g) }, st);
    params = r.params;
    st = r.state;
    r.gradNorm.dispose();
    m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]);
    v = v.map((vi, i) => 0.99 * vi + 0.01 * g[i] ** 2);
    p = p.map((pi, i) => pi - 0.1 * (m[i] / (1 - 0.9 ** t) / (Math.sqrt(v[i] / (1 - 0.99 ** t)) + 1e-8) + 0.5 * pi));
  }
  const got = (await params.w.ref.data()) as Float32Array;
  p.forEach((x, i) => assert.ok(Math.abs(got[i] - x) < 1e-5, `param ${i}: ${got[i]} vs ${x}`));
  assert.equal(st.step, 2);
  opt.dispose();

  // Clipping: grad [3, 4] (norm 5) clipped to norm 1 -> first moment 0.1 * [0.6, 0.8].
  const o2 = adamw({ ...cfg, weightDecay: 0, maxGradNorm: 1 });
  const p2 = { w: np.array([0, 0]) };
  const r2 = o2.step(p2, { w: np.array([3, 4]) }, initAdamW(p2));
  assert.ok(Math.abs((await r2.gradNorm.data())[0] - 5) < 1e-5);
  const m2 = (await r2.state.m.w.ref.data()) as Float32Array;
  assert.ok(Math.abs(m2[0] - 0.06) < 1e-4 && Math.abs(m2[1] - 0.08) < 1e-4, `m = ${m2}`);
  o2.dispose();
});

test("AdamW state round-trips through named arrays (the optimizer checkpoint layout)", async () => {
  await initEngine();
  const { stateToNamed, stateFromNamed } = await import("../src/train/optim");
  const { sizeConfig } = await import("../src/model/config");
  const { initParams, namedParams, paramsFromNamed } = await import("../src/model/params");
  const { toTensors } = await import("../src/model/checkpoint");
  const c = sizeConfig("tiny", { vocabSize: 40 });
  const p = initParams(c, 1);
  const st = { ...initAdamW(p), step: 7 };
  const named = stateToNamed(st as never, (t) => namedParams(t as never));
  const host = await toTensors(named);
  assert.equal(host.step.data[0], 7);
  const back = stateFromNamed(
    Object.fromEntries(Object.entries(host).map(([k, t]) => [k, np.array(t.data).reshape(t.shape)])),
    (leaves) => paramsFromNamed(c, leaves),
  );
  assert.equal(back.step, 7);
  assert.deepEqual(back.m.embed.shape, [40, c.dModel]);
});

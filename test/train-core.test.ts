// Tests for src/train/core.ts: every function against values worked out by hand for small
// inputs, gradients (hand-worked and finite differences), and jax-js memory hygiene.
import { afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { initEngine } from "../src/model/engine";
import { grad, numpy as np, valueAndGrad } from "../src/model/jax";
import type { Array as JaxArray } from "../src/model/jax";
import {
  aggLoss,
  broadcastAdvantages,
  computeActorLoss,
  computeEntropy,
  computeEntropyLoss,
  computeGrpoOutcomeAdvantage,
  computePolicyLoss,
  klPenalty,
  maskedMean,
  metricsToNumbers,
  type LossAggMode,
} from "../src/train/core";

const close = (actual: number, expected: number, tol = 1e-5, what = "") =>
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what} ${actual} != ${expected}`);
const closeAll = (actual: number[], expected: number[], tol = 1e-5) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => close(a, expected[i], tol, `[${i}]`));
};
const arr = (rows: number[][]): JaxArray => np.array(rows);
const flat = (a: JaxArray): number[] => Array.from(a.dataSync() as Float32Array);

// Live-buffer counter (realised wasm buffers; jax-js keeps tiny constants such as a
// one-element array as expressions, which hold no buffer): jax-js 0.1.25 exposes no count of live arrays, so wrap the wasm
// backend's malloc/incRef/decRef (reached through its bundled `getBackend`) for this test.
let liveBuffers = (): number => NaN;
async function installBufferCounter(): Promise<void> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("@jax-js/jax"));
  const chunk = readdirSync(dist).find((f) => /^backend-.*\.js$/.test(f));
  if (!chunk) return;
  const mod = (await import(pathToFileURL(join(dist, chunk)).href)) as Record<string, unknown>;
  const getBackend = Object.values(mod).find((f) => typeof f === "function" && f.name === "getBackend") as
    | ((d: string) => Record<string, (...a: number[]) => number>)
    | undefined;
  if (!getBackend) return;
  const backend = getBackend("wasm");
  const refs = new Map<number, number>();
  const { malloc, incRef, decRef } = backend;
  backend.malloc = (...a) => {
    const slot = malloc.apply(backend, a);
    refs.set(slot, 1);
    return slot;
  };
  backend.incRef = (slot) => {
    incRef.call(backend, slot);
    refs.set(slot, (refs.get(slot) ?? 0) + 1);
    return 0;
  };
  backend.decRef = (slot) => {
    decRef.call(backend, slot);
    const r = (refs.get(slot) ?? 0) - 1;
    if (r <= 0) refs.delete(slot);
    else refs.set(slot, r);
    return 0;
  };
  liveBuffers = () => refs.size;
}

let baseline = 0;
before(async () => {
  await initEngine();
  await installBufferCounter();
  baseline = liveBuffers();
  assert.ok(!Number.isNaN(baseline), "the live-buffer counter could not hook this jax-js build");
});
// Every test must hand back all it allocated: core.ts consumes its inputs, tests consume outputs.
afterEach((t) => assert.equal(liveBuffers(), baseline, `live wasm buffers left after "${t.name}"`));

describe("computeGrpoOutcomeAdvantage (verl compute_grpo_outcome_advantage)", () => {
  test("group-normalises with the unbiased std and epsilon 1e-6", () => {
    // group a: [1, 0, 1, 0], mean 0.5, unbiased std sqrt(1/3)
    const adv = computeGrpoOutcomeAdvantage([1, 0, 1, 0], ["a", "a", "a", "a"]);
    const s = Math.sqrt(1 / 3) + 1e-6;
    closeAll(adv, [0.5 / s, -0.5 / s, 0.5 / s, -0.5 / s], 1e-12);
    close(adv[0], 0.8660239, 1e-6); // by hand: 0.5 / 0.5773513
  });

  test("groups are found by id, not by position", () => {
    // group 7: [1, 0, 0] mean 1/3, std sqrt(1/3); group 9: [0, 0] -> std 0 -> all 0
    const adv = computeGrpoOutcomeAdvantage([1, 0, 0, 0, 0], [7, 9, 7, 9, 7]);
    const s = Math.sqrt(1 / 3) + 1e-6;
    closeAll(adv, [(2 / 3) / s, 0, (-1 / 3) / s, 0, (-1 / 3) / s], 1e-12);
  });

  test("a group of one gets mean 0, std 1 (as verl)", () => {
    const adv = computeGrpoOutcomeAdvantage([1, 0.5, 1, 0], ["solo", "other", "g", "g"]);
    close(adv[0], 1 / (1 + 1e-6), 1e-12);
    close(adv[1], 0.5 / (1 + 1e-6), 1e-12);
    // g: [1, 0] mean 0.5, std sqrt(0.5)
    close(adv[2], 0.5 / (Math.SQRT1_2 + 1e-6), 1e-12);
  });

  test("identical rewards give zero advantage; Dr.GRPO drops the std", () => {
    assert.deepEqual(computeGrpoOutcomeAdvantage([1, 1, 1], [0, 0, 0]), [0, 0, 0]);
    const dr = computeGrpoOutcomeAdvantage([1, 0, 0, 1], [0, 0, 0, 1], { normAdvByStdInGrpo: false });
    closeAll(dr, [2 / 3, -1 / 3, -1 / 3, 1], 1e-12); // the group of one keeps r - 0
  });

  test("rejects mismatched lengths and non-finite scores", () => {
    assert.throws(() => computeGrpoOutcomeAdvantage([1, 0], [0]), /scores has 2 entries but index has 1/);
    assert.throws(() => computeGrpoOutcomeAdvantage([1, NaN], [0, 0]), /scores\[1\] is NaN/);
  });

  test("broadcastAdvantages multiplies by the response mask, row-major", () => {
    const out = broadcastAdvantages([2, -1], [[1, 1, 0], [1, 0, 0]]);
    assert.deepEqual(Array.from(out, (v) => v + 0), [2, 2, 0, -1, 0, 0]); // + 0 folds -0 into 0
    assert.throws(() => broadcastAdvantages([1], [[1], [1]]), /1 advantages but response_mask has 2 rows/);
  });
});

describe("aggLoss (verl agg_loss) and maskedMean", () => {
  // loss [[1,2,3],[4,5,6]], mask [[1,1,0],[1,0,0]]: masked values 1,2 | 4
  const cases: [LossAggMode, number][] = [
    ["token-mean", 7 / 3],
    ["seq-mean-token-sum", (3 + 4) / 2],
    ["seq-mean-token-mean", (1.5 + 4) / 2],
    ["seq-mean-token-sum-norm", 7 / 3], // divisor T = 3
  ];
  for (const [mode, expected] of cases) {
    test(`${mode} = ${expected.toFixed(4)}`, () => {
      const loss = aggLoss(arr([[1, 2, 3], [4, 5, 6]]), arr([[1, 1, 0], [1, 0, 0]]), mode);
      close(loss.item(), expected);
    });
  }

  test("seq-mean-token-sum-norm divides by lossScaleFactor when given", () => {
    const loss = aggLoss(arr([[1, 2, 3], [4, 5, 6]]), arr([[1, 1, 0], [1, 0, 0]]), "seq-mean-token-sum-norm", { lossScaleFactor: 7 });
    close(loss.item(), 1);
  });

  test("an all-zero mask gives 0 for token-mean (verl's + 1e-8)", () => {
    close(maskedMean(arr([[5, 6]]), arr([[0, 0]])).item(), 0);
  });

  test("an unknown mode throws and frees its inputs", () => {
    const before = liveBuffers();
    assert.throws(() => aggLoss(arr([[1, 2]]), arr([[1, 1]]), "seq-sum" as LossAggMode), /invalid loss_agg_mode "seq-sum"/);
    if (!Number.isNaN(before)) assert.equal(liveBuffers(), before);
  });
});

// Hand-worked batch, clip 0.2/0.2, dual clip c = 3 (recipe defaults).
// row 0: A = +1, mask [1,1,0], ratios [1.5, 1.0, e^5 (masked)]
//   t0: pg1 -1.5, pg2 -1.2 -> -1.2, clipped        t1: -1, not clipped
// row 1: A = -2, mask [1,1,1], ratios [0.5, 4, 1.1]
//   t0: pg1 1.0, pg2 1.6 -> 1.6, clipped; pg3 6 not hit
//   t1: pg1 8, pg2 2.4 -> 8, not clipped; pg3 6 hit -> 6 (dual clip)
//   t2: pg1 = pg2 = 2.2
// token-mean = (-1.2 - 1 + 1.6 + 6 + 2.2) / 5 = 1.52; clipfrac 2/5; clipfrac_lower 1/5
// ppo_kl = -(ln 1.5 + 0 + ln 0.5 + ln 4 + ln 1.1) / 5
const OLD = [[-1, -1, -1], [-1, -1, -1]];
const LOGP = [
  [-1 + Math.log(1.5), -1, -1 + 5],
  [-1 + Math.log(0.5), -1 + Math.log(4), -1 + Math.log(1.1)],
];
const ADV = [[1, 1, 1], [-2, -2, -2]];
const MASK = [[1, 1, 0], [1, 1, 1]];
const PPO_KL = -(Math.log(1.5) + Math.log(0.5) + Math.log(4) + Math.log(1.1)) / 5;

function handInputs(logp: JaxArray = arr(LOGP)) {
  return { oldLogProb: arr(OLD), logProb: logp, advantages: arr(ADV), responseMask: arr(MASK) };
}

describe("computePolicyLoss (verl compute_policy_loss_vanilla)", () => {
  test("loss and metrics match the hand-worked batch", () => {
    const out = metricsToNumbers({ ...computePolicyLoss(handInputs()) });
    close(out.pgLoss!, 1.52);
    close(out.pgClipfrac!, 0.4);
    close(out.pgClipfracLower!, 0.2);
    close(out.ppoKl!, PPO_KL);
  });

  test("advantages of shape [B, 1] broadcast like [B, T]", () => {
    const out = computePolicyLoss({ oldLogProb: arr(OLD), logProb: arr(LOGP), advantages: arr([[1], [-2]]), responseMask: arr(MASK) });
    close(out.pgLoss.item(), 1.52);
    metricsToNumbers({ a: out.pgClipfrac, b: out.pgClipfracLower, c: out.ppoKl });
  });

  test("other aggregation modes over the same per-token losses", () => {
    // per-token losses: row 0 [-1.2, -1], row 1 [1.6, 6, 2.2]
    const expect: [LossAggMode, number][] = [
      ["seq-mean-token-sum", (-2.2 + 9.8) / 2],
      ["seq-mean-token-mean", (-1.1 + 9.8 / 3) / 2],
      ["seq-mean-token-sum-norm", 7.6 / 3],
    ];
    for (const [lossAggMode, value] of expect) {
      const out = computePolicyLoss(handInputs(), { lossAggMode });
      close(out.pgLoss.item(), value, 1e-5, lossAggMode);
      metricsToNumbers({ a: out.pgClipfrac, b: out.pgClipfracLower, c: out.ppoKl });
    }
  });

  test("separate low and high clip ratios", () => {
    // A=+1, ratio 1.25 under high 0.3: not clipped, loss -1.25
    // A=-1, ratio 0.85 under low 0.1: pg1 0.85, pg2 0.9 -> 0.9, clipped
    const out = computePolicyLoss(
      { oldLogProb: arr([[0, 0]]), logProb: arr([[Math.log(1.25), Math.log(0.85)]]), advantages: arr([[1, -1]]), responseMask: arr([[1, 1]]) },
      { clipRatioLow: 0.1, clipRatioHigh: 0.3 },
    );
    const m = metricsToNumbers({ ...out });
    close(m.pgLoss!, (-1.25 + 0.9) / 2);
    close(m.pgClipfrac!, 0.5);
    close(m.pgClipfracLower!, 0);
  });

  test("log-ratio is clamped to [-20, 20] before exp (verl), dual clip caps the loss", () => {
    // A = -1, logp - old = 30 -> ratio e^20, pg1 huge, dual clip -> c = 3; ppo_kl = -20
    const out = metricsToNumbers({ ...computePolicyLoss({ oldLogProb: arr([[0]]), logProb: arr([[30]]), advantages: arr([[-1]]), responseMask: arr([[1]]) }) });
    close(out.pgLoss!, 3);
    close(out.ppoKl!, -20);
    close(out.pgClipfracLower!, 1);
  });

  test("consumes its inputs (move semantics); .ref keeps them alive", () => {
    const kept = arr(LOGP);
    const inputs = handInputs(kept.ref);
    const out = computePolicyLoss(inputs);
    for (const a of Object.values(inputs)) assert.equal(a === kept ? kept.refCount : a.refCount, a === kept ? 1 : 0);
    metricsToNumbers({ ...out });
    assert.equal(kept.refCount, 1);
    kept.dispose();
  });

  test("clip_ratio_c <= 1 is rejected", () => {
    assert.throws(() => computePolicyLoss(handInputs(), { clipRatioC: 1 }), /clip_ratio_c must be > 1/);
  });

  test("grad of the token-mean loss wrt logProb matches the hand-worked value", () => {
    // only unclipped tokens carry gradient: d(-A*ratio)/dlogp / N = -A*ratio / 5
    // row 0 t1: -1*1/5 = -0.2; row 1 t2: 2*1.1/5 = 0.44; clipped, dual-clipped and masked: 0
    const g = grad((logp: JaxArray) => {
      const out = computePolicyLoss(handInputs(logp));
      out.pgClipfrac.dispose();
      out.pgClipfracLower.dispose();
      out.ppoKl.dispose();
      return out.pgLoss;
    })(arr(LOGP));
    closeAll(flat(g), [0, -0.2, 0, 0, 0, 0.44], 1e-5);
  });

  test("grad matches central finite differences on a smooth point", () => {
    const old = [[-1.0, -0.7, -2.0], [-0.3, -1.5, -0.9]];
    const logp = [[-0.95, -0.75, -1.9], [-0.31, -1.6, -0.8]]; // ratios well inside or outside the clip
    const adv = [[0.7, 0.7, 0.7], [-1.3, -1.3, -1.3]];
    const mask = [[1, 1, 1], [1, 1, 0]];
    const lossAt = (lp: JaxArray): JaxArray => {
      const out = computePolicyLoss({ oldLogProb: arr(old), logProb: lp, advantages: arr(adv), responseMask: arr(mask) });
      out.pgClipfrac.dispose();
      out.pgClipfracLower.dispose();
      out.ppoKl.dispose();
      return out.pgLoss;
    };
    const g = flat(grad(lossAt)(arr(logp)));
    const h = 1e-3;
    logp.flat().forEach((_, k) => {
      const plus = logp.map((r) => [...r]);
      const minus = logp.map((r) => [...r]);
      plus[Math.floor(k / 3)][k % 3] += h;
      minus[Math.floor(k / 3)][k % 3] -= h;
      const fd = (lossAt(arr(plus)).item() - lossAt(arr(minus)).item()) / (2 * h);
      assert.ok(Math.abs(fd - g[k]) < 2e-3, `d/dlogp[${k}]: grad ${g[k]} vs finite difference ${fd}`);
    });
  });
});

describe("klPenalty (verl kl_penalty)", () => {
  // d = logp - ref: [0.5, -1]
  const LP = [[-1, -2]];
  const REF = [[-1.5, -1]];
  const expected: [Parameters<typeof klPenalty>[2], number[]][] = [
    ["kl", [0.5, -1]],
    ["k1", [0.5, -1]],
    ["abs", [0.5, 1]],
    ["mse", [0.125, 0.5]],
    ["k2", [0.125, 0.5]],
    // k3: exp(ref - logp) - (ref - logp) - 1 = e^-0.5 + 0.5 - 1, e^1 - 1 - 1
    ["low_var_kl", [Math.exp(-0.5) - 0.5, Math.E - 2]],
    ["k3", [Math.exp(-0.5) - 0.5, Math.E - 2]],
  ];
  for (const [name, values] of expected) {
    test(`${name} = [${values.map((v) => v.toFixed(5)).join(", ")}]`, () => {
      closeAll(flat(klPenalty(arr(LP), arr(REF), name)), values);
    });
  }

  test("low_var_kl is clamped to [-10, 10]", () => {
    // ref - logp = 5: e^5 - 6 = 142.4 -> 10; ref - logp = 30 and -30 -> 10 (e^20 - 21, 19)
    closeAll(flat(klPenalty(arr([[0, 0, 0]]), arr([[5, 30, -30]]), "low_var_kl")), [10, 10, 10]);
  });

  test("grad of k3 wrt logp is 1 - exp(ref - logp)", () => {
    const g = grad((lp: JaxArray) => np.sum(klPenalty(lp, arr(REF), "k3")))(arr(LP));
    closeAll(flat(g), [1 - Math.exp(-0.5), 1 - Math.E], 1e-5);
  });

  test("unknown estimator throws", () => {
    assert.throws(() => klPenalty(arr([[0]]), arr([[0]]), "full" as "kl"), /unknown kl_penalty "full"/);
  });
});

describe("computeEntropy (verl entropy_from_logits) and computeEntropyLoss", () => {
  test("entropy of known distributions", () => {
    // [0, ln 3] -> p = [1/4, 3/4], H = -(1/4 ln 1/4 + 3/4 ln 3/4); two equal logits -> ln 2;
    // four equal logits -> ln 4 (logits of shape [B, T, V] = [2, 1, V])
    const two = np.array([[[0, Math.log(3)]], [[2, 2]]]);
    closeAll(flat(computeEntropy(two)), [-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), Math.log(2)], 1e-5);
    closeAll(flat(computeEntropy(np.array([[[1, 1, 1, 1]]]))), [Math.log(4)], 1e-5);
  });

  test("entropy gradient matches finite differences", () => {
    const logits = [0.3, -1.2, 0.8];
    const g = flat(grad((z: JaxArray) => np.sum(computeEntropy(z)))(np.array([[logits]])));
    const h = 1e-3;
    const H = (v: number[]) => computeEntropy(np.array([[v]])).item();
    logits.forEach((_, k) => {
      const p = [...logits];
      const m = [...logits];
      p[k] += h;
      m[k] -= h;
      close(g[k], (H(p) - H(m)) / (2 * h), 5e-3, `dH/dz[${k}]`);
    });
  });

  test("entropy loss aggregates with the mask", () => {
    const logits = np.array([[[0, Math.log(3)], [2, 2]]]);
    const e = computeEntropyLoss(logits, arr([[0, 1]]));
    close(e.item(), Math.log(2));
  });
});

describe("computeActorLoss (verl dp_actor update_policy, one micro-batch)", () => {
  test("combines pg loss, entropy bonus and KL term, scaled per micro-batch", () => {
    const ref = [[-1.2, -0.9, -1], [-1.5, -0.2, -1.3]];
    const ent = [[0.5, 0.7, 0.1], [1.0, 0.2, 0.3]];
    const out = computeActorLoss(
      { ...handInputs(), refLogProb: arr(ref), entropy: arr(ent) },
      { klLossType: "low_var_kl", klLossCoef: 0.01, entropyCoeff: 0.1, microBatchScale: 0.5 },
    );
    const m = metricsToNumbers({ ...out });
    // entropy token-mean over mask: (0.5 + 0.7 + 1.0 + 0.2 + 0.3) / 5
    const entMean = 2.7 / 5;
    let klSum = 0;
    MASK.forEach((row, b) =>
      row.forEach((on, t) => {
        if (!on) return;
        const kl = ref[b][t] - LOGP[b][t];
        klSum += Math.min(10, Math.exp(kl) - kl - 1);
      }),
    );
    const klMean = klSum / 5;
    close(m.pgLoss!, 1.52);
    close(m.entropyLoss!, entMean);
    close(m.klLoss!, klMean);
    close(m.loss!, (1.52 - 0.1 * entMean + 0.01 * klMean) * 0.5);
    close(m.pgClipfrac!, 0.4);
  });

  test("without KL or entropy the loss is the pg loss; missing inputs throw", () => {
    const out = metricsToNumbers({ ...computeActorLoss(handInputs()) });
    close(out.loss!, 1.52);
    assert.equal(out.klLoss, null);
    assert.equal(out.entropyLoss, null);
    assert.throws(() => computeActorLoss(handInputs(), { klLossCoef: 0.01 }), /missing refLogProb/);
    assert.throws(() => computeActorLoss({ ...handInputs(), refLogProb: arr(OLD) }, { klLossCoef: 0.01, clipRatioC: 0.5 }), /clip_ratio_c must be > 1/);
  });

  test("valueAndGrad with hasAux through the actor loss; no leaked buffers over a loop", () => {
    const ref = [[-1.2, -0.9, -1], [-1.5, -0.2, -1.3]];
    type Aux = { pgLoss: JaxArray; pgClipfrac: JaxArray; ppoKl: JaxArray; pgClipfracLower: JaxArray; klLoss: JaxArray };
    const lossFn = (lp: JaxArray): [JaxArray, Aux] => {
      const { loss, klLoss, entropyLoss, ...metrics } = computeActorLoss(
        { ...handInputs(lp), refLogProb: arr(ref) },
        { klLossCoef: 0.01, klLossType: "low_var_kl" },
      );
      assert.equal(entropyLoss, null);
      return [loss, { ...metrics, klLoss: klLoss! }];
    };
    const step = () => {
      const [[value, aux], g] = valueAndGrad(lossFn, { hasAux: true })(arr(LOGP));
      const metrics = metricsToNumbers(aux);
      return { value: value.item(), grad: flat(g), metrics };
    };
    const first = step();
    // KL grad on unmasked tokens: 0.01 * (1 - exp(ref - logp)) / 5, added to the pg grad
    const kgrad = (b: number, t: number) => (0.01 * (1 - Math.exp(ref[b][t] - LOGP[b][t]))) / 5;
    closeAll(first.grad, [kgrad(0, 0), -0.2 + kgrad(0, 1), 0, kgrad(1, 0), kgrad(1, 1), 0.44 + kgrad(1, 2)], 1e-4);
    close(first.metrics.pgLoss!, 1.52);
    const start = liveBuffers();
    for (let i = 0; i < 30; i++) step();
    const end = liveBuffers();
    assert.equal(end, start, `live wasm buffers grew from ${start} to ${end} over 30 steps`);
  });
});

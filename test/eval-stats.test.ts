import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { bootstrapMeanCI, mcnemarExact, mulberry32, quantileSorted, sampleStd, wilson } from "../src/eval/stats";

const close = (a: number, b: number, eps = 1e-4) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test("Wilson interval matches worked values", () => {
  // statsmodels proportion_confint(81, 263, method="wilson") = (0.2553, 0.3662)
  const w = wilson(81, 263);
  close(w.lo, 0.25527, 1e-4);
  close(w.hi, 0.36619, 1e-4);
  const z = wilson(0, 10);
  assert.equal(z.lo, 0);
  close(z.hi, 0.27753, 1e-4);
  assert.ok(Number.isNaN(wilson(0, 0).lo));
});

test("exact McNemar: hand-computed binomial tails", () => {
  assert.equal(mcnemarExact(0, 0), 1);
  // b=0, c=5: 2 * 0.5^5 = 0.0625
  close(mcnemarExact(0, 5), 0.0625, 1e-12);
  close(mcnemarExact(5, 0), 0.0625, 1e-12);
  // b=2, c=8: 2 * (1 + 10 + 45) / 1024 = 0.109375
  close(mcnemarExact(2, 8), 0.109375, 1e-12);
  assert.equal(mcnemarExact(4, 4), 1);
  // large n stays finite and symmetric
  close(mcnemarExact(1000, 1100), mcnemarExact(1100, 1000), 1e-12);
  assert.ok(mcnemarExact(1000, 1100) < 0.05 && mcnemarExact(1000, 1100) > 0.01);
});

test("bootstrap interval: deterministic, brackets the mean, narrows with n", () => {
  const v = Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? 0 : 1)); // mean 0.75
  const a = bootstrapMeanCI(v, { seed: 1 });
  assert.deepEqual(a, bootstrapMeanCI(v, { seed: 1 }));
  assert.ok(a.lo < 0.75 && a.hi > 0.75);
  // close to the normal approximation: 1.96 * sqrt(.75*.25/200) = 0.06
  close(a.hi - a.lo, 2 * 0.06, 0.02);
  const big = bootstrapMeanCI([...v, ...v, ...v, ...v], { seed: 1 });
  assert.ok(big.hi - big.lo < a.hi - a.lo);
  assert.deepEqual(bootstrapMeanCI([1, 1, 1]), { lo: 1, hi: 1 });
});

test("property: intervals lie in [0,1] and contain the point estimate for 0/1 data", () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), (xs) => {
      const v: number[] = xs.map((x) => (x ? 1 : 0));
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const w = wilson(v.reduce((a, b) => a + b, 0), v.length);
      const b = bootstrapMeanCI(v, { resamples: 200 });
      return w.lo >= 0 && w.hi <= 1 && w.lo <= m + 1e-12 && w.hi >= m - 1e-12 && b.lo >= 0 && b.hi <= 1 && b.lo <= b.hi;
    }),
    { numRuns: 100 },
  );
});

test("helpers: seeded generator, quantiles, sample std", () => {
  const r = mulberry32(7);
  const xs = Array.from({ length: 5 }, r);
  assert.deepEqual(xs, Array.from({ length: 5 }, mulberry32(7)));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  close(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), 2.13809, 1e-4);
});

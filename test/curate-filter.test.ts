// Tests for src/curate/filter.ts. Expected orders and random streams below were printed by
// numpy (1.24.2 and 2.4.6 agree) with:
//   np.random.SeedSequence(42).generate_state(4); np.random.PCG64(42).random_raw(3)
//   np.random.default_rng(seed).permutation(n)
// and the upstream order_easy_to_hard.py steps (filter, Dataset.shuffle(seed=42) =
// default_rng(42).permutation, stable sort by pass_count descending) on a synthetic set.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  curateByDifficulty,
  filterByPassCount,
  NumpyPcg64,
  numpyPermutation,
  orderEasyToHard,
  passCountHistogram,
  PUBLISHED_PASS_COUNT_HISTOGRAM_7B,
  PUBLISHED_PASS_COUNT_K,
  PUBLISHED_PASS_COUNT_N,
  seedSequenceState,
} from "../src/curate/filter";

describe("published 7B pass-count histogram (recipe.md)", () => {
  test("has 17 bins (0..16 of 16) summing to n = 23,456", () => {
    assert.equal(PUBLISHED_PASS_COUNT_HISTOGRAM_7B.length, PUBLISHED_PASS_COUNT_K + 1);
    assert.equal(PUBLISHED_PASS_COUNT_HISTOGRAM_7B.reduce((a, b) => a + b, 0), 23456);
    assert.equal(PUBLISHED_PASS_COUNT_N, 23456);
    assert.equal(PUBLISHED_PASS_COUNT_HISTOGRAM_7B[0], 8123);
    assert.equal(PUBLISHED_PASS_COUNT_HISTOGRAM_7B[16], 3);
  });

  test("expanded to items, the 1..7 filter keeps 13,919 (4604+3012+2174+1593+1109+811+616)", () => {
    const items = PUBLISHED_PASS_COUNT_HISTOGRAM_7B.flatMap((n, c) => Array.from({ length: n }, () => ({ passCount: c })));
    assert.deepEqual(passCountHistogram(items.map((i) => i.passCount), 16), [...PUBLISHED_PASS_COUNT_HISTOGRAM_7B]);
    const kept = curateByDifficulty(items);
    assert.equal(kept.length, 13919);
    // easy to hard: first the 616 items with 7 correct, last the 4604 with 1 correct
    assert.equal(kept[0].passCount, 7);
    assert.equal(kept[615].passCount, 7);
    assert.equal(kept[616].passCount, 6);
    assert.equal(kept[kept.length - 4604].passCount, 1);
    assert.equal(kept[kept.length - 4605].passCount, 2);
  });
});

describe("passCountHistogram", () => {
  test("counts by number correct", () => {
    assert.deepEqual(passCountHistogram([0, 3, 3, 4, 0, 0], 4), [3, 0, 0, 2, 1]);
    assert.deepEqual(passCountHistogram([], 2), [0, 0, 0]);
  });
  test("rejects counts outside [0, k] and non-integers, naming the position", () => {
    assert.throws(() => passCountHistogram([1, 17], 16), /counts\[1\] = 17 is not an integer in \[0, 16\]/);
    assert.throws(() => passCountHistogram([0.5], 16), /counts\[0\] = 0.5/);
    assert.throws(() => passCountHistogram([-1], 16), /counts\[0\] = -1/);
  });
});

describe("filterByPassCount (upstream filter_pass_count)", () => {
  const items = [-1, 0, 1, 4, 7, 8, 16].map((passCount, id) => ({ id, passCount }));
  test("default keeps 1..7 inclusive, drops not-evaluated (-1), in input order", () => {
    assert.deepEqual(filterByPassCount(items).map((i) => i.passCount), [1, 4, 7]);
  });
  test("custom range and invalid range", () => {
    assert.deepEqual(filterByPassCount(items, { min: 0, max: 16 }).map((i) => i.id), [1, 2, 3, 4, 5, 6]);
    assert.throws(() => filterByPassCount(items, { min: 5, max: 2 }), /invalid range \[5, 2\]/);
  });
});

describe("numpy default_rng reimplementation", () => {
  test("SeedSequence(42).generate_state(4) matches numpy", () => {
    assert.deepEqual(seedSequenceState(42, 4), [0xcd540ab7, 0x9f1e2e6d, 0x79fb94b6, 0xd57873dc]);
  });
  test("PCG64(42).random_raw(3) matches numpy", () => {
    const rng = new NumpyPcg64(42);
    assert.deepEqual(
      [rng.nextUint64(), rng.nextUint64(), rng.nextUint64()],
      [0xc621fbcd16d92688n, 0x705a5661a791ffc1n, 0xdbcd12c26eda1624n],
    );
  });
  test("default_rng(seed).permutation(n) matches numpy", () => {
    assert.deepEqual(numpyPermutation(10, 42), [5, 6, 0, 7, 3, 2, 4, 9, 1, 8]);
    assert.deepEqual(
      numpyPermutation(25, 42),
      [15, 16, 19, 20, 9, 7, 17, 24, 6, 10, 3, 0, 21, 18, 12, 5, 11, 14, 23, 2, 4, 22, 1, 13, 8],
    );
    assert.deepEqual(numpyPermutation(5000, 0).slice(0, 6), [2221, 1222, 227, 4662, 3029, 3428]);
    assert.deepEqual(numpyPermutation(7, 2 ** 40 + 3), [2, 5, 6, 3, 0, 1, 4]); // multi-word seed
    assert.deepEqual(numpyPermutation(0, 42), []);
    assert.deepEqual(numpyPermutation(1, 42), [0]);
  });
  test("a full m23k-sized permutation (n = 23,456, seed 42) matches numpy", () => {
    const p = numpyPermutation(23456, 42);
    assert.deepEqual(p.slice(0, 8), [2129, 13238, 14269, 8098, 10451, 15488, 18301, 22910]);
    assert.deepEqual(p.slice(-4), [4802, 5668, 22113, 9864]);
    let checksum = 0n;
    p.forEach((v, i) => (checksum += BigInt(i) * BigInt(v)));
    assert.equal(checksum % 1000000007n, 855417371n);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 23456 }, (_, i) => i));
  });
  test("rejects bad seeds and sizes", () => {
    assert.throws(() => numpyPermutation(3, -1), /non-negative safe integer/);
    assert.throws(() => numpyPermutation(3, 1.5), /non-negative safe integer/);
    assert.throws(() => numpyPermutation(-2, 42), /non-negative integer/);
  });
});

describe("orderEasyToHard (upstream order_easy_to_hard.py)", () => {
  // synthetic set: item i has pass count (7 i) mod 17, i < 40
  const items = Array.from({ length: 40 }, (_, id) => ({ id, passCount: (id * 7) % 17 }));

  test("filter + shuffle(seed 42) + stable sort descending reproduces the upstream order", () => {
    const ordered = curateByDifficulty(items);
    assert.deepEqual(
      ordered.map((i) => i.id),
      [18, 1, 35, 30, 13, 25, 8, 37, 3, 20, 15, 32, 27, 10, 39, 22, 5],
    );
  });

  test("hard_to_easy sorts ascending over the same shuffle", () => {
    const ordered = orderEasyToHard(filterByPassCount(items), 42, "hard_to_easy");
    assert.deepEqual(
      ordered.map((i) => i.id),
      [39, 22, 5, 27, 10, 15, 32, 37, 3, 20, 25, 8, 30, 13, 18, 1, 35],
    );
  });

  test("pass counts are non-increasing, ties keep the shuffled order, input untouched", () => {
    const before = items.map((i) => i.id);
    const ordered = orderEasyToHard(items, 7);
    assert.deepEqual(items.map((i) => i.id), before);
    for (let i = 1; i < ordered.length; i++) assert.ok(ordered[i - 1].passCount >= ordered[i].passCount);
    const perm = numpyPermutation(items.length, 7);
    const rank = new Map(perm.map((j, pos) => [j, pos]));
    for (let i = 1; i < ordered.length; i++) {
      if (ordered[i - 1].passCount === ordered[i].passCount) assert.ok(rank.get(ordered[i - 1].id)! < rank.get(ordered[i].id)!);
    }
    assert.notDeepEqual(orderEasyToHard(items, 8).map((i) => i.id), ordered.map((i) => i.id));
  });

  test("rejects an unknown order and non-finite pass counts", () => {
    assert.throws(() => orderEasyToHard(items, 42, "random" as "easy_to_hard"), /order must be/);
    assert.throws(() => orderEasyToHard([{ passCount: NaN }]), /items\[0\].passCount is NaN/);
  });
});

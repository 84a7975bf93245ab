import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { binomialPmf, expectedGuessHistogram, GuessPolicy } from "../src/curate/baselines";
import { curate } from "../src/curate/curate";
import { curationRows, curationRunRow, findCuratedSet, grpoCuratedPlan, keepReason, keptBySource, newestCurationRun } from "../src/curate/explain";
import { makeDatasets } from "./helpers/fake-openai-server";
import { builtPassCount, FakePassPolicy } from "./helpers/curate-fakes";

const tmp = mkdtempSync(join(tmpdir(), "curate-explain-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const quiet = { progress: false, log: () => {} };

describe("guessing baseline", () => {
  test("binomialPmf: sums to 1, hand values", () => {
    const p = binomialPmf(16, 0.25);
    assert.equal(p.length, 17);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(Math.abs(p[0] - 0.75 ** 16) < 1e-15);
    assert.ok(Math.abs(p[1] - 16 * 0.25 * 0.75 ** 15) < 1e-15);
    assert.deepEqual(binomialPmf(2, 0.5), [0.25, 0.5, 0.25]);
  });

  test("expectedGuessHistogram mixes binomials by option count", () => {
    const yesNo = { options: { A: "Yes", B: "No" } };
    const four = { options: { A: "a", B: "b", C: "c", D: "d" } };
    assert.deepEqual(expectedGuessHistogram([yesNo, yesNo], 2), [0.25, 0.5, 0.25]);
    const mixed = expectedGuessHistogram([yesNo, four], 2);
    const want = [0, 1, 2].map((c) => (binomialPmf(2, 0.5)[c] + binomialPmf(2, 0.25)[c]) / 2);
    mixed.forEach((x, c) => assert.ok(Math.abs(x - want[c]) < 1e-15));
    assert.deepEqual(expectedGuessHistogram([], 3), [0, 0, 0, 0]);
  });

  test("GuessPolicy: deterministic per seed, always in format, pass counts binomial on 4-option items", async () => {
    const items = makeDatasets({ g: 400 }).g;
    const policy = new GuessPolicy();
    const a = await policy.sample(items.slice(0, 3), { n: 16, temperature: 1, top_p: 1, max_tokens: 10, seed: 42 });
    const b = await policy.sample(items.slice(0, 3), { n: 16, temperature: 1, top_p: 1, max_tokens: 10, seed: 42 });
    const c = await policy.sample(items.slice(0, 3), { n: 16, temperature: 1, top_p: 1, max_tokens: 10, seed: 43 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const r = await curate({ data: ["g"], out: join(tmp, "guess"), concurrency: 1, batchSize: 50 }, policy, { ...quiet, sources: [{ id: "g", items }], write: false });
    const counts = r.passCounts.map((x) => x.passCount);
    const mean = counts.reduce((s, x) => s + x, 0) / counts.length;
    assert.ok(Math.abs(mean - 4) < 0.3, `mean pass count ${mean} (expected 16 / 4 = 4)`);
    assert.ok(r.passCounts.every((x) => x.formatCount === 16));
    // Observed fractions near the binomial (400 items: within 0.06 per bin).
    const pmf = binomialPmf(16, 0.25);
    r.histogram.ours.fractions.forEach((f, i) => assert.ok(Math.abs(f - pmf[i]) < 0.06, `bin ${i}: ${f} vs ${pmf[i]}`));
  });
});

describe("explaining the selection", () => {
  test("keepReason", () => {
    const r = { min: 1, max: 7 };
    assert.match(keepReason(0, 16, r), /^dropped: never solved .*zero advantage/);
    assert.match(keepReason(16, 16, r), /^dropped: always solved/);
    assert.match(keepReason(9, 16, r), /^dropped: too easy \(9 of 16 > 7\)/);
    assert.match(keepReason(3, 16, r), /^kept: solved 3 of 16/);
    assert.match(keepReason(1, 16, { min: 2, max: 7 }), /^dropped: too hard/);
  });

  test("curationRows, keptBySource and findCuratedSet", async () => {
    const items = makeDatasets({ pool: 40 }).pool;
    const out = join(tmp, "runs");
    const r = await curate({ data: ["pool"], out }, new FakePassPolicy(), { ...quiet, sources: [{ id: "pool", items }] });
    const rows = curationRows(r, { perReason: 2 });
    const reasons = new Set(rows.map((x) => x.reason.split(":")[0] + ":" + x.reason.split(":")[1].split("(")[0]));
    assert.ok(reasons.size >= 4, [...reasons].join(" | "));
    for (const row of rows) {
      assert.equal(row.pass_count, builtPassCount(row.dataset_index));
      assert.equal(row.position !== null, row.reason.startsWith("kept"));
      if (row.position !== null) assert.equal(r.curated[row.position].dataset_index, row.dataset_index);
    }
    assert.deepEqual(keptBySource(r), [{ source: "pool", scored: 40, kept: r.curated.length, kept_fraction: Math.round((1000 * r.curated.length) / 40) / 1000 }]);
    assert.equal(findCuratedSet(out), r.files.curatedParquet);
    assert.equal(findCuratedSet(out, { modelPrefix: "other" }), null);
    assert.equal(findCuratedSet(join(tmp, "nothing-here")), null);
    // An empty curated set is skipped unless asked for.
    const none = await curate({ data: ["pool"], out, filter: { min: 16, max: 16 }, sampling: { temperature: 0.9 } }, new FakePassPolicy(), { ...quiet, sources: [{ id: "pool", items: items.slice(0, 2) }] });
    assert.equal(none.curated.length, 0);
    utimesSync(none.files.curatedParquet, new Date(), new Date(Date.now() + 10_000));
    assert.equal(findCuratedSet(out), r.files.curatedParquet);
    assert.equal(findCuratedSet(out, { nonEmpty: false }), none.files.curatedParquet);
  });
});

test("grpoCuratedPlan: a curated set with a step's prompts is cycled to the preset's steps; a smaller one is not used", () => {
  const dir = mkdtempSync(join(tmpdir(), "curated-plan-"));
  const run = join(dir, "embedded-x-1");
  mkdirSync(run);
  writeFileSync(join(run, "summary.json"), JSON.stringify({ k: 4, scored: 12, curated: 10 }));
  writeFileSync(join(run, "results.jsonl"), [{ format: true, correct: true }, { format: true, correct: false }, { format: false, correct: false }, { format: true, correct: true }].map((r) => JSON.stringify(r)).join("\n") + "\n");
  const file = join(run, "curated.parquet");
  // 10 items, 4 per step: 2 steps an epoch, so 6 steps need 3 epochs.
  assert.deepEqual(grpoCuratedPlan(file, { promptsPerStep: 4, epochs: 1, maxSteps: 6 }), { curated: file, curatedCount: 10, useCurated: true, epochs: 3 });
  assert.deepEqual(grpoCuratedPlan(file, { promptsPerStep: 16, epochs: 2, maxSteps: 6 }), { curated: file, curatedCount: 10, useCurated: false, epochs: 2 });
  assert.deepEqual(grpoCuratedPlan(null, { promptsPerStep: 4, epochs: 5, maxSteps: null }), { curated: null, curatedCount: 0, useCurated: false, epochs: 5 });
  assert.equal(newestCurationRun("embedded-x-", dir), run);
  assert.equal(newestCurationRun("embedded-y-", dir), null);
  assert.deepEqual(curationRunRow("m", run), { model: "m", run, k: 4, items: 12, samples: 4, "format passed (%)": 75, "reward 1 (%)": 50, kept: 10 });
});

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseCurateConfig } from "../src/curate/config";
import { curate, loadCurationSources, selectCurated, withPassCount } from "../src/curate/curate";
import { curateByDifficulty, numpyPermutation, PUBLISHED_PASS_COUNT_HISTOGRAM_7B } from "../src/curate/filter";
import { formatHistogram, histogramFigure, histogramRows, histogramSummaryRows, histogramWithPublished, sourceHistogramFigure } from "../src/curate/histogram";
import type { Item } from "../src/data/item";
import { loadPath } from "../src/data/registry";
import { makeDatasets, JPEG } from "./helpers/fake-openai-server";
import { builtPassCount, FakePassPolicy, itemIndexOf } from "./helpers/curate-fakes";

const tmp = mkdtempSync(join(tmpdir(), "curate-curate-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const quiet = { progress: false, log: () => {} };

function pool(size: number, name = "pool"): Item[] {
  return makeDatasets({ [name]: size })[name];
}

describe("curate(config, policy)", () => {
  test("keeps pass counts 1..7 of 16, shuffled with seed 42 and sorted easy to hard; pass counts in misc", async () => {
    const items = pool(60);
    const r = await curate({ data: ["pool"], out: join(tmp, "a") }, new FakePassPolicy(), { ...quiet, sources: [{ id: "pool", items }] });
    assert.deepEqual(r.range, { min: 1, max: 7 });
    assert.equal(r.scored.length, 60);
    const expectedKept = items.map((_, i) => i).filter((i) => builtPassCount(i) >= 1 && builtPassCount(i) <= 7);
    assert.equal(r.curated.length, expectedKept.length);
    assert.deepEqual(r.curated.map(itemIndexOf).sort((a, b) => a - b), expectedKept);
    // The order: numpy default_rng(42).permutation of the kept items, then a stable descending sort.
    const kept = expectedKept.map((i) => ({ i, passCount: builtPassCount(i) }));
    const perm = numpyPermutation(kept.length, 42);
    const expectedOrder = perm.map((j) => kept[j]).sort((a, b) => b.passCount - a.passCount).map((e) => e.i);
    assert.deepEqual(r.curated.map(itemIndexOf), expectedOrder);
    const pcs = r.curated.map((it) => it.misc!.pass_count as number);
    for (let j = 1; j < pcs.length; j++) assert.ok(pcs[j - 1] >= pcs[j], "easy (high pass count) first");
    for (const it of r.curated) {
      assert.equal(it.misc!.pass_count, builtPassCount(itemIndexOf(it)));
      assert.equal(it.misc!.pass_k, 16);
    }
  });

  test("thresholds and order are options: hard_to_easy, none, a custom band", async () => {
    const items = pool(40);
    const sources = [{ id: "pool", items }];
    const out = join(tmp, "b");
    const policy = new FakePassPolicy();
    const hard = await curate({ data: ["pool"], out, order: "hard_to_easy", filter: { min: 0, max: 16 } }, policy, { ...quiet, sources });
    assert.equal(hard.curated.length, 40);
    const pcs = hard.curated.map((it) => it.misc!.pass_count as number);
    assert.deepEqual(pcs, [...pcs].sort((a, b) => a - b));
    const none = await curate({ data: ["pool"], out, order: "none", filter: { min: 8, max: 15 } }, policy, { ...quiet, sources });
    const expected = items.map((_, i) => i).filter((i) => builtPassCount(i) >= 8 && builtPassCount(i) <= 15);
    assert.deepEqual(none.curated.map(itemIndexOf), expected, "pool order, no shuffle");
    assert.equal(policy.calls.length, 40, "changing the filter or order resamples nothing");
    const seed7 = await curate({ data: ["pool"], out, orderSeed: 7 }, policy, { ...quiet, sources });
    const seed42 = await curate({ data: ["pool"], out }, policy, { ...quiet, sources });
    assert.notDeepEqual(seed7.curated.map(itemIndexOf), seed42.curated.map(itemIndexOf));
    assert.deepEqual(new Set(seed7.curated.map(itemIndexOf)), new Set(seed42.curated.map(itemIndexOf)));
  });

  test("outputs are readable by the data loaders (parquet and jsonl round trip, images included)", async () => {
    const text = pool(24);
    const img = makeDatasets({ img: 20 }).img;
    const r = await curate({ data: ["pool", "img"], out: join(tmp, "c") }, new FakePassPolicy(), {
      ...quiet,
      sources: [
        { id: "pool", items: text },
        { id: "img", items: img },
      ],
    });
    for (const f of ["curatedParquet", "curatedJsonl", "scoredJsonl", "histogram", "summary"]) assert.ok(existsSync(r.files[f]), f);
    const fromParquet = (await loadPath(r.files.curatedParquet)).items;
    const fromJsonl = (await loadPath(r.files.curatedJsonl)).items;
    const scored = (await loadPath(r.files.scoredJsonl)).items;
    assert.equal(scored.length, 44);
    for (const back of [fromParquet, fromJsonl]) {
      assert.equal(back.length, r.curated.length);
      back.forEach((it, j) => {
        const want = r.curated[j];
        assert.equal(it.question, want.question);
        assert.deepEqual(it.options, want.options);
        assert.equal(it.answer_label, want.answer_label);
        assert.equal(it.dataset_name, want.dataset_name);
        assert.equal(it.dataset_index, want.dataset_index);
        assert.equal(it.misc!.pass_count, want.misc!.pass_count);
        assert.equal(it.misc!.pass_k, 16);
        if (want.images) assert.deepEqual(Array.from(it.images![0].bytes!), Array.from(JPEG));
        else assert.equal(it.images, null);
      });
    }
    assert.ok(r.curated.some((it) => it.images) && r.curated.some((it) => !it.images), "both kinds kept");
    const summary = JSON.parse(readFileSync(r.files.summary, "utf8"));
    assert.deepEqual([summary.pool, summary.scored, summary.curated, summary.k], [44, 44, r.curated.length, 16]);
    const hist = JSON.parse(readFileSync(r.files.histogram, "utf8"));
    assert.equal(hist.ours.n, 44);
  });

  test("the histogram counts every scored item, beside the published one as fractions", async () => {
    const items = pool(50);
    const r = await curate({ data: ["pool"], out: join(tmp, "d") }, new FakePassPolicy(), { ...quiet, sources: [{ id: "pool", items }], write: false });
    assert.deepEqual(r.files, {});
    const want = new Array(17).fill(0);
    items.forEach((_, i) => want[builtPassCount(i)]++);
    assert.deepEqual(r.histogram.ours.counts, want);
    assert.equal(r.histogram.ours.fractions.reduce((a, b) => a + b, 0).toFixed(12), "1.000000000000");
    assert.deepEqual(r.histogram.published.counts, [...PUBLISHED_PASS_COUNT_HISTOGRAM_7B]);
    assert.equal(r.histogram.published.n, 23456);
    assert.ok(Math.abs(r.histogram.published.fractions[0] - 8123 / 23456) < 1e-12);
    // Published: 1..7 of 16 keeps (4604+3012+2174+1593+1109+811+616)/23456 = 59.1%.
    assert.ok(Math.abs(r.histogram.published.kept - 13919 / 23456) < 1e-12);
    assert.equal(r.histogram.ours.kept, r.curated.length / 50);
  });

  test("incomplete items are left out of the outputs until a rerun completes them", async () => {
    const items = pool(10);
    const sources = [{ id: "pool", items }];
    const out = join(tmp, "e");
    const failing = new FakePassPolicy({
      before: (_c, its) => {
        if (itemIndexOf(its[0]) === 4) throw new Error("HTTP 500 (injected)");
      },
    });
    const r1 = await curate({ data: ["pool"], out, concurrency: 1 }, failing, { ...quiet, sources });
    assert.equal(r1.missing, 1);
    assert.equal(r1.scored.length, 9);
    assert.ok(!r1.scored.some((it) => itemIndexOf(it) === 4));
    const p2 = new FakePassPolicy();
    const r2 = await curate({ data: ["pool"], out }, p2, { ...quiet, sources });
    assert.deepEqual(p2.calls.map((c) => c.items), [[4]]);
    assert.equal(r2.scored.length, 10);
  });

  test("refuses open questions and an empty pool", async () => {
    const open: Item = { images: null, question: "what organ?", options: {}, answer_label: "", answer: "liver", reasoning: null, dataset_name: "x", dataset_index: 0, misc: { answer_type: "open" } };
    await assert.rejects(curate({ data: ["x"], out: join(tmp, "f") }, new FakePassPolicy(), { ...quiet, sources: [{ id: "x", items: [open] }] }), /open questions/);
    await assert.rejects(curate({ data: ["x"], out: join(tmp, "f") }, new FakePassPolicy(), { ...quiet, sources: [{ id: "x", items: [] }] }), /no items to curate/);
  });
});

describe("the pool from the real shared data", () => {
  test("VQA-RAD train: 1,797 questions, 773 open dropped, 1,024 closed; test keeps its 272 apart", async () => {
    const train = await loadCurationSources(parseCurateConfig({ data: ["vqa-rad"], split: "train", excludeOverlap: ["vqa-rad"] }));
    assert.deepEqual(
      train.summaries.map((s) => [s.id, s.loaded, s.open, s.overlapping, s.used]),
      [["vqa-rad@train", 1797, 773, 0, 1024]],
    );
    const test_ = await loadCurationSources(parseCurateConfig({ data: ["vqa-rad"], split: "test" }));
    assert.equal(test_.sources[0].items.length, 272);
    assert.ok(train.sources[0].items.every((it) => it.images?.length === 1 && Object.keys(it.options).length >= 2));
    assert.ok(train.sources[0].items.every((it) => it.misc?.split === "train"));
  });

  test("HuatuoGPT-o1 traces: 186 closed items, 3 also in MedMCQA dev are excluded, indices stay stable", async () => {
    const all = await loadCurationSources(parseCurateConfig({ data: ["huatuo-o1"], limit: 50 }));
    const ex = await loadCurationSources(parseCurateConfig({ data: ["huatuo-o1"], excludeOverlap: ["medmcqa", "medqa"] }));
    assert.deepEqual(
      ex.summaries.map((s) => [s.loaded, s.overlapping, s.used]),
      [[186, 3, 183]],
    );
    assert.equal(all.sources[0].items.length, 50);
    // The same item keeps its index whether or not others were excluded before it.
    const idx = new Map(ex.sources[0].items.map((it, j) => [it.question, ex.sources[0].indices![j]]));
    all.sources[0].items.forEach((it, j) => {
      if (idx.has(it.question)) assert.equal(idx.get(it.question), all.sources[0].indices![j]);
    });
  });
});

describe("histogram helpers", () => {
  test("rows, summary, text and figure", () => {
    const h = histogramWithPublished([0, 0, 1, 2, 16, 7, 8], 16, { min: 1, max: 7 });
    const rows = histogramRows(h);
    assert.equal(rows.length, 17);
    assert.deepEqual(rows[0], { pass_count: 0, pass_rate: 0, ours_items: 2, ours_fraction: 0.2857, paper_items: 8123, paper_fraction: 0.3463 });
    const sum = histogramSummaryRows(h);
    assert.equal(sum[0].kept, 0.4286);
    assert.equal(sum[0].never_solved, 0.2857);
    assert.equal(sum[0].always_solved, 0.1429);
    const text = formatHistogram(h);
    assert.match(text, /\* {2}1\/16/);
    assert.match(text, /kept \(\* 1\.\.7\): ours 42\.9%, paper 59\.3%/);
    const fig = histogramFigure(h);
    assert.equal(fig.data.length, 2);
    assert.equal((fig.data[0].y as number[]).length, 17);
    // Another k: the paper column is left empty, the figure still overlays on the pass-rate axis.
    const h4 = histogramWithPublished([0, 1, 4, 2], 4, { min: 1, max: 1 });
    assert.equal(histogramRows(h4)[1].paper_items, null);
    assert.deepEqual((histogramFigure(h4).data[0].x as number[]).length, 5);
  });

  test("sourceHistogramFigure: one series per source, normalised within it, the paper beside", () => {
    const mk = (dataset_name: string, pass_count: number) => ({ dataset_name, misc: { pass_count, pass_k: 16 } });
    const items = [mk("text", 0), mk("text", 4), mk("text", 4), mk("image", 8), { dataset_name: "image", misc: {} }];
    const fig = sourceHistogramFigure(items, { min: 1, max: 7 });
    assert.deepEqual(
      fig.data.map((t) => t.name),
      ["text (n = 3)", "image (n = 1)", "paper 7B on m23k (n = 23,456, k = 16)"],
    );
    const y = fig.data.map((t) => t.y as number[]);
    assert.deepEqual([y[0][0], y[0][4], y[1][8]], [1 / 3, 2 / 3, 1]);
    // Bars of the three series sit side by side around each pass rate.
    const x = fig.data.map((t) => (t.x as number[])[4]);
    assert.ok(x[0] < x[1] && x[1] < x[2] && Math.abs(x[1] - 4 / 16) < 1e-12);
  });

  test("selectCurated and withPassCount", () => {
    const entries = [3, 0, 7, 8, 1, 5].map((passCount, i) => ({ i, passCount }));
    assert.deepEqual(selectCurated(entries, { order: "easy_to_hard", orderSeed: 42 }, { min: 1, max: 7 }), curateByDifficulty(entries));
    assert.deepEqual(
      selectCurated(entries, { order: "none", orderSeed: 42 }, { min: 1, max: 7 }).map((e) => e.i),
      [0, 2, 4, 5],
    );
    const it = withPassCount(pool(1)[0], 3, 16);
    assert.deepEqual(it.misc, { pass_count: 3, pass_k: 16 });
  });
});

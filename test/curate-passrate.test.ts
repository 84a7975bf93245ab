import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseCurateConfig, curateRunDir, filterRange, type CurateConfigInput } from "../src/curate/config";
import { estimatePassCounts, gradeSample, passCountsFromRecords, type PassRateSource } from "../src/curate/passrate";
import { readResults, recordKey } from "../src/eval/store";
import { makeDatasets } from "./helpers/fake-openai-server";
import { builtPassCount, expectedPassCount, FakePassPolicy, itemIndexOf, BASE_SEED } from "./helpers/curate-fakes";

const tmp = mkdtempSync(join(tmpdir(), "curate-passrate-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let runNo = 0;

function setup(size = 40, extra: Partial<CurateConfigInput> = {}) {
  const out = join(tmp, `run${runNo++}`);
  const items = makeDatasets({ pool: size }).pool;
  const sources: PassRateSource[] = [{ id: "pool", items }];
  const config = parseCurateConfig({ data: ["pool"], out, concurrency: 4, ...extra });
  return { out, items, sources, config };
}

const quiet = { progress: false, log: () => {} };

function uniqueKeys(dir: string): { total: number; unique: number } {
  const recs = readResults(join(dir, "results.jsonl")).records;
  return { total: recs.length, unique: new Set(recs.map(recordKey)).size };
}

describe("estimatePassCounts with a fake policy of known pass counts", () => {
  test("pass counts equal what the policy was built to give (k = 16, published sampling)", async () => {
    const { sources, config, items } = setup(40);
    const policy = new FakePassPolicy();
    const run = await estimatePassCounts(sources, policy, config, quiet);
    assert.equal(run.counts.length, 40);
    for (const c of run.counts) {
      assert.equal(c.samples, 16);
      assert.equal(c.passCount, builtPassCount(c.index), `item ${c.index}`);
    }
    // One request per item, n = 16, seed 42, temperature 1.0, 4096 tokens (the published settings).
    assert.equal(policy.calls.length, 40);
    assert.ok(policy.calls.every((c) => c.n === 16 && c.seed === BASE_SEED));
    assert.equal(config.sampling.temperature, 1);
    assert.equal(config.sampling.max_tokens, 4096);
    assert.equal(run.sent, 40);
    assert.equal(run.missing, 0);
    assert.equal(run.records.length, 40 * 16);
    assert.deepEqual(uniqueKeys(run.dir), { total: 640, unique: 640 });
    // Graded with the training reward: unformatted answers fail the gate and count in formatCount.
    const c3 = run.counts[3];
    assert.equal(c3.passCount, 16);
    assert.equal(c3.formatCount, 16);
    assert.ok(run.counts.some((c) => c.formatCount < 16));
    assert.equal(items.length, 40);
  });

  test("responses: none keeps no sample text, same pass counts", async () => {
    const { sources, config } = setup(10, { responses: "none" });
    const run = await estimatePassCounts(sources, new FakePassPolicy(), config, quiet);
    assert.ok(run.records.every((r) => r.response === ""));
    for (const c of run.counts) assert.equal(c.passCount, builtPassCount(c.index));
    assert.equal(curateRunDir(config, "m"), curateRunDir(parseCurateConfig({ ...config, responses: "full" }), "m"), "not part of the run key");
  });

  test("a second call sends nothing and gives the same counts", async () => {
    const { sources, config } = setup(20);
    await estimatePassCounts(sources, new FakePassPolicy(), config, quiet);
    const again = new FakePassPolicy();
    const run = await estimatePassCounts(sources, again, config, quiet);
    assert.equal(again.calls.length, 0);
    assert.equal(run.resumed, 20);
    assert.deepEqual(
      run.counts.map((c) => c.passCount),
      sources[0].items.map((_, i) => builtPassCount(i)),
    );
  });

  test("abort mid-run, then resume: nothing lost, nothing counted twice, only missing items sent", async () => {
    const { sources, config } = setup(60, { concurrency: 3 });
    const ac = new AbortController();
    const first = new FakePassPolicy({ before: (call) => (call === 25 ? ac.abort() : undefined) });
    await assert.rejects(estimatePassCounts(sources, first, config, { ...quiet, signal: ac.signal }), (e: Error) => e.name === "AbortError");
    const dir = curateRunDir(config, "fake-pass");
    const saved = uniqueKeys(dir);
    assert.equal(saved.total, saved.unique);
    assert.ok(saved.total > 0 && saved.total < 60 * 16, `saved ${saved.total}`);
    assert.equal(saved.total % 16, 0, "an item's samples land together");
    const doneItems = new Set(readResults(join(dir, "results.jsonl")).records.map((r) => r.index));

    const second = new FakePassPolicy();
    const run = await estimatePassCounts(sources, second, config, quiet);
    const resent = second.calls.flatMap((c) => c.items);
    assert.equal(resent.length, 60 - doneItems.size);
    for (const i of resent) assert.ok(!doneItems.has(i), `item ${i} was complete but sent again`);
    assert.equal(run.resumed, doneItems.size);
    assert.deepEqual(uniqueKeys(dir), { total: 960, unique: 960 });
    for (const c of run.counts) assert.equal(c.passCount, builtPassCount(c.index));
  });

  test("a partial answer is completed with only the missing samples, at seed + first missing sample", async () => {
    const { sources, config } = setup(10);
    // Call 1 answers only 5 of 16 samples for item 0; item 2 fails entirely (a network error).
    const first = new FakePassPolicy({
      truncate: (_call, i) => (i === 0 ? 5 : undefined),
      before: (_call, items) => {
        if (itemIndexOf(items[0]) === 2) throw new Error("connection reset (injected)");
      },
    });
    const warned: string[] = [];
    const run1 = await estimatePassCounts(sources, first, { ...config, concurrency: 1 }, { progress: false, log: (m) => warned.push(m) });
    assert.equal(run1.missing, 2);
    assert.ok(warned.some((w) => /2 items are incomplete.*connection reset/.test(w)), warned.join("\n"));
    assert.equal(run1.counts[0].samples, 5);
    assert.equal(run1.counts[2].samples, 0);

    const second = new FakePassPolicy();
    const run2 = await estimatePassCounts(sources, second, config, quiet);
    const byItem = new Map(second.calls.map((c) => [c.items[0], c]));
    assert.deepEqual([...byItem.keys()].sort(), [0, 2]);
    assert.deepEqual({ n: byItem.get(0)!.n, seed: byItem.get(0)!.seed }, { n: 11, seed: BASE_SEED + 5 });
    assert.deepEqual({ n: byItem.get(2)!.n, seed: byItem.get(2)!.seed }, { n: 16, seed: BASE_SEED });
    assert.equal(run2.missing, 0);
    for (const c of run2.counts) assert.equal(c.passCount, builtPassCount(c.index));
  });

  test("a torn last line (crash mid-write) is cut and that item resampled; duplicates are ignored", async () => {
    const { sources, config } = setup(8);
    const run1 = await estimatePassCounts(sources, new FakePassPolicy(), config, quiet);
    const file = join(run1.dir, "results.jsonl");
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    // Duplicate a whole line and tear the last one.
    appendFileSync(file, lines[0] + "\n" + lines[1].slice(0, 30));
    const second = new FakePassPolicy();
    const warned: string[] = [];
    const run2 = await estimatePassCounts(sources, second, config, { progress: false, log: (m) => warned.push(m) });
    assert.ok(warned.some((w) => /torn last line/.test(w)));
    assert.ok(warned.some((w) => /duplicate record/.test(w)));
    assert.equal(second.calls.length, 0, "the torn line was a copy of a saved sample: nothing is missing");
    assert.deepEqual(
      run2.counts.map((c) => c.passCount),
      sources[0].items.map((_, i) => builtPassCount(i)),
    );
    const text = readFileSync(file, "utf8");
    assert.ok(text.endsWith("\n"));
  });

  test("raising k extends the same run and sends only the new samples; lowering k reads a prefix", async () => {
    const { sources, config } = setup(12, { k: 8, filter: { min: 1, max: 3 } });
    const p8 = new FakePassPolicy();
    const run8 = await estimatePassCounts(sources, p8, config, quiet);
    for (const c of run8.counts) assert.equal(c.passCount, expectedPassCount(c.index, 8));
    const config16 = parseCurateConfig({ ...config, k: 16, filter: undefined });
    assert.equal(curateRunDir(config16, "fake-pass"), run8.dir, "k and the filter are not part of the run key");
    const p16 = new FakePassPolicy();
    const run16 = await estimatePassCounts(sources, p16, config16, quiet);
    assert.ok(p16.calls.every((c) => c.n === 8 && c.seed === BASE_SEED + 8));
    assert.equal(p16.calls.length, 12);
    for (const c of run16.counts) assert.equal(c.passCount, builtPassCount(c.index));
    const run4 = await estimatePassCounts(sources, new FakePassPolicy(), parseCurateConfig({ ...config, k: 4, filter: undefined }), quiet);
    for (const c of run4.counts) assert.equal(c.passCount, expectedPassCount(c.index, 4));
  });

  test("a changed sampling, prompt, reward or model starts a new run folder", () => {
    const { config } = setup(1);
    const base = curateRunDir(config, "m");
    const variants = [
      parseCurateConfig({ ...config, sampling: { ...config.sampling, temperature: 0.7 } }),
      parseCurateConfig({ ...config, sampling: { ...config.sampling, max_tokens: 512 } }),
      parseCurateConfig({ ...config, sampling: { ...config.sampling, seed: 1 } }),
      parseCurateConfig({ ...config, prompt: { ...config.prompt, realNewline: true } }),
      parseCurateConfig({ ...config, reward: { ...config.reward, extraction: "loose" } }),
    ];
    const dirs = new Set([base, curateRunDir(config, "other-model"), ...variants.map((v) => curateRunDir(v, "m"))]);
    assert.equal(dirs.size, 7);
    for (const same of [{ concurrency: 1 }, { limit: 3 }, { data: ["x", "y"] }, { order: "none" as const }, { k: 4 }, { filter: { min: 0, max: 2 } }]) {
      assert.equal(curateRunDir(parseCurateConfig({ ...config, ...same }), "m"), base, JSON.stringify(same));
    }
  });

  test("changed data under the same run is refused, naming the file and the item", async () => {
    const { sources, config } = setup(5);
    await estimatePassCounts(sources, new FakePassPolicy(), config, quiet);
    const changed = sources[0].items.map((it, i) => (i === 3 ? { ...it, question: it.question + " (edited)" } : it));
    await assert.rejects(estimatePassCounts([{ id: "pool", items: changed }], new FakePassPolicy(), config, quiet), (e: Error) => e.name === "ConfigError" && /pool item 3 had hash/.test(e.message));
  });

  test("explicit indices keep samples attached to items when the selection changes", async () => {
    const { sources, config } = setup(10);
    const all = sources[0].items;
    await estimatePassCounts([{ id: "pool", items: all.slice(0, 6) }], new FakePassPolicy(), config, quiet);
    // Drop items 1 and 4 (say, found in an evaluation set): the others keep their samples.
    const keep = [0, 2, 3, 5, 6, 7];
    const p = new FakePassPolicy();
    const run = await estimatePassCounts([{ id: "pool", items: keep.map((i) => all[i]), indices: keep }], p, config, quiet);
    assert.deepEqual(p.calls.flatMap((c) => c.items).sort(), [6, 7]);
    assert.deepEqual(
      run.counts.map((c) => [c.index, c.passCount]),
      keep.map((i) => [i, builtPassCount(i)]),
    );
  });

  test("policy configuration errors stop the run at once", async () => {
    const { sources, config } = setup(6);
    const p = new FakePassPolicy({
      before: () => {
        throw Object.assign(new Error("model 'x' is not served"), { name: "ConfigError" });
      },
    });
    await assert.rejects(estimatePassCounts(sources, p, config, quiet), /not served/);
    assert.ok(p.calls.length <= 4);
  });

  test("batched calls (embedded model style) group items with the same request", async () => {
    const { sources, config } = setup(10, { batchSize: 4, concurrency: 1 });
    const p = new FakePassPolicy();
    const run = await estimatePassCounts(sources, p, config, quiet);
    assert.deepEqual(
      p.calls.map((c) => c.items.length),
      [4, 4, 2],
    );
    for (const c of run.counts) assert.equal(c.passCount, builtPassCount(c.index));
    assert.ok(existsSync(join(run.dir, "config.json")));
  });
});

describe("pieces", () => {
  test("gradeSample uses the training reward (format gate), not the evaluation grader", () => {
    const item = makeDatasets({ x: 1 }).x[0];
    const gold = item.answer_label;
    assert.equal(gradeSample(item, `<think>a</think><answer>${gold}</answer>`, { format: "gate", extraction: "published" }).correct, true);
    // The evaluation grader would read the last answer tag; the reward's format gate rejects trailing text.
    const r = gradeSample(item, `<think>a</think><answer>${gold}</answer> done`, { format: "gate", extraction: "published" });
    assert.deepEqual([r.correct, r.format, r.via], [false, false, "format"]);
    assert.equal(gradeSample(item, `<think>a</think><answer>${gold}</answer> done`, { format: "separate", extraction: "published" }).correct, true);
  });

  test("passCountsFromRecords counts samples 0..k-1 once each", () => {
    const items = makeDatasets({ s: 2 }).s;
    const rec = (index: number, sample: number, correct: boolean) => ({ benchmark: "s", index, hash: "h", run: 0, sample, response: "", finish_reason: "stop", correct, predicted: null, gold: "A" });
    const records = [rec(0, 0, true), rec(0, 0, false), rec(0, 1, true), rec(0, 5, true), rec(1, 0, false)];
    const counts = passCountsFromRecords([{ id: "s", items }], records, 2);
    assert.deepEqual(
      counts.map((c) => [c.passCount, c.samples]),
      [
        [2, 2],
        [0, 1],
      ],
    );
  });

  test("filterRange: published 1..7 at k = 16, the same pass-rate band for other k, explicit wins", () => {
    assert.deepEqual(filterRange({ k: 16 }), { min: 1, max: 7 });
    assert.deepEqual(filterRange({ k: 8 }), { min: 1, max: 3 });
    assert.deepEqual(filterRange({ k: 4 }), { min: 1, max: 1 });
    assert.deepEqual(filterRange({ k: 32 }), { min: 2, max: 14 });
    assert.deepEqual(filterRange({ k: 2 }), { min: 1, max: 1 });
    assert.throws(() => filterRange({ k: 1 }), /cannot separate/);
    assert.deepEqual(filterRange({ k: 4, filter: { min: 0, max: 4 } }), { min: 0, max: 4 });
  });

  test("config validation names the bad fields", () => {
    assert.throws(() => parseCurateConfig({ data: [] }), /data/);
    assert.throws(() => parseCurateConfig({ data: ["x"], filter: { min: 5, max: 2 } }), /filter: min 5 is above max 2/);
    assert.throws(() => parseCurateConfig({ data: ["x"], k: 0 }), /k:/);
    assert.throws(() => parseCurateConfig({ data: ["x"], temperature: 1 }), /temperature|Unrecognized/);
    const c = parseCurateConfig({ data: ["x"] });
    assert.deepEqual([c.k, c.sampling.temperature, c.sampling.top_p, c.sampling.max_tokens, c.sampling.seed, c.order, c.orderSeed], [16, 1, 1, 4096, 42, "easy_to_hard", 42]);
  });
});

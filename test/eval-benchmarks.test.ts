import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeParquetItems } from "../src/data/parquet";
import { BENCHMARKS, benchmarkForEvalName, dedupeItems, expandBenchmarks, loadBenchmarks, PAPER_BENCHMARKS, readEvalParquet } from "../src/eval/benchmarks";
import { JPEG, makeDatasets } from "./helpers/fake-openai-server";

test("registry: the six of the paper with their columns and sizes, and the text benchmarks", () => {
  assert.deepEqual(PAPER_BENCHMARKS, ["pmc-vqa", "mmmu-med", "medxpertqa-mm", "pathvqa", "slake", "vqa-rad"]);
  assert.deepEqual(
    BENCHMARKS.filter((b) => b.paperColumn).map((b) => [b.paperColumn, b.paperCount]),
    [["pmc_vqa", 2000], ["mmmu_med", 170], ["medxpertqa_mm", 2000], ["pathvqa", 3362], ["slake", 416], ["vqa_rad", 272]],
  );
  assert.deepEqual(expandBenchmarks(["text"]), ["medqa", "pubmedqa", "medmcqa", "mmlu-med", "medxpertqa-text"]);
  assert.deepEqual(expandBenchmarks(["vqa_rad", "SLAKE", "vqa-rad"]), ["vqa-rad", "slake"]);
  assert.throws(() => expandBenchmarks(["nope"]), /unknown benchmark 'nope'/);
});

test("MedVLThinker-Eval dataset_name values map to benchmarks", () => {
  const cases: [string, string | undefined][] = [
    ["PMC-VQA", "pmc-vqa"], ["pmc_vqa", "pmc-vqa"], ["MMMU-Medical", "mmmu-med"], ["MMMU_Health_Medicine", "mmmu-med"],
    ["MedXpertQA-MM", "medxpertqa-mm"], ["medxpertqa_mm", "medxpertqa-mm"], ["PathVQA", "pathvqa"], ["path_vqa", "pathvqa"],
    ["SLAKE", "slake"], ["VQA-RAD", "vqa-rad"], ["vqa_rad", "vqa-rad"], ["something_else", undefined],
  ];
  for (const [name, id] of cases) assert.equal(benchmarkForEvalName(name), id, name);
});

test("dedupe keeps the first of identical question + options", () => {
  const [a, b, c] = makeDatasets({ t: 3 }).t;
  const dup = { ...a, dataset_index: 99 };
  const d = dedupeItems([a, b, dup, c, { ...b }]);
  assert.equal(d.removed, 2);
  assert.deepEqual(d.items.map((x) => x.dataset_index), [0, 1, 2]);
});

test("an eval parquet is split by dataset_name; benchmarks missing from it come from the local copy or fail with a source", { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "eval-pq-"));
  try {
    const d = makeDatasets({ img: 5, txt: 3 });
    const items = [
      ...d.img.map((it) => ({ ...it, dataset_name: "VQA-RAD" })),
      ...d.img.slice(0, 2).map((it, i) => ({ ...it, dataset_name: "PMC-VQA", images: [{ bytes: JPEG, path: null }], dataset_index: 100 + i })),
      ...d.txt.map((it) => ({ ...it, dataset_name: "other_set" })),
    ];
    const file = join(dir, "eval.parquet");
    await writeParquetItems(file, items);
    const { groups, unknown } = await readEvalParquet(file);
    assert.equal(groups.get("vqa-rad")!.length, 5);
    assert.equal(groups.get("pmc-vqa")!.length, 2);
    assert.deepEqual([...unknown], [["other_set", 3]]);
    assert.deepEqual(Array.from(groups.get("pmc-vqa")![0].images![0].bytes!), Array.from(JPEG));
    const loaded = await loadBenchmarks(["pmc-vqa", "vqa-rad"], { evalParquet: file });
    assert.deepEqual(loaded.map((b) => [b.id, b.items.length]), [["pmc-vqa", 2], ["vqa-rad", 5]]);
    assert.ok(loaded[0].notes.some((n) => /2 items in the parquet \(the paper counts 2000\)/.test(n)));
    await assert.rejects(loadBenchmarks(["pathvqa"], { evalParquet: file }), /pathvqa: not available here\. Get .*path-vqa/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("real local copies: VQA-RAD 272 closed, SLAKE 416 closed English, MMLU 1011 after 78 duplicates", { timeout: 60_000 }, async () => {
  const got = await loadBenchmarks(["vqa-rad", "slake", "medxpertqa-mm", "text"]);
  const count = Object.fromEntries(got.map((b) => [b.id, b.items.length]));
  assert.deepEqual(count, { "medxpertqa-mm": 2000, slake: 416, "vqa-rad": 272, medqa: 1273, pubmedqa: 500, medmcqa: 4183, "mmlu-med": 1011, "medxpertqa-text": 1861 });
  const notes = Object.fromEntries(got.map((b) => [b.id, b.notes.join(" | ")]));
  assert.match(notes["mmlu-med"], /78 duplicate questions removed \(1089 -> 1011\)/);
  assert.match(notes["medxpertqa-mm"], /blind baseline/);
  assert.equal(notes["vqa-rad"], "");
  for (const id of ["vqa-rad", "slake"]) {
    const b = got.find((x) => x.id === id)!;
    assert.ok(b.items.every((it) => it.misc?.answer_type === "closed" && it.images?.length === 1), id);
  }
  assert.ok(got.find((x) => x.id === "slake")!.items.every((it) => it.misc?.q_lang === "en"));
});

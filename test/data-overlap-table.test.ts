// overlapTables: the grid, long form and pairs on hand-made sets, and the known real leaks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Item } from "../src/data/item";
import type { ColumnTable } from "../src/data/summary";
import { overlapTables } from "../src/data/overlap-table";
import { loadDataset } from "../src/data/registry";
import { hasSharedData } from "../src/paths";

const rows = (t: ColumnTable) => t.objects() as Record<string, unknown>[];

function mcq(q: string, opts: string[], name: string, i: number): Item {
  const options = Object.fromEntries(opts.map((o, k) => [String.fromCharCode(65 + k), o]));
  return { images: null, question: q, options, answer_label: "A", answer: opts[0], reasoning: null, dataset_name: name, dataset_index: i };
}

test("grid cells: overlapping items, +N for question-only matches; duplicates inside a training set", () => {
  const t1 = [mcq("A?", ["1", "2"], "t1", 0), mcq("B?", ["1", "2"], "t1", 1), mcq("a", ["2", "1"], "t1", 2)];
  const t2 = [mcq("C?", ["1", "2"], "t2", 0)];
  const e1 = [mcq("a?", ["1", "2"], "e1", 5), mcq("C?", ["1", "3"], "e1", 6)];
  const e2 = [mcq("Z?", ["1", "2"], "e2", 0)];
  const r = overlapTables([{ name: "t1", items: t1 }, { name: "t2", items: t2 }], [{ name: "e1", items: e1 }, { name: "e2", items: e2 }]);
  assert.deepEqual(r.grid.objects(), [
    { train: "t1", train_items: 3, train_duplicates: 1, e1: "1", e2: "0" },
    { train: "t2", train_items: 1, train_duplicates: 0, e1: "0 (+1)", e2: "0" },
  ]);
  assert.deepEqual(rows(r.matrix).map((m) => [m.train, m.eval, m.eval_items, m.overlapping, m.question_only]), [
    ["t1", "e1", 2, 1, 0],
    ["t1", "e2", 1, 0, 0],
    ["t2", "e1", 2, 0, 1],
    ["t2", "e2", 1, 0, 0],
  ]);
  assert.deepEqual(rows(r.pairs).map((p) => [p.train, p.eval, p.kind, p.train_item, p.eval_item]), [
    ["t1", "e1", "item", "t1#0", "e1#5"],
    ["t2", "e1", "question only", "t2#0", "e1#6"],
  ]);
});

test("no matches: an empty pairs table with its columns", () => {
  const r = overlapTables([{ name: "t", items: [mcq("A?", ["1", "2"], "t", 0)] }], [{ name: "e", items: [mcq("B?", ["1", "2"], "e", 0)] }]);
  assert.equal(r.pairs.numRows(), 0);
  assert.deepEqual(r.pairs.columnNames(), ["train", "eval", "kind", "train_item", "eval_item", "question"]);
});

describe("real leaks", { skip: !hasSharedData() && "no shared data" }, () => {
  test("HuatuoGPT-o1 vs MedMCQA dev 3, VQA-RAD train vs test 1", async () => {
    const huatuo = (await loadDataset("huatuo-o1", { skipBad: true })).items;
    const medmcqa = (await loadDataset("medmcqa")).items;
    const rad = (await loadDataset("vqa-rad")).items;
    const radTrain = rad.filter((it) => it.misc?.split === "train");
    const radTest = rad.filter((it) => it.misc?.split === "test");
    const r = overlapTables([{ name: "huatuo", items: huatuo }, { name: "rad-train", items: radTrain }], [{ name: "medmcqa", items: medmcqa }, { name: "rad-test", items: radTest }]);
    assert.deepEqual(rows(r.grid).map((g) => [g.train, g.medmcqa, g["rad-test"]]), [["huatuo", "3", "0"], ["rad-train", "0", "1"]]);
    assert.equal(rows(r.grid)[1].train_duplicates, 3);
  });
});

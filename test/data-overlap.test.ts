// Train / eval overlap on hand-made items and on the real leaks PROVENANCE.md lists.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Item } from "../src/data/item";
import { excludeOverlap, overlapKey, overlapReport } from "../src/data/overlap";
import { loadDataset } from "../src/data/registry";
import { hasSharedData } from "../src/paths";

function mcq(q: string, opts: string[], name = "x", i = 0, image?: string): Item {
  const options = Object.fromEntries(opts.map((o, k) => [String.fromCharCode(65 + k), o]));
  return { images: image ? [{ bytes: null, path: `/data/${image}` }] : null, question: q, options, answer_label: "A", answer: opts[0], reasoning: null, dataset_name: name, dataset_index: i };
}

describe("overlap keys", () => {
  test("case, spacing, punctuation and option order do not hide a match", () => {
    assert.equal(overlapKey(mcq("What  is X?", ["Yes", "No"])), overlapKey(mcq("what is x", ["no", "yes "])));
    assert.notEqual(overlapKey(mcq("What is X?", ["Yes", "No"])), overlapKey(mcq("What is X?", ["Yes", "Maybe"])));
    assert.notEqual(overlapKey(mcq("Is it normal?", ["Yes", "No"], "v", 0, "a.jpg")), overlapKey(mcq("Is it normal?", ["Yes", "No"], "v", 0, "b.jpg")));
  });

  test("excludeOverlap drops exactly the training items found in an eval set", () => {
    const train = [mcq("A?", ["1", "2"], "t", 0), mcq("B?", ["1", "2"], "t", 1), mcq("C?", ["1", "2"], "t", 2)];
    const evals = [[mcq("b?", ["2", "1"], "e", 0)], [mcq("C?", ["1", "3"], "f", 0)]];
    const { kept, excluded } = excludeOverlap(train, evals);
    assert.deepEqual(excluded.map((i) => i.dataset_index), [1]);
    assert.deepEqual(kept.map((i) => i.dataset_index), [0, 2]);
    const byQ = excludeOverlap(train, evals, { by: "question" });
    assert.deepEqual(byQ.excluded.map((i) => i.dataset_index), [1, 2]);
    const rep = overlapReport(train, evals);
    assert.deepEqual(rep.perEval.map((p) => [p.overlapping, p.questionOnly]), [[1, 0], [0, 1]]);
  });
});

describe("real leaks", { skip: !hasSharedData() && "no shared data" }, () => {
  test("HuatuoGPT-o1 traces vs MedMCQA dev: records 151, 154, 193", async () => {
    const train = (await loadDataset("huatuo-o1")).items;
    const medmcqa = (await loadDataset("medmcqa")).items;
    const rep = overlapReport(train, [medmcqa]);
    assert.deepEqual(rep.pairs.map((p) => p.train.dataset_index).sort((a, b) => a - b), [151, 154, 193]);
    const ids = rep.pairs.map((p) => String(medmcqa.find((m) => m.dataset_index === p.eval.dataset_index)!.misc?.source_id).slice(0, 8)).sort();
    assert.deepEqual(ids, ["b5135682", "bc8e9ed4", "da529e73"]);
    assert.equal(excludeOverlap(train, [medmcqa]).kept.length, train.length - 3);
  });

  test("VQA-RAD train vs test: 1 triplet in both, 3 duplicates inside train", async () => {
    const train = (await loadDataset("vqa-rad", { split: "train" })).items;
    const testSet = (await loadDataset("vqa-rad", { split: "test" })).items;
    const rep = overlapReport(train, [testSet]);
    assert.equal(rep.pairs.length, 1);
    assert.match(rep.pairs[0].question, /where is the lesion located/i);
    assert.equal(rep.trainDuplicates, 3);
  });
});

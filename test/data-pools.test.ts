// The ablation's two training pools: closed, deduplicated, disjoint from every evaluation set.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Item } from "../src/data/item";
import { overlapReport } from "../src/data/overlap";
import { buildPool, loadEvaluationSets, loadTrainingPool, POOLS } from "../src/data/pools";
import { hasSharedData } from "../src/paths";

function mcq(i: number, question: string, opts: { image?: string; reasoning?: string; open?: boolean; options?: string[] } = {}): Item {
  const options = opts.open ? {} : Object.fromEntries((opts.options ?? ["Yes", "No"]).map((o, k) => [String.fromCharCode(65 + k), o]));
  return {
    images: opts.image ? [{ bytes: null, path: opts.image }] : null,
    question,
    options,
    answer_label: opts.open ? "" : "A",
    answer: opts.open ? "Lung" : (opts.options ?? ["Yes"])[0],
    reasoning: opts.reasoning ?? null,
    dataset_name: "T",
    dataset_index: i,
    misc: opts.open ? { answer_type: "open" } : { answer_type: "closed" },
  };
}

describe("buildPool (synthetic items)", () => {
  const evalSets = [{ name: "slake", items: [mcq(0, "Is the lung healthy?", { image: "/d/imgs/xmlab1/source.jpg" }), mcq(1, "Where is the lesion?", { image: "/d/imgs/xmlab2/source.jpg", open: true })] }];
  const sources = [
    {
      source: "a",
      items: [
        mcq(0, "Is the lung healthy?", { image: "/t/imgs/xmlab1/source.jpg" }), // same question and image as an eval item
        mcq(1, "Is the lung healthy?", { image: "/t/imgs/xmlab3/source.jpg" }), // same question, other image: kept
        mcq(2, "What organ?", { image: "/t/imgs/xmlab3/source.jpg", open: true }), // open: dropped
        mcq(3, "Is the  lung healthy?", { image: "/t/imgs/xmlab3/source.jpg" }), // duplicate of #1 (spacing)
        mcq(4, "Is this a CT?", { image: "/t/imgs/xmlab2/source.jpg" }), // an evaluation image, other question
        mcq(5, "Which drug?", { reasoning: "Because...", options: ["x", "y", "z"] }),
      ],
      skipped: [{ file: "f", record: "#9", field: "answer", reason: "empty" }],
      warnings: ["w"],
    },
    { source: "b", items: [mcq(0, "Where is the lesion?", { image: "/t/imgs/xmlab2/source.jpg", options: ["Left", "Right"] })], skipped: [], warnings: [] },
  ];

  test("open items, duplicates and evaluation questions are dropped and counted per source", () => {
    const p = buildPool({ name: "image-text", analogue: "PMC-VQA" }, sources, evalSets);
    assert.deepEqual(p.items.map((it) => it.dataset_index), [1, 4, 5]);
    assert.deepEqual(p.sft.map((it) => it.dataset_index), [5]);
    assert.deepEqual(p.sources[0], { source: "a", loaded: 6, skipped: 1, open: 1, duplicates: 1, inEvaluation: 1, sharedImage: 1, kept: 3, sft: 1 });
    // The open evaluation question, asked as a choice on the same image, is still the evaluation's question.
    assert.deepEqual(p.sources[1], { source: "b", loaded: 1, skipped: 0, open: 0, duplicates: 0, inEvaluation: 1, sharedImage: 0, kept: 0, sft: 0 });
    assert.deepEqual(p.excluded.map((e) => [e.source, e.dataset_index, e.evalSet]), [["a", 0, "slake"], ["b", 0, "slake"]]);
    assert.equal(p.skipped.length, 1);
    assert.ok(p.warnings.includes("a: w"));
    assert.ok(p.warnings.some((w) => /a: 1 items use an image that an evaluation set also uses \(kept/.test(w)));
  });

  test("disjointImages also drops items on an evaluation image", () => {
    const p = buildPool({ name: "image-text", analogue: "PMC-VQA" }, sources, evalSets, { disjointImages: true });
    assert.deepEqual(p.items.map((it) => it.dataset_index), [1, 5]);
    assert.match(p.excluded[1].evalSet, /slake \(image xmlab2\/source.jpg\)/);
  });
});

describe("the pools on the real files", { skip: !hasSharedData() && "shared data not present" }, () => {
  test("text = HEAD-QA train + dev, PubMedQA train, HuatuoGPT-o1; image-text = SLAKE train + validate, VQA-RAD train; none in any evaluation set", async () => {
    assert.deepEqual(POOLS.text.sources.map((s) => s.dataset), ["headqa-train", "headqa-dev", "pubmedqa", "huatuo-o1"]);
    const evalSets = await loadEvaluationSets();
    assert.deepEqual(evalSets.map((e) => e.items.length), [1273, 4183, 1089, 1861, 500, 451, 1061, 2000]);
    const text = await loadTrainingPool("text", { evalSets });
    assert.deepEqual(text.sources.map((r) => [r.source, r.kept]), [["headqa-train", 2583], ["headqa-dev", 1335], ["pubmedqa:train", 500], ["huatuo-o1", 182]]);
    assert.equal(text.items.length, 4600);
    assert.equal(text.sft.length, 182);
    // HuatuoGPT-o1: 3 questions of MedMCQA dev excluded, 1 repeated record dropped.
    assert.deepEqual(text.excluded.map((e) => [e.dataset_index, e.evalSet]), [[151, "medmcqa"], [154, "medmcqa"], [193, "medmcqa"]]);
    assert.equal(text.sources[3].duplicates, 1);
    assert.ok(text.items.every((it) => it.images === null));
    const image = await loadTrainingPool("image-text", { evalSets });
    assert.deepEqual(image.sources.map((r) => [r.source, r.open, r.duplicates, r.kept]), [["slake-train", 2971, 0, 1940], ["slake-validate", 631, 0, 422], ["vqa-rad:train", 773, 2, 1022]]);
    assert.equal(image.items.length, 3384);
    assert.equal(image.sources[2].sharedImage, 591); // VQA-RAD's train and test share images
    assert.equal(image.sft.length, 0);
    assert.ok(image.items.every((it) => it.images?.length === 1 && Object.keys(it.options).length >= 2));
    // Checked independently of the pool's own filter: no item, and no question with its image, of any evaluation set.
    for (const p of [text, image]) {
      const rep = overlapReport(p.items, evalSets.map((e) => e.items));
      assert.deepEqual(rep.perEval.map((e) => e.overlapping + e.questionOnly), evalSets.map(() => 0), p.name);
      assert.equal(rep.trainDuplicates, 0);
    }
    await assert.rejects(loadTrainingPool("mixed" as never, { evalSets }), (e: Error) => e.name === "ConfigError" && /unknown training pool 'mixed'; known: text, image-text/.test(e.message));
    const strict = await loadTrainingPool("image-text", { evalSets, disjointImages: true });
    assert.equal(strict.sources[2].kept, 431);
  });
});

// The loaders on the real shared data, with the counts PROVENANCE.md reports asserted.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { itemSchema, type Item } from "../src/data/item";
import { loadMedAgentsJsonl } from "../src/data/medagents";
import { overlapKey } from "../src/data/overlap";
import { loadDataset } from "../src/data/registry";
import { dataRoot, hasSharedData } from "../src/paths";

const skip = !hasSharedData() && "shared data not present";

function letterCounts(items: Item[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const it of items) m[it.answer_label] = (m[it.answer_label] ?? 0) + 1;
  return m;
}

function assertAllValid(items: Item[]): void {
  for (const it of items) assert.ok(itemSchema.safeParse(it).success, `${it.dataset_name}#${it.dataset_index} invalid`);
}

describe("text benchmarks", { skip }, () => {
  test("medqa: 1273 items, 4 options, skewed letters", async () => {
    const r = await loadDataset("medqa");
    assert.equal(r.items.length, 1273);
    assert.deepEqual(letterCounts(r.items), { A: 353, B: 309, C: 346, D: 265 });
    assert.ok(r.items.every((it) => Object.keys(it.options).length === 4));
    assert.equal(r.items[0].dataset_name, "medqa");
    assert.equal(r.items[0].misc?.split, "test");
    assertAllValid(r.items);
  });

  test("medmcqa: 4183 items parsed from the Answer Choices tail, 'Both (A) & (C)' kept whole", async () => {
    const r = await loadDataset("medmcqa");
    assert.equal(r.items.length, 4183);
    assert.deepEqual(letterCounts(r.items), { A: 1348, B: 1085, C: 925, D: 825 });
    assert.ok(r.items.every((it) => Object.keys(it.options).length === 4));
    assert.ok(r.items.every((it) => !it.question.includes("Answer Choices")));
    const tricky = r.items.find((it) => it.misc?.source_id === "e3bdd685-6159-4e8e-b379-1f3151942411")!;
    assert.deepEqual(tricky.options, { A: "Commissure of Ganser", B: "Commissure of Gudden", C: "Corpus callosum", D: "Both (A) & (C)" });
    assert.equal(tricky.answer, "Corpus callosum");
    assert.equal(tricky.question, "The largest commissure of the brain:");
  });

  test("mmlu-med: 1089 items, 1011 distinct", async () => {
    const r = await loadDataset("mmlu-med");
    assert.equal(r.items.length, 1089);
    assert.equal(new Set(r.items.map(overlapKey)).size, 1011);
    assert.equal(letterCounts(r.items).D, 352);
  });

  test("medxpertqa-text: 1861 items with 10 options; case-only option pairs kept apart", async () => {
    const r = await loadDataset("medxpertqa-text");
    assert.equal(r.items.length, 1861);
    assert.ok(r.items.every((it) => Object.keys(it.options).length === 10));
    assert.ok(r.items.every((it) => !it.question.includes("Answer Choices")));
    const t345 = r.items.find((it) => it.misc?.source_id === "Text-345")!;
    const vals = Object.values(t345.options);
    assert.ok(vals.includes("Standard Deviation") && vals.includes("Standard deviation"));
    assert.equal(t345.answer_label, "B");
  });

  test("pubmedqa from ori_pqal + ground truth: 500 test (yes 276 / no 169 / maybe 55), same text as MedAgentsBench", async () => {
    const r = await loadDataset("pubmedqa", { split: "test" });
    assert.equal(r.items.length, 500);
    assert.deepEqual(letterCounts(r.items), { A: 276, B: 169, C: 55 });
    assert.deepEqual(r.items[0].options, { A: "yes", B: "no", C: "maybe" });
    const ma = loadMedAgentsJsonl(`${dataRoot()}/pubmedqa/test.jsonl`, { datasetName: "pubmedqa", split: "test" }).items;
    assert.equal(ma.length, 500);
    const byId = new Map(r.items.map((it) => [it.misc?.source_id, it]));
    for (const m of ma) {
      const o = byId.get(m.misc?.source_id)!;
      assert.ok(o, `PMID ${m.misc?.source_id} missing`);
      assert.equal(o.question, m.question);
      assert.equal(o.answer, m.answer);
    }
    assert.ok(ma.every((it) => !JSON.stringify(it.question).includes(String(it.misc?.answer_rationale ?? "\u0000"))));
    assert.equal((await loadDataset("pubmedqa", { split: "train" })).items.length, 500);
    assert.equal((await loadDataset("pubmedqa")).items.length, 1000);
  });

  test("pubmedqa-train: 450 items, disjoint from the test split", async () => {
    const train = await loadDataset("pubmedqa-train");
    const test = await loadDataset("pubmedqa", { split: "test" });
    assert.equal(train.items.length, 450);
    const testIds = new Set(test.items.map((it) => it.misc?.source_id));
    assert.ok(train.items.every((it) => !testIds.has(it.misc?.source_id)));
    assert.equal((await loadDataset("pubmedqa-train", { split: "test" })).items.length, 0);
  });
});

describe("VQA-RAD", { skip }, () => {
  test("2248 QA; test 451 of which 272 closed; all images resolved to absolute paths", async () => {
    const all = await loadDataset("vqa-rad");
    assert.equal(all.items.length, 2248);
    assert.equal(all.items.filter((it) => it.misc?.split === "train").length, 1797);
    const test = await loadDataset("vqa-rad", { split: "test" });
    assert.equal(test.items.length, 451);
    const closed = test.items.filter((it) => it.misc?.answer_type === "closed");
    assert.equal(closed.length, 272);
    assert.equal(test.items.filter((it) => it.misc?.answer_type === "open").length, 179);
    // Yes/no questions become ["Yes", "No"]; every closed key is among its options.
    const yesNo = closed.filter((it) => it.misc?.options_rule === "yes-no");
    assert.equal(yesNo.length, 251);
    assert.ok(yesNo.every((it) => JSON.stringify(it.options) === JSON.stringify({ A: "Yes", B: "No" })));
    assert.ok(closed.every((it) => it.options[it.answer_label] === it.answer));
    assert.ok(all.items.every((it) => it.images?.length === 1 && it.images[0].path!.startsWith("/") && existsSync(it.images[0].path!)));
    assertAllValid(all.items);
  });

  test("known slips are tolerated: string qid, int answers, 'CLOSED ', missing question_rephrase", async () => {
    const all = await loadDataset("vqa-rad");
    const byQid = new Map(all.items.map((it) => [it.misc?.source_id, it]));
    assert.ok(byQid.has("0"));
    for (const q of ["1511", "1568", "1683", "2234", "2235"]) assert.equal(typeof byQid.get(q)!.answer, "string");
    assert.ok(byQid.has("2036") && byQid.has("2037"));
    // Three train CLOSED questions offer no alternatives ("Maybe", "Bilateral frontal lobes"): kept as open and reported.
    const demoted = all.items.filter((it) => it.misc?.source_answer_type === "CLOSED");
    assert.equal(demoted.length, 3);
    assert.ok(all.warnings.some((w) => w.includes("3 CLOSED questions")));
  });
});

describe("SLAKE", { skip }, () => {
  test("English: 1061 QA, 416 closed, 645 open; 61 non-yes/no closed answers get options from the question", async () => {
    const r = await loadDataset("slake");
    assert.equal(r.items.length, 1061);
    const closed = r.items.filter((it) => it.misc?.answer_type === "closed");
    assert.equal(closed.length, 416);
    assert.equal(r.items.filter((it) => it.misc?.answer_type === "open").length, 645);
    const other = closed.filter((it) => it.misc?.options_rule !== "yes-no");
    assert.equal(other.length, 61);
    assert.ok(closed.every((it) => it.options[it.answer_label] === it.answer));
    const t = other.find((it) => it.question === "Which organ is abnormal, heart or lung?")!;
    assert.deepEqual(Object.values(t.options), ["Heart", "Lung"]);
    assert.ok(r.warnings.some((w) => w.includes("1033 non-English")));
    assert.ok(r.items.every((it) => it.misc?.q_lang === "en" && existsSync(it.images![0].path!)));
    assert.equal(new Set(r.items.map((it) => it.images![0].path)).size, 96);
  });
});

describe("MedXpertQA-MM and HuatuoGPT-o1", { skip }, () => {
  test("medxpertqa-mm: 2000 text-only items, one warning about the missing images", async () => {
    const r = await loadDataset("medxpertqa-mm");
    assert.equal(r.items.length, 2000);
    assert.ok(r.items.every((it) => Object.keys(it.options).length === 5 && it.images === null && it.misc?.missing_images === true));
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /images\.zip/);
    assert.ok(r.items.every((it) => !it.question.includes("Answer Choices")));
  });

  test("huatuo-o1: 198 records = 186 usable + 12 letter-coded reported; 20 answers differ and are flagged", async () => {
    const r = await loadDataset("huatuo-o1");
    assert.equal(r.items.length + r.skipped.length, 198);
    assert.equal(r.skipped.length, 12);
    assert.ok(r.skipped.every((s) => s.field === "options" && /letter-coded/.test(s.reason)));
    const differs = r.items.filter((it) => it.misc?.answer_check === "differs");
    assert.equal(differs.length, 20);
    assert.ok(r.warnings.some((w) => w.includes("20 items whose answer differs")));
    assert.ok(r.items.every((it) => typeof it.reasoning === "string" && it.reasoning.length > 1000));
    // 37 raw disagreements (PROVENANCE) = 12 letter-coded + 20 reworded + 5 case / punctuation only.
    const formatting = r.items.filter((it) => it.misc?.answer_check === "agrees" && it.misc.ground_truth_answer !== it.answer);
    assert.equal(formatting.length, 5);
  });
});

describe("loadPath sniffs every shared folder's format", { skip }, () => {
  test("folders load with the same counts as the registry names", async () => {
    const { loadPath } = await import("../src/data/registry");
    const expect: Record<string, number> = {
      medqa: 1273,
      medmcqa: 4183,
      "mmlu-med": 1089,
      "medxpertqa-text": 1861,
      pubmedqa: 1000,
      "vqa-rad": 2248,
      slake: 1061,
      "medxpertqa-mm": 2000,
      "huatuo-o1-traces": 186,
    };
    for (const [folder, n] of Object.entries(expect)) assert.equal((await loadPath(`${dataRoot()}/${folder}`)).items.length, n, folder);
  });
});

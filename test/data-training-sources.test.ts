// Issue 13's new training sources: SLAKE train / validate and HEAD-QA train / dev. The known slips
// of the published files are handled and reported (synthetic files), and the counts on the real
// files are asserted, with the train / evaluation overlap against every evaluation set.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadHeadQa } from "../src/data/headqa";
import { DataError, itemSchema, type Item } from "../src/data/item";
import { overlapReport } from "../src/data/overlap";
import { loadDataset, loadPath, sniffFormat } from "../src/data/registry";
import { canonicalSpellings, collapseSpaces, loadSlake } from "../src/data/slake";
import { dataRoot, hasSharedData } from "../src/paths";

const skip = !hasSharedData() && "shared data not present";
const dir = mkdtempSync(join(tmpdir(), "mvt-train-sources-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function letterCounts(items: Item[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const it of items) m[it.answer_label] = (m[it.answer_label] ?? 0) + 1;
  return m;
}

function slakeFolder(name: string, records: Record<string, unknown>[], extra: Record<string, Record<string, unknown>[]> = {}): string {
  const d = join(dir, name);
  for (const img of ["xmlab1", "xmlab2"]) {
    mkdirSync(join(d, "imgs", img), { recursive: true });
    writeFileSync(join(d, "imgs", img, "source.jpg"), "jpg");
  }
  writeFileSync(join(d, "train.json"), JSON.stringify(records));
  for (const [f, recs] of Object.entries(extra)) writeFileSync(join(d, f), JSON.stringify(recs));
  return join(d, "train.json");
}

const rec = (qid: number, question: string, answer: string, type = "OPEN", img = "xmlab1", lang = "en") => ({ img_id: 1, img_name: `${img}/source.jpg`, question, answer, q_lang: lang, location: "Lung", modality: "CT", answer_type: type, base_type: "vqa", qid, content_type: "Organ" });

describe("SLAKE slips (synthetic file)", () => {
  test("spellings: collapse spaces; the most frequent case variant wins, ties keep the first seen", () => {
    assert.equal(collapseSpaces(" Transverse  Plane "), "Transverse Plane");
    const m = canonicalSpellings(["Spinal cord", "Spinal Cord", "Spinal Cord", "Liver", "Right lung", "Right Lung"]);
    assert.deepEqual([...m], [["spinal cord", "Spinal Cord"], ["right lung", "Right lung"]]);
  });

  test("duplicates and an empty answer are dropped and listed; spaces and case are normalised and reported", () => {
    const f = slakeFolder("slips", [
      rec(0, "Which plane is this?", "Transverse  Plane"),
      rec(1, "What is this?", "Spinal cord"),
      rec(2, "What is this?", "Spinal Cord", "OPEN", "xmlab2"),
      rec(3, "Is this a CT?", "Yes", "CLOSED"),
      rec(4, "Is this a CT?", "Yes", "CLOSED"),
      rec(5, "Does the picture contain liver?", ""),
      rec(6, "Which organ is abnormal, heart or lung?", "Lung", "CLOSED"),
      rec(7, "这是什么?", "肺", "OPEN", "xmlab1", "zh"),
    ], { "test.json": [rec(8, "What is this?", "Spinal cord", "OPEN", "xmlab2")] });
    const c = loadSlake(f, {});
    assert.deepEqual(c.items.map((it) => it.misc?.source_id), ["0", "1", "2", "3", "6"]);
    assert.deepEqual(c.skipped.map((s) => [s.record, s.field]), [["qid 4 (#4)", "(record)"], ["qid 5 (#5)", "answer"]]);
    assert.match(c.skipped[0].reason, /duplicate of qid 3/);
    assert.equal(c.items[0].answer, "Transverse Plane");
    assert.equal(c.items[0].misc?.source_answer, "Transverse  Plane");
    // "Spinal cord" twice (train once + test once) beats "Spinal Cord" once: the folder's spelling.
    assert.deepEqual(c.items.slice(1, 3).map((it) => it.answer), ["Spinal cord", "Spinal cord"]);
    assert.equal(c.items[2].misc?.source_answer, "Spinal Cord");
    assert.deepEqual(Object.values(c.items[4].options), ["Heart", "Lung"]);
    for (const w of [/1 non-English/, /1 English records exactly duplicate.*4 = 3/, /empty answer dropped \(qid 5\)/, /1 answers had repeated spaces/, /'Spinal Cord' -> 'Spinal cord' 1/, /1 CLOSED questions are choices, not yes\/no: 1 take their options from the question \(list 1\)/]) {
      assert.ok(c.warnings.some((x) => w.test(x)), `no warning matching ${w}: ${c.warnings.join(" | ")}`);
    }
  });

  test("a broken neighbouring split file is reported, not fatal", () => {
    const f = slakeFolder("brokenneighbour", [rec(0, "Is this a CT?", "Yes", "CLOSED")]);
    writeFileSync(join(dir, "brokenneighbour", "validate.json"), "[{");
    const c = loadSlake(f, {});
    assert.equal(c.items.length, 1);
    assert.ok(c.warnings.some((w) => /validate\.json not read for answer spellings/.test(w)));
  });

  test("a missing image still fails with file, record and field", () => {
    const f = slakeFolder("noimg", [rec(0, "Is this a CT?", "Yes", "CLOSED", "xmlab9")]);
    assert.throws(() => loadSlake(f, {}), (e: unknown) => e instanceof DataError && e.record === "qid 0 (#0)" && e.field === "img_name");
  });
});

function headqaFile(name: string, data: Record<string, unknown>[], exam = "Cuaderno_2013_1_B"): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify({ version: "1.0", language: "en", exams: { [exam]: { name: exam, category: "biology", year: "2013", data } } }));
  return f;
}
const hq = (qid: string, qtext: string, ra: string, texts: string[], image = "") => ({ qid, qtext, ra, answers: texts.map((atext, i) => ({ aid: i + 1, atext })), image });

describe("HEAD-QA format (synthetic file)", () => {
  test("string ra matches the int aid; image questions and exact duplicates are dropped and listed", () => {
    const f = headqaFile("train_HEAD_EN.json", [
      hq("1", "Insulin:", "3", ["a", "b", "c", "d", "e"]),
      hq("2", "Question linked to the image nº1. What is shown?", "1", ["x", "y", "z", "w", "v"], "./data/MIR/img.png"),
      hq("3", "Insulin:", "3", ["a", "b", "c", "d", "e"]),
      hq("4", "Insulin:", "2", ["p", "q", "r", "s", "t"]),
    ]);
    assert.equal(sniffFormat(f), "headqa");
    const c = loadHeadQa(f);
    assert.deepEqual(c.items.map((it) => [it.misc?.source_id, it.answer_label, it.answer]), [["Cuaderno_2013_1_B#1", "C", "c"], ["Cuaderno_2013_1_B#4", "B", "q"]]);
    assert.equal(c.items[0].misc?.split, "train");
    assert.deepEqual(c.skipped.map((s) => s.field), ["image", "(record)"]);
    assert.ok(c.warnings.some((w) => /1 questions refer to an image/.test(w)));
    assert.ok(c.warnings.some((w) => /Cuaderno_2013_1_B#3 = Cuaderno_2013_1_B#1/.test(w)));
    const kept = loadHeadQa(f, { keepImageQuestions: true });
    assert.equal(kept.items.filter((it) => it.misc?.missing_images === true).length, 1);
  });

  test("an ra that is no aid fails naming exam, qid and field", () => {
    const f = headqaFile("bad.json", [hq("7", "Q?", "6", ["a", "b", "c", "d", "e"])]);
    assert.throws(() => loadHeadQa(f), (e: unknown) => e instanceof DataError && e.record === "exam Cuaderno_2013_1_B qid 7" && e.field === "ra");
    assert.equal(loadHeadQa(f, { skipBad: true }).skipped[0].field, "ra");
  });
});

describe("real files", { skip }, () => {
  test("slake-train: 4,919 English QA - 7 duplicates - 1 empty answer = 4,911 (closed 1,940, of which 262 choices)", async () => {
    const r = await loadDataset("slake-train");
    assert.equal(r.items.length, 4911);
    assert.equal(r.skipped.length, 8);
    const closed = r.items.filter((it) => it.misc?.answer_type === "closed");
    assert.equal(closed.length, 1940);
    assert.equal(closed.filter((it) => it.misc?.options_rule !== "yes-no").length, 262);
    assert.deepEqual(letterCounts(closed), { A: 976, B: 944, C: 20 });
    assert.equal(r.items.filter((it) => it.misc?.source_answer === "Transverse  Plane").length, 68);
    assert.ok(!r.items.some((it) => /\s\s/.test(it.answer)));
    assert.ok(r.items.every((it) => it.misc?.split === "train" && existsSync(it.images![0].path!)));
    assert.equal(new Set(r.items.map((it) => it.images![0].path)).size, 450);
    assert.ok(r.items.every((it) => itemSchema.safeParse(it).success));
    assert.ok(r.warnings.some((w) => /qid 592 = 585/.test(w)));
    assert.ok(r.warnings.some((w) => /empty answer dropped \(qid 1622\)/.test(w)));
  });

  test("slake-validate: 1,053 English QA, closed 422 (64 choices), no duplicates; loads as training data", async () => {
    const r = await loadDataset("slake-validate", { split: "train" });
    assert.equal(r.items.length, 1053);
    assert.equal(r.skipped.length, 0);
    const closed = r.items.filter((it) => it.misc?.answer_type === "closed");
    assert.equal(closed.length, 422);
    assert.equal(closed.filter((it) => it.misc?.options_rule !== "yes-no").length, 64);
    assert.ok(r.items.every((it) => it.misc?.split === "validation"));
    assert.equal(new Set(r.items.map((it) => it.images![0].path)).size, 96);
  });

  test("one spelling per answer across SLAKE's three splits (9 case pairs, 'Transverse Plane')", async () => {
    const all = [...(await loadDataset("slake-train")).items, ...(await loadDataset("slake-validate")).items, ...(await loadDataset("slake")).items];
    const byLower = new Map<string, Set<string>>();
    for (const it of all) {
      const k = it.answer.toLowerCase();
      if (!byLower.has(k)) byLower.set(k, new Set());
      byLower.get(k)!.add(it.answer);
    }
    assert.deepEqual([...byLower.values()].filter((s) => s.size > 1), []);
    const changed = new Set(all.filter((it) => it.misc?.source_answer !== undefined && it.misc.source_answer !== it.answer).map((it) => String(it.misc?.source_answer).replace(/\s+/g, " ").toLowerCase()));
    assert.equal(changed.size, 10); // the 9 case pairs of PROVENANCE.md + "transverse plane"
  });

  test("headqa-train: 2,657 - 68 image questions - 6 duplicates = 2,583, 5 options; headqa-dev: 1,366 - 30 - 1 = 1,335, 4 options", async () => {
    const train = await loadDataset("headqa-train");
    assert.equal(train.items.length, 2583);
    assert.deepEqual(train.skipped.map((s) => s.field).sort(), [...Array(6).fill("(record)"), ...Array(68).fill("image")]);
    assert.ok(train.items.every((it) => Object.keys(it.options).length === 5 && it.images === null));
    assert.deepEqual(letterCounts(train.items), { A: 531, B: 571, C: 536, D: 542, E: 403 });
    const dev = await loadDataset("headqa-dev", { split: "train" });
    assert.equal(dev.items.length, 1335);
    assert.equal(dev.skipped.filter((s) => s.field === "image").length, 30);
    assert.equal(dev.skipped.filter((s) => s.field === "(record)").length, 1);
    assert.ok(dev.items.every((it) => Object.keys(it.options).length === 4 && it.misc?.split === "validation"));
    assert.ok(dev.warnings.some((w) => /Cuaderno_2015_1_Q#164 = Cuaderno_2015_1_F#151/.test(w)));
    // The folder loads by sniffing too.
    assert.equal((await loadPath(`${dataRoot()}/headqa/train_HEAD_EN.json`)).items.length, 2583);
  });

  test("no item of SLAKE train / validate or HEAD-QA train / dev is in any evaluation set", async () => {
    const evalNames = ["medqa", "medmcqa", "mmlu-med", "medxpertqa-text", "pubmedqa", "vqa-rad", "slake", "medxpertqa-mm"] as const;
    const evals: Item[][] = [];
    for (const n of evalNames) evals.push((await loadDataset(n, { split: "test" })).items);
    for (const t of ["slake-train", "slake-validate", "headqa-train", "headqa-dev"] as const) {
      const rep = overlapReport((await loadDataset(t)).items, evals);
      assert.deepEqual(rep.perEval.map((p) => p.overlapping + p.questionOnly), evalNames.map(() => 0), t);
      assert.equal(rep.trainDuplicates, 0, t);
    }
  });

  test("SLAKE images are told apart by folder (every file is source.jpg): a template question on two images is not one item", async () => {
    const r = (await loadDataset("slake-train")).items;
    const q = r.filter((it) => it.question === "What modality is used to take this image?");
    assert.ok(q.length > 10);
    assert.equal(overlapReport(q, []).trainDuplicates, 0);
  });
});

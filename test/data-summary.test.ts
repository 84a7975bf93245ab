// Dataset summary tables: hand-made items with known counts, then the real files' known issues.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Item } from "../src/data/item";
import { loadDataset, type LoadResult } from "../src/data/registry";
import { datasetSummary, lengthStats, loaderIssues, optionsRuleTable, splitCounts } from "../src/data/summary";
import { hasSharedData } from "../src/paths";
import { buildPrompt } from "../src/prompt";

function mcq(q: string, opts: string[], key: number, i: number, extra: Partial<Item> = {}, misc: Record<string, unknown> = { split: "test" }): Item {
  const options = Object.fromEntries(opts.map((o, k) => [String.fromCharCode(65 + k), o]));
  const answer_label = String.fromCharCode(65 + key);
  return { images: null, question: q, options, answer_label, answer: opts[key], reasoning: null, dataset_name: "toy", dataset_index: i, misc, ...extra };
}
const open = (q: string, a: string, i: number): Item => ({ images: [{ bytes: null, path: `/x/${i}.jpg` }], question: q, options: {}, answer_label: "", answer: a, reasoning: null, dataset_name: "toy", dataset_index: i, misc: { split: "train", answer_type: "open" } });
const result = (name: string, items: Item[], extra: Partial<LoadResult> = {}): LoadResult => ({ name, items, skipped: [], warnings: [], ...extra });

describe("datasetSummary on hand-made items", () => {
  const items = [
    mcq("q1", ["a", "b", "c", "d"], 0, 0),
    mcq("q2", ["a", "b", "c", "d"], 0, 1),
    mcq("q3", ["a", "b", "c", "d", "e"], 4, 2, { reasoning: "because" }),
    mcq("q1", ["a", "b", "c", "d"], 0, 3), // a duplicate of the first
    open("what is it?", "a lung", 4),
  ];
  const s = datasetSummary([result("toy", items, { skipped: [{ file: "f", record: 7, field: "options", reason: "bad" }], warnings: ["w"] })]);

  test("per-source counts", () => {
    const [row] = s.perSource.objects() as Record<string, unknown>[];
    assert.deepEqual(row, { dataset: "toy", items: 5, splits: "test 4, train 1", closed: 4, open: 1, with_images: 1, with_reasoning: 1, duplicates: 1, skipped: 1, warnings: 1 });
  });

  test("options histogram, open questions under 0", () => {
    assert.deepEqual(s.options.objects(), [
      { dataset: "toy", options: 0, items: 1 },
      { dataset: "toy", options: 4, items: 3 },
      { dataset: "toy", options: 5, items: 1 },
    ]);
  });

  test("letter shares against the random-placement share of mixed 4- and 5-option items", () => {
    const rows = s.letters.objects() as { letter: string; items: number; share: number; expected: number; ratio: number }[];
    assert.deepEqual(rows.map((r) => r.letter), ["A", "B", "C", "D", "E"]);
    const a = rows[0];
    assert.equal(a.items, 3);
    assert.equal(a.share, 3 / 4);
    assert.ok(Math.abs(a.expected - (3 / 4 + 1 / 5) / 4) < 1e-12);
    const e = rows[4];
    assert.equal(e.items, 1);
    assert.ok(Math.abs(e.expected - 1 / 5 / 4) < 1e-12);
    assert.ok(Math.abs(e.ratio - 1 / (1 / 5)) < 1e-12);
    assert.equal(rows[1].items, 0);
    assert.equal(rows[1].ratio, 0);
  });

  test("lengths: the question, and the published prompt for closed items", () => {
    assert.deepEqual(s.lengths.array("question_chars"), [2, 2, 2, 2, 11]);
    assert.deepEqual(s.lengths.array("prompt_chars"), [...items.slice(0, 4).map((it) => buildPrompt(it).length), 11]);
    const [st] = lengthStats(s.lengths).objects() as Record<string, number>[];
    assert.equal(st.median_question, 2);
    assert.equal(st.max_question, 11);
  });

  test("splitCounts", () => {
    assert.equal(splitCounts([{ misc: { split: "b" } }, { misc: { split: "a" } }, { misc: {} }]), "- 1, a 1, b 1");
  });
});

test("loaderIssues lists skipped records and warnings, cut to maxChars", () => {
  const t = loaderIssues([result("x", [], { skipped: [{ file: "f", record: "#3", field: "options", reason: "r".repeat(50) }], warnings: ["w1"] }), result("y", [])], { maxChars: 10 });
  assert.deepEqual(t.objects(), [
    { dataset: "x", kind: "skipped", record: "#3", field: "options", detail: "rrrrrrrrr…" },
    { dataset: "x", kind: "warning", record: "", field: "", detail: "w1" },
  ]);
  assert.equal(loaderIssues([result("y", [])]).numRows(), 0);
  assert.deepEqual(loaderIssues([result("y", [])]).columnNames(), ["dataset", "kind", "record", "field", "detail"]);
});

test("optionsRuleTable groups by answer type and rule", () => {
  const yes = mcq("is it?", ["Yes", "No"], 0, 0, {}, { split: "test", answer_type: "closed", options_rule: "yes-no" });
  const yes2 = mcq("is that?", ["Yes", "No"], 1, 1, {}, { split: "test", answer_type: "closed", options_rule: "yes-no" });
  const or = mcq("T1 or T2?", ["T1", "T2"], 1, 2, {}, { split: "test", answer_type: "closed", options_rule: "or" });
  const unruled = { ...open("which lobe?", "frontal", 3), misc: { split: "train", answer_type: "open", source_answer_type: "CLOSED" } };
  const rows = optionsRuleTable([yes, or, yes2, unruled]).objects() as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => [r.split, r.answer_type, r.options_rule, r.items]), [
    ["test", "closed", "yes-no", 2],
    ["test", "closed", "or", 1],
    ["train", "open (CLOSED, no rule)", "-", 1],
  ]);
  assert.equal(rows[0].example, "is it? → A A. Yes / B. No");
});

describe("real data", { skip: !hasSharedData() && "no shared data" }, () => {
  test("known issues show up: Huatuo skipped, MMLU duplicates, MedXpertQA-MM warned, VQA-RAD closed test 272", async () => {
    const rs = [await loadDataset("huatuo-o1", { skipBad: true }), await loadDataset("mmlu-med"), await loadDataset("medxpertqa-mm"), await loadDataset("vqa-rad")];
    const s = datasetSummary(rs);
    const per = Object.fromEntries((s.perSource.objects() as Record<string, number>[]).map((r) => [r.dataset, r]));
    assert.equal(per["huatuo-o1"].skipped, 12);
    assert.equal(per["huatuo-o1"].items, 186);
    assert.equal(per["mmlu-med"].duplicates, 78);
    assert.equal(per["medxpertqa-mm"].with_images, 0);
    assert.equal(per["vqa-rad"].items, 2248);
    const issues = loaderIssues(rs).objects() as Record<string, string>[];
    assert.equal(issues.filter((r) => r.dataset === "huatuo-o1" && r.kind === "skipped").length, 12);
    assert.ok(issues.some((r) => r.dataset === "medxpertqa-mm" && /images not found for 2000 questions/.test(r.detail)));
    const rules = optionsRuleTable(rs[3].items).objects() as { split: string; answer_type: string; items: number }[];
    const closedTest = rules.filter((r) => r.split === "test" && r.answer_type === "closed").reduce((a, r) => a + r.items, 0);
    assert.equal(closedTest, 272);
    // MMLU's letters lean to D (352 of 1,089 in the file).
    const d = (s.letters.objects() as Record<string, unknown>[]).find((r) => r.dataset === "mmlu-med" && r.letter === "D")!;
    assert.equal(d.items, 352);
    assert.ok(Number(d.ratio) > 1.2);
  });
});

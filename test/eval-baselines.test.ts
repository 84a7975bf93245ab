// The floors and the ablation table's pieces: chance, the best constant-letter predictor, letter
// distributions, yes/no shares, McNemar against base / blind / constant, the paper's recipe rows.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Item } from "../src/data/item";
import { ABLATION_RECIPES, acrossSeeds, benchmarkVerdicts, paperRowsForRecipes, paperTraining, verdictTable } from "../src/eval/ablation-table";
import { chanceAccuracy, constantLetter, constantLetterRecords, fixedSample, goldLetterCounts, isYesNo, letterDistribution, yesNoShares } from "../src/eval/baselines";
import { loadBenchmarks } from "../src/eval/benchmarks";
import { letterDistributionFigure } from "../src/eval/notebook";
import { itemHash } from "../src/data/item";
import { PAPER_COLUMNS, parsePaperCsv } from "../src/eval/paper";
import { mcnemarExact } from "../src/eval/stats";
import type { ResultRecord } from "../src/eval/store";
import { hasSharedData } from "../src/paths";

const yn = (i: number, gold: "A" | "B"): Item => ({
  images: null,
  question: `q${i}?`,
  options: { A: "Yes", B: "No" },
  answer_label: gold,
  answer: gold === "A" ? "Yes" : "No",
  reasoning: null,
  dataset_name: "t",
  dataset_index: i,
});

/** Records of one run: `pick(i)` is the letter answered on item i (null: unreadable). */
function recordsOf(benchmark: string, items: Item[], pick: (i: number) => string | null, run = 0): ResultRecord[] {
  return items.map((it, index) => {
    const p = pick(index);
    return { benchmark, index, hash: itemHash(it), run, sample: 0, response: p ?? "?", finish_reason: "stop", correct: p === it.answer_label, predicted: p, gold: it.answer_label };
  });
}

describe("baselines (synthetic items)", () => {
  // 20 yes/no items: 12 gold Yes (A), 8 gold No (B).
  const items = Array.from({ length: 20 }, (_, i) => yn(i, i < 12 ? "A" : "B"));

  test("chance is the mean of 1/options; the constant letter is the most frequent gold letter, ties to the earliest", () => {
    assert.equal(chanceAccuracy(items), 50);
    assert.equal(chanceAccuracy([{ options: { A: "a", B: "b" } }, { options: { A: "a", B: "b", C: "c", D: "d" } }]), 37.5);
    const c = constantLetter(items);
    assert.deepEqual([c.letter, c.correct, c.items, c.accuracy], ["A", 12, 20, 60]);
    assert.ok(c.ci_lo < 60 && c.ci_hi > 60 && c.ci_lo > 35 && c.ci_hi < 80);
    assert.equal(constantLetter([yn(0, "B"), yn(1, "A")]).letter, "A");
    assert.deepEqual(goldLetterCounts(items), { A: 12, B: 8 });
    const recs = constantLetterRecords("t", items);
    assert.equal(recs.filter((r) => r.correct).length, 12);
    assert.ok(recs.every((r, i) => r.index === i && r.hash === itemHash(items[i]) && r.predicted === "A"));
  });

  test("letter distribution and yes/no shares show a model stuck on one letter", () => {
    const stuck = recordsOf("t", items, () => "A");
    assert.deepEqual(letterDistribution(stuck), { t: { A: 20 } });
    assert.deepEqual(yesNoShares(stuck, items), { answers: 20, yes: 1, no: 0, none: 0 });
    const mixed = recordsOf("t", items, (i) => (i % 4 === 0 ? null : i % 2 ? "B" : "A"));
    assert.deepEqual(letterDistribution(mixed), { t: { A: 5, B: 10, none: 5 } });
    assert.deepEqual(yesNoShares(mixed, items), { answers: 20, yes: 0.25, no: 0.5, none: 0.25 });
    assert.ok(isYesNo({ options: { A: "no", B: "YES" } }) && !isYesNo({ options: { A: "Yes", B: "No", C: "Maybe" } }));
  });

  test("fixedSample: n items in their order, the same for the same seed, others for another", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const a = fixedSample(xs, 10, 7);
    assert.equal(a.length, 10);
    assert.deepEqual(a, [...a].sort((x, y) => x - y));
    assert.deepEqual(fixedSample(xs, 10, 7), a);
    assert.notDeepEqual(fixedSample(xs, 10, 8), a);
    assert.deepEqual(fixedSample(xs, 200), xs);
  });

  test("verdicts: accuracy, blind, and exact McNemar against base, blind and the constant letter", () => {
    // Model right on items 0-15 (16/20); blind right on 0-9; base answers A always (12/20).
    const model = recordsOf("t", items, (i) => (i < 16 ? items[i].answer_label : items[i].answer_label === "A" ? "B" : "A"));
    const blind = recordsOf("t", items, (i) => (i < 10 ? items[i].answer_label : items[i].answer_label === "A" ? "B" : "A"));
    const base = recordsOf("t", items, () => "A");
    const [v] = benchmarkVerdicts({ records: model, items: { t: items }, blind, base });
    assert.equal(v.items, 20);
    assert.equal(v.accuracy, 80);
    assert.equal(v.blind_accuracy, 50);
    // vs blind: model-only right on 10-15 (6), blind-only 0.
    assert.equal(v.p_vs_blind, mcnemarExact(6, 0));
    // vs base (always A): model right & base wrong on 12-15 (4); base right & model wrong: none of 16-19 is gold A.
    assert.equal(v.p_vs_base, mcnemarExact(4, 0));
    assert.equal(v.p_vs_constant, v.p_vs_base); // the constant letter here is the base's A
    assert.deepEqual([v.constant_letter, v.constant_accuracy, v.chance], ["A", 60, 50]);
    // Right on 0-15 (A on 0-11, B on 12-15), then A on the four gold-B items 16-19.
    assert.deepEqual(v.letters, { A: 16, B: 4 });
    assert.equal(v.yes_share, 0.8);
    assert.equal(v.no_share, 0.2);
    const [noPair] = benchmarkVerdicts({ records: model, items: { t: items } });
    assert.equal(noPair.p_vs_base, null);
    assert.equal(noPair.blind_accuracy, null);
    const table = verdictTable([{ name: "RL(image-text)", verdicts: [v] }]);
    assert.equal(table[0].row, "RL(image-text)");
    assert.equal(table[0]["constant letter"], "A 60");
    assert.throws(() => benchmarkVerdicts({ records: model, items: {} }), /no items given for benchmark 't'/);
  });
});

test("acrossSeeds: mean, sample std and range per benchmark; blind only when every seed has one", () => {
  const v = (benchmark: string, accuracy: number, blind: number | null) => ({ benchmark, accuracy, blind_accuracy: blind }) as never;
  const s = acrossSeeds([[v("slake", 60, 50), v("vqa-rad", 50, null)], [v("slake", 70, 52)], [v("slake", 80, 54)]]);
  assert.deepEqual(s.map((x) => [x.benchmark, x.seeds, x.mean, x.std, x.min, x.max, x.blind_mean]), [["slake", 3, 70, 10, 60, 80, 52], ["vqa-rad", 1, 50, 0, 50, 50, null]]);
});

test("letterDistributionFigure: gold first, one stacked trace per letter, shares in percent", () => {
  const items = Array.from({ length: 4 }, (_, i) => yn(i, i < 3 ? "A" : "B"));
  const stuck = recordsOf("t", items, () => "A");
  const mixed = recordsOf("t", items, (i) => (i === 0 ? null : "B"));
  const fig = letterDistributionFigure([{ name: "RL(text)", records: stuck }, { name: "SFT(text)", records: mixed }], "t", items);
  assert.deepEqual(fig.data.map((t) => t.name), ["A", "B", "none"]);
  assert.deepEqual(fig.data[0].x, ["gold answers", "RL(text)", "SFT(text)"]);
  assert.deepEqual(fig.data.map((t) => t.y), [[75, 100, 0], [25, 0, 75], [0, 0, 25]]);
  assert.equal(fig.layout?.barmode, "stack");
});

describe("the paper's rows for our recipes", () => {
  const csv = "model,training,data_kind,pmc_vqa,mmmu_med,medxpertqa_mm,pathvqa,slake,vqa_rad,avg\nQwen2.5-VL-3B-Instruct,base,,44.77,44.12,20.69,61.96,61.30,62.01,49.14\nMedVLThinker-3B,RL(PMC-VQA),image-text,54.22,48.43,21.51,51.61,75.56,62.38,52.28\n";
  test("text = m23k, image-text = PMC-VQA; columns in the paper's order; a missing recipe is marked", () => {
    assert.equal(paperTraining("SFT(text)+RL(image-text)"), "SFT(m23k)+RL(PMC-VQA)");
    assert.equal(ABLATION_RECIPES.length, 7);
    const rows = paperRowsForRecipes(["base", "RL(image-text)", "SFT(text)"], { rows: parsePaperCsv(csv) });
    assert.deepEqual(Object.keys(rows[1]), ["recipe", "paper_model", "paper_training", ...PAPER_COLUMNS, "avg"]);
    assert.equal(rows[0].paper_model, "Qwen2.5-VL-3B-Instruct");
    assert.equal(rows[1].slake, 75.56);
    assert.equal(rows[2].missing, true);
    assert.equal(rows[2].slake, null);
  });

  test("every one of the seven recipes has a 3B row in shared/reference", { skip: !hasSharedData() && "no shared data" }, () => {
    const rows = paperRowsForRecipes(ABLATION_RECIPES);
    assert.ok(rows.every((r) => !r.missing), JSON.stringify(rows.filter((r) => r.missing)));
    assert.deepEqual(rows.map((r) => r.vqa_rad), [62.01, 33.09, 58.58, 71.08, 62.38, 60.17, 50.98]);
  });
});

describe("the full closed test sets", { skip: !hasSharedData() && "no shared data" }, () => {
  test("VQA-RAD 272 (constant B 143 = 52.6%), SLAKE English 416 (constant B 210 = 50.5%), chance just under 50%", async () => {
    const [vqa, slake] = await loadBenchmarks(["vqa-rad", "slake"]);
    assert.equal(vqa.items.length, 272);
    assert.equal(slake.items.length, 416);
    assert.deepEqual(goldLetterCounts(vqa.items), { A: 126, B: 143, C: 3 });
    assert.deepEqual(goldLetterCounts(slake.items), { A: 203, B: 210, C: 3 });
    const cv = constantLetter(vqa.items);
    const cs = constantLetter(slake.items);
    assert.deepEqual([cv.letter, cv.correct], ["B", 143]);
    assert.deepEqual([cs.letter, cs.correct], ["B", 210]);
    assert.equal(Math.round(chanceAccuracy(vqa.items) * 100) / 100, 49.82);
    assert.equal(Math.round(chanceAccuracy(slake.items) * 100) / 100, 49.56);
  });
});

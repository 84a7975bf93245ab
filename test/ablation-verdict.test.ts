// The ablation's per-benchmark figures come from the eval layer (src/eval/ablation-table.ts
// oneAnswerVerdict): on synthetic rows they equal, field for field, what src/stages/ablation.ts
// benchmarkResult computes (constant letter, McNemar against base / blind / constant, Wilson
// interval, letter and yes/no shares), including items with no answer and repeated questions.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Item } from "../src/data/item";
import { oneAnswerVerdict } from "../src/eval/ablation-table";
import { mulberry32 } from "../src/eval/stats";
import type { ResultRecord } from "../src/eval/store";
import { benchmarkResult } from "../src/stages/ablation";

const LETTERS = ["A", "B", "C", "D", "E"];

function makeItems(rand: () => number, n: number): Item[] {
  return Array.from({ length: n }, (_, i) => {
    const yesNo = rand() < 0.4;
    const k = yesNo ? 2 : 3 + Math.floor(rand() * 3);
    const options = yesNo ? { A: "Yes", B: "No" } : Object.fromEntries(LETTERS.slice(0, k).map((l) => [l, `option ${l}`]));
    const answer_label = LETTERS[Math.floor(rand() * k)];
    // Every fifth question repeats an earlier one (the same hash at two positions).
    const q = i % 5 === 4 ? `q${i - 1}` : `q${i}`;
    return { images: null, question: q, options, answer_label, answer: options[answer_label as keyof typeof options], reasoning: null, dataset_name: "x", dataset_index: i };
  });
}

/** One answer per item, some items skipped, some unreadable, some right with probability `skill`. */
function makeRecords(rand: () => number, items: Item[], skill: number, skip: number): ResultRecord[] {
  const out: ResultRecord[] = [];
  items.forEach((it, index) => {
    if (rand() < skip) return;
    const letters = Object.keys(it.options);
    const u = rand();
    const predicted = u < skill ? it.answer_label : u < 0.9 ? letters[Math.floor(rand() * letters.length)] : null;
    out.push({ benchmark: "x", index, hash: "h", run: 0, sample: 0, response: "", finish_reason: "stop", correct: predicted === it.answer_label, predicted, gold: it.answer_label });
  });
  return out;
}

test("oneAnswerVerdict equals the ablation's benchmarkResult on synthetic rows", () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rand = mulberry32(seed);
    const items = makeItems(rand, 5 + Math.floor(rand() * 40));
    const own = makeRecords(rand, items, 0.6, seed % 3 === 0 ? 0.15 : 0);
    const blind = seed % 2 ? makeRecords(rand, items, 0.4, 0) : null;
    const base = seed % 4 !== 1 ? makeRecords(rand, items, 0.3, seed % 5 === 0 ? 0.2 : 0) : null;
    const want = benchmarkResult(items, own, blind, base);
    const got = oneAnswerVerdict(items, own, blind, base);
    assert.deepStrictEqual(got, want, `seed ${seed}`);
    // The same letters in the same order (results files are compared as text).
    assert.equal(JSON.stringify(got), JSON.stringify(want), `seed ${seed}`);
  }
});

test("oneAnswerVerdict: a tie between gold letters goes to the earliest, and a row of constant answers has p 1 against the constant letter", () => {
  const items = makeItems(mulberry32(7), 12).map((it, i) => ({ ...it, options: { A: "a", B: "b", C: "c" }, answer_label: i % 2 ? "C" : "B" }));
  const own = items.map((it, index): ResultRecord => ({ benchmark: "x", index, hash: "h", run: 0, sample: 0, response: "", finish_reason: "stop", correct: it.answer_label === "B", predicted: "B", gold: it.answer_label }));
  const got = oneAnswerVerdict(items, own, null, null);
  assert.deepStrictEqual(got, benchmarkResult(items, own, null, null));
  assert.equal(got.constant_letter, "B");
  assert.equal(got.p_vs_constant, 1);
  assert.deepStrictEqual(got.letters, { B: 1 });
  assert.equal(got.yes_share, null);
});

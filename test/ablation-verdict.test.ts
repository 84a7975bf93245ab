// The ablation's per-benchmark figures (src/eval/ablation-table.ts oneAnswerVerdict); the
// hand-computed case is in ablation-parts.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Item } from "../src/data/item";
import { oneAnswerVerdict } from "../src/eval/ablation-table";
import { mulberry32 } from "../src/eval/stats";
import type { ResultRecord } from "../src/eval/store";

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


test("oneAnswerVerdict: a tie between gold letters goes to the earliest, and a row of constant answers has p 1 against the constant letter", () => {
  const items = makeItems(mulberry32(7), 12).map((it, i) => ({ ...it, options: { A: "a", B: "b", C: "c" }, answer_label: i % 2 ? "C" : "B" }));
  const own = items.map((it, index): ResultRecord => ({ benchmark: "x", index, hash: "h", run: 0, sample: 0, response: "", finish_reason: "stop", correct: it.answer_label === "B", predicted: "B", gold: it.answer_label }));
  const got = oneAnswerVerdict(items, own, null, null);
  assert.equal(got.constant_letter, "B");
  assert.equal(got.p_vs_constant, 1);
  assert.deepStrictEqual(got.letters, { B: 1 });
  assert.equal(got.yes_share, null);
});

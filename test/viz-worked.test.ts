/** Worked examples for the notebooks: the reward beside the regrade rule, and one GRPO group. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { curationGroups, grpoGroup, grpoGroupProse, letterOutside, rewardCases, rewardVsRegrade, rewardVsRegradeProse } from "../src/viz/worked";

const item = { options: { A: "Yes", B: "No" }, answer_label: "A", answer: "Yes" };

test("rewardCases keeps the run's own responses where they have the shape, edits the well-formed one otherwise", () => {
  const sampled = [
    { response: "<think> the lung is clear </think>\n<answer> A </answer>", finish_reason: "stop" },
    { response: "<think> the lung is", finish_reason: "length" },
  ];
  const cases = rewardCases(item, sampled);
  assert.deepEqual(cases.map((c) => `${c.case}/${c.origin}`), [
    "well-formed/sampled", "double </think>/edited", "nested <answer>/edited", "letter outside the options (C)/edited", "no tags/edited", "long trace cut off (max tokens)/sampled",
  ]);
  assert.match(cases[1].response, /the lung is clear <\/think> the lung is clear <\/think>/, "edits reuse the sampled reasoning");
});

test("reward vs regrade: the published rules on each case", () => {
  const rows = rewardVsRegrade(item, rewardCases(item, [{ response: "<think> clear </think>\n<answer> A </answer>" }]));
  const by = Object.fromEntries(rows.map((r) => [r.case.replace(/ \(.*/, ""), r]));
  assert.equal(by["well-formed"].reward, 1);
  assert.equal(by["well-formed"]["regrade: correct"], true);
  // the lazy .*? lets the format regex span a second </think>
  assert.equal(by["double </think>"].reward, 1);
  // the reward reads the first single-line <answer>: "<answer> A" is not an option
  assert.equal(by["nested <answer>"].reward, 0);
  assert.equal(by["nested <answer>"]["reward: why"], "wrong");
  assert.equal(by["letter outside the options"].reward, 0);
  assert.equal(by["letter outside the options"]["regrade: letter"], null);
  assert.equal(by["no tags"].reward, 0);
  assert.equal(by["no tags"]["reward: why"], "format");
  assert.equal(by["no tags"]["regrade: via"], "fallback");
  assert.equal(by["no tags"]["regrade: correct"], true, "the regrade rule reads 'The answer is A.'");
  assert.equal(by["long trace cut off"].reward, 0);
  const prose = rewardVsRegradeProse(rows);
  assert.match(prose, /\*no tags\* \(reward 0, regrade correct\)/);
  assert.equal(letterOutside({ A: "x", B: "y", C: "z", D: "w" }), "E");
});

test("a GRPO group: advantages are (r - mean) / (std + eps); equal rewards give no signal", () => {
  const g = grpoGroup([1, 0, 0, 0, 1, 0, 0, 0].map((reward, i) => ({ response: `r${i}`, reward })));
  assert.equal(g.mean, 0.25);
  assert.ok(Math.abs(g.std - Math.sqrt((2 * 0.75 ** 2 + 6 * 0.25 ** 2) / 7)) < 1e-12);
  assert.ok(Math.abs(g.rows[0].advantage - 0.75 / g.std) < 1e-3);
  assert.ok(g.rows[1].advantage < 0);
  assert.match(grpoGroupProse(g, "kept item"), /2 of 8 samples earn the reward, mean 0\.25, std 0\.463/);
  const flat = grpoGroup(Array.from({ length: 8 }, (_, i) => ({ response: `r${i}`, reward: 0 })));
  assert.equal(flat.std, 0);
  assert.ok(flat.rows.every((r) => r.advantage === 0));
  assert.match(grpoGroupProse(flat, "never solved"), /0 of 8 samples earn the reward, so mean 0 and std 0: every advantage is/);
});

test("curationGroups picks a kept item with disagreeing samples, and a flat group (never/always solved first, else a dropped item)", () => {
  const mk = (i: number, pc: number) => ({ question: `q${i}`, answer: "a", options: { A: "a", B: "b" }, answer_label: "A", misc: { pass_count: pc, pass_k: 4 } }) as unknown as import("../src/data/item").Item;
  const items = [mk(0, 4), mk(1, 2), mk(2, 3)];
  const recs = (i: number, correct: boolean[]) => correct.map((c, s) => ({ hash: `q${i}`, sample: s, response: c ? "<answer> A </answer>" : "<answer> B </answer>", correct: c, finish_reason: "stop" }));
  const records = [...recs(0, [true, true, true, true]), ...recs(1, [true, false, true, false]), ...recs(2, [true, true, true, false])];
  const g = curationGroups(records, items, { min: 1, max: 2 }, (it) => it.question, 3);
  assert.equal(g.signal?.item.question, "q1");
  assert.deepEqual(g.signal?.samples.map((x) => x.reward), [1, 0, 1]);
  assert.equal(g.flat?.item.question, "q0", "always solved");
  const noExtreme = curationGroups(records.filter((r) => r.hash !== "q0"), items.slice(1), { min: 1, max: 2 }, (it) => it.question, 3);
  assert.equal(noExtreme.flat?.item.question, "q2", "a dropped item (3 of 4 > 2) whose first 3 samples agree");
});

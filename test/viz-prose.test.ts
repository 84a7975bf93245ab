/** Generated results prose, settings tables and the shared workshop evaluation helpers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compactCount, curationProse, grpoProse, letterHabitProse, letterShares, loopProse, repeatedPhrase, sftGapProse, wordPiecesProse } from "../src/viz/prose";
import { GRPO_SETTING_DOCS, SFT_SETTING_DOCS, settingsRows, settingValue } from "../src/viz/settings";
import { GRPO_PRESETS } from "../src/train/grpo-config";
import { SFT_PRESETS } from "../src/train/config";
import { alwaysLetterRows, alwaysLetterRecords, pairedProse, pairedTable, STARTED_FROM, workshopEval } from "../src/eval/workshop";
import type { Item } from "../src/data/item";
import type { ResultRecord } from "../src/eval/store";

const pred = (letters: (string | null)[]) => letters.map((predicted) => ({ predicted }));

test("letter habits: a dominant letter is called a habit, no letter at all is said to score 0", () => {
  assert.equal(letterShares(pred(["B", "B", "A", null])), "B 50.0%, A 25.0%, no letter 25.0%");
  assert.match(letterHabitProse("sft", pred([...Array(9).fill("A"), "B"])), /\*\*sft\*\* wrote a letter the grader reads on 10 of 10 answers: one letter, `A`, on 9 of them — a letter habit/);
  assert.match(letterHabitProse("grpo", pred(["A", "B", "A", "C"])), /the most frequent letter, `A`, on 2 of them\.$/);
  assert.match(letterHabitProse("base", pred([null, null])), /wrote no letter the grader could read on any of its 2 answers, so it scores 0/);
});

test("curation prose says what the run shows, including whether the key letter decides the pass count", () => {
  const item = (key: string, pc: number) => ({ answer_label: key, dataset_name: "x", misc: { pass_count: pc, pass_k: 16 } }) as unknown as Item;
  const scored = [item("A", 4), item("A", 5), item("B", 12), item("B", 11), item("C", 0), item("C", 0)];
  const text = curationProse({ model: "m", k: 16, range: { min: 1, max: 7 }, records: [{ format: true, predicted: "B" }, { format: false, predicted: null }], scored, curated: scored.slice(0, 2) });
  assert.match(text, /passes the format gate on 50\.0% of its 2 samples/);
  assert.match(text, /Of 6 items, 2 land in the 1\.\.7 band and are kept, 2 are never solved and 0 always solved/);
  assert.match(text, /Mean pass count by key letter: A 4\.5 of 16 \(2 items\), B 11\.5 of 16 \(2 items\), C 0 of 16 \(2 items\)\. Items keyed `B` are solved far more often than items keyed `C`/);
  const even = curationProse({ model: "m", k: 16, range: { min: 1, max: 7 }, records: [], scored: [item("A", 4), item("A", 5), item("B", 5), item("B", 6)], curated: [] });
  assert.match(even, /The key letter does not decide the pass count by itself here\./);
});

test("GRPO prose: the clip is stated as inactive, with the reason, when pg_clipfrac is 0 with one update per step", () => {
  const m = (step: number, reward: number, clip = 0) => ({ step, reward_mean: reward, kl_loss: 0.001 * step, pg_clipfrac: clip, zero_signal_groups: 0.25, format_failure_rate: 0 });
  const cfg = { promptsPerStep: 8, miniBatchPrompts: 8, ppoEpochs: 1, oldLogProb: "sampler" };
  const text = grpoProse([m(1, 0.1), m(2, 0.5), m(3, 0.4)], cfg);
  assert.match(text, /went from 0\.1 \(step 1\) to 0\.4 \(step 3\), between 0\.1 \(step 1\) and 0\.5 \(step 2\)/);
  assert.match(text, /Share of groups without signal per step: 25\.0% to 25\.0%/);
  assert.match(text, /The clip fraction is 0 on every step: the clipped ratio never acted\. Each step makes one update from one mini-batch \(8 prompts of 8, 1 PPO epoch\)/);
  assert.match(grpoProse([m(1, 0.1, 0.05)], { ...cfg, miniBatchPrompts: 4 }), /The clipped ratio acted on up to 5\.0% of the response tokens/);
});

test("SFT prose calls a held-out gap over-fitting, and says when there is none", () => {
  const steps = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, loss: 3 - 0.2 * i, held_out_loss: i % 3 === 2 ? 3 - 0.05 * i : undefined }));
  assert.match(sftGapProse(steps), /is over-fitting: both losses are over the same kind of tokens/);
  const close = steps.map((s) => ({ ...s, held_out_loss: s.held_out_loss === undefined ? undefined : s.loss + 0.02 }));
  assert.match(sftGapProse(close), /no sign of over-fitting/);
  assert.equal(sftGapProse([{ step: 1, loss: 2 }]), "No held-out loss was measured in this run.");
});

test("tokenizer and continuation prose come from the pieces and texts given", () => {
  assert.match(wordPiecesProse([{ word: "pain", pieces: ["␣pain"] }, { word: "chest", pieces: ["␣ch", "est"] }], 1024),
    /Of these 2 words, 1 is a single token \(`pain`\) and 1 is split: `chest` \(␣ch \| est\)\. With 1024 tokens/);
  assert.equal(repeatedPhrase("in the past, and the past, and", 2), "the past");
  assert.equal(repeatedPhrase("no loop here at all", 2), null);
  assert.equal(loopProse([{ decoding: "greedy", continuation: "a b c a b c" }, { decoding: "greedy", continuation: "x y z" }], 3), 'greedy: 0 of 2 continuations empty (the model ended the text at once), 1 repeat a 3-word phrase ("a b c"), 4.5 words on average.');
  assert.match(loopProse([{ decoding: "greedy", continuation: "" }, { decoding: "greedy", continuation: " the the the x" }]), /^greedy: 1 of 2 continuations empty \(the model ended the text at once\), 1 repeat a 2-word phrase \("the the"\), 2 words on average\.$/);
  assert.equal(compactCount(1234567), "1.23M");
  assert.equal(compactCount(61760), "61.8k");
});

test("settings tables: every SFT and GRPO setting has a published value and a line on what it does", () => {
  for (const [docs, here, published, parts] of [
    [GRPO_SETTING_DOCS, GRPO_PRESETS.workshop, GRPO_PRESETS.published, ["model", "data", "rollout", "reward", "actor", "warmup", "train"]],
    [SFT_SETTING_DOCS, SFT_PRESETS.workshop, SFT_PRESETS.published, ["model", "data", "train"]],
  ] as const) {
    const rows = settingsRows(here as unknown as Record<string, unknown>, published as unknown as Record<string, unknown>, parts, docs, "workshop");
    const undocumented = rows.filter((r) => !r["what it does"]).map((r) => r.setting);
    assert.deepEqual(undocumented, [], `settings without a line: ${undocumented.join(", ")}`);
    assert.ok(rows.every((r) => r.published !== "—"), "every setting has a published value");
  }
  const sft = settingsRows(SFT_PRESETS.workshop as unknown as Record<string, unknown>, SFT_PRESETS.published as unknown as Record<string, unknown>, ["train"], SFT_SETTING_DOCS, "workshop");
  const betas = sft.find((r) => r.setting === "train.betas")!;
  assert.equal(betas.published, "0.9, 0.95");
  assert.equal(betas.same, "=");
  assert.equal(sft.find((r) => r.setting === "train.lr")!.same, "");
  assert.equal(settingValue("cosine"), "cosine");
});

test("one way of comparing: shared settings, paired tables that name the models, always-A/always-B rows", () => {
  const w = workshopEval(false);
  assert.deepEqual(w.limits, { "vqa-rad": null, slake: null, "medxpertqa-mm": 48 }, "full closed VQA-RAD and SLAKE test sets");
  assert.equal(w.settings.out, "runs/eval-workshop-workshop");
  assert.deepEqual(STARTED_FROM, { instruct: "base", sft: "base", grpo: "instruct" });
  const items = { "vqa-rad": [{ answer_label: "A" }, { answer_label: "B" }, { answer_label: "A" }, { answer_label: "A" }].map((x, i) => ({ ...x, question: `q${i}`, answer: "yes", options: { A: "Yes", B: "No" } })) as unknown as Item[] };
  assert.deepEqual(alwaysLetterRows(items, { "vqa-rad": "VQA-RAD" }).map((r) => [r.model, r["VQA-RAD"]]), [["always A", 75], ["always B", 25]]);
  const before: ResultRecord[] = alwaysLetterRecords(items, "B");
  const after: ResultRecord[] = alwaysLetterRecords(items, "A");
  const p = pairedTable({ label: "instruct", records: before }, { label: "grpo", records: after });
  assert.deepEqual(Object.keys(p.rows[0]), ["benchmark", "items", "instruct %", "grpo %", "right only with instruct", "right only with grpo", "McNemar p"]);
  assert.equal(p.rows[0]["right only with grpo"], 3);
  assert.match(pairedProse(p.cmp, "instruct", "grpo"), /\*\*vqa-rad\*\*: grpo 75\.0% vs instruct 25\.0% on 4 items \(\+50\.0 points; 4 items flipped, 3 to right and 1 to wrong, McNemar p = 0\.63\): not shown to differ\./);
});

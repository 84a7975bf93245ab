/**
 * Pieces of the ablation and of the base's alignment stage: the alignment examples come from the
 * image-text training splits only (no SLAKE test image, no closed question), one caption per
 * training image; a row's benchmark figures (constant letter, McNemar against blind and base,
 * yes/no shares) on hand-made records.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alignmentData, captionOf } from "../src/train/align";
import { loadDataset } from "../src/data/registry";
import { oneAnswerVerdict as benchmarkResult } from "../src/eval/ablation-table";
import { mcnemarExact } from "../src/eval/stats";
import type { Item } from "../src/data/item";
import type { ResultRecord } from "../src/eval/store";

test("alignment examples: captions of every training image, open and closed answers in words, nothing from SLAKE test", async () => {
  const d = await alignmentData(undefined, { captionRepeats: 3 });
  const testImages = new Set((await loadDataset("slake")).items.map((it) => it.images?.[0]?.path?.split("/").slice(-2).join("/")));
  assert.ok(d.counts.captions > 400 && d.counts.captions === d.counts.images, JSON.stringify(d.counts));
  assert.ok(d.counts.slakeOpen > 2000 && d.counts.vqaRadOpen > 500, JSON.stringify(d.counts));
  assert.ok(d.counts.slakeClosed > 2000 && d.counts.vqaRadClosed > 500, JSON.stringify(d.counts));
  assert.equal(d.examples.length, 3 * d.counts.captions + d.counts.slakeOpen + d.counts.slakeClosed + d.counts.vqaRadOpen + d.counts.vqaRadClosed);
  // Answers in words: no option letters, no answer tags, no options in the prompt.
  const radTest = new Set((await loadDataset("vqa-rad", { split: "test" })).items.map((t) => `${t.images?.[0]?.path}\t${t.question.trim().toLowerCase()}`));
  for (const e of d.examples) {
    assert.ok(!/<answer>|<think>|\bOptions:/.test(e.prompt + e.target), `${e.prompt} -> ${e.target}`);
    assert.ok(!radTest.has(`${e.images?.[0]?.path}\t${e.prompt.trim().toLowerCase()}`), `VQA-RAD test question in the alignment data: ${e.prompt}`);
    const img = e.images?.[0]?.path?.split("/").slice(-2).join("/");
    if (img?.startsWith("xmlab")) assert.ok(!testImages.has(img), `SLAKE test image ${img} in the alignment data`);
    assert.ok(e.target.trim().length > 0);
  }
  assert.equal(captionOf({ misc: { modality: "CT", organ: "Brain_Tissue" } } as unknown as Item), "A CT image of the brain tissue.");
  assert.equal(captionOf({ misc: {} } as unknown as Item), null);
});

test("benchmarkResult: constant letter, McNemar against blind and base, yes/no shares", () => {
  const yn = (label: string): Item => ({ images: null, question: "q", options: { A: "Yes", B: "No" }, answer_label: label, answer: label === "A" ? "Yes" : "No", reasoning: null, dataset_name: "x", dataset_index: 0 });
  const items = [yn("B"), yn("B"), yn("B"), yn("A"), yn("A"), yn("B")];
  const rec = (index: number, predicted: string | null): ResultRecord => ({ benchmark: "x", index, hash: "h", run: 0, sample: 0, response: "", finish_reason: "stop", correct: predicted === items[index].answer_label, predicted, gold: items[index].answer_label });
  const own = ["B", "B", "B", "A", "A", "A"].map((p, i) => rec(i, p)); // 5 of 6 right
  const blind = ["B", "B", "B", "B", "B", "B"].map((p, i) => rec(i, p)); // 4 of 6 (constant B)
  const base = ["A", "A", "A", "A", "A", "A"].map((p, i) => rec(i, p)); // 2 of 6
  const r = benchmarkResult(items, own, blind, base);
  assert.equal(r.items, 6);
  assert.ok(Math.abs(r.accuracy - 500 / 6) < 1e-9);
  assert.ok(Math.abs(r.blind_accuracy! - 400 / 6) < 1e-9);
  assert.equal(r.constant_letter, "B");
  assert.ok(Math.abs(r.constant_accuracy - 400 / 6) < 1e-9);
  // Against blind: own right & blind wrong on items 3, 4; own wrong & blind right on item 5.
  assert.equal(r.p_vs_blind, mcnemarExact(2, 1));
  assert.equal(r.p_vs_constant, mcnemarExact(2, 1));
  assert.equal(r.p_vs_base, mcnemarExact(3, 0));
  assert.equal(r.chance, 50);
  assert.ok(Math.abs(r.yes_share! - 0.5) < 1e-9 && Math.abs(r.no_share! - 0.5) < 1e-9);
  assert.ok(Math.abs(r.letters.A - 0.5) < 1e-9);
  assert.equal(benchmarkResult(items, own, null, null).p_vs_blind, null);
});

test("alignment augmentation: shiftPixels moves the picture and repeats its edges; a shift of 0 is the identity", async () => {
  const { shiftPixels } = await import("../src/model/vision");
  const S = 3;
  // Pixel (x, y) has red value 10 * y + x.
  const raw = new Uint8Array(S * S * 3);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) raw[(y * S + x) * 3] = 10 * y + x;
  const red = (img: Uint8Array) => Array.from({ length: S * S }, (_, i) => img[i * 3]);
  assert.deepEqual(red(shiftPixels(raw, S, 0, 0)), red(raw));
  // One to the right: column 0 repeats the old column 0, the old last column falls off.
  assert.deepEqual(red(shiftPixels(raw, S, 1, 0)), [0, 0, 1, 10, 10, 11, 20, 20, 21]);
  // One up: rows move up, the last row repeats.
  assert.deepEqual(red(shiftPixels(raw, S, 0, -1)), [10, 11, 12, 20, 21, 22, 20, 21, 22]);
});

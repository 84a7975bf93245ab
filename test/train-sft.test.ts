/**
 * The SFT loop on the tiny model: prompt tokens get no gradient, gradient accumulation equals one
 * big batch, one micro-batch equals LmTrainer.step, and a killed run resumed from its checkpoint
 * gives the same loss curve and weights as an uninterrupted one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { writeItemsJsonl } from "../src/data/jsonl";
import { initEngine } from "../src/model/engine";
import { numpy as np, tree } from "../src/model/jax";
import { EmbeddedModel } from "../src/model/model";
import { namedParams, initParams, type Params } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { LmTrainer } from "../src/train/lm-step";
import { imageTokens, sizeConfig } from "../src/model/config";
import { buildPrompt } from "../src/prompt";
import { readMetrics } from "../src/train/runs";
import { buildMicroBatch, runSft, type SftMetrics } from "../src/train/sft";
import { tokenizeItems } from "../src/train/sft-data";

const DRUGS = ["Aspirin", "Heparin", "Insulin", "Warfarin"];
function toyItem(i: number, images: Item["images"] = null): Item {
  const label = "ABCD"[i % 4];
  return {
    images,
    question: `Case ${i}: which drug is indicated for patient ${i}?`,
    options: { A: DRUGS[0], B: DRUGS[1], C: DRUGS[2], D: DRUGS[3] },
    answer_label: label,
    answer: DRUGS[i % 4],
    reasoning: `Patient ${i} presents with findings. ${"Consider the evidence. ".repeat(1 + (i % 5))}Therefore ${DRUGS[i % 4]}.`,
    dataset_name: "toy",
    dataset_index: i,
  };
}

async function host(a: np.Array): Promise<Float32Array> {
  return new Float32Array((await a.data()) as Float32Array);
}

async function flatParams(p: Params): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const a of Object.values(namedParams(p))) out.push(await host(a.ref));
  return out;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

const setup = (() => {
  let cached: Promise<{ tok: TextTokenizer; items: Item[]; png: Uint8Array }> | null = null;
  return () =>
    (cached ??= (async () => {
      await initEngine();
      const png = new Uint8Array(await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 30, g: 120, b: 200 } } }).png().toBuffer());
      const items = Array.from({ length: 22 }, (_, i) => toyItem(i, i === 3 ? [{ bytes: png, path: null }] : null));
      const tok = TextTokenizer.fit(items.map((it) => `${buildPrompt(it)} ${it.reasoning}`), 600);
      return { tok, items, png };
    })());
})();

test("prompt tokens (and image positions) get no gradient: only the target is scored", async () => {
  const { tok, items } = await setup();
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 256 });
  const { examples } = tokenizeItems([items[3], items[5]], tok, c, { overlong: "cut" });
  assert.equal(examples[0].images.length, 1, "item 3 carries an image");
  const T = 256;
  const { micro } = await buildMicroBatch(examples, [0, 1], T, 3, c, tok);
  // The mask: zero up to the last prompt position, one for every target token, zero after; a padding row is all zero.
  const mask = micro.mask;
  examples.forEach((e, b) => {
    for (let t = 0; t < T; t++) assert.equal(mask[b * T + t], t >= e.promptLength - 1 && t < e.ids.length - 1 ? 1 : 0, `row ${b} position ${t}`);
  });
  assert.ok(mask.slice(2 * T).every((x) => x === 0));
  const isImage = micro.batch.isImage;
  assert.equal(isImage.slice(0, T).reduce((a, x) => a + x, 0), imageTokens(c), "image tokens fill the image item's image positions");

  // Gradients through the trainer's own path (the NLL value-and-grad LmTrainer steps with).
  const stepper = new LmTrainer(initParams(c, 3), c, {});
  const targets = micro.batch.targets;
  const gradsFor = async (tg: Float32Array | Int32Array) => {
    const [loss, grads] = await stepper.nll.valueAndGrad(stepper.params, { ...micro.batch, targets: Int32Array.from(tg) }, micro.mask, 1 / 50);
    const out = { loss, grads: await flatParams(grads) };
    tree.dispose(grads);
    return out;
  };
  const base = await gradsFor(Int32Array.from(targets));
  // Change every target the model predicts inside the prompts (and the padding): nothing moves.
  const promptChanged = Int32Array.from(targets);
  examples.forEach((e, b) => {
    for (let t = 0; t < e.promptLength - 1; t++) promptChanged[b * T + t] = (promptChanged[b * T + t] + 7) % tok.vocabSize;
  });
  for (let t = 2 * T; t < 3 * T; t++) promptChanged[t] = 5;
  const same = await gradsFor(promptChanged);
  assert.equal(same.loss, base.loss);
  assert.equal(maxDiff(same.grads, base.grads), 0);
  // Change one target token: loss and gradients move (the test can fail).
  const targetChanged = Int32Array.from(targets);
  const at = examples[0].promptLength + 2;
  targetChanged[at] = (targetChanged[at] + 7) % tok.vocabSize;
  const moved = await gradsFor(targetChanged);
  assert.notEqual(moved.loss, base.loss);
  assert.ok(maxDiff(moved.grads, base.grads) > 1e-6);
  tree.dispose(stepper.params);
  stepper.dispose();
});

test("gradient accumulation over 2 micro-batches equals one batch of both; one micro-batch equals LmTrainer.step", async () => {
  const { tok, items } = await setup();
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 256 });
  const { examples } = tokenizeItems(items.slice(4, 8), tok, c, { overlong: "cut" });
  const T = 192;
  const tokens = examples.reduce((a, e) => a + e.ids.length - e.promptLength, 0);
  const optim = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1.0 };

  const one = new LmTrainer(initParams(c, 1), c, optim);
  const r1 = await one.step([(await buildMicroBatch(examples, [0, 1, 2, 3], T, 4, c, tok)).micro], 1e-2, 1 / tokens);
  const two = new LmTrainer(initParams(c, 1), c, optim);
  const r2 = await two.step([(await buildMicroBatch(examples, [0, 1], T, 2, c, tok)).micro, (await buildMicroBatch(examples, [2, 3], T, 2, c, tok)).micro], 1e-2, 1 / tokens);
  assert.ok(Math.abs(r1.loss - r2.loss) < 1e-5, `${r1.loss} vs ${r2.loss}`);
  assert.ok(Math.abs(r1.gradNorm - r2.gradNorm) < 1e-5);
  assert.ok(maxDiff(await flatParams(one.params), await flatParams(two.params)) < 1e-5);

  // The same step through the engine's own trainer (maskedNll = token mean over the batch).
  const lm = new LmTrainer(initParams(c, 1), c, optim);
  const b = (await buildMicroBatch(examples, [0, 1, 2, 3], T, 4, c, tok)).micro;
  const r3 = await lm.step(b, 1e-2);
  assert.ok(Math.abs(r1.loss - r3.loss) < 1e-5, `${r1.loss} vs ${r3.loss}`);
  assert.ok(Math.abs(r1.gradNorm - r3.gradNorm) < 1e-5);
  assert.ok(maxDiff(await flatParams(one.params), await flatParams(lm.params)) < 1e-6);
  for (const s of [one, two]) {
    tree.dispose(s.params);
    s.dispose();
  }
  tree.dispose(lm.params);
  lm.dispose();
});

test("a run killed mid-way and resumed gives the uninterrupted loss curve, weights and checkpoints", async () => {
  const { tok, items } = await setup();
  const dir = mkdtempSync(join(tmpdir(), "sft-resume-"));
  const data = join(dir, "traces.jsonl");
  writeItemsJsonl(data, items);
  const init = join(dir, "init");
  const m0 = await EmbeddedModel.create("tiny", tok, 0, { maxSeq: 160 });
  await m0.save(init, { stage: "test-init" });
  m0.dispose();
  const cfg = (out: string) => ({
    preset: "smoke" as const,
    out,
    model: { init, size: "tiny" as const },
    data: { sources: [data], excludeEval: [], limit: null, heldOutFraction: 0.1 },
    train: { epochs: 2, microBatch: 2, gradAccum: 2, lr: 5e-3, evalEvery: 2, saveEvery: 3, saveEpochs: true, keepLast: 1, reportEpoch: 1, seed: 7 },
  });
  const quiet = { progress: false, log: () => {} };
  const full = await runSft(cfg(join(dir, "full")), quiet);
  assert.equal(full.finished, true);
  // 22 items, 3 held out -> 19 train, batch 4 -> 5 steps per epoch, 10 in all.
  assert.equal(full.totalSteps, 10);
  assert.deepEqual(full.metrics.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(full.metrics[0].lr, 0, "transformers' warm-up starts at lr 0");
  assert.ok(full.metrics.every((m) => Number.isFinite(m.loss) && m.tokens_per_s > 0));
  assert.ok(full.metrics[9].loss < full.metrics[0].loss, "loss goes down");
  assert.ok(full.heldOutLoss !== null && full.metrics.filter((m) => m.held_out_loss !== undefined).length === 5);
  assert.match(full.reportCheckpoint ?? "", /step-5$/, "epoch 1 ends at step 5");
  assert.match(full.finalCheckpoint ?? "", /step-10$/);
  assert.deepEqual(readdirSync(join(dir, "full", "checkpoints")).sort(), ["step-10", "step-5"]);
  assert.ok(existsSync(join(dir, "full", "summary.json")));

  // Killed after step 8: the last checkpoint is step 6 (saveEvery 3); metrics 7-8 were written.
  const part = await runSft(cfg(join(dir, "part")), { ...quiet, haltAfterStep: 8 });
  assert.equal(part.finished, false);
  assert.equal(readMetrics<SftMetrics>(join(dir, "part", "metrics.jsonl")).records.length, 8);
  await assert.rejects(runSft(cfg(join(dir, "part")), quiet), /already holds a run/);
  await assert.rejects(runSft({ ...cfg(join(dir, "part")), train: { ...cfg("").train, lr: 1e-3 } }, { ...quiet, resume: true }), /train\.lr: 0\.005 -> 0\.001/);
  const notes: string[] = [];
  const ran: number[] = [];
  const resumed = await runSft(cfg(join(dir, "part")), { ...quiet, resume: true, log: (m) => notes.push(m), onStep: (m) => void ran.push(m.step) });
  assert.equal(resumed.finished, true);
  assert.match(notes.join("\n"), /resuming .* from .*step-6 \(step 6\)/);
  assert.deepEqual(ran, [7, 8, 9, 10], "only the steps after the checkpoint are run again");
  const key = (m: SftMetrics) => [m.step, m.epoch, m.loss, m.lr, m.grad_norm, m.target_tokens, m.tokens, m.held_out_loss ?? null];
  assert.deepEqual(resumed.metrics.map(key), full.metrics.map(key));
  assert.ok(maxDiff(await flatParams(resumed.model.params), await flatParams(full.model.params)) === 0);
  part.model.dispose();
  resumed.model.dispose();
  full.model.dispose();
});

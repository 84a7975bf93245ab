/** The tiny model overfits a handful of real items (chat-formatted MedQA question + answer) to near-zero loss. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initEngine } from "../src/model/engine";
import { sizeConfig } from "../src/model/config";
import { initParams } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { chatIds } from "../src/model/chat";
import { buildHostBatch, lossMask } from "../src/model/batch";
import { LmTrainer } from "../src/train/lm-step";
import { cosineWithWarmup } from "../src/train/schedule";
import { dataRoot } from "../src/paths";

test("tiny model overfits 4 real MedQA items to near-zero loss", async () => {
  await initEngine();
  const lines = readFileSync(join(dataRoot(), "medqa", "test.jsonl"), "utf8").split("\n").filter(Boolean);
  assert.equal(lines.length, 1273);
  const items = lines.slice(0, 4).map((l) => JSON.parse(l) as { question: string; answer_idx: string; answer: string });
  const tok = TextTokenizer.fit(items.map((it) => it.question + " " + it.answer), 400);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 128, dModel: 64, nHeads: 4, dMlp: 128 });
  // Keep the last 40 question tokens so the sequences fit; the completion is the answer.
  const seqs = items.map((it) => {
    const q = tok.decode(tok.encode(it.question).slice(-40));
    return chatIds(tok, q, `<answer> ${it.answer_idx}. ${it.answer} </answer>`, 0, c);
  });
  const T = Math.max(...seqs.map((s) => s.ids.length));
  assert.ok(T <= 128, `sequences of ${T} tokens`);
  const trainer = new LmTrainer(initParams(c, 0), c, { lr: 1e-2, weightDecay: 0, beta1: 0.9, beta2: 0.99, maxGradNorm: 1 });
  const steps = 150;
  let first = NaN;
  let last = NaN;
  for (let s = 0; s < steps; s++) {
    const batch = buildHostBatch(seqs, c, { pad: "right", length: T, imageTokenId: tok.ids.image, padId: tok.ids.pad });
    const mask = lossMask(seqs, T, seqs.map(() => 1));
    const r = await trainer.step({ batch, mask }, cosineWithWarmup(s, { peak: 1e-2, warmupSteps: 10, totalSteps: steps, minRatio: 0.1 }));
    if (s === 0) first = r.loss;
    last = r.loss;
  }
  trainer.dispose();
  assert.ok(first > 5, `initial loss ${first} should be near ln(${tok.vocabSize})`);
  assert.ok(last < 0.05, `final loss ${last} after ${steps} steps`);
});

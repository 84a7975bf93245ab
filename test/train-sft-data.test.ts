/** SFT data on the real HuatuoGPT-o1 traces: eval-overlap exclusion, disagreeing traces, tokenization, batching plans. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { writeItemsJsonl } from "../src/data/jsonl";
import { imageTokens, sizeConfig } from "../src/model/config";
import { TextTokenizer } from "../src/model/tokenizer";
import { buildPrompt } from "../src/prompt";
import { parseSftConfig } from "../src/train/config";
import { Rng } from "../src/train/runs";
import { loadSftItems, textSimilarity, planEpoch, planFixed, shortenReasoning, splitHeldOut, targetTokens, tokenizeItems, traceDisagreement } from "../src/train/sft-data";

const huatuo = (over: Record<string, unknown> = {}) => parseSftConfig({ data: { sources: ["huatuo-o1"], ...over } }).data;

test("real HuatuoGPT-o1 traces: the 3 MedMCQA leaks are excluded and disagreeing traces reported and left out", async () => {
  const { items, report } = await loadSftItems(huatuo({ excludeEval: ["medmcqa"] }));
  // 198 records; the loader skips 12 multi-select / letter-coded ones.
  assert.equal(report.loaded, 186);
  assert.equal(report.noReasoning, 0);
  assert.deepEqual(report.overlap.perBenchmark, { medmcqa: 3 });
  assert.deepEqual(report.overlap.excluded.map((r) => r.dataset_index).sort((a, b) => a - b), [151, 154, 193]);
  // The loader flags 20 kept records whose answer differs from Ground-True Answer beyond case and punctuation;
  // #193 is a MedMCQA leak; of the other 19, 11 are rewordings of the keyed option (typo fixes: kept) and 8 are reported.
  const dis = report.disagreeing;
  assert.deepEqual(dis.map((d) => d.dataset_index), [18, 30, 53, 104, 121, 130, 146, 168]);
  assert.deepEqual(report.reworded.map((r) => r.dataset_index), [13, 41, 50, 78, 115, 123, 124, 125, 141, 142, 158]);
  const d53 = dis.find((d) => d.dataset_index === 53)!;
  assert.equal(d53.gold, "B. 1 week");
  assert.equal(d53.traceAnswer, "7 days");
  assert.match(d53.why, /matches option A, not the key/);
  assert.match(dis.find((d) => d.dataset_index === 168)!.why, /matches no option clearly/);
  const disIdx = new Set(dis.map((d) => d.dataset_index));
  assert.ok(items.every((it) => !disIdx.has(it.dataset_index)), "disagreeing traces are left out by default");
  assert.ok(items.some((it) => it.dataset_index === 41), "a typo fix ('hea failure' -> 'heart failure') is kept");
  assert.ok(items.every((it) => ![151, 154, 193].includes(it.dataset_index)));
  assert.equal(items.length, 186 - 3 - 8);
  assert.match(report.warnings.join("\n"), /8 traces disagree with the gold answer \(left out\)/);
  // With keepDisagreeing they are trained on, and still reported.
  const kept = await loadSftItems(huatuo({ excludeEval: ["medmcqa"], keepDisagreeing: true }));
  assert.equal(kept.items.length, 183);
  assert.equal(kept.report.disagreeing.length, dis.length);
  // Without the exclusion the leaks stay in.
  const noExcl = await loadSftItems(huatuo({ excludeEval: [], keepDisagreeing: true }));
  assert.equal(noExcl.items.length, 186);
  assert.ok([151, 154, 193].every((i) => noExcl.items.some((it) => it.dataset_index === i)));
});

function item(i: number, over: Partial<Item> = {}): Item {
  return {
    images: null,
    question: `Which drug treats condition number ${i}?`,
    options: { A: "Aspirin", B: "Heparin", C: "Insulin", D: "Warfarin" },
    answer_label: "C",
    answer: "Insulin",
    reasoning: `The patient has condition ${i}. Insulin lowers glucose, so the answer is insulin.`,
    dataset_name: "toy",
    dataset_index: i,
    ...over,
  };
}

test("traceDisagreement reads the loader's check, misc.trace_answer and an <answer> block in the trace", () => {
  assert.equal(traceDisagreement(item(0)), null);
  assert.match(traceDisagreement(item(1, { misc: { answer_check: "differs", ground_truth_answer: "Metformin" } }))!.why, /matches no option clearly/);
  assert.match(traceDisagreement(item(1, { misc: { answer_check: "differs", ground_truth_answer: "Warfarine" } }))!.why, /matches option D, not the key/);
  assert.equal(traceDisagreement(item(1, { misc: { answer_check: "differs", ground_truth_answer: "insulin (human)" } })), null);
  assert.ok(textSimilarity("Right-sided hea failure", "Right-sided heart failure") > 0.8);
  assert.equal(textSimilarity("abc", "xyz"), 0);
  assert.equal(traceDisagreement(item(2, { misc: { trace_answer: "C" } })), null);
  assert.equal(traceDisagreement(item(3, { misc: { trace_answer: "Heparin" } }))!.why, "misc.trace_answer is not the gold option");
  assert.equal(traceDisagreement(item(4, { reasoning: "... so <answer> B </answer>" }))!.traceAnswer, "B");
  assert.equal(traceDisagreement(item(5, { reasoning: "... so <answer> C. Insulin </answer>" })), null);
});

test("interchange files with a reasoning field (text and image items) load as SFT sources", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sft-data-"));
  const png = new Uint8Array(await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer());
  const file = join(dir, "m23k-like.jsonl");
  writeItemsJsonl(file, [item(0), item(1, { reasoning: null }), item(2, { images: [{ bytes: png, path: null }] }), item(3, { reasoning: "x <answer> A </answer>" })]);
  const { items, report } = await loadSftItems(parseSftConfig({ data: { sources: [file], excludeEval: [] } }).data);
  assert.equal(report.loaded, 4);
  assert.equal(report.noReasoning, 1);
  assert.equal(report.disagreeing.length, 1);
  assert.deepEqual(items.map((it) => it.dataset_index), [0, 2]);
  assert.equal(items[1].images?.length, 1);

  // Tokenized: image tokens first in the prompt, the target after promptLength, nothing scored before it.
  const tok = TextTokenizer.fit(items.map((it) => `${buildPrompt(it)} ${it.reasoning}`), 600);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 256 });
  assert.ok(tokenizeItems(items, tok, c, { overlong: "cut" }).examples.every((e) => e.ids.length < 200));
  const { examples, counts } = tokenizeItems(items, tok, c, { overlong: "cut" });
  assert.deepEqual(counts, { whole: 2, "prompt-truncated": 0, cut: 0, "reasoning-truncated": 0 });
  const img = examples[1];
  assert.equal(img.images.length, 1);
  assert.equal(img.ids[0], tok.ids.user);
  assert.deepEqual(img.ids.slice(1, 1 + imageTokens(c)), new Array(imageTokens(c)).fill(tok.ids.image));
  assert.equal(examples[0].ids.filter((x) => x === tok.ids.image).length, 0);
  for (const e of examples) {
    assert.equal(e.ids[e.promptLength - 1], tok.ids.assistant);
    assert.equal(e.ids[e.promptLength], tok.ids.thinkOpen);
    assert.equal(tok.decode(e.ids.slice(e.promptLength)), `<think> ${items[examples.indexOf(e)].reasoning} </think>\n<answer> C </answer>`);
    assert.equal(e.ids[e.ids.length - 1], tok.ids.end);
    assert.equal(targetTokens(e), e.ids.length - e.promptLength);
  }
});

test("overlong items: cut, reasoning shortened with the answer kept, or dropped", async () => {
  const long = item(0, { reasoning: Array.from({ length: 60 }, (_, i) => `step ${i} considers a finding.`).join(" ") });
  const tok = TextTokenizer.fit([buildPrompt(long), long.reasoning!], 600);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 128 });
  const cut = tokenizeItems([long], tok, c, { overlong: "cut" });
  assert.equal(cut.counts.cut, 1);
  assert.equal(cut.examples[0].ids.length, 128);
  assert.ok(!cut.examples[0].ids.includes(tok.ids.answerOpen), "cutting loses the answer");
  const short = tokenizeItems([long], tok, c, { overlong: "truncate-reasoning" });
  assert.equal(short.counts["reasoning-truncated"], 1);
  const e = short.examples[0];
  assert.equal(e.ids.length, 128);
  const text = tok.decode(e.ids.slice(e.promptLength));
  assert.match(text, /^<think> The patient|^<think> step 0/);
  assert.match(text, /step 59 considers a finding\. <\/think>\n<answer> C <\/answer>$/);
  const c256 = { ...c, maxSeq: 256 };
  // maxLength caps sequences below the model's context.
  const capped = tokenizeItems([long], tok, c256, { overlong: "truncate-reasoning", maxLength: 128 });
  assert.equal(capped.examples[0].ids.length, 128);
  assert.deepEqual(capped.examples[0].ids, e.ids, "same as a 128-token context");
  const dropped = tokenizeItems([long, item(1)], tok, c256, { overlong: "drop" });
  assert.deepEqual(dropped.dropped, [{ dataset_name: "toy", dataset_index: 0 }]);
  assert.equal(dropped.examples.length, 1);
  assert.equal(shortenReasoning([tok.ids.thinkOpen, 5, 6, 7, tok.ids.thinkClose, tok.ids.end], 2, tok), null);
});

test("held-out split and epoch plans: seeded, every item once per epoch, bucketed lengths, fixed micro-batch shapes", () => {
  const xs = Array.from({ length: 50 }, (_, i) => i);
  const s = splitHeldOut(xs, 0.1, 42);
  assert.equal(s.heldOut.length, 5);
  assert.equal(s.train.length + s.heldOut.length, 50);
  assert.deepEqual(splitHeldOut(xs, 0.1, 42), s);
  assert.deepEqual(splitHeldOut(xs, 0, 42), { train: xs, heldOut: [] });

  const n = 37;
  const lengths = Array.from({ length: n }, (_, i) => 20 + ((i * 37) % 200));
  const counts = lengths.map((l) => l - 10);
  const t = { microBatch: 4, gradAccum: 2, batching: "bucket" as const, padMultiple: 32 };
  const order = new Rng(1).shuffle(lengths.map((_, i) => i));
  const plan = planEpoch(lengths, counts, order, t, 256, new Rng(2));
  assert.equal(plan.length, Math.ceil(n / 8));
  const seen = plan.flatMap((p) => p.micro.flatMap((m) => m.rows)).sort((a, b) => a - b);
  assert.deepEqual(seen, lengths.map((_, i) => i));
  for (const p of plan) {
    assert.ok(p.micro.length <= 2);
    assert.equal(p.tokens, p.micro.flatMap((m) => m.rows).reduce((a, r) => a + counts[r], 0));
    for (const m of p.micro) {
      assert.equal(m.length % 32, 0);
      assert.ok(m.length >= Math.max(...m.rows.map((r) => lengths[r])));
    }
  }
  // Bucketing pads less than the shuffled order.
  const pad = (pl: typeof plan) => pl.reduce((a, p) => a + p.micro.reduce((b, m) => b + m.rows.length * m.length - m.rows.reduce((c, r) => c + lengths[r], 0), 0), 0);
  const flat = planEpoch(lengths, counts, order, { ...t, batching: "none" }, 256, new Rng(2));
  assert.ok(pad(plan) < pad(flat) / 2, `bucketed padding ${pad(plan)} vs ${pad(flat)}`);
  assert.deepEqual(planEpoch(lengths, counts, order, t, 256, new Rng(2)), plan);
  const fixed = planFixed(lengths.slice(0, 10), 4, 32, 256);
  assert.deepEqual(fixed.map((m) => m.rows.length), [4, 4, 2]);
});

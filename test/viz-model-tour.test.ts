import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sizeConfig } from "../src/model/config";
import { countParams } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { EmbeddedModel } from "../src/model/model";
import { loadCorpus } from "../src/stages/corpus";
import { charsPerToken, configRows, continueText, logprobAgreement, movingAverage, parameterRows, pretrainLossFigure, readPretrainMetrics, tokenRows, visiblePiece } from "../src/viz/model-tour";

test("parameterRows: the parts add up to countParams; the workshop model's embeddings are a large share", () => {
  for (const size of ["tiny", "workshop"]) {
    const c = sizeConfig(size);
    const rows = parameterRows(c);
    const total = rows.find((r) => r.part === "total")!;
    assert.equal(total.parameters, countParams(c));
    assert.equal(rows.filter((r) => r.part !== "total").reduce((s, r) => s + r.parameters, 0), countParams(c));
  }
  const w = sizeConfig("workshop");
  const emb = parameterRows(w)[0];
  assert.equal(emb.parameters, w.vocabSize * w.dModel);
  assert.ok(configRows(w).some((r) => r.setting === "image" && String(r.meaning).includes("16 tokens")));
});

const docs = loadCorpus("train").slice(0, 120).map((d) => d.text);

test("tokenRows: pieces with visible spaces, specials marked, ids round-trip", () => {
  const tok = TextTokenizer.fit(docs, 600);
  const text = "The patient has hypertension.\n<think>";
  const rows = tokenRows(tok, text);
  assert.deepEqual(rows.map((r) => r.id), tok.encode(text));
  assert.equal(rows[rows.length - 1].piece, "<think>");
  assert.equal(rows[rows.length - 1].special, true);
  assert.ok(rows.some((r) => r.piece.startsWith("␣")), "a word after a space carries the visible space");
  assert.ok(rows.some((r) => r.piece.includes("⏎")));
  assert.equal(visiblePiece("ĠtheĊ"), "␣the⏎");
  assert.ok(charsPerToken(tok, docs.slice(100, 120)) > 2, "fitted BPE compresses its own kind of text");
});

test("readPretrainMetrics skips a torn last line; movingAverage by hand; the loss figure marks ln(vocab)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tour-"));
  try {
    const p = join(dir, "metrics.jsonl");
    writeFileSync(p, '{"step":1,"loss":7}\n{"step":2,"loss":6,"held_out_loss":6.5}\n{"step":3,"lo');
    const m = readPretrainMetrics(p);
    assert.deepEqual(m.map((x) => x.step), [1, 2]);
    assert.deepEqual(readPretrainMetrics(join(dir, "none.jsonl")), []);
    assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
    const fig = pretrainLossFigure(m, { vocabSize: 2048 });
    assert.deepEqual(fig.data.map((t) => t.name), ["train loss", "held-out loss"], "two steps: no moving mean");
    assert.deepEqual(fig.data[1].y, [6.5]);
    const long = pretrainLossFigure(Array.from({ length: 100 }, (_, i) => ({ step: i + 1, loss: 7 - i / 50 })));
    assert.deepEqual(long.data.map((t) => t.name), ["train loss (each step)", "train loss (mean of 4 steps)", "held-out loss"]);
    const shapes = fig.layout?.shapes as { y0: number }[];
    assert.ok(Math.abs(shapes[0].y0 - Math.log(2048)) < 1e-12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("logprobAgreement by hand, and mismatched shapes throw", () => {
  const r = logprobAgreement([[-1, -2], [-3]], [[-1, -2.5], [-3]]);
  assert.deepEqual(r, { sequences: 2, tokens: 3, maxAbsDiff: 0.5, meanLogprobA: -2, meanLogprobB: -6.5 / 3 });
  assert.throws(() => logprobAgreement([[-1]], [[-1, -2]]), /sequence 0/);
});

test("continueText: plain-text continuation, greedy is deterministic, too-long prompts are refused; save/reload scores agree", async () => {
  const tok = TextTokenizer.fit(docs, 400);
  const model = await EmbeddedModel.create("tiny", tok, 3);
  const dir = mkdtempSync(join(tmpdir(), "tour-ck-"));
  try {
    const a = await continueText(model, ["The patient", "Blood pressure"], { maxNewTokens: 6, temperature: 0 });
    const b = await continueText(model, ["The patient", "Blood pressure"], { maxNewTokens: 6, temperature: 0 });
    assert.deepEqual(a, b);
    assert.equal(a.length, 2);
    for (const r of a) {
      assert.ok(r.tokens >= 1 && r.tokens <= 6);
      assert.ok(r.finish === "stop" || r.tokens === 6);
    }
    await assert.rejects(continueText(model, ["word ".repeat(200)], { maxNewTokens: 6, temperature: 0 }), /no room/);
    await model.save(dir);
    const again = await EmbeddedModel.load(dir);
    const items = [{ prompt: { text: "Question: fever?" }, completion: " yes, likely." }];
    const agree = logprobAgreement(await model.score(items), await again.score(items));
    assert.equal(agree.maxAbsDiff, 0);
    assert.ok(agree.tokens > 1);
    again.dispose();
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

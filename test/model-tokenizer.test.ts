/** Tokenizer: fitted BPE saved as tokenizer.json, loaded by @huggingface/tokenizers, exact round trip, special tokens. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { TextTokenizer, SPECIAL_TOKENS } from "../src/model/tokenizer";
import { trainBpe } from "../src/model/bpe";
import { loadCorpus } from "../src/stages/corpus";

test("BPE merges the most frequent pair first and fills the vocabulary", () => {
  const m = trainBpe(["aaab aaab aaab xy"], 256 + 3);
  assert.deepEqual(m.merges[0], ["a", "a"]);
  assert.equal(Object.keys(m.vocab).length, 259);
});

test("fitted on the real corpus: tokenizer.json loads in @huggingface/tokenizers and round-trips text exactly", () => {
  const docs = loadCorpus("train");
  assert.equal(docs.length, 450 + 198 - 3); // PubMedQA train + Huatuo traces minus 3 in MedMCQA dev
  const tok = TextTokenizer.fit(docs.slice(0, 200).map((d) => d.text), 1024);
  assert.equal(tok.vocabSize, 1024);
  const dir = mkdtempSync(join(tmpdir(), "tok-"));
  tok.save(join(dir, "tokenizer.json"));
  const hf = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")), {});
  const text = "<|user|><image>Question: A 45-year-old man (37.8°C) — naïve?\\n\n\nOptions:\n\nA. yes<|end|><|assistant|><think> x </think>\n<answer> A </answer><|end|>";
  const ids = hf.encode(text, { add_special_tokens: false }).ids;
  assert.equal(hf.decode(ids, { skip_special_tokens: false }), text);
  const again = TextTokenizer.load(join(dir, "tokenizer.json"));
  assert.deepEqual(again.encode(text), ids);
  for (const [name, t] of Object.entries(SPECIAL_TOKENS)) {
    assert.deepEqual(again.encode(t), [again.ids[name as keyof typeof SPECIAL_TOKENS]], `${t} is one token`);
  }
  // Control tokens are dropped by decode(); tags stay.
  assert.equal(again.decode(again.encode("<|user|>hi<|end|><think>a</think>")), "hi<think>a</think>");
  // A completion that is only control tokens (the model ended at once) decodes to "", not an error.
  assert.equal(again.decode([again.ids.end]), "");
  assert.equal(again.decode([]), "");
  // Medical text compresses: more than 2.5 characters per token on held-out documents.
  const held = docs.slice(400, 450).map((d) => d.text).join("\n");
  assert.ok(held.length / again.encode(held).length > 2.5);
});

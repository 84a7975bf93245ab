/**
 * Regression (issue 7): the embedded base model never sees the answer-format tags in pretraining,
 * so their tied embedding rows drift to near-duplicates (cosine 0.98 in the workshop base); SFT
 * then taught "</answer> -> end" to `<think>` too and greedy decoding ended right after `<think>`.
 * SFT must start from distinct tag rows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initEngine } from "../src/model/engine";
import { sizeConfig } from "../src/model/config";
import { numpy as np } from "../src/model/jax";
import { initParams } from "../src/model/params";
import { TextTokenizer } from "../src/model/tokenizer";
import { distinctTagEmbeddings, tagEmbeddingSimilarity } from "../src/train/sft";

test("near-duplicate tag embeddings get fresh distinct rows; other rows and distinct tags stay", async () => {
  await initEngine();
  const tok = TextTokenizer.fit(["the patient has a fever and a cough, answer A or B"], 300);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize });
  const p0 = initParams(c, 0);
  const [V, d] = p0.embed.shape;
  const E = new Float32Array((await p0.embed.ref.data()) as Float32Array);
  const tags = [tok.ids.thinkOpen, tok.ids.thinkClose, tok.ids.answerOpen, tok.ids.answerClose];
  // What pretraining leaves: one shared direction plus a little noise.
  for (const [j, id] of tags.entries()) for (let k = 0; k < d; k++) E[id * d + k] = 0.1 + 0.001 * j * (k % 3);
  p0.embed.dispose();
  const dup = { ...p0, embed: np.array(E).reshape([V, d]) };
  assert.ok((await tagEmbeddingSimilarity(dup, tok)) > 0.99);

  const r = await distinctTagEmbeddings(dup, tok, 42);
  assert.equal(r.replaced, true);
  assert.ok(r.similarity > 0.99);
  assert.ok((await tagEmbeddingSimilarity(r.params, tok)) < 0.6, "tags distinguishable as inputs");
  const after = (await r.params.embed.ref.data()) as Float32Array;
  const tagSet = new Set(tags);
  for (let i = 0; i < V; i++) {
    if (tagSet.has(i)) continue;
    assert.deepEqual(after.subarray(i * d, (i + 1) * d), E.subarray(i * d, (i + 1) * d), `row ${i} unchanged`);
  }
  // Deterministic, and a model whose tags are already distinct is left alone.
  const again = await distinctTagEmbeddings({ ...r.params, embed: np.array(E).reshape([V, d]) }, tok, 42);
  assert.deepEqual(await again.params.embed.ref.data(), after);
  const kept = await distinctTagEmbeddings(again.params, tok, 42);
  assert.equal(kept.replaced, false);
  assert.equal(kept.params.embed, again.params.embed);
});

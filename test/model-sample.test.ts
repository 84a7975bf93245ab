/** Sampling: reproducible with a seed, jit and eager decoding agree, scoring gives the sampled log-probs, images work. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { initEngine } from "../src/model/engine";
import { sizeConfig } from "../src/model/config";
import { initParams } from "../src/model/params";
import { Sampler } from "../src/model/sampler";
import { TextTokenizer } from "../src/model/tokenizer";
import { EmbeddedModel } from "../src/model/model";
import { EmbeddedPolicy } from "../src/policy/embedded";
import { dataRoot } from "../src/paths";
import type { Item } from "../src/data/item";

const c = sizeConfig("tiny", { vocabSize: 64 });
const prompts = [{ ids: [1, 2, 3, 4, 5, 6, 7] }, { ids: [9, 8, 7] }, { ids: [11] }];
const opts = { maxNewTokens: 10, temperature: 1, topP: 0.9, seed: 42, stopIds: [60], padId: 0, imageTokenId: 63 };

test("sampling with a fixed seed is reproducible; another seed differs", async () => {
  await initEngine();
  const params = initParams(c, 1);
  const s = new Sampler(c);
  const a = await s.generate(params, prompts, opts);
  const b = await s.generate(params, prompts, opts);
  const d = await s.generate(params, prompts, { ...opts, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((g) => g.ids), d.map((g) => g.ids));
  for (const g of a) assert.equal(g.ids.length, g.logprobs.length);
  s.dispose();
});

test("jit and eager decoding agree (tokens and log-probs)", async () => {
  await initEngine();
  const params = initParams(c, 2);
  const s = new Sampler(c);
  const j = await s.generate(params, prompts, { ...opts, temperature: 0, engine: "jax" });
  const e = await s.generate(params, prompts, { ...opts, temperature: 0, jit: false });
  assert.deepEqual(j.map((g) => g.ids), e.map((g) => g.ids));
  j.forEach((g, r) => g.logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - e[r].logprobs[i]) < 1e-4)));
  s.dispose();
});

test("stop token ends a row with finish reason 'stop'; max tokens gives 'length'", async () => {
  await initEngine();
  const params = initParams(c, 4);
  const s = new Sampler(c);
  // Greedy: find the first token it emits, then make that the stop token.
  const g = await s.generate(params, [{ ids: [5, 6] }], { ...opts, temperature: 0 });
  assert.equal(g[0].finishReason, "length");
  assert.equal(g[0].ids.length, 10);
  const st = await s.generate(params, [{ ids: [5, 6] }], { ...opts, temperature: 0, stopIds: [g[0].ids[0]] });
  assert.equal(st[0].finishReason, "stop");
  assert.deepEqual(st[0].ids, [g[0].ids[0]]);
  s.dispose();
});

test("model scores its own samples with the log-probs it sampled them with; images and the Policy interface work", async () => {
  await initEngine();
  const lines = readFileSync(join(dataRoot(), "medqa", "test.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 20);
  const tok = TextTokenizer.fit(lines, 600);
  const model = await EmbeddedModel.create("tiny", tok, 5, { maxSeq: 128 });
  const imgDir = join(dataRoot(), "vqa-rad", "images");
  const img = readdirSync(imgDir).find((f) => /\.(jpe?g|png)$/i.test(f))!;
  const item: Item = {
    images: [{ bytes: readFileSync(join(imgDir, img)), path: null }],
    question: "Is there a fracture?",
    options: { A: "yes", B: "no" },
    answer_label: "B",
    answer: "no",
    reasoning: null,
    dataset_name: "test",
    dataset_index: 0,
  };
  const textItem: Item = { ...item, images: null, question: "Which organ?" };
  const policy = new EmbeddedPolicy(model, { batchSize: 4, prompt: { realNewline: true } });
  const out = await policy.sample([item, textItem], { n: 2, temperature: 1, top_p: 1, max_tokens: 12, seed: 3, logprobs: true });
  assert.equal(out.length, 2);
  assert.equal(out[0].length, 2);
  const { buildPrompt } = await import("../src/prompt");
  const flat = [
    ...out[0].map((c) => ({ prompt: { text: buildPrompt(item, { realNewline: true }), images: item.images }, c })),
    ...out[1].map((c) => ({ prompt: { text: buildPrompt(textItem, { realNewline: true }), images: null }, c })),
  ].filter((x) => x.c.finish_reason === "length" && x.c.token_ids!.length > 0);
  assert.ok(flat.length > 0);
  // Score the sampled ids (not re-tokenized text): the decoded text may re-tokenize differently.
  const scores = await model.score(flat.map((x) => ({ prompt: x.prompt, completion: "" })));
  assert.equal(scores.length, flat.length); // only the end token
  const { Scorer } = await import("../src/model/score");
  const { promptIds } = await import("../src/model/chat");
  const { imagePatches } = await import("../src/model/vision");
  const sc = new Scorer(model.config, { padId: tok.ids.pad, imageTokenId: tok.ids.image });
  const seqs = await Promise.all(
    flat.map(async (x) => {
      const images = x.prompt.images ? [await imagePatches(x.prompt.images[0], model.config)] : [];
      const p = promptIds(tok, x.prompt.text, images.length, model.config, 12).ids;
      return { ids: [...p, ...x.c.token_ids!], promptLength: p.length, images };
    }),
  );
  const lp = await sc.score(model.params, seqs);
  flat.forEach((x, i) => x.c.logprobs!.forEach((v, t) => assert.ok(Math.abs(v - lp[i][t]) < 2e-3, `row ${i} token ${t}: sampled ${v}, scored ${lp[i][t]}`)));
  sc.dispose();
  await policy.close();
});

test("chooseToken: greedy, temperature, top-p truncation, banned ids; log-prob is the model's", async () => {
  const { chooseToken } = await import("../src/model/sampling");
  const { makeRng } = await import("../src/model/params");
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  assert.equal(chooseToken(logits, 0, 4, 0, 1, Math.random).token, 0);
  assert.equal(chooseToken(logits, 0, 4, 0, 1, Math.random, new Set([0])).token, 1);
  const rng = makeRng(1);
  const count = (temp: number, topP: number) => {
    const n = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) n[chooseToken(logits, 0, 4, temp, topP, rng.uniform).token]++;
    return n.map((x) => x / 20000);
  };
  const full = count(1, 1);
  [0.5, 0.3, 0.15, 0.05].forEach((p, i) => assert.ok(Math.abs(full[i] - p) < 0.015, `p[${i}] ${full[i]}`));
  const nucleus = count(1, 0.75); // keeps {0.5, 0.3}, renormalised to 0.625 / 0.375
  assert.equal(nucleus[2] + nucleus[3], 0);
  assert.ok(Math.abs(nucleus[0] - 0.625) < 0.015);
  const cold = count(0.5, 1); // p^2 normalised: 0.25/0.3725 ...
  assert.ok(cold[0] > 0.6);
  const c = chooseToken(logits, 0, 4, 0.5, 0.9, rng.uniform);
  assert.ok(Math.abs(c.logprob - Math.log([0.5, 0.3, 0.15, 0.05][c.token])) < 1e-6);
});

test("long generations (past several KV-window flushes) keep the full-forward log-probs, with rows of different prompt lengths", async () => {
  await initEngine();
  const { Scorer } = await import("../src/model/score");
  const { WINDOW } = await import("../src/model/decode");
  const params = initParams(c, 6);
  const s = new Sampler(c);
  const n = c.maxSeq - 16; // prompt bucket 16 + 48 new tokens fill the context of 64
  assert.ok(n > 2 * WINDOW, "the generation crosses at least two window flushes");
  const long = { ...opts, maxNewTokens: n, stopIds: [] };
  const j = await s.generate(params, prompts, { ...long, engine: "jax" });
  for (const g of j) assert.equal(g.ids.length, n);
  const e = await s.generate(params, prompts, { ...long, jit: false });
  assert.deepEqual(j.map((g) => g.ids), e.map((g) => g.ids));
  const sc = new Scorer(c, { padId: 0, imageTokenId: 63 });
  const lp = await sc.score(params, prompts.map((p, r) => ({ ids: [...p.ids, ...j[r].ids], promptLength: p.ids.length })));
  j.forEach((g, r) => g.logprobs.forEach((v, t) => assert.ok(Math.abs(v - lp[r][t]) < 2e-3, `row ${r} token ${t}: sampled ${v}, scored ${lp[r][t]}`)));
  sc.dispose();
  s.dispose();
});

test("rotary matrix used by the decode step equals rope() at that position", async () => {
  await initEngine();
  const { rotaryMatrix } = await import("../src/model/decode");
  const { rope, ropeTables } = await import("../src/model/transformer");
  const { numpy: np } = await import("../src/model/jax");
  const hd = c.dModel / c.nHeads;
  const x = Float32Array.from({ length: 3 * hd }, (_, i) => Math.sin(i * 1.7) + 0.1 * i);
  for (const pos of [0, 5, 37]) {
    const t = ropeTables(c, [pos]);
    const want = (await rope(np.array(x).reshape([1, 1, 3, hd]), np.array(t.cos).reshape([1, hd / 2]), np.array(t.sin).reshape([1, hd / 2])).data()) as Float32Array;
    const got = (await np.matmul(np.array(x).reshape([3, hd]), np.array(rotaryMatrix(t.cos, t.sin)).reshape([hd, hd])).data()) as Float32Array;
    want.forEach((v, i) => assert.ok(Math.abs(v - got[i]) < 1e-5, `pos ${pos} index ${i}: ${v} vs ${got[i]}`));
  }
});

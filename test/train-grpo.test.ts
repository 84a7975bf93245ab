/**
 * GRPO trainer: the config (presets, validation errors), the loss wiring (zero advantages give a
 * zero policy gradient; on-policy ratios are 1), the rollout keeping sampled tokens and their
 * log-probs, the metrics, and resume = uninterrupted. The learning test is train-grpo-learn.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine } from "../src/model/engine";
import { numpy as np, tree, valueAndGrad } from "../src/model/jax";
import { sizeConfig } from "../src/model/config";
import { initParams } from "../src/model/params";
import { buildBatch } from "../src/model/batch";
import { loadCheckpoint } from "../src/model/checkpoint";
import { Sampler } from "../src/model/sampler";
import { TextTokenizer } from "../src/model/tokenizer";
import { GRPO_PRESETS, parseGrpoConfig, checkGrpoConfigFiles } from "../src/train/grpo-config";
import { grpoMicroLoss, GrpoActor, planMiniBatches, type GrpoRow } from "../src/train/grpo-step";
import { encodePrompt, rolloutStats, sampleGroups, scoreSamples } from "../src/train/rollout";
import { trainGrpo, type GrpoStepMetrics } from "../src/train/grpo";
import { readMetrics } from "../src/train/runs";
import { run as cli } from "../src/cli/train-grpo";
import { copyTaskItems, makeCopyTask } from "./helpers/grpo-task";

test("published preset is the paper's verl settings (recipe.md)", () => {
  const p = parseGrpoConfig({ preset: "published" });
  assert.equal(p.rollout.promptsPerStep, 256);
  assert.equal(p.rollout.n, 8);
  assert.equal(p.rollout.temperature, 1.0);
  assert.equal(p.rollout.topP, 1);
  assert.equal(p.rollout.maxResponseTokens, 4096);
  assert.equal(p.rollout.maxPromptTokens, 2048);
  assert.equal(p.actor.miniBatchPrompts, 128);
  assert.equal(p.actor.ppoEpochs, 1);
  assert.equal(p.actor.lr, 1e-6);
  assert.equal(p.actor.maxGradNorm, 1.0);
  assert.equal(p.actor.weightDecay, 0.01);
  assert.deepEqual([p.actor.clipRatioLow, p.actor.clipRatioHigh, p.actor.clipRatioC], [0.2, 0.2, 3.0]);
  assert.equal(p.actor.klLossType, "low_var_kl");
  assert.equal(p.actor.klLossCoef, 0.01);
  assert.equal(p.actor.entropyCoeff, 0);
  assert.equal(p.actor.lossAggMode, "token-mean");
  assert.equal(p.actor.normAdvByStd, true);
  assert.equal(p.reward.format, "gate");
  assert.equal(p.reward.extraction, "published");
  assert.equal(p.warmup.formatSteps, 0);
  // Workshop and smoke keep the published loss; only sizes and the learning rate change.
  for (const name of ["workshop", "smoke"] as const) {
    const w = GRPO_PRESETS[name].actor;
    assert.deepEqual([w.clipRatioLow, w.clipRatioHigh, w.clipRatioC, w.klLossType, w.klLossCoef, w.entropyCoeff, w.lossAggMode], [0.2, 0.2, 3.0, "low_var_kl", 0.01, 0, "token-mean"]);
  }
});

test("config errors name the field: unknown key, wrong type, bad preset, inconsistent batches, missing data", () => {
  assert.throws(() => parseGrpoConfig({ actor: { lr: 1e-6, lrr: 2 } }), (e: Error) => e.name === "ConfigError" && /actor: unknown key\(s\) 'lrr'/.test(e.message));
  assert.throws(() => parseGrpoConfig({ rollout: { n: "8" } }), (e: Error) => e.name === "ConfigError" && /rollout\.n:/.test(e.message));
  assert.throws(() => parseGrpoConfig({ actor: { lossAggMode: "sum" } }), /actor\.lossAggMode/);
  assert.throws(() => parseGrpoConfig({ actor: { clipRatioC: 1 } }), /actor\.clipRatioC/);
  assert.throws(() => parseGrpoConfig({ preset: "huge" }), /preset: 'huge' is not one of published, workshop, smoke/);
  assert.throws(() => parseGrpoConfig([]), /expected a JSON object, got an array/);
  assert.throws(() => parseGrpoConfig({ rollout: { promptsPerStep: 8 }, actor: { miniBatchPrompts: 3 } }), /promptsPerStep \(8\) is not a multiple of actor\.miniBatchPrompts \(3\)/);
  assert.throws(() => parseGrpoConfig({ rollout: { promptsPerStep: 4 }, actor: { miniBatchPrompts: 8 } }), /miniBatchPrompts \(8\) exceeds/);
  const c = parseGrpoConfig({ data: { sources: ["/nonexistent/items.jsonl", "not-a-dataset"] }, model: { init: "/nonexistent/ckpt" } });
  assert.throws(
    () => checkGrpoConfigFiles(c),
    (e: Error) => e.name === "ConfigError" && /'\/nonexistent\/items\.jsonl' is neither a dataset name/.test(e.message) && /'not-a-dataset'/.test(e.message) && /model\.init/.test(e.message),
  );
  // The real shared training data is found.
  checkGrpoConfigFiles(parseGrpoConfig({ preset: "workshop" }));
});

test("trainGrpo refuses bad configs before any work; the CLI prints the resolved config and fails cleanly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "grpo-cfg-"));
  const out = join(dir, "run");
  await assert.rejects(trainGrpo({ out, data: { sources: ["/nonexistent.jsonl"] } }, { progress: false }), /ConfigError|neither a dataset name/);
  assert.equal(existsSync(out), false, "no run folder for a config that failed validation");
  // model.init "base" is made by the stages layer: without the maker the run fails before any work.
  await assert.rejects(trainGrpo({ preset: "smoke", out }, { progress: false }), (e: Error) => e.name === "ConfigError" && /stageModels/.test(e.message));
  assert.equal(existsSync(out), false, "no run folder when the stage models are missing");
  const file = join(dir, "bad.json");
  writeFileSync(file, JSON.stringify({ preset: "smoke", rollout: { nn: 8 } }));
  await assert.rejects(cli(["--config", file]), (e: Error) => e.name === "ConfigError" && /rollout: unknown key\(s\) 'nn'/.test(e.message));
  writeFileSync(file, "{ not json");
  await assert.rejects(cli(["--config", file]), /not valid JSON/);
  const lines: string[] = [];
  const orig = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(await cli(["--preset", "published", "--print-config"]), 0);
  } finally {
    console.log = orig;
  }
  assert.equal(JSON.parse(lines.join("\n")).rollout.promptsPerStep, 256);
});

test("loss wiring: zero advantages give exactly zero policy gradient; nonzero advantages do not; KL pulls back only once the policy moved", async () => {
  await initEngine();
  const c = sizeConfig("tiny", { vocabSize: 64 });
  const R = 4;
  const T = 16;
  const seqs = Array.from({ length: R }, (_, r) => ({ ids: Array.from({ length: 12 + r }, (_, t) => (t * 7 + r * 3) % 60) }));
  const mask = new Float32Array(R * T);
  seqs.forEach((s, r) => {
    for (let t = 5; t + 1 < s.ids.length; t++) mask[r * T + t] = 1;
  });
  const settings = { clipRatioLow: 0.2, clipRatioHigh: 0.2, clipRatioC: 3, lossAggMode: "token-mean" as const, klLossType: "low_var_kl" as const };
  const grads = (p: ReturnType<typeof initParams>, adv: number[], klLossCoef: number, refLp: Float32Array, oldLp: Float32Array) => {
    const b = buildBatch(seqs, c, { pad: "right", length: T, padId: 0, imageTokenId: 63 });
    const advArr = new Float32Array(R * T).map((_, i) => adv[Math.floor(i / T)] * mask[i]);
    const f = valueAndGrad(grpoMicroLoss(c, { ...settings, klLossCoef, entropyCoeff: 0 }), { hasAux: true });
    const [[loss, aux], g] = f(tree.ref(p), b.inputs, b.targets, np.array(oldLp).reshape([R, T]), np.array(advArr).reshape([R, T]), np.array(mask).reshape([R, T]), np.array(refLp).reshape([R, T]), np.array([1]));
    const leaves = (tree.leaves(g as never) as np.Array[]).map((a) => Array.from(a.dataSync() as Float32Array));
    const out = { loss: loss.dataSync()[0], kl: aux.klLoss.dataSync()[0], ppoKl: aux.ppoKl.dataSync()[0], clip: aux.pgClipfrac.dataSync()[0], maxAbs: Math.max(...leaves.map((l) => Math.max(...l.map(Math.abs)))) };
    for (const k of Object.keys(aux) as (keyof typeof aux)[]) if (k !== "klLoss" && k !== "ppoKl" && k !== "pgClipfrac") aux[k].dispose();
    return out;
  };
  const p = initParams(c, 3);
  // The policy's own log-probs: on-policy old = current, reference = current.
  const lpBatch = buildBatch(seqs, c, { pad: "right", length: T, padId: 0, imageTokenId: 63 });
  const { tokenLogprobs } = await import("../src/model/transformer");
  const own = new Float32Array(tokenLogprobs(tree.ref(p), lpBatch.inputs, lpBatch.targets, c).dataSync() as Float32Array);
  const zero = grads(p, [0, 0, 0, 0], 0, own, own);
  assert.equal(zero.maxAbs, 0, "zero advantages must give a zero gradient");
  assert.equal(zero.loss, 0);
  const some = grads(p, [1, -1, 0.5, -0.5], 0, own, own);
  assert.ok(some.maxAbs > 1e-6, `nonzero advantages give a gradient (max |g| ${some.maxAbs})`);
  assert.ok(Math.abs(some.ppoKl) < 1e-6, "on-policy: ratio 1, ppo_kl 0");
  assert.equal(some.clip, 0, "on-policy: nothing clipped");
  // KL term: zero gradient when the policy equals the reference (k3 has its minimum there), nonzero once it differs.
  const atRef = grads(p, [0, 0, 0, 0], 0.01, own, own);
  assert.ok(atRef.maxAbs < 1e-9 && Math.abs(atRef.kl) < 1e-6, `KL at the reference: ${atRef.kl}, max |g| ${atRef.maxAbs}`);
  const shifted = own.map((v, i) => (mask[i] ? v - 0.5 : v));
  const moved = grads(p, [0, 0, 0, 0], 0.01, shifted, own);
  assert.ok(moved.kl > 0.05 && moved.maxAbs > 1e-7, `KL away from the reference: ${moved.kl}, max |g| ${moved.maxAbs}`);
  tree.dispose(p);
});

test("rollout keeps the sampled token ids and log-probs; recomputed old log-probs equal the sampler's; rewards and stats", async () => {
  await initEngine();
  const items = copyTaskItems(3, 5);
  const tok = TextTokenizer.fit(items.map((it) => `${it.question} ${Object.values(it.options).join(" ")} <think> </think> <answer> A </answer>`), 320);
  const c = sizeConfig("tiny", { vocabSize: tok.vocabSize, maxSeq: 160 });
  const params = initParams(c, 7);
  const sampler = new Sampler(c);
  const prompts = await Promise.all(items.map((it, uid) => encodePrompt(it, uid, tok, c, { maxResponseTokens: 8, maxPromptTokens: 150 })));
  const raw = await sampleGroups(sampler, params, prompts, tok, { n: 3, temperature: 1, topP: 1, maxResponseTokens: 8, maxPromptTokens: 150, batchRows: 4, seed: 1 });
  assert.equal(raw.length, 9);
  assert.deepEqual(raw.map((s) => s.uid), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
  for (const s of raw) {
    assert.equal(s.responseIds.length, s.samplerLogprobs.length);
    assert.ok(s.responseIds.length >= 1 && s.responseIds.length <= 8);
  }
  const again = await sampleGroups(sampler, params, prompts, tok, { n: 3, temperature: 1, topP: 1, maxResponseTokens: 8, maxPromptTokens: 150, batchRows: 4, seed: 1 });
  assert.deepEqual(again.map((s) => s.responseIds), raw.map((s) => s.responseIds), "same seed, same samples");
  const rows: GrpoRow[] = raw.map((s) => ({ promptIds: s.promptIds, images: s.images, responseIds: s.responseIds, advantage: 0, samplerLogprobs: s.samplerLogprobs }));
  const actor = new GrpoActor(params, null, c, tok, { lr: 1e-3 }, { klLossCoef: 0, entropyCoeff: 0 }, 16);
  const [[micro]] = planMiniBatches(rows, 9, 16, 16, c.maxSeq);
  const recomputed = await actor.logprobs(actor.params, micro.rows.map((i) => rows[i]), micro.length);
  const fromSampler = actor.samplerLayout(micro.rows.map((i) => rows[i]), micro.length);
  let compared = 0;
  rows.forEach((r, b) => {
    for (let j = 0; j < r.responseIds.length; j++) {
      const at = b * micro.length + r.promptIds.length - 1 + j;
      assert.ok(Math.abs(recomputed[at] - fromSampler[at]) < 1e-3, `row ${b} token ${j}: ${recomputed[at]} vs ${fromSampler[at]}`);
      compared++;
    }
  });
  assert.equal(compared, rows.reduce((s, r) => s + r.responseIds.length, 0));
  // Rewards: a hand-written correct response scores 1, a wrong one 0, unformatted 0.
  const fake = [raw[0], raw[1], raw[2]].map((s, i) => ({ ...s, text: [`<think> x </think>\n<answer> ${items[0].answer_label} </answer>`, "<think> x </think><answer> Z </answer>", "no tags"][i] }));
  const scored = scoreSamples(fake, prompts);
  assert.deepEqual(scored.map((s) => s.reward.reward), [1, 0, 0]);
  const st = rolloutStats(scored, prompts);
  assert.ok(Math.abs(st.accuracy - 1 / 3) < 1e-12 && Math.abs(st.format_failure_rate - 1 / 3) < 1e-12);
  assert.equal(st.zero_signal_groups, 0);
  sampler.dispose();
  actor.dispose();
  tree.dispose(actor.params);
});

const TIMING = new Set(["sample_s", "score_s", "update_s", "step_s", "sample_tokens_per_s"]);
const strip = (m: GrpoStepMetrics) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.has(k)));

test("resume after a kill equals the uninterrupted run (metrics, samples, weights, optimizer)", async () => {
  const task = await makeCopyTask({ items: 24 });
  const cfg = (out: string) => ({
    preset: "smoke" as const,
    out,
    model: { init: task.modelDir, size: "tiny" as const },
    data: { sources: [task.itemsPath], excludeEval: [], limit: null },
    rollout: { promptsPerStep: 4, n: 4, maxResponseTokens: 8, maxPromptTokens: 80, batchRows: 16 },
    actor: { lr: 1e-3, miniBatchPrompts: 2, microBatchRows: 4 },
    warmup: { formatSteps: 3, lr: 3e-3, batchRows: 4 },
    train: { maxSteps: 4, saveEvery: 1, epochs: 2, keepLast: 5 },
  });
  const a = await trainGrpo(cfg(join(task.dir, "a")), { progress: false, log: () => {} });
  assert.equal(a.steps, 4);
  assert.ok(a.finished);
  const first = await trainGrpo(cfg(join(task.dir, "b")), { progress: false, log: () => {}, haltAfterStep: 3 });
  assert.equal(first.finished, false);
  first.model.dispose();
  // Killed during step 3 before its checkpoint: the resume restarts from step 2's checkpoint.
  const b = await trainGrpo(cfg(join(task.dir, "b")), { progress: false, log: () => {}, resume: true });
  assert.equal(b.steps, 4);
  assert.deepEqual(b.metrics.map(strip), a.metrics.map(strip));
  assert.deepEqual(readMetrics(join(task.dir, "b", "samples.jsonl")).records, readMetrics(join(task.dir, "a", "samples.jsonl")).records);
  const ca = loadCheckpoint(a.finalCheckpoint!);
  const cb = loadCheckpoint(b.finalCheckpoint!);
  const flat = async (p: typeof ca.params) => Promise.all((tree.leaves(p as never) as np.Array[]).map(async (x) => Array.from((await x.ref.data()) as Float32Array)));
  assert.deepEqual(await flat(cb.params), await flat(ca.params));
  for (const k of Object.keys(ca.optimizer!)) assert.deepEqual(Array.from(cb.optimizer![k].data), Array.from(ca.optimizer![k].data), `optimizer ${k}`);
  // Metrics are complete: every field logged, 2 updates per step (2 mini-batches of 2 prompts).
  const m = a.metrics[0];
  for (const k of ["reward_mean", "accuracy", "format_failure_rate", "response_length_mean", "kl_loss", "pg_clipfrac", "entropy", "adv_mean", "adv_std", "zero_signal_groups", "sample_s", "score_s", "update_s"]) {
    assert.equal(typeof (m as unknown as Record<string, unknown>)[k], "number", k);
  }
  assert.equal(m.updates, 2);
  // The second mini-batch is off-policy (the first update changed the weights): its ratios are not all 1.
  assert.ok(a.metrics.some((x) => Math.abs(x.ppo_kl) > 1e-7), "ppo_kl moves after the first mini-batch update");
  for (const r of [a, b]) r.model.dispose();
  for (const ck of [ca, cb]) tree.dispose(ck.params);
});

/**
 * The honest learning test: GRPO must teach a tiny model a rule it can only learn from rewards.
 *
 * Task (test/helpers/grpo-task.ts, rule "last"): each question has 2 or 3 options (random words)
 * and the keyed answer is always the LAST option, so the right letter depends on the prompt (B or
 * C). Nothing in the prompt says so. The model is a fresh tiny transformer (d 64, 2 layers)
 * with a tokenizer fitted to the task's text.
 *
 * Format warm-up, inside the run (config warmup.formatSteps, src/train/grpo-warmup.ts): 100 SFT
 * steps (lr 3e-3) on `<think> </think>\n<answer> L </answer>` with L a uniformly random option letter, so the
 * model writes the format the published reward gates on but answers at chance. Then GRPO with the
 * published loss (clip 0.2/0.2, dual clip 3, low_var_kl 0.01, token-mean) and rewards.
 *
 * Measured on held-out questions (new words, same rule), answered greedily: the model before GRPO
 * (the run's reference, after the warm-up) is near chance (<= 0.5; chance is (1/2 + 1/3) / 2 = 0.42), and after
 * GRPO it must be >= 0.8. Training stops once the sampled (temperature 1) accuracy averages 0.8
 * over 3 steps, or after 80 steps; that is ~20-30 steps, well under a minute on 2 free cores.
 * A trainer that stops learning fails. (Sampled accuracy stays below greedy accuracy: at
 * temperature 1 a letter with probability 0.8 is still missed one time in five.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { EmbeddedModel } from "../src/model/model";
import { trainGrpo, type GrpoStepMetrics } from "../src/train/grpo";
import { sampleResponses } from "../src/train/grpo-view";
import { copyTaskItems, makeCopyTask } from "./helpers/grpo-task";

test("GRPO raises a tiny model's accuracy from chance to >= 80% on a rule learnable only from rewards", { timeout: 600_000 }, async () => {
  const task = await makeCopyTask({ items: 256, rule: "last", maxSeq: 96, model: { dModel: 64, nHeads: 4, dMlp: 128 } });
  const stop = new AbortController();
  const acc: number[] = [];
  const window = () => acc.slice(-3).reduce((a, b) => a + b, 0) / Math.min(3, acc.length);
  const run = await trainGrpo(
    {
      preset: "smoke",
      out: join(task.dir, "run"),
      model: { init: task.modelDir, size: "tiny" },
      data: { sources: [task.itemsPath], excludeEval: [], limit: null },
      rollout: { promptsPerStep: 8, n: 8, maxResponseTokens: 10, maxPromptTokens: 80, batchRows: 64 },
      actor: { lr: 1e-3, miniBatchPrompts: 8, microBatchRows: 64 },
      // Warm-up of 100 steps at lr 3e-3, stop at a sampled accuracy of 0.8: with the earlier 60
      // steps at 1e-2 and a stop at 0.7, the warmed-up policy kept a strong letter preference, GRPO
      // could stall at "always B" (no reward signal on 3-option groups), and a lucky streak could
      // stop it early: measured out of tree with train seeds 42, 1, 2, 3, that setting failed on 1
      // of 4 seeds on jax-js and 2 of 4 on onnxruntime. This one passed 8 of 8 (both engines, the
      // same seeds): held-out 0.92-0.99 in 18-31 steps, last-step format failures <= 0.125.
      warmup: { formatSteps: 100, lr: 3e-3, batchRows: 16 },
      train: { epochs: 3, maxSteps: 80, saveEvery: 0 },
    },
    {
      progress: false,
      log: () => {},
      signal: stop.signal,
      onStep: (m: GrpoStepMetrics) => {
        acc.push(m.accuracy);
        if (acc.length >= 3 && window() >= 0.8) stop.abort();
      },
    },
  );
  const heldOut = copyTaskItems(90, 99, { rule: "last" });
  const greedyAccuracy = async (m: EmbeddedModel) => {
    const rows = await sampleResponses(m, heldOut, { maxNewTokens: 10 });
    return rows.filter((r) => r.reason === "correct").length / rows.length;
  };
  const before = await EmbeddedModel.load(run.referenceDir);
  const accBefore = await greedyAccuracy(before);
  const accAfter = await greedyAccuracy(run.model);
  before.dispose();
  run.model.dispose();
  const trace = acc.map((a) => a.toFixed(2)).join(" ");
  assert.ok(accBefore <= 0.5, `before GRPO the model should be near chance on held-out questions: ${accBefore.toFixed(3)}`);
  assert.ok(accAfter >= 0.8, `after ${acc.length} steps, held-out greedy accuracy ${accAfter.toFixed(3)} (before ${accBefore.toFixed(3)}); sampled accuracy per step: ${trace}`);
  // Learning came from the reward, not from breaking the format: format failures stay rare.
  const last = run.metrics[run.metrics.length - 1];
  assert.ok(last.format_failure_rate <= 0.2, `format failures ${last.format_failure_rate}`);
  console.log(`held-out greedy accuracy ${accBefore.toFixed(3)} -> ${accAfter.toFixed(3)} in ${acc.length} steps; sampled: ${trace}`);
});

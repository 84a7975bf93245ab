/**
 * The honest learning test: GRPO must teach a tiny model a rule it can only learn from rewards.
 *
 * Task (src/train/toy-task.ts, rule "last"): each question has 2 or 3 options (random words)
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
import { runLastOptionDemo } from "../src/train/toy-task";

test("GRPO raises a tiny model's accuracy from chance to >= 80% on a rule learnable only from rewards", { timeout: 600_000 }, async () => {
  // The run notebook 04 shows (src/train/toy-task.ts): warm-up of 100 steps at lr 3e-3, stop at a
  // sampled accuracy of 0.8 over 3 steps, at most 80 steps. With the earlier 60 warm-up steps at
  // 1e-2 and a stop at 0.7, the warmed-up policy kept a strong letter preference, GRPO could stall
  // at "always B" (no reward signal on 3-option groups), and a lucky streak could stop it early:
  // measured out of tree with train seeds 42, 1, 2, 3, that setting failed on 1 of 4 seeds on
  // jax-js and 2 of 4 on onnxruntime. This one passed 8 of 8 (both engines, the same seeds):
  // held-out 0.92-0.99 in 18-31 steps, last-step format failures <= 0.125.
  const demo = await runLastOptionDemo();
  const trace = demo.sampled.map((a) => a.toFixed(2)).join(" ");
  assert.ok(demo.before <= 0.5, `before GRPO the model should be near chance on held-out questions: ${demo.before.toFixed(3)}`);
  assert.ok(demo.after >= 0.8, `after ${demo.steps} steps, held-out greedy accuracy ${demo.after.toFixed(3)} (before ${demo.before.toFixed(3)}); sampled accuracy per step: ${trace}`);
  // Learning came from the reward, not from breaking the format: format failures stay rare.
  const last = demo.metrics[demo.metrics.length - 1];
  assert.ok(last.format_failure_rate <= 0.2, `format failures ${last.format_failure_rate}`);
  console.log(`held-out greedy accuracy ${demo.before.toFixed(3)} -> ${demo.after.toFixed(3)} in ${demo.steps} steps (${demo.seconds.toFixed(0)} s); sampled: ${trace}`);
});

/**
 * Small synthetic GRPO tasks, written to a tmp folder as an interchange jsonl and a fresh tiny
 * model checkpoint (tokenizer fitted to the task's text), like real inputs. Rules for the key:
 * - "last": 2 or 3 options (random words) and the key is always the last one, so the right
 *   letter (B or C) depends on the prompt; nothing in the prompt says so (the learning test);
 * - "copy": the question names the letter ("Copy the letter: C C C ..."), 4 options;
 * - "constant": the key is always B.
 * Measured on a d-64 2-layer model after the format warm-up (lr 1e-3, 8 prompts x 8 samples):
 * "constant" reaches 80% in ~15 steps; "last" with 2-4 options learned B and C but never D (4
 * options: the policy generalised C from 3-option items and stopped sampling D), hence 2-3 options;
 * "copy" stayed at chance for 40-60 steps (hint in the question or in a last option, 2 or 4
 * options, repeated 8 or 24 times): conditioning on a distant prompt token is slow to find from
 * rewards alone at this size.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item } from "../data/item";
import { writeItemsJsonl } from "../data/jsonl";
import { EmbeddedModel } from "../model/model";
import { TextTokenizer } from "../model/tokenizer";
import { buildPrompt, sftTarget } from "../prompt";
import { Rng } from "./runs";
import { trainGrpo, type GrpoStepMetrics } from "./grpo";
import { sampleResponses } from "./grpo-view";

const WORDS = ["heart", "lung", "liver", "kidney", "brain", "bone", "skin", "blood", "nerve", "muscle", "eye", "ear"];
const LETTERS = ["A", "B", "C", "D", "E"];

export function copyTaskItems(n: number, seed: number, opts: { repeat?: number; options?: number; hint?: "question" | "last-option"; rule?: "copy" | "constant" | "last" } = {}): Item[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const k = opts.rule === "last" ? 2 + rng.int(2) : opts.options ?? 4;
    const words = rng.shuffle(WORDS).slice(0, k);
    const options: Record<string, string> = {};
    LETTERS.slice(0, k).forEach((l, j) => (options[l] = words[j]));
    const label = opts.rule === "constant" ? "B" : opts.rule === "last" ? LETTERS[k - 1] : LETTERS[rng.int(k)];
    const hint = (" " + label).repeat(opts.repeat ?? 8).trim();
    // "last-option": the hint is the text of an extra last option, close to where the answer is written.
    if (opts.hint === "last-option") options[String.fromCharCode(65 + k)] = hint;
    return {
      images: null,
      question: opts.rule === "constant" || opts.rule === "last" ? "Which option is keyed?" : opts.hint === "last-option" ? "Answer with the letter written in the last option." : `Copy the letter: ${hint}`,
      options,
      answer_label: label,
      answer: options[label],
      reasoning: null,
      dataset_name: "copy-task",
      dataset_index: i,
      hash: `copy-${seed}-${i}`,
      misc: {},
    } as unknown as Item;
  });
}

export interface CopyTask {
  dir: string;
  itemsPath: string;
  modelDir: string;
  items: Item[];
}

/** Items file and a fresh tiny model (tokenizer fitted to the task's text) in a tmp folder. */
export async function makeCopyTask(opts: { items?: number; seed?: number; maxSeq?: number; model?: Record<string, number>; repeat?: number; options?: number; hint?: "question" | "last-option"; rule?: "copy" | "constant" | "last" } = {}): Promise<CopyTask> {
  const dir = mkdtempSync(join(tmpdir(), "grpo-task-"));
  const items = copyTaskItems(opts.items ?? 256, opts.seed ?? 1, { repeat: opts.repeat, options: opts.options, hint: opts.hint, rule: opts.rule });
  const itemsPath = join(dir, "copy_train.jsonl");
  writeItemsJsonl(itemsPath, items);
  const texts = items.flatMap((it) => [buildPrompt(it), ...LETTERS.map((l) => sftTarget("", l))]);
  const tok = TextTokenizer.fit(texts, 400);
  const model = await EmbeddedModel.create("tiny", tok, opts.seed ?? 1, { maxSeq: opts.maxSeq ?? 96, ...(opts.model ?? {}) });
  const modelDir = join(dir, "model");
  await model.save(modelDir, { stage: "copy-task-init" });
  model.dispose();
  return { dir, itemsPath, modelDir, items };
}

export interface LastOptionDemo {
  /** Held-out greedy accuracy of the run's reference (after the format warm-up) and of the trained policy. */
  before: number;
  after: number;
  /** Chance on the held-out items: the mean of 1 / options. */
  chance: number;
  steps: number;
  /** Sampled (temperature 1) accuracy per step. */
  sampled: number[];
  metrics: GrpoStepMetrics[];
  seconds: number;
  heldOut: Item[];
}

/**
 * GRPO learning the "key is the last option" rule (2 or 3 options of random words, nothing in the
 * prompt says so) on a fresh tiny model: a format warm-up inside the run, then the published loss
 * and reward. Stops once the sampled accuracy averages `stopAt` over 3 steps, or after `maxSteps`.
 * The same call test/train-grpo-learn.test.ts checks and notebook 04 shows.
 */
export async function runLastOptionDemo(o: { maxSteps?: number; stopAt?: number; warmupSteps?: number; onStep?: (m: GrpoStepMetrics) => void } = {}): Promise<LastOptionDemo> {
  const started = Date.now();
  const task = await makeCopyTask({ items: 256, rule: "last", maxSeq: 96, model: { dModel: 64, nHeads: 4, dMlp: 128 } });
  const stop = new AbortController();
  const sampled: number[] = [];
  const stopAt = o.stopAt ?? 0.8;
  const window = () => sampled.slice(-3).reduce((a, b) => a + b, 0) / Math.min(3, sampled.length);
  try {
    const run = await trainGrpo(
      {
        preset: "smoke",
        out: join(task.dir, "run"),
        model: { init: task.modelDir, size: "tiny" },
        data: { sources: [task.itemsPath], excludeEval: [], limit: null },
        rollout: { promptsPerStep: 8, n: 8, maxResponseTokens: 10, maxPromptTokens: 80, batchRows: 64 },
        actor: { lr: 1e-3, miniBatchPrompts: 8, microBatchRows: 64 },
        // Settings measured in test/train-grpo-learn.test.ts (8 of 8 seeds learn on both engines).
        warmup: { formatSteps: o.warmupSteps ?? 100, lr: 3e-3, batchRows: 16 },
        train: { epochs: 3, maxSteps: o.maxSteps ?? 80, saveEvery: 0 },
      },
      {
        progress: false,
        log: () => {},
        signal: stop.signal,
        onStep: (m: GrpoStepMetrics) => {
          sampled.push(m.accuracy);
          o.onStep?.(m);
          if (sampled.length >= 3 && window() >= stopAt) stop.abort();
        },
      },
    );
    const heldOut = copyTaskItems(90, 99, { rule: "last" });
    const greedy = async (m: EmbeddedModel) => {
      const rows = await sampleResponses(m, heldOut, { maxNewTokens: 10 });
      return rows.filter((r) => r.reason === "correct").length / rows.length;
    };
    const ref = await EmbeddedModel.load(run.referenceDir);
    const before = await greedy(ref);
    const after = await greedy(run.model);
    ref.dispose();
    run.model.dispose();
    const chance = heldOut.reduce((a, it) => a + 1 / Object.keys(it.options).length, 0) / heldOut.length;
    return { before, after, chance, steps: sampled.length, sampled, metrics: run.metrics, seconds: (Date.now() - started) / 1000, heldOut };
  } finally {
    rmSync(task.dir, { recursive: true, force: true });
  }
}

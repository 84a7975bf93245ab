/**
 * A small synthetic GRPO task whose answer is learnable from the prompt: the question names the
 * correct letter ("Copy the letter: C"), the four options are random words. A tiny model that has
 * only been warmed up on the answer format answers at chance (25%); GRPO must teach it to copy.
 * Written to a tmp folder as an interchange jsonl and a model checkpoint, like real inputs.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item } from "../../src/data/item";
import { writeItemsJsonl } from "../../src/data/jsonl";
import { EmbeddedModel } from "../../src/model/model";
import { TextTokenizer } from "../../src/model/tokenizer";
import { buildPrompt, sftTarget } from "../../src/prompt";
import { Rng } from "../../src/train/runs";

const WORDS = ["heart", "lung", "liver", "kidney", "brain", "bone", "skin", "blood", "nerve", "muscle", "eye", "ear"];
const LETTERS = ["A", "B", "C", "D"];

export function copyTaskItems(n: number, seed: number, opts: { repeat?: number; options?: number } = {}): Item[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const k = opts.options ?? 4;
    const words = rng.shuffle(WORDS).slice(0, k);
    const options: Record<string, string> = {};
    LETTERS.slice(0, k).forEach((l, j) => (options[l] = words[j]));
    const label = LETTERS[rng.int(k)];
    return {
      images: null,
      question: `Copy the letter: ${(" " + label).repeat(opts.repeat ?? 8).trim()}`,
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
export async function makeCopyTask(opts: { items?: number; seed?: number; maxSeq?: number; model?: Record<string, number>; repeat?: number; options?: number } = {}): Promise<CopyTask> {
  const dir = mkdtempSync(join(tmpdir(), "grpo-task-"));
  const items = copyTaskItems(opts.items ?? 256, opts.seed ?? 1, { repeat: opts.repeat, options: opts.options });
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

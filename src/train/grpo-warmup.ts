/**
 * Format warm-up before GRPO, for a model that does not write the answer format yet (the embedded
 * base model only saw medical text). A few SFT steps on `<think> </think>\n<answer> L </answer>`
 * where L is a uniformly random option letter of the item: the model learns the tags the
 * published format gate asks for and nothing about which answer is right, so GRPO starts near
 * chance accuracy with rewards it can actually sample. Off (0 steps) in the published preset.
 */
import type { Item } from "../data/item";
import { buildHostBatch, lossMask } from "../model/batch";
import type { ModelConfig } from "../model/config";
import type { Params } from "../model/params";
import type { TextTokenizer } from "../model/tokenizer";
import { LmTrainer } from "./lm-step";
import { sftTarget } from "../prompt";
import { padLength } from "./grpo-step";
import { encodePrompt } from "./rollout";
import { Rng } from "./runs";

export interface FormatWarmupOptions {
  steps: number;
  lr: number;
  batchRows: number;
  seed: number;
  maxResponseTokens: number;
  maxPromptTokens: number;
  realNewline?: boolean;
  padMultiple: number;
  onStep?: (step: number, loss: number) => void;
}

/** The warm-up target of an item: empty thinking and a random letter of its options. */
export function formatTarget(item: Pick<Item, "options">, rng: Rng): string {
  const letters = Object.keys(item.options);
  return sftTarget("", letters[rng.int(letters.length)]);
}

/** Runs the warm-up; consumes `params` and returns the warmed-up ones (optimizer state is dropped). */
export async function formatWarmup(params: Params, mc: ModelConfig, tok: TextTokenizer, items: Item[], o: FormatWarmupOptions): Promise<{ params: Params; losses: number[] }> {
  const trainer = new LmTrainer(params, mc, { lr: o.lr, weightDecay: 0.01, maxGradNorm: 1.0 });
  const rng = new Rng(o.seed ^ 0xf0a7);
  const losses: number[] = [];
  try {
    for (let s = 0; s < o.steps; s++) {
      const seqs: { ids: number[]; images: Float32Array[]; promptLength: number }[] = [];
      for (let r = 0; r < o.batchRows; r++) {
        const item = items[rng.int(items.length)];
        const p = await encodePrompt(item, 0, tok, mc, o);
        const target = [...tok.encode(formatTarget(item, rng)), tok.ids.end].slice(0, mc.maxSeq - p.ids.length);
        seqs.push({ ids: [...p.ids, ...target], images: p.images, promptLength: p.ids.length });
      }
      const T = padLength(Math.max(...seqs.map((q) => q.ids.length)), o.padMultiple, mc.maxSeq);
      const batch = buildHostBatch(seqs, mc, { pad: "right", length: T, padId: tok.ids.pad, imageTokenId: tok.ids.image });
      // The masked mean NLL over the batch's target tokens.
      const { loss } = await trainer.step({ batch, mask: lossMask(seqs, T, seqs.map((q) => q.promptLength)) }, o.lr);
      losses.push(loss);
      o.onStep?.(s + 1, loss);
    }
  } finally {
    trainer.dispose();
  }
  return { params: trainer.params, losses };
}

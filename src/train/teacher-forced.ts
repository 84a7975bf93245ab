/**
 * Teacher-forced steps on (prompt, images, target) examples in the model's chat format: the loss
 * is the masked mean NLL of the target tokens (and the end token), prompt and image positions get
 * no gradient. The small loop behind the stages that are plain supervised learning on short
 * targets: the vision-language alignment of the base (stages/align.ts), the instruct model's
 * instruction tuning, and the letter-answer SFT of the ablation. AdamW with a cosine schedule and a
 * short linear warm-up; rows are drawn in seeded shuffled epochs, so every example is seen once
 * before any is seen twice. Image patches are decoded once per image path.
 */
import type { ImageRef } from "../data/item";
import { buildHostBatch, lossMask } from "../model/batch";
import { promptIds } from "../model/chat";
import type { ModelConfig } from "../model/config";
import { ConfigError } from "../errors";
import { LmTrainer } from "./lm-step";
import type { Params } from "../model/params";
import type { TextTokenizer } from "../model/tokenizer";
import { imagePatches, imagePixels, patchify, shiftPixels } from "../model/vision";
import { padLength } from "./grpo-step";
import { Rng } from "./runs";
import { cosineWithWarmup } from "./schedule";

export interface TeacherForcedExample {
  /** The user turn's text (images go before it, as everywhere in the model's chat format). */
  prompt: string;
  images: ImageRef[] | null;
  /** The assistant turn; the end token is appended and scored. */
  target: string;
  /** Examples with the same group are always in the same batch (the letter-balanced warm-up's letters of one item). */
  group?: number;
  /**
   * Score only the target tokens from this character on (default 0: all of them). The format
   * warm-up scores its tags but not the letter, so that it teaches no letter preference.
   */
  unscored?: { from: number; to: number };
}

export interface TeacherForcedOptions {
  steps: number;
  /** Peak learning rate (cosine to 10% after a 5% linear warm-up). */
  lr: number;
  batchRows: number;
  seed: number;
  /** Prompt tokens at most (longer prompts are middle-truncated by promptIds). */
  maxPromptTokens: number;
  /** Target tokens at most. */
  maxTargetTokens: number;
  padMultiple: number;
  weightDecay?: number;
  /** "cosine" (default: to 10% after a 5% warm-up) or "constant" (the format warm-up's, as before). */
  schedule?: "cosine" | "constant";
  /** Shift every training image by up to this many pixels each time it is drawn (default 0: none; see vision.ts shiftPixels). */
  shiftPixels?: number;
  onStep?: (step: number, loss: number) => void;
  signal?: AbortSignal;
}

/** Decoded patches per image path (or per bytes object), shared across calls. */
const patchCache = new WeakMap<ModelConfig, Map<string | Uint8Array, Float32Array>>();

export async function cachedPatches(ref: ImageRef, mc: ModelConfig): Promise<Float32Array> {
  let m = patchCache.get(mc);
  if (!m) patchCache.set(mc, (m = new Map()));
  const key = ref.path ?? ref.bytes;
  if (key === null) return imagePatches(ref, mc);
  const hit = m.get(key);
  if (hit) return hit;
  const p = await imagePatches(ref, mc);
  m.set(key, p);
  return p;
}

/** Decoded pixels per image path (augmented copies are made from these). */
const pixelCache = new WeakMap<ModelConfig, Map<string | Uint8Array, Uint8Array>>();

/** Patches of the image moved by a random shift of up to `shift` pixels in each direction. */
export async function shiftedPatches(ref: ImageRef, mc: ModelConfig, shift: number, rng: Rng): Promise<Float32Array> {
  let m = pixelCache.get(mc);
  if (!m) pixelCache.set(mc, (m = new Map()));
  const key = ref.path ?? ref.bytes;
  let raw = key === null ? undefined : m.get(key);
  if (!raw) {
    raw = await imagePixels(ref, mc);
    if (key !== null) m.set(key, raw);
  }
  const d = () => Math.floor(rng.uniform() * (2 * shift + 1)) - shift;
  return patchify(shiftPixels(raw, mc.imageSize, d(), d()), mc.imageSize, mc);
}

export interface EncodedExample {
  ids: number[];
  images: Float32Array[];
  /** Per position from promptLength on: 1 when the token's prediction is scored. */
  scored: number[];
  promptLength: number;
}

/** Prompt + target + end token, with the positions to score. */
export async function encodeExample(ex: TeacherForcedExample, tok: TextTokenizer, mc: ModelConfig, o: Pick<TeacherForcedOptions, "maxPromptTokens" | "maxTargetTokens" | "shiftPixels">, rng?: Rng): Promise<EncodedExample> {
  const shift = o.shiftPixels ?? 0;
  const images = await Promise.all((ex.images ?? []).slice(0, mc.maxImages).map((im) => (shift > 0 && rng ? shiftedPatches(im, mc, shift, rng) : cachedPatches(im, mc))));
  const reserve = Math.max(Math.min(o.maxTargetTokens + 1, mc.maxSeq - 16), mc.maxSeq - 1 - o.maxPromptTokens);
  const p = promptIds(tok, ex.prompt, images.length, mc, reserve).ids;
  let target: number[];
  let scored: number[];
  if (ex.unscored) {
    const a = tok.encode(ex.target.slice(0, ex.unscored.from));
    const b = tok.encode(ex.target.slice(ex.unscored.from, ex.unscored.to));
    const c = tok.encode(ex.target.slice(ex.unscored.to));
    target = [...a, ...b, ...c];
    scored = [...a.map(() => 1), ...b.map(() => 0), ...c.map(() => 1)];
  } else {
    target = tok.encode(ex.target);
    scored = target.map(() => 1);
  }
  target = [...target.slice(0, o.maxTargetTokens), tok.ids.end];
  scored = [...scored.slice(0, o.maxTargetTokens), 1];
  const room = mc.maxSeq - p.length;
  return { ids: [...p, ...target.slice(0, room)], images, scored: scored.slice(0, room), promptLength: p.length };
}

/** Runs the steps; consumes `params` and returns the trained ones (optimizer state is dropped). */
export async function teacherForcedSteps(params: Params, mc: ModelConfig, tok: TextTokenizer, examples: TeacherForcedExample[], o: TeacherForcedOptions): Promise<{ params: Params; losses: number[] }> {
  if (examples.length === 0) throw new ConfigError("teacherForcedSteps: no examples");
  const trainer = new LmTrainer(params, mc, { lr: o.lr, weightDecay: o.weightDecay ?? 0.01, maxGradNorm: 1.0 });
  const rng = new Rng(o.seed ^ 0x7ea0);
  // Its own stream, so that turning augmentation on leaves the order of examples unchanged.
  const augRng = new Rng(o.seed ^ 0x5a17);
  const sched = { peak: o.lr, warmupSteps: Math.ceil(0.05 * o.steps), totalSteps: o.steps, minRatio: 0.1 };
  const losses: number[] = [];
  // Shuffled epochs of groups (an example without a group is its own group); a batch takes whole
  // groups until it has batchRows rows, so it may run over by the last group's size.
  const groups = new Map<number | string, TeacherForcedExample[]>();
  examples.forEach((ex, i) => {
    const k = ex.group ?? `#${i}`;
    const g = groups.get(k);
    if (g) g.push(ex);
    else groups.set(k, [ex]);
  });
  const all = [...groups.values()];
  let order: number[] = [];
  const nextBatch = (): TeacherForcedExample[] => {
    const out: TeacherForcedExample[] = [];
    while (out.length < o.batchRows) {
      if (order.length === 0) order = rng.shuffle(all.map((_, i) => i));
      out.push(...all[order.pop()!]);
    }
    return out;
  };
  try {
    for (let s = 0; s < o.steps; s++) {
      o.signal?.throwIfAborted();
      const seqs: EncodedExample[] = [];
      for (const ex of nextBatch()) seqs.push(await encodeExample(ex, tok, mc, o, augRng));
      const T = padLength(Math.max(...seqs.map((q) => q.ids.length)), o.padMultiple, mc.maxSeq);
      const batch = buildHostBatch(seqs, mc, { pad: "right", length: T, padId: tok.ids.pad, imageTokenId: tok.ids.image });
      const mask = lossMask(seqs, T, seqs.map((q) => q.promptLength));
      // Unscored target tokens: position t predicts ids[t + 1].
      seqs.forEach((q, row) => q.scored.forEach((w, j) => { if (!w) mask[row * T + q.promptLength + j - 1] = 0; }));
      const { loss } = await trainer.step({ batch, mask }, o.schedule === "constant" ? o.lr : cosineWithWarmup(s, sched));
      losses.push(loss);
      o.onStep?.(s + 1, loss);
    }
  } finally {
    trainer.dispose();
  }
  return { params: trainer.params, losses };
}

/**
 * SFT data: items with reasoning traces -> token sequences with a loss mask -> batches.
 *
 * 1. Load every source (a registry name such as "huatuo-o1", or any file loadPath reads: an
 *    interchange jsonl / parquet with a `reasoning` field, e.g. m23k or a PMC-VQA GPT-4o set).
 * 2. Keep closed items that have a trace; remove items that appear in an evaluation set
 *    (excludeOverlap); report items whose trace answer disagrees with the gold answer and leave
 *    them out unless asked.
 * 3. Each item becomes the model's chat sequence: prompt (images first, buildPrompt text) then the
 *    published target sftTarget(reasoning, letter) and the end token. Only the target is scored.
 * 4. Each epoch the training items are shuffled with a seeded Rng and cut into optimizer steps of
 *    gradAccum micro-batches; with "bucket" batching, items of similar length share a micro-batch.
 */
import type { ImageRef, Item } from "../data/item";
import { isOpen } from "../data/item";
import { excludeOverlap, normText } from "../data/overlap";
import { isDatasetName, loadDataset, loadPath } from "../data/registry";
import { loadBenchmarks } from "../eval/benchmarks";
import { gradeResponse } from "../grade";
import { promptIds } from "../model/chat";
import type { ModelConfig } from "../model/config";
import type { TextTokenizer } from "../model/tokenizer";
import { buildPrompt, sftTarget } from "../prompt";
import type { SftConfig } from "./config";
import { Rng } from "./runs";

export interface ItemRef {
  dataset_name: string;
  dataset_index: number;
}

export interface DisagreeingTrace extends ItemRef {
  gold: string;
  /** What the trace or its source says instead. */
  traceAnswer: string;
  why: string;
}

export interface SftDataReport {
  loaded: number;
  /** Per source: items loaded. */
  sources: { source: string; items: number; skipped: number }[];
  noReasoning: number;
  open: number;
  overlap: { excluded: ItemRef[]; perBenchmark: Record<string, number> };
  disagreeing: DisagreeingTrace[];
  disagreeingKept: boolean;
  /** Items whose source flagged a different answer text that is a rewording of the key (kept). */
  reworded: ItemRef[];
  limited: number;
  warnings: string[];
}

export interface SftItems {
  items: Item[];
  report: SftDataReport;
}

const ref = (it: Item): ItemRef => ({ dataset_name: it.dataset_name, dataset_index: it.dataset_index });

/** Dice similarity of the character trigrams of two texts (lowercased, punctuation dropped). */
export function textSimilarity(a: string, b: string): number {
  const grams = (s: string) => {
    const t = `  ${normText(s)} `;
    const m = new Map<string, number>();
    for (let i = 0; i + 3 <= t.length; i++) m.set(t.slice(i, i + 3), (m.get(t.slice(i, i + 3)) ?? 0) + 1);
    return m;
  };
  const ga = grams(a);
  const gb = grams(b);
  let shared = 0;
  let na = 0;
  let nb = 0;
  for (const v of ga.values()) na += v;
  for (const v of gb.values()) nb += v;
  for (const [k, v] of ga) shared += Math.min(v, gb.get(k) ?? 0);
  return na + nb === 0 ? 0 : (2 * shared) / (na + nb);
}

export type VerifiedVerdict = "rewording" | "other-option" | "unverifiable";

/**
 * Which option a source's verified answer text (HuatuoGPT-o1 `Ground-True Answer`) stands for:
 * "rewording" when the keyed option is clearly the most similar (typo fixes such as "hea failure"
 * -> "heart failure", "TGA" -> "Transposition of the Great Arteries (TGA)"), "other-option" when
 * another option clearly is, "unverifiable" when no option is clearly closest ("None", "2 & 3").
 * Clearly: similarity >= 0.1 and at least 1.25 times the runner-up.
 */
export function verifiedAnswerVerdict(it: Pick<Item, "options" | "answer_label">, verified: string): { verdict: VerifiedVerdict; closest: string | null } {
  const scored = Object.entries(it.options)
    .map(([letter, text]) => ({ letter, s: textSimilarity(text, verified) }))
    .sort((x, y) => y.s - x.s);
  const [best, second] = scored;
  const clear = best && best.s >= 0.1 && best.s >= 1.25 * (second?.s ?? 0);
  if (!clear) return { verdict: "unverifiable", closest: null };
  return { verdict: best.letter === it.answer_label ? "rewording" : "other-option", closest: best.letter };
}

/**
 * Why a trace disagrees with the gold answer, or null when it agrees (or its source's answer is
 * a rewording of the keyed option). Evidence: the loader's check (HuatuoGPT-o1: `answer` differs
 * from `Ground-True Answer`, misc.answer_check "differs", judged by verifiedAnswerVerdict), a
 * trace answer in misc.trace_answer, and an `<answer>` block inside the trace itself.
 */
export function traceDisagreement(it: Item): DisagreeingTrace | null {
  const gold = `${it.answer_label}. ${it.answer}`;
  const out = (traceAnswer: string, why: string): DisagreeingTrace => ({ ...ref(it), gold, traceAnswer, why });
  if (it.misc?.answer_check === "differs") {
    const verified = String(it.misc.ground_truth_answer ?? "");
    const v = verifiedAnswerVerdict(it, verified);
    if (v.verdict === "other-option") return out(verified, `the source's verified answer matches option ${v.closest}, not the key`);
    if (v.verdict === "unverifiable") return out(verified, "the source's verified answer differs from the key and matches no option clearly");
  }
  const stated = it.misc?.trace_answer;
  if (typeof stated === "string" && stated.trim()) {
    const g = gradeResponse(`<answer>${stated}</answer>`, it.options, it.answer_label);
    if (!g.correct) return out(stated, "misc.trace_answer is not the gold option");
  }
  if (it.reasoning && it.reasoning.includes("<answer>")) {
    const g = gradeResponse(it.reasoning, it.options, it.answer_label);
    if (g.via === "answer_tag" && !g.correct) return out(g.extracted ?? "", "the trace's <answer> block is not the gold option");
  }
  return null;
}

/** Load, filter and report the SFT items of a config (no model needed). */
export async function loadSftItems(data: SftConfig["data"]): Promise<SftItems> {
  const warnings: string[] = [];
  const sources: SftDataReport["sources"] = [];
  let all: Item[] = [];
  for (const s of data.sources) {
    const r = isDatasetName(s) ? await loadDataset(s, { root: data.root, split: "train" }) : await loadPath(s, { split: "train", root: data.root });
    sources.push({ source: s, items: r.items.length, skipped: r.skipped.length });
    warnings.push(...r.warnings.map((w) => `${s}: ${w}`));
    all = all.concat(r.items);
  }
  const loaded = all.length;
  const open = all.filter(isOpen).length;
  const withTrace = all.filter((it) => !isOpen(it) && typeof it.reasoning === "string" && it.reasoning.trim() !== "");
  const noReasoning = loaded - open - withTrace.length;

  const perBenchmark: Record<string, number> = {};
  let kept = withTrace;
  const excluded: ItemRef[] = [];
  if (data.excludeEval.length) {
    const benches = await loadBenchmarks(data.excludeEval, { evalParquet: data.evalParquet, dataRoot: data.root });
    for (const b of benches) {
      const r = excludeOverlap(kept, [b.items]);
      perBenchmark[b.id] = r.excluded.length;
      excluded.push(...r.excluded.map(ref));
      kept = r.kept;
    }
  }

  const disagreeing: DisagreeingTrace[] = [];
  const reworded: ItemRef[] = [];
  const agreeing: Item[] = [];
  for (const it of kept) {
    const d = traceDisagreement(it);
    if (d) disagreeing.push(d);
    else if (it.misc?.answer_check === "differs") reworded.push(ref(it));
    if (!d || data.keepDisagreeing) agreeing.push(it);
  }
  if (disagreeing.length) {
    warnings.push(`${disagreeing.length} traces disagree with the gold answer (${data.keepDisagreeing ? "kept: keepDisagreeing" : "left out"}): ${disagreeing.map((d) => `${d.dataset_name}#${d.dataset_index}`).join(", ")}`);
  }
  const items = data.limit !== null ? agreeing.slice(0, data.limit) : agreeing;
  return {
    items,
    report: { loaded, sources, noReasoning, open, overlap: { excluded, perBenchmark }, disagreeing, disagreeingKept: data.keepDisagreeing, reworded, limited: agreeing.length - items.length, warnings },
  };
}

/** Split off a held-out set: a seeded shuffle, the first ceil(fraction * n) items held out. */
export function splitHeldOut<T>(items: T[], fraction: number, seed: number): { train: T[]; heldOut: T[] } {
  if (fraction <= 0 || items.length < 2) return { train: items, heldOut: [] };
  const order = new Rng(seed ^ 0x5eed).shuffle(items.map((_, i) => i));
  const k = Math.min(items.length - 1, Math.max(1, Math.ceil(fraction * items.length)));
  const held = new Set(order.slice(0, k));
  return { train: items.filter((_, i) => !held.has(i)), heldOut: items.filter((_, i) => held.has(i)) };
}

/** One tokenized training example. */
export interface SftExample {
  ids: number[];
  /** Index of the first target token (the prompt, image tokens included, comes before it). */
  promptLength: number;
  images: ImageRef[];
  source: ItemRef;
  /** How the target was fitted into the context, if it had to be. */
  fit: "whole" | "cut" | "reasoning-truncated";
  /** The prompt was middle-truncated (promptIds) to leave room for the target. */
  promptTruncated: boolean;
}

export interface TokenizeReport {
  examples: SftExample[];
  dropped: ItemRef[];
  counts: Record<SftExample["fit"] | "prompt-truncated", number>;
}

export interface TokenizeOptions {
  overlong: SftConfig["data"]["overlong"];
  /** Longest sequence (default: the model's context). */
  maxLength?: number | null;
  realNewline?: boolean;
  /** Context positions kept free for the target when a prompt is too long (default 1/4 of the context). */
  targetReserve?: number;
}

/**
 * Tokenize items as chat sequences. The prompt is middle-truncated by promptIds when it alone
 * would not leave `targetReserve` positions; a target that then does not fit is handled by
 * `overlong` (see SftConfig.data.overlong).
 */
export function tokenizeItems(items: Item[], tok: TextTokenizer, c: ModelConfig, o: TokenizeOptions): TokenizeReport {
  const examples: SftExample[] = [];
  const dropped: ItemRef[] = [];
  const counts = { whole: 0, "prompt-truncated": 0, cut: 0, "reasoning-truncated": 0 };
  const ctx = Math.min(c.maxSeq, o.maxLength ?? c.maxSeq);
  const reserve = o.targetReserve ?? Math.floor(ctx / 4);
  for (const it of items) {
    const images = (it.images ?? []).slice(0, c.maxImages);
    // promptIds keeps `reserve` positions free in the model's context; positions past ctx count as reserved too.
    const p = promptIds(tok, buildPrompt(it, { realNewline: o.realNewline }), images.length, c, reserve + c.maxSeq - ctx);
    let target = [...tok.encode(sftTarget(it.reasoning ?? "", it.answer_label)), tok.ids.end];
    let fit: SftExample["fit"] = "whole";
    const room = ctx - p.ids.length;
    if (target.length > room) {
      if (o.overlong === "drop") {
        dropped.push(ref(it));
        continue;
      }
      if (o.overlong === "truncate-reasoning") {
        const shortened = shortenReasoning(target, room, tok);
        if (shortened) {
          target = shortened;
          fit = "reasoning-truncated";
        } else fit = "cut";
      } else fit = "cut";
      if (fit === "cut") target = target.slice(0, room);
    }
    counts[fit]++;
    if (p.truncated) counts["prompt-truncated"]++;
    examples.push({ ids: [...p.ids, ...target], promptLength: p.ids.length, images, source: ref(it), fit, promptTruncated: p.truncated });
  }
  return { examples, dropped, counts };
}

/**
 * Drop reasoning tokens from the middle of a target `<think> ... </think> ... <end>` so it fits in
 * `room` tokens: the first third of the kept reasoning and the last two thirds (the conclusion) stay,
 * as do the tags, the answer and the end token. Null when even the tags do not fit.
 */
export function shortenReasoning(target: number[], room: number, tok: TextTokenizer): number[] | null {
  const open = target.indexOf(tok.ids.thinkOpen);
  const close = target.lastIndexOf(tok.ids.thinkClose);
  if (open < 0 || close < open) return null;
  // Keep the token before </think> (the space) with the tail.
  const head = target.slice(0, open + 1);
  const body = target.slice(open + 1, Math.max(open + 1, close - 1));
  const tail = target.slice(Math.max(open + 1, close - 1));
  const budget = room - head.length - tail.length;
  if (budget < 1) return null;
  const front = Math.floor(budget / 3);
  const back = budget - front;
  return [...head, ...body.slice(0, front), ...body.slice(body.length - back), ...tail];
}

/** Target positions a sequence contributes to the loss (position t predicts ids[t+1]). */
export function targetTokens(e: Pick<SftExample, "ids" | "promptLength">, T = Infinity): number {
  const n = Math.min(e.ids.length, T);
  return Math.max(0, n - Math.max(1, e.promptLength));
}

/** One optimizer step: its micro-batches (indices into the example list) and their padded length. */
export interface PlannedStep {
  micro: { rows: number[]; length: number }[];
  /** Scored target tokens over all micro-batches (the loss is their mean). */
  tokens: number;
}

export function padLength(n: number, multiple: number, maxSeq: number): number {
  return Math.min(maxSeq, Math.ceil(n / multiple) * multiple);
}

/**
 * The optimizer steps of one epoch, from a shuffled order. "bucket" sorts windows of 32 steps'
 * worth of items by length, cuts them into micro-batches and shuffles the steps again, so steps
 * mix lengths across the epoch while each micro-batch carries little padding. The last step may
 * have fewer rows (never dropped).
 */
export function planEpoch(lengths: number[], targetCounts: number[], order: number[], t: Pick<SftConfig["train"], "microBatch" | "gradAccum" | "batching" | "padMultiple">, maxSeq: number, rng: Rng): PlannedStep[] {
  const perStep = t.microBatch * t.gradAccum;
  const chunks: number[][] = [];
  if (t.batching === "bucket") {
    const window = perStep * 32;
    for (let i = 0; i < order.length; i += window) {
      const w = order.slice(i, i + window).sort((a, b) => lengths[a] - lengths[b] || a - b);
      const steps: number[][] = [];
      for (let j = 0; j < w.length; j += perStep) steps.push(w.slice(j, j + perStep));
      chunks.push(...rng.shuffle(steps));
    }
  } else {
    for (let i = 0; i < order.length; i += perStep) chunks.push(order.slice(i, i + perStep));
  }
  return chunks.map((rows) => {
    const micro: PlannedStep["micro"] = [];
    for (let j = 0; j < rows.length; j += t.microBatch) {
      const r = rows.slice(j, j + t.microBatch);
      micro.push({ rows: r, length: padLength(Math.max(...r.map((k) => lengths[k])), t.padMultiple, maxSeq) });
    }
    return { micro, tokens: rows.reduce((s, k) => s + targetCounts[k], 0) };
  });
}

/** Micro-batches covering a fixed list (held-out evaluation): sorted by length, no shuffling. */
export function planFixed(lengths: number[], microBatch: number, padMultiple: number, maxSeq: number): { rows: number[]; length: number }[] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const out: { rows: number[]; length: number }[] = [];
  for (let i = 0; i < order.length; i += microBatch) {
    const rows = order.slice(i, i + microBatch);
    out.push({ rows, length: padLength(Math.max(...rows.map((k) => lengths[k])), padMultiple, maxSeq) });
  }
  return out;
}

/**
 * The floors every accuracy is read against, and what a model's answers look like, as pure
 * functions over items and result records:
 * - uniform chance: a uniform guess over each item's options (half for yes/no, a fifth for five);
 * - the best constant-letter predictor: always the letter most frequent among the benchmark's
 *   gold answers (a model that collapsed onto one letter scores at most this);
 * - the answer-letter distribution of a run, and the share of "Yes" / "No" answers on yes/no items.
 * The constant-letter predictor also comes as result records, so that compareRecords pairs a model
 * with it item by item (exact McNemar) exactly as it pairs two models.
 */
import { itemHash, type Item } from "../data/item";
import { mulberry32, wilson } from "./stats";
import type { ResultRecord } from "./store";

/** Accuracy (percent) of a uniform guess over each item's options. */
export function chanceAccuracy(items: Pick<Item, "options">[]): number {
  if (items.length === 0) return NaN;
  return (100 * items.reduce((s, it) => s + 1 / Math.max(1, Object.keys(it.options).length), 0)) / items.length;
}

/** Gold letters counted, in letter order. */
export function goldLetterCounts(items: Pick<Item, "answer_label">[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const it of items) m[it.answer_label] = (m[it.answer_label] ?? 0) + 1;
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface ConstantLetter {
  /** The letter always answered: the most frequent gold letter (ties: the earliest letter). */
  letter: string;
  items: number;
  correct: number;
  /** Percent, with its 95% Wilson interval. */
  accuracy: number;
  ci_lo: number;
  ci_hi: number;
}

/** The best constant-letter predictor of a benchmark. */
export function constantLetter(items: Pick<Item, "answer_label">[]): ConstantLetter {
  const counts = goldLetterCounts(items);
  let letter = "";
  let correct = 0;
  for (const [l, n] of Object.entries(counts)) if (n > correct) [letter, correct] = [l, n];
  const ci = wilson(correct, items.length);
  return { letter, items: items.length, correct, accuracy: items.length ? (100 * correct) / items.length : NaN, ci_lo: 100 * ci.lo, ci_hi: 100 * ci.hi };
}

/**
 * The constant-letter predictor as result records of one run (run 0, sample 0), keyed like the
 * harness keys a benchmark's items (position and hash), for compareRecords.
 */
export function constantLetterRecords(benchmark: string, items: Item[], letter = constantLetter(items).letter): ResultRecord[] {
  return items.map((it, index) => ({
    benchmark,
    index,
    hash: itemHash(it),
    run: 0,
    sample: 0,
    response: `<answer>${letter}</answer>`,
    finish_reason: "stop",
    correct: it.answer_label === letter,
    predicted: letter,
    gold: it.answer_label,
  }));
}

/** Predicted letters of every answer (all runs and samples), per benchmark; "none" counts the unreadable ones. */
export function letterDistribution(records: ResultRecord[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of records) {
    const m = (out[r.benchmark] ??= {});
    const k = r.predicted ?? "none";
    m[k] = (m[k] ?? 0) + 1;
  }
  for (const b of Object.keys(out)) out[b] = Object.fromEntries(Object.entries(out[b]).sort(([a], [c]) => (a === "none" ? 1 : c === "none" ? -1 : a < c ? -1 : 1)));
  return out;
}

/** Is this a yes/no item (its options are exactly Yes and No, in either order and case)? */
export function isYesNo(it: Pick<Item, "options">): boolean {
  const v = Object.values(it.options).map((o) => o.trim().toLowerCase()).sort();
  return v.length === 2 && v[0] === "no" && v[1] === "yes";
}

export interface YesNoShares {
  /** Answers to yes/no items (all runs and samples). */
  answers: number;
  /** Shares of the answers (0-1) that chose Yes, No, or neither (unreadable). */
  yes: number;
  no: number;
  none: number;
}

/**
 * How a model answers the yes/no items of one benchmark: `items` is that benchmark's item list in
 * the harness's order (records refer to it by index). A model stuck on one letter shows as yes or no near 1.
 */
export function yesNoShares(records: ResultRecord[], items: Pick<Item, "options">[]): YesNoShares {
  let yes = 0;
  let no = 0;
  let none = 0;
  for (const r of records) {
    const it = items[r.index];
    if (!it || !isYesNo(it)) continue;
    const text = r.predicted ? it.options[r.predicted]?.trim().toLowerCase() : undefined;
    if (text === "yes") yes++;
    else if (text === "no") no++;
    else none++;
  }
  const n = yes + no + none;
  return { answers: n, yes: n ? yes / n : NaN, no: n ? no / n : NaN, none: n ? none / n : NaN };
}

/**
 * A fixed sample of n items, in their original order, for benchmarks too
 * big for a time budget (a seeded Fisher-Yates shuffle); the same seed always gives the same
 * items. n >= length: all of them.
 */
export function fixedSample<T>(items: T[], n: number, seed = 42): T[] {
  if (n >= items.length) return items.slice();
  const rand = mulberry32(seed);
  const idx = items.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx
    .slice(0, n)
    .sort((x, y) => x - y)
    .map((i) => items[i]);
}

/**
 * A reference point for pass-count histograms: a policy that always writes the published format
 * and picks an option uniformly at random. Its pass count on an item with m options follows
 * Binomial(k, 1/m), whatever the item says; a model whose histogram looks like this is guessing.
 * Deterministic (a hash of seed, item and sample), so its runs resume like any other.
 */
import { createHash } from "node:crypto";
import type { Item } from "../data/item";
import { itemHash } from "../data/item";
import type { Completion, Policy, SamplingParams } from "../policy/policy";

export class GuessPolicy implements Policy {
  readonly name = "guess-uniform";

  async sample(items: Item[], params: SamplingParams, signal?: AbortSignal): Promise<Completion[][]> {
    signal?.throwIfAborted();
    return items.map((item) => {
      const letters = Object.keys(item.options);
      return Array.from({ length: params.n }, (_, s) => {
        const digest = createHash("sha256").update(`${params.seed ?? 0}\u0000${itemHash(item)}\u0000${s}`).digest();
        const letter = letters[digest.readUInt32LE(0) % letters.length];
        return { text: `<think>I pick an option at random.</think>\n<answer>${letter}</answer>`, finish_reason: "stop" };
      });
    });
  }
}

/** P(X = c) for X ~ Binomial(k, p), c = 0..k: the guesser's expected histogram on items with 1/p options. */
export function binomialPmf(k: number, p: number): number[] {
  const out: number[] = [];
  let coef = 1;
  for (let c = 0; c <= k; c++) {
    out.push(coef * p ** c * (1 - p) ** (k - c));
    coef = (coef * (k - c)) / (c + 1);
  }
  return out;
}

/**
 * The guesser's expected histogram over a pool (fractions, c = 0..k): the mean over items of
 * Binomial(k, 1 / number of options). Yes/no items centre on k/2, four-option items on k/4.
 */
export function expectedGuessHistogram(items: readonly Pick<Item, "options">[], k: number): number[] {
  const out = new Array<number>(k + 1).fill(0);
  if (items.length === 0) return out;
  const byOptions = new Map<number, number>();
  for (const it of items) {
    const m = Object.keys(it.options).length;
    byOptions.set(m, (byOptions.get(m) ?? 0) + 1);
  }
  for (const [m, count] of byOptions) binomialPmf(k, 1 / m).forEach((p, c) => (out[c] += (p * count) / items.length));
  return out;
}

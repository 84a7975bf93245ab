/**
 * Fakes for the curation tests: a Policy and an OpenAI-server answerer whose samples are right
 * for a known number of the 16 sample slots of each item, so pass counts are known exactly.
 *
 * Sample slot g of item i (g = request seed - base seed + choice, the convention of
 * src/curate/passrate.ts) is right iff (7g + i) mod 16 < built(i). 7 is prime to 16, so exactly
 * built(i) of the slots 0..15 are right whichever requests they arrive in.
 */
import type { Item } from "../../src/data/item";
import type { Completion, Policy, SamplingParams } from "../../src/policy/policy";
import type { FakeServerOptions } from "./fake-openai-server";

export const SLOTS = 16;
export const BASE_SEED = 42;

/** The pass count item i was built to have (0..16, all values covered, 0 and high ones common). */
export function builtPassCount(i: number): number {
  return [0, 0, 3, 16, 1, 7, 8, 2, 0, 12, 5, 4, 6, 15, 1, 10, 9, 11, 13, 14][i % 20];
}

export function slotRight(i: number, g: number): boolean {
  return (7 * g + i) % SLOTS < builtPassCount(i);
}

/** Expected pass count over slots 0..k-1 (k <= 16). */
export function expectedPassCount(i: number, k: number): number {
  let c = 0;
  for (let g = 0; g < k; g++) if (slotRight(i, g)) c++;
  return c;
}

/** A response for slot g of item `it` (index i): right, wrong letter, or (some wrong ones) no format. */
export function fakeResponse(it: Item, i: number, g: number): string {
  if (slotRight(i, g)) return `<think>case ${i} slot ${g}</think>\n<answer>${it.answer_label}</answer>`;
  const wrong = it.answer_label === "A" ? "B" : "A";
  return g % 3 === 0 ? `I think it is ${wrong}` : `<think>case ${i} slot ${g}</think>\n<answer>${wrong}</answer>`;
}

export function itemIndexOf(it: Item): number {
  const m = /\[q:[^:\]]+:(\d+)\]/.exec(it.question);
  if (!m) throw new Error(`not a fake item: ${it.question}`);
  return Number(m[1]);
}

export interface FakeCall {
  items: number[];
  n: number;
  seed: number | undefined;
}

export interface FakePolicyOptions {
  /** Called before answering call number `call` (1-based); may throw or abort. */
  before?: (call: number, items: Item[]) => void;
  /** Return only this many samples for an item on a call (simulates a partial answer). */
  truncate?: (call: number, item: number) => number | undefined;
  delayMs?: number;
}

/** A Policy that follows the slot rule; records every call. */
export class FakePassPolicy implements Policy {
  readonly name = "fake-pass";
  readonly calls: FakeCall[] = [];

  constructor(private readonly opts: FakePolicyOptions = {}) {}

  async sample(items: Item[], params: SamplingParams, signal?: AbortSignal): Promise<Completion[][]> {
    const call = this.calls.length + 1;
    this.calls.push({ items: items.map(itemIndexOf), n: params.n, seed: params.seed });
    if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
    signal?.throwIfAborted();
    this.opts.before?.(call, items);
    const g0 = (params.seed ?? BASE_SEED) - BASE_SEED;
    return items.map((it) => {
      const i = itemIndexOf(it);
      const count = this.opts.truncate?.(call, i) ?? params.n;
      return Array.from({ length: Math.min(count, params.n) }, (_, j) => ({ text: fakeResponse(it, i, g0 + j), finish_reason: "stop" }));
    });
  }
}

/** The same rule for the loopback OpenAI server and makeDatasets items (slot from the request's seed and the choice). */
export function slotAnswerer(): FakeServerOptions["answer"] {
  return (info, choice) => {
    const m = /\[q:[^:\]]+:(\d+)\]/.exec(info.prompt);
    if (!m) return "no idea";
    const i = Number(m[1]);
    const g = (info.body.seed ?? BASE_SEED) - BASE_SEED + choice;
    const right = slotRight(i, g);
    const gold = "ABCD"[(i * 7) % 4]; // makeDatasets' answer rule
    const wrong = gold === "A" ? "B" : "A";
    return right ? `<think>case ${i}</think>\n<answer>${gold}</answer>` : `<think>case ${i}</think>\n<answer>${wrong}</answer>`;
  };
}

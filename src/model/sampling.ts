/**
 * Choosing the next token from logits on the JS side: greedy (temperature 0), or temperature +
 * nucleus (top-p) sampling from a seeded generator. Also returns the token's log-probability under
 * the model (temperature 1, before truncation), which is what scoring the same text gives, so
 * GRPO's old and new log-probs are comparable.
 */
import type { Sequence } from "./batch";
import type { ModelConfig } from "./config";
import { makeRng } from "./params";
import type { EngineName } from "./ort/runtime";

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  seed?: number;
  /** Token ids that end a row (the end token). */
  stopIds: number[];
  padId: number;
  imageTokenId: number;
  /** Never sample these (pad, image, turn markers). */
  bannedIds?: number[];
  /** jax-js only: compile with jit (default true). Eager decoding gives the same tokens, ~3x slower. */
  jit?: boolean;
  /**
   * "jax" forces the jax-js path; otherwise onnxruntime is used when ort/runtime.ts chooses it
   * (same tokens up to float rounding; test/ort-sample.test.ts). `jit: false` implies "jax".
   */
  engine?: EngineName;
}

export interface Generation {
  ids: number[];
  logprobs: number[];
  finishReason: "stop" | "length";
}

export interface Choice {
  token: number;
  logprob: number;
}

export function logSoftmaxRow(logits: Float32Array, off: number, V: number, temperature = 1, out: Float64Array = new Float64Array(V)): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[off + i] / temperature);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[off + i] / temperature - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < V; i++) out[i] = logits[off + i] / temperature - lse;
  return out;
}

// Two reused row buffers (log-probs, probabilities): a row is chosen synchronously, start to end,
// so one pair serves every call, without a fresh 32 KB array per row and step.
const scratchBufs: Float64Array[] = [new Float64Array(0), new Float64Array(0)];
function scratch(which: 0 | 1, V: number): Float64Array {
  if (scratchBufs[which].length !== V) scratchBufs[which] = new Float64Array(V);
  return scratchBufs[which];
}

export function chooseToken(logits: Float32Array, off: number, V: number, temperature: number, topP: number, uniform: () => number, banned?: Set<number>): Choice {
  const base = logSoftmaxRow(logits, off, V, 1, scratch(0, V));
  if (banned) for (const b of banned) base[b] = -Infinity;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (base[i] > base[best]) best = i;
    return { token: best, logprob: base[best] };
  }
  const lp = temperature === 1 ? base : logSoftmaxRow(logits, off, V, temperature);
  if (banned) for (const b of banned) lp[b] = -Infinity;
  if (topP >= 1) {
    // No truncation: inverse-CDF over the vocabulary in id order (no sort needed). Each exp is
    // taken once and kept for the walk (the same numbers, in the same order, as taking it twice).
    const p = scratch(1, V);
    let total = 0;
    for (let i = 0; i < V; i++) total += p[i] = Math.exp(lp[i]);
    let u = uniform() * total;
    let last = 0;
    for (let i = 0; i < V; i++) {
      if (lp[i] === -Infinity) continue;
      last = i;
      u -= p[i];
      if (u <= 0) return { token: i, logprob: base[i] };
    }
    return { token: last, logprob: base[last] };
  }
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => lp[b] - lp[a]);
  const probs: number[] = [];
  let cum = 0;
  for (const i of order) {
    const pr = Math.exp(lp[i]);
    probs.push(pr);
    cum += pr;
    if (cum >= topP) break;
  }
  let u = uniform() * cum;
  let k = 0;
  for (; k < probs.length - 1; k++) {
    u -= probs[k];
    if (u <= 0) break;
  }
  const token = order[k];
  return { token, logprob: base[token] };
}

/** What both engines' samplers derive alike from the prompts and the options. */
export interface GenerationPlan {
  /** Prompt bucket: prompts are left-padded to P positions (a multiple of 16, below maxSeq). */
  P: number;
  /** New tokens at most: the option, bounded by the context left after P. */
  maxNew: number;
  /** [B, maxSeq]: 1 at each row's prompt positions, the keys decoding attends to. */
  keyMask: Float32Array;
  /** Distinct prompts (the same ids and images arrays, as GRPO groups repeat them) and each row's index among them. */
  uniq: Sequence[];
  which: number[];
  out: Generation[];
  done: boolean[];
  uniform: () => number;
  banned: Set<number>;
  stop: Set<number>;
}

/** Prompts longer than maxSeq - 1 throw (chat.ts truncates them first). */
export function planGeneration(c: ModelConfig, prompts: Sequence[], o: GenerateOptions): GenerationPlan {
  const S = c.maxSeq;
  const longest = Math.max(...prompts.map((p) => p.ids.length));
  if (longest >= S) throw new RangeError(`prompt of ${longest} tokens does not fit the context of ${S}`);
  const P = Math.min(S - 1, Math.ceil(longest / 16) * 16);
  const keyMask = new Float32Array(prompts.length * S);
  prompts.forEach((p, b) => {
    for (let t = P - Math.min(p.ids.length, P); t < P; t++) keyMask[b * S + t] = 1;
  });
  const uniq: Sequence[] = [];
  const which = prompts.map((p) => {
    let j = uniq.findIndex((u) => u.ids === p.ids && u.images === p.images);
    if (j < 0) j = uniq.push(p) - 1;
    return j;
  });
  return {
    P,
    maxNew: Math.min(o.maxNewTokens, S - P),
    keyMask,
    uniq,
    which,
    out: prompts.map(() => ({ ids: [], logprobs: [], finishReason: "length" as const })),
    done: new Array<boolean>(prompts.length).fill(false),
    uniform: makeRng(o.seed ?? 0).uniform,
    banned: new Set(o.bannedIds ?? []),
    stop: new Set(o.stopIds),
  };
}

/**
 * One step's token for every row still going (padId for finished rows), appended with its log-prob
 * to the plan's `out`; rows that drew a stop id are marked done. Shared by both engines' samplers.
 */
export function chooseNext(logits: Float32Array, V: number, plan: GenerationPlan, o: GenerateOptions): Int32Array {
  const { out, done } = plan;
  const next = new Int32Array(out.length);
  for (let b = 0; b < out.length; b++) {
    if (done[b]) {
      next[b] = o.padId;
      continue;
    }
    const ch = chooseToken(logits, b * V, V, o.temperature, o.topP ?? 1, plan.uniform, plan.banned);
    next[b] = ch.token;
    out[b].ids.push(ch.token);
    out[b].logprobs.push(ch.logprob);
    if (plan.stop.has(ch.token)) {
      done[b] = true;
      out[b].finishReason = "stop";
    }
  }
  return next;
}

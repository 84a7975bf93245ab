/**
 * Worked examples for the workshop notebooks, built from a run's own data: the training reward
 * and the evaluation's regrade rule on the same responses side by side, and one GRPO group of 8
 * with its rewards, mean, std and advantages. Pure functions; the notebooks only show them.
 */
import type { Item } from "../data/item";
import { gradeResponse } from "../grade";
import { computeReward, formatOk } from "../reward";
import { computeGrpoOutcomeAdvantage } from "../train/core";

export interface WorkedResponse {
  case: string;
  /** "sampled": the run's own response; "edited": the sampled one changed to show the case. */
  origin: "sampled" | "edited";
  response: string;
}

/** The think part of a response (text between `<think>` and the first `</think>`), or the text before any answer tag. */
function thinkText(response: string): string {
  const open = response.indexOf("<think>");
  const close = response.indexOf("</think>");
  if (open !== -1 && close > open) return response.slice(open + 7, close).trim();
  const a = response.indexOf("<answer>");
  return (a === -1 ? response : response.slice(0, a)).replace(/<\/?think>/g, "").trim();
}

/** A letter that is not an option of the item (the one after the last option, or Z). */
export function letterOutside(options: Record<string, string>): string {
  const letters = Object.keys(options).sort();
  const next = String.fromCharCode((letters[letters.length - 1] ?? "@").charCodeAt(0) + 1);
  return /^[A-Z]$/.test(next) && !(next in options) ? next : "Z";
}

/**
 * Six responses for one item: well-formed, a double `</think>`, a nested `<answer>`, a letter
 * outside the options, no tags, and a long trace cut off. Each is the run's own response when
 * one of the samples has that shape, else the well-formed one edited to have it (said in `origin`).
 * `samples` are the run's responses to `item`, well-formed ones first preferred.
 */
export function rewardCases(item: Pick<Item, "options" | "answer_label" | "answer">, samples: { response: string; finish_reason?: string }[]): WorkedResponse[] {
  const key = item.answer_label;
  const sampledWell = samples.find((s) => formatOk(s.response));
  const think = thinkText(sampledWell?.response ?? samples[0]?.response ?? "") || "the question asks about one finding";
  const well = sampledWell?.response ?? `<think> ${think} </think>\n<answer> ${key} </answer>`;
  const find = (pred: (s: { response: string; finish_reason?: string }) => boolean) => samples.find(pred)?.response;
  const count = (s: string, sub: string) => s.split(sub).length - 1;
  const out: WorkedResponse[] = [];
  const add = (name: string, sampled: string | undefined, edited: string) =>
    out.push(sampled !== undefined ? { case: name, origin: "sampled", response: sampled } : { case: name, origin: "edited", response: edited });
  add("well-formed", sampledWell?.response, well);
  add("double </think>", find((s) => count(s.response, "</think>") >= 2), `<think> ${think} </think> ${think} </think>\n<answer> ${key} </answer>`);
  add("nested <answer>", find((s) => /<answer>[^]*<answer>[^]*<\/answer>[^]*<\/answer>/.test(s.response)), `<think> ${think} </think>\n<answer> <answer> ${key} </answer> </answer>`);
  const outside = letterOutside(item.options);
  add(`letter outside the options (${outside})`, undefined, `<think> ${think} </think>\n<answer> ${outside} </answer>`);
  add("no tags", find((s) => !s.response.includes("<think>") && !s.response.includes("<answer>") && s.response.trim() !== ""), `${think}\nAnswer: ${key}`);
  const long = `<think> ${Array.from({ length: 6 }, () => think).join(" ")}`;
  add("long trace cut off (max tokens)", find((s) => s.finish_reason === "length" && !s.response.includes("</answer>")), long.slice(0, 240));
  return out;
}

/** A type alias (not an interface) so rows pass as Record<string, unknown> to showTable. */
export type RewardVsRegradeRow = {
  case: string;
  origin: string;
  response: string;
  /** Training reward (src/reward.ts, the published my_reward.py). */
  reward: number;
  "reward: why": string;
  /** Evaluation grader (src/grade.ts, the published regrade rule). */
  "regrade: read": string | null;
  "regrade: via": string;
  "regrade: letter": string | null;
  "regrade: correct": boolean;
};

/** The reward and the regrade rule on the same responses, one row per response. */
export function rewardVsRegrade(item: Pick<Item, "options" | "answer_label" | "answer">, cases: WorkedResponse[], clip = 160): RewardVsRegradeRow[] {
  return cases.map((c) => {
    const r = computeReward(c.response, item);
    const g = gradeResponse(c.response, item.options, item.answer_label);
    const flat = c.response.replace(/\n/g, "⏎");
    return {
      case: c.case,
      origin: c.origin,
      response: flat.length > clip ? `${flat.slice(0, clip - 1)}…` : flat,
      reward: r.score,
      "reward: why": r.reason,
      "regrade: read": g.extracted,
      "regrade: via": g.via,
      "regrade: letter": g.predicted,
      "regrade: correct": g.correct,
    };
  });
}

/** One sentence on where the two rules disagree in these rows, generated from them. */
export function rewardVsRegradeProse(rows: RewardVsRegradeRow[]): string {
  const differ = rows.filter((r) => (r.reward === 1) !== r["regrade: correct"]);
  if (differ.length === 0) return `On these ${rows.length} responses the training reward and the evaluation's regrade rule agree on every one.`;
  const list = differ.map((r) => `*${r.case}* (reward ${r.reward}, regrade ${r["regrade: correct"] ? "correct" : "wrong"})`).join(", ");
  return `On these ${rows.length} responses the two rules disagree ${differ.length === 1 ? "once" : `${differ.length} times`}: ${list}. ` +
    "The reward gates on the whole format and reads the first single-line `<answer>`; the regrade rule reads the last `<answer>` block, else an `answer:` / `answer is` phrase, and ignores the format.";
}

export type GroupRow = {
  sample: number;
  response: string;
  reward: number;
  advantage: number;
};

export interface GroupExample {
  rows: GroupRow[];
  mean: number;
  /** Sample standard deviation (Bessel), as verl's GRPO uses. */
  std: number;
}

/** One GRPO group: rewards, their mean and std, and the advantage of each sample (verl's formula, src/train/core.ts). */
export function grpoGroup(samples: { response: string; reward: number }[], clip = 90): GroupExample {
  const rewards = samples.map((s) => s.reward);
  const advantages = computeGrpoOutcomeAdvantage(rewards, rewards.map(() => 0));
  const mean = rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length);
  const std = rewards.length > 1 ? Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / (rewards.length - 1)) : 0;
  const rows = samples.map((s, i) => {
    const flat = s.response.replace(/\n/g, "⏎");
    return { sample: i, response: flat.length > clip ? `${flat.slice(0, clip - 1)}…` : flat, reward: s.reward, advantage: Math.round(advantages[i] * 1000) / 1000 };
  });
  return { rows, mean, std };
}

/** What a group says, generated from its numbers. */
export function grpoGroupProse(g: GroupExample, label: string): string {
  const n = g.rows.length;
  const right = g.rows.filter((r) => r.reward > 0).length;
  const f = (x: number) => (Math.round(x * 1000) / 1000).toString();
  if (g.std === 0)
    return `**${label}**: ${right} of ${n} samples earn the reward, so mean ${f(g.mean)} and std 0: every advantage is (r − mean) / (0 + ε) = 0, the loss has no gradient from this group, and its ${n} samples were drawn for nothing.`;
  const up = g.rows.find((r) => r.reward > g.mean);
  const down = g.rows.find((r) => r.reward < g.mean);
  return `**${label}**: ${right} of ${n} samples earn the reward, mean ${f(g.mean)}, std ${f(g.std)}` +
    (up ? `; a rewarded sample gets advantage (${up.reward} − ${f(g.mean)}) / ${f(g.std)} = ${f(up.advantage)} (pushed up)` : "") +
    (down ? `, an unrewarded one ${f(down.advantage)} (pushed down)` : "") + ".";
}

export interface ItemSamples<I> {
  item: I;
  samples: { response: string; reward: number; finish_reason: string; format?: boolean }[];
}

/**
 * From a curation run's records (k samples per item), the first `n` samples of: one item inside
 * the kept band whose first `n` samples disagree (a group with signal), and one item never (or
 * always) solved (a group without); when no item is, an item outside the band whose first `n`
 * samples all earn the same reward. Items are matched to records by `itemHash`.
 */
export function curationGroups<I extends Item>(
  records: { hash: string; sample: number; response: string; correct: boolean; finish_reason: string; format?: boolean }[],
  scored: I[],
  range: { min: number; max: number },
  hash: (it: I) => string,
  n = 8,
): { signal: ItemSamples<I> | null; flat: ItemSamples<I> | null } {
  const byHash = new Map<string, typeof records>();
  for (const r of records) byHash.set(r.hash, [...(byHash.get(r.hash) ?? []), r]);
  const groupOf = (it: I): ItemSamples<I> => ({
    item: it,
    samples: (byHash.get(hash(it)) ?? [])
      .slice()
      .sort((a, b) => a.sample - b.sample)
      .slice(0, n)
      .map((r) => ({ response: r.response, reward: r.correct ? 1 : 0, finish_reason: r.finish_reason, format: r.format })),
  });
  let signal: ItemSamples<I> | null = null;
  let flat: ItemSamples<I> | null = null;
  for (const it of scored) {
    const pc = it.misc?.pass_count as number;
    const k = it.misc?.pass_k as number;
    const g = groupOf(it);
    if (g.samples.length < 2) continue;
    const rewards = new Set(g.samples.map((s) => s.reward));
    if (!signal && pc >= range.min && pc <= range.max && rewards.size > 1) signal = g;
    if (!flat && (pc === 0 || pc === k)) flat = g;
    if (signal && flat) break;
  }
  if (!flat) {
    for (const it of scored) {
      const pc = it.misc?.pass_count as number;
      if (pc >= range.min && pc <= range.max) continue;
      const g = groupOf(it);
      if (g.samples.length >= 2 && new Set(g.samples.map((x) => x.reward)).size === 1) {
        flat = g;
        break;
      }
    }
  }
  return { signal, flat };
}

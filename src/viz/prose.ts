/**
 * Sentences about a run, generated from the run. A workshop notebook states results only through
 * these (shown with showMarkdown), never in static markdown, so its prose cannot go stale when the
 * models change (test/notebook-runner.test.ts checks that static markdown carries no result).
 * Each function returns Markdown; conditions decide which sentence is true of these numbers.
 */
import type { Item } from "../data/item";
import type { ResultRecord } from "../eval/store";

/** 0.1234 -> "12.3%" */
export function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** Round for prose: up to `digits` decimals, no trailing zeros. */
export function num(x: number, digits = 3): string {
  return String(Math.round(x * 10 ** digits) / 10 ** digits);
}

/** 1234567 -> "1.23M", 12345 -> "12.3k". */
export function compactCount(n: number): string {
  if (n >= 1e6) return `${num(n / 1e6, 2)}M`;
  if (n >= 1e3) return `${num(n / 1e3, 1)}k`;
  return String(n);
}

/** Counts of the letter the grader (or the reward) read, with `null` as "no letter". */
export function letterCounts(records: Pick<ResultRecord, "predicted">[]): { letter: string; count: number }[] {
  const m = new Map<string, number>();
  for (const r of records) m.set(r.predicted ?? "no letter", (m.get(r.predicted ?? "no letter") ?? 0) + 1);
  return [...m.entries()].map(([letter, count]) => ({ letter, count })).sort((a, b) => b.count - a.count || (a.letter < b.letter ? -1 : 1));
}

/** "B 58.2%, A 35.3%, no letter 2.5%" over the records. */
export function letterShares(records: Pick<ResultRecord, "predicted">[]): string {
  const n = records.length;
  return letterCounts(records).map((c) => `${c.letter} ${pct(c.count / Math.max(1, n))}`).join(", ");
}

/**
 * How one model answered: how often it wrote a letter the grader read, and whether one letter
 * dominates (a letter habit). `share` is the dominant letter's share of all answers.
 */
export function letterHabit(records: Pick<ResultRecord, "predicted">[]): { n: number; read: number; top: string | null; topCount: number; share: number } {
  const n = records.length;
  const counts = letterCounts(records).filter((c) => c.letter !== "no letter");
  const read = counts.reduce((a, c) => a + c.count, 0);
  const top = counts[0] ?? null;
  return { n, read, top: top?.letter ?? null, topCount: top?.count ?? 0, share: top ? top.count / Math.max(1, n) : 0 };
}

/** One sentence per model on its letters: "**sft** wrote a readable letter on 95 of 96 answers, `A` on 91 of them." */
export function letterHabitProse(label: string, records: Pick<ResultRecord, "predicted">[]): string {
  const h = letterHabit(records);
  if (h.n === 0) return `**${label}**: no answers.`;
  if (h.read === 0) return `**${label}** wrote no letter the grader could read on any of its ${h.n} answers, so it scores 0, below chance.`;
  const habit = h.share >= 0.8 ? `: one letter, \`${h.top}\`, on ${h.topCount} of them — a letter habit, so its accuracy is the share of items keyed \`${h.top}\`, not knowledge` :
    `; the most frequent letter, \`${h.top}\`, on ${h.topCount} of them`;
  return `**${label}** wrote a letter the grader reads on ${h.read} of ${h.n} answers${habit}.`;
}

/** Mean pass count per key letter of scored curation items (misc.pass_count / pass_k). */
export function passCountByKey(scored: Pick<Item, "answer_label" | "misc">[]): { key: string; items: number; "mean pass count": number; k: number }[] {
  const by = new Map<string, number[]>();
  let k = 0;
  for (const it of scored) {
    const pc = it.misc?.pass_count;
    if (typeof pc !== "number") continue;
    k = (it.misc?.pass_k as number) ?? k;
    by.set(it.answer_label, [...(by.get(it.answer_label) ?? []), pc]);
  }
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, pcs]) => ({ key, items: pcs.length, "mean pass count": Math.round((10 * pcs.reduce((a, b) => a + b, 0)) / pcs.length) / 10, k }));
}

/**
 * What the curation of one model shows: the format rate, how many items were kept, never and
 * always solved, the letters it samples, and whether the pass count follows the key letter.
 */
export function curationProse(o: {
  model: string;
  k: number;
  range: { min: number; max: number };
  records: { format?: boolean; predicted: string | null }[];
  scored: Pick<Item, "answer_label" | "misc" | "dataset_name">[];
  curated: unknown[];
}): string {
  const n = o.scored.length;
  const pcs = o.scored.map((it) => it.misc?.pass_count as number);
  const never = pcs.filter((c) => c === 0).length;
  const always = pcs.filter((c) => c === o.k).length;
  const formatRate = o.records.filter((r) => r.format).length / Math.max(1, o.records.length);
  const parts = [
    `**${o.model}** passes the format gate on ${pct(formatRate)} of its ${o.records.length} samples.`,
    `Of ${n} items, ${o.curated.length} land in the ${o.range.min}..${o.range.max} band and are kept, ${never} are never solved and ${always} always solved.`,
    `The letters it samples: ${letterShares(o.records as Pick<ResultRecord, "predicted">[])}.`,
  ];
  if (formatRate < 0.05) parts.push("A model that cannot write the tags scores 0 on every sample, so the filter would measure the format, not the difficulty.");
  const byKey = passCountByKey(o.scored).filter((r) => r.items >= 2);
  if (byKey.length >= 2) {
    const hi = byKey.reduce((a, b) => (b["mean pass count"] > a["mean pass count"] ? b : a));
    const lo = byKey.reduce((a, b) => (b["mean pass count"] < a["mean pass count"] ? b : a));
    const spread = hi["mean pass count"] - lo["mean pass count"];
    parts.push(
      `Mean pass count by key letter: ${byKey.map((r) => `${r.key} ${r["mean pass count"]} of ${o.k} (${r.items} items)`).join(", ")}.` +
        (spread >= o.k / 4
          ? ` Items keyed \`${hi.key}\` are solved far more often than items keyed \`${lo.key}\`: the pass count here says more about the model's letter preference than about the question, so the kept set leans towards the letters it samples sometimes but not mostly.`
          : " The key letter does not decide the pass count by itself here."),
    );
  }
  return parts.join(" ");
}

/** The guesser's histogram, described from its numbers (mean pass count per source beside the binomial mean). */
export function guesserProse(scored: Pick<Item, "dataset_name" | "options" | "misc">[], k: number, kept: { source: string; scored: number; kept: number }[]): string {
  const by = new Map<string, { pcs: number[]; expect: number[] }>();
  for (const it of scored) {
    const e = by.get(it.dataset_name) ?? { pcs: [], expect: [] };
    e.pcs.push(it.misc?.pass_count as number);
    e.expect.push(k / Math.max(1, Object.keys(it.options).length));
    by.set(it.dataset_name, e);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const per = [...by.entries()].map(([src, e]) => `${src}: mean ${num(mean(e.pcs), 1)} of ${k} (binomial expectation ${num(mean(e.expect), 1)})`);
  const keptLine = kept.map((r) => `${r.kept} of ${r.scored} ${r.source} items`).join(", ");
  return `The guesser's pass counts follow the number of options, not the question: ${per.join("; ")}. The same band keeps ${keptLine}.`;
}

/** SFT: the gap between the last training loss (smoothed) and the last held-out loss. */
export function sftGapProse(metrics: { step: number; loss: number; held_out_loss?: number }[], window = 5): string {
  const held = metrics.filter((m) => m.held_out_loss !== undefined);
  if (held.length === 0 || metrics.length === 0) return "No held-out loss was measured in this run.";
  const tail = metrics.slice(-window);
  const train = tail.reduce((a, m) => a + m.loss, 0) / tail.length;
  const first = held[0].held_out_loss!;
  const last = held[held.length - 1].held_out_loss!;
  const gap = last - train;
  const best = held.reduce((a, m) => (m.held_out_loss! < a.held_out_loss! ? m : a));
  const s = [`The held-out loss went from ${num(first)} to ${num(last)} nats per token (lowest ${num(best.held_out_loss!)} at step ${best.step}); the training loss over the last ${tail.length} steps averages ${num(train)}.`];
  if (gap > 0.1)
    s.push(`The gap of ${num(gap, 2)} nats is over-fitting: both losses are over the same kind of tokens (the trace and the answer), so the model fits the training traces better than it predicts new ones.`);
  else s.push(`The two are within ${num(Math.abs(gap), 2)} nats: no sign of over-fitting at this length of training.`);
  if (best.step < held[held.length - 1].step && last - best.held_out_loss! > 0.02) s.push(`The held-out loss rose again after step ${best.step}.`);
  return s.join(" ");
}

/** GRPO: reward from the first to the last steps, KL, no-signal groups, and whether clipping ever acted. */
export function grpoProse(
  metrics: { step: number; reward_mean: number; kl_loss: number; pg_clipfrac: number; zero_signal_groups: number; format_failure_rate: number }[],
  o: { promptsPerStep: number; miniBatchPrompts: number; ppoEpochs: number; oldLogProb: string },
): string {
  if (metrics.length === 0) return "No step ran.";
  const first = metrics[0];
  const last = metrics[metrics.length - 1];
  const lo = metrics.reduce((a, m) => (m.reward_mean < a.reward_mean ? m : a));
  const hi = metrics.reduce((a, m) => (m.reward_mean > a.reward_mean ? m : a));
  const klMax = Math.max(...metrics.map((m) => m.kl_loss));
  const zs = metrics.map((m) => m.zero_signal_groups);
  const ff = metrics.map((m) => m.format_failure_rate);
  const s = [
    `Over ${metrics.length} steps the mean reward went from ${num(first.reward_mean)} (step ${first.step}) to ${num(last.reward_mean)} (step ${last.step}), between ${num(lo.reward_mean)} (step ${lo.step}) and ${num(hi.reward_mean)} (step ${hi.step}); with ${o.promptsPerStep} prompts per step one step's mean is noisy, so read the trend over steps.`,
    `Share of responses failing the format per step: ${pct(Math.min(...ff))} to ${pct(Math.max(...ff))}. Share of groups without signal per step: ${pct(Math.min(...zs))} to ${pct(Math.max(...zs))}. The KL to the reference peaked at ${num(klMax, 4)}.`,
  ];
  const maxClip = Math.max(...metrics.map((m) => m.pg_clipfrac));
  if (maxClip === 0) {
    const oneUpdate = o.miniBatchPrompts >= o.promptsPerStep && o.ppoEpochs === 1;
    s.push(
      `The clip fraction is 0 on every step: the clipped ratio never acted.` +
        (oneUpdate
          ? ` Each step makes one update from one mini-batch (${o.miniBatchPrompts} prompts of ${o.promptsPerStep}, ${o.ppoEpochs} PPO epoch) with the ${o.oldLogProb === "sampler" ? "sampler's" : "recomputed"} log-probs as the old policy, so the ratio π/π_old is exactly 1 when the loss is computed; clipping only matters when several updates reuse one batch (verl's 256 prompts in mini-batches of 128). Here only the KL term keeps the policy near the reference.`
          : " The updates of this step moved no token's ratio past the clip range."),
    );
  } else s.push(`The clipped ratio acted on up to ${pct(maxClip)} of the response tokens in a step.`);
  return s.join(" ");
}

/** How many tokens each word takes after a space (as inside a sentence), from token rows of " word". */
export function wordPiecesProse(words: { word: string; pieces: string[] }[], vocabSize: number): string {
  const single = words.filter((w) => w.pieces.length === 1).map((w) => `\`${w.word}\``);
  const split = words.filter((w) => w.pieces.length > 1).map((w) => `\`${w.word}\` (${w.pieces.join(" | ")})`);
  const s = [`Of these ${words.length} words, ${single.length} ${single.length === 1 ? "is a single token" : "are single tokens"}${single.length ? ` (${single.join(", ")})` : ""}` +
    `${split.length ? ` and ${split.length} ${split.length === 1 ? "is" : "are"} split: ${split.join(", ")}` : ""}.`];
  if (split.length > 0) s.push(`With ${vocabSize} tokens fitted to a small corpus, only the most frequent words stay whole; the rest are built from pieces the model must learn to combine.`);
  return s.join(" ");
}

/** The first repeated run of `n` words in a text ("the past, and the past" -> "the past"), or null. */
export function repeatedPhrase(text: string, n = 2): string | null {
  const words = text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
  const seen = new Set<string>();
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(" ");
    if (seen.has(g)) return g;
    seen.add(g);
  }
  return null;
}

/** Per decoding: how many continuations are empty (the model ended the text at once), how many loop (repeat a phrase of `n` words), how long they are. */
export function loopProse(rows: { decoding: string; continuation: string }[], n = 2): string {
  const by = new Map<string, { total: number; empty: number; loops: string[]; words: number }>();
  for (const r of rows) {
    const e = by.get(r.decoding) ?? { total: 0, empty: 0, loops: [], words: 0 };
    e.total++;
    const words = r.continuation.trim() ? r.continuation.trim().split(/\s+/).length : 0;
    e.words += words;
    if (words === 0) e.empty++;
    const p = repeatedPhrase(r.continuation, n);
    if (p) e.loops.push(p);
    by.set(r.decoding, e);
  }
  return [...by.entries()]
    .map(([d, e]) => `${d}: ${e.empty} of ${e.total} continuations empty (the model ended the text at once), ${e.loops.length} repeat a ${n}-word phrase${e.loops.length ? ` ("${e.loops.join('", "')}")` : ""}, ${num(e.words / Math.max(1, e.total), 1)} words on average`)
    .join("; ") + ".";
}

/**
 * The ablation's table (issue 13), as pure functions over result records: for each row (a model)
 * and benchmark, the accuracy with its 95% interval, the same model with its images removed
 * (blind), the best constant-letter predictor and uniform chance, and exact McNemar p-values of
 * the row against the base model, against its own blind run and against the constant-letter
 * predictor; the answer-letter distribution; and the paper's rows for the same recipes in the
 * paper's column order.
 *
 * Our recipes are named after the data kind (text / image-text), the paper's after its sets:
 * text = m23k, image-text = PMC-VQA.
 */
import { itemHash, type Item } from "../data/item";
import { BENCHMARKS } from "./benchmarks";
import { chanceAccuracy, constantLetter, constantLetterRecords, letterDistribution, yesNoShares } from "./baselines";
import { compareRecords } from "./compare";
import { loadPaperResults, PAPER_COLUMNS, type PaperRow } from "./paper";
import { summarize } from "./report";
import { mean, sampleStd, wilson } from "./stats";
import type { ResultRecord } from "./store";

/** The rows of the paper's ablation table, in its order, by our names. */
export const ABLATION_RECIPES = ["base", "SFT(text)", "SFT(image-text)", "RL(text)", "RL(image-text)", "RL(text)+RL(image-text)", "SFT(text)+RL(image-text)"];

/** Our recipe name -> the paper's `training` label ("SFT(text)" -> "SFT(m23k)"; "base" stays). */
export function paperTraining(recipe: string): string {
  return recipe.replace(/\(image-text\)/g, "(PMC-VQA)").replace(/\(text\)/g, "(m23k)");
}

/**
 * The paper's rows for our recipes at one model size (default 3B, the smallest it trains), one
 * row per recipe in the order given, columns in the paper's order (PAPER_COLUMNS, then avg).
 * A recipe the paper has no row for gets a row with empty cells and `missing: true`.
 */
export function paperRowsForRecipes(recipes: string[], opts: { size?: string; rows?: PaperRow[] } = {}): Record<string, unknown>[] {
  const size = opts.size ?? "3B";
  const rows = opts.rows ?? loadPaperResults();
  return recipes.map((recipe) => {
    const training = paperTraining(recipe);
    const model = training === "base" ? `Qwen2.5-VL-${size}-Instruct` : `MedVLThinker-${size}`;
    const hit = rows.find((r) => r.model === model && r.training === training);
    const out: Record<string, unknown> = { recipe, paper_model: model, paper_training: training };
    for (const c of [...PAPER_COLUMNS, "avg"]) out[c] = hit && hit.scores[c] !== undefined ? hit.scores[c] : null;
    if (!hit) out.missing = true;
    return out;
  });
}

export interface BenchmarkVerdict {
  benchmark: string;
  label: string;
  items: number;
  /** Percent: each item's runs and samples averaged, then items; 95% percentile-bootstrap interval over items. */
  accuracy: number;
  ci_lo: number;
  ci_hi: number;
  /** The same model with images removed (null without a blind run). */
  blind_accuracy: number | null;
  /** Exact McNemar (two-sided) of this row against the base model's records and its own blind run (null when not given). */
  p_vs_base: number | null;
  p_vs_blind: number | null;
  /** The best constant-letter predictor: its letter, accuracy (Wilson 95% interval) and the McNemar p of this row against it. */
  constant_letter: string;
  constant_accuracy: number;
  constant_ci_lo: number;
  constant_ci_hi: number;
  p_vs_constant: number;
  /** Uniform chance over each item's options (percent). */
  chance: number;
  /** Answers per predicted letter ("none": the grader read no letter). */
  letters: Record<string, number>;
  /** On yes/no items: shares (0-1) of Yes and No answers (null when the benchmark has none). */
  yes_share: number | null;
  no_share: number | null;
}

function pOf(a: ResultRecord[], b: ResultRecord[], benchmark: string): number | null {
  const row = compareRecords(a, b).rows.find((r) => r.benchmark === benchmark);
  return row ? row.p_mcnemar : null;
}

/**
 * One verdict per benchmark of `records`. `items` maps each benchmark id to the item list the
 * harness evaluated (records refer to it by position); `blind` and `base` are the records of the
 * same model without images and of the base model, on the same items.
 */
export function benchmarkVerdicts(o: { records: ResultRecord[]; items: Record<string, Item[]>; blind?: ResultRecord[] | null; base?: ResultRecord[] | null }): BenchmarkVerdict[] {
  const summaries = summarize(o.records);
  const blind = o.blind ? summarize(o.blind) : [];
  const letters = letterDistribution(o.records);
  return summaries.map((s) => {
    const items = o.items[s.benchmark];
    if (!items) throw new Error(`benchmarkVerdicts: no items given for benchmark '${s.benchmark}'`);
    const own = o.records.filter((r) => r.benchmark === s.benchmark);
    const cl = constantLetter(items);
    const yn = yesNoShares(own, items);
    const b = blind.find((x) => x.benchmark === s.benchmark);
    return {
      benchmark: s.benchmark,
      label: BENCHMARKS.find((x) => x.id === s.benchmark)?.label ?? s.benchmark,
      items: s.items,
      accuracy: s.accuracy,
      ci_lo: s.ci_lo,
      ci_hi: s.ci_hi,
      blind_accuracy: b ? b.accuracy : null,
      p_vs_base: o.base ? pOf(own, o.base, s.benchmark) : null,
      p_vs_blind: o.blind ? pOf(own, o.blind, s.benchmark) : null,
      constant_letter: cl.letter,
      constant_accuracy: cl.accuracy,
      constant_ci_lo: cl.ci_lo,
      constant_ci_hi: cl.ci_hi,
      p_vs_constant: pOf(own, constantLetterRecords(s.benchmark, items, cl.letter), s.benchmark) ?? 1,
      chance: chanceAccuracy(items),
      letters: letters[s.benchmark] ?? {},
      yes_share: yn.answers ? yn.yes : null,
      no_share: yn.answers ? yn.no : null,
    };
  });
}

/**
 * The ablation's figures of one row on one benchmark, where each item has one answer (run 0,
 * sample 0; the last record at a position wins): the fields of src/stages/ablation.ts
 * BenchmarkResult. Unlike benchmarkVerdicts (runs and samples averaged, a bootstrap interval over
 * the items answered), every item of `items` counts: one without a record is wrong with no letter,
 * the interval is Wilson's, and `letters` are shares of the answers given.
 */
export interface OneAnswerVerdict {
  items: number;
  /** Percent, with its Wilson 95% interval. */
  accuracy: number;
  ci95: [number, number];
  blind_accuracy: number | null;
  /** Exact McNemar p of this row against the base row, against its own blind run and against the constant letter. */
  p_vs_base: number | null;
  p_vs_blind: number | null;
  constant_letter: string;
  constant_accuracy: number;
  p_vs_constant: number;
  chance: number;
  /** Share (0-1) of the answers given per letter ("none": no letter read), in the items' order of first use. */
  letters: Record<string, number>;
  /** On yes/no items: share of the items answered "Yes" and "No". */
  yes_share: number | null;
  no_share: number | null;
}

/** One record per item position (its last), or null where the item has none. */
function answersByPosition(items: Item[], records: ResultRecord[]): (ResultRecord | null)[] {
  const at = new Map(records.map((r) => [r.index, r]));
  return items.map((_, i) => at.get(i) ?? null);
}

/** One answer per item, keyed by its position and hash, so that compareRecords pairs them by position; an item with no answer is wrong. */
function completeAnswers(items: Item[], hashes: string[], records: ResultRecord[]): ResultRecord[] {
  return answersByPosition(items, records).map((r, index) => ({
    benchmark: "b",
    index,
    hash: hashes[index],
    run: 0,
    sample: 0,
    response: "",
    finish_reason: "stop",
    correct: r?.correct === true,
    predicted: r ? r.predicted : null,
    gold: items[index].answer_label,
  }));
}

/** A row's figures on one benchmark with one answer per item (the ablation's table). */
export function oneAnswerVerdict(items: Item[], records: ResultRecord[], blind: ResultRecord[] | null, base: ResultRecord[] | null): OneAnswerVerdict {
  const n = items.length;
  const hashes = items.map(itemHash);
  const own = completeAnswers(items, hashes, records);
  const right = own.filter((r) => r.correct).length;
  const ci = wilson(right, n);
  const blindOwn = blind ? completeAnswers(items, hashes, blind) : null;
  const cl = constantLetter(items);
  const constant = constantLetterRecords("b", items, cl.letter).map((r, i) => ({ ...r, hash: hashes[i] }));
  const given = answersByPosition(items, records).filter((r): r is ResultRecord => r !== null);
  const letters: Record<string, number> = {};
  for (const r of given) letters[r.predicted ?? "none"] = (letters[r.predicted ?? "none"] ?? 0) + 1 / given.length;
  const yn = yesNoShares(own, items);
  return {
    items: n,
    accuracy: (100 * right) / n,
    ci95: [100 * ci.lo, 100 * ci.hi],
    blind_accuracy: blindOwn ? (100 * blindOwn.filter((r) => r.correct).length) / n : null,
    p_vs_base: base ? pOf(own, completeAnswers(items, hashes, base), "b") : null,
    p_vs_blind: blindOwn ? pOf(own, blindOwn, "b") : null,
    constant_letter: cl.letter,
    constant_accuracy: (100 * cl.correct) / n,
    p_vs_constant: pOf(own, constant, "b")!,
    chance: chanceAccuracy(items),
    letters,
    yes_share: yn.answers ? yn.yes : null,
    no_share: yn.answers ? yn.no : null,
  };
}

const r1 = (x: number | null) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const p3 = (x: number | null) => (x === null ? null : Number(x.toPrecision(3)));

/**
 * Verdicts of several rows as one flat table (one line per row and benchmark, percent to one
 * decimal, p to three significant digits), for showTable / arquero.
 */
export function verdictTable(rows: { name: string; verdicts: BenchmarkVerdict[] }[]): Record<string, unknown>[] {
  return rows.flatMap(({ name, verdicts }) =>
    verdicts.map((v) => ({
      row: name,
      benchmark: v.label,
      items: v.items,
      accuracy: r1(v.accuracy),
      ci95: Number.isFinite(v.ci_lo) ? `${r1(v.ci_lo)}-${r1(v.ci_hi)}` : null,
      blind: r1(v.blind_accuracy),
      p_vs_blind: p3(v.p_vs_blind),
      p_vs_base: p3(v.p_vs_base),
      [`constant letter`]: `${v.constant_letter} ${r1(v.constant_accuracy)}`,
      p_vs_constant: p3(v.p_vs_constant),
      chance: r1(v.chance),
      letters: Object.entries(v.letters).map(([l, n]) => `${l}:${n}`).join(" "),
    })),
  );
}

export interface SeedSpread {
  benchmark: string;
  seeds: number;
  /** Percent: mean and sample standard deviation of the seeds' accuracies (and of their blind runs where every seed has one). */
  mean: number;
  std: number;
  min: number;
  max: number;
  blind_mean: number | null;
  blind_std: number | null;
}

/** Mean and spread over seeds of one recipe: `perSeed[s]` is seed s's verdicts (benchmarks matched by id). */
export function acrossSeeds(perSeed: BenchmarkVerdict[][]): SeedSpread[] {
  const ids: string[] = [];
  for (const vs of perSeed) for (const v of vs) if (!ids.includes(v.benchmark)) ids.push(v.benchmark);
  return ids.map((benchmark) => {
    const vs = perSeed.map((s) => s.find((v) => v.benchmark === benchmark)).filter((v): v is BenchmarkVerdict => !!v);
    const acc = vs.map((v) => v.accuracy);
    const blind = vs.map((v) => v.blind_accuracy);
    const allBlind = blind.every((b): b is number => b !== null);
    return {
      benchmark,
      seeds: vs.length,
      mean: mean(acc),
      std: sampleStd(acc),
      min: Math.min(...acc),
      max: Math.max(...acc),
      blind_mean: allBlind && blind.length ? mean(blind as number[]) : null,
      blind_std: allBlind && blind.length ? sampleStd(blind as number[]) : null,
    };
  });
}

/**
 * One way of comparing in the workshop notebooks (03 SFT, 04 GRPO, 05 evaluation): the same
 * benchmarks, items, sampling and run folder everywhere, so a model evaluated in notebook 03 is the
 * same run notebook 05 reads back (runEval resumes it: the run folder is named after the model's
 * weights fingerprint and the sampling), and every comparison is paired item by item.
 *
 * Items: the full closed test sets of VQA-RAD and SLAKE (English), as the paper evaluates them, and
 * a fixed seeded sample of MedXpertQA-MM (its images are not in the shared data: text only, a blind
 * baseline). Greedy, one run, seed 42, short answers (the embedded model's context is short).
 */
import type { Item } from "../data/item";
import { checkpointFingerprint } from "../model/fingerprint";
import { constantLetterRecords, fixedSample } from "./baselines";
import { loadBenchmarks } from "./benchmarks";
import { compareRecords, type Comparison } from "./compare";
import type { ResultRecord } from "./store";

export interface WorkshopEval {
  preset: "smoke" | "workshop";
  benchmarks: string[];
  /** Items per benchmark: null = all (the full closed test set). */
  limits: Record<string, number | null>;
  /** The runEval settings every notebook uses (add `model`). */
  settings: {
    benchmarks: string[];
    limit: null;
    runs: number;
    out: string;
    batchSize: number;
    concurrency: number;
    sampling: { temperature: number; max_tokens: number; seed: number };
  };
}

export function workshopEval(smoke: boolean): WorkshopEval {
  const preset = smoke ? "smoke" : "workshop";
  const benchmarks = ["vqa-rad", "slake", "medxpertqa-mm"];
  const limits: Record<string, number | null> = smoke ? { "vqa-rad": 4, slake: 4, "medxpertqa-mm": 4 } : { "vqa-rad": null, slake: null, "medxpertqa-mm": 48 };
  return {
    preset,
    benchmarks,
    limits,
    settings: { benchmarks, limit: null, runs: 1, out: `runs/eval-workshop-${preset}`, batchSize: 8, concurrency: 1, sampling: { temperature: 0, max_tokens: smoke ? 16 : 128, seed: 42 } },
  };
}

/** The items of each benchmark under the workshop's limits (a seeded sample where limited). */
export async function workshopEvalItems(w: WorkshopEval): Promise<{ loaded: Awaited<ReturnType<typeof loadBenchmarks>>; items: Record<string, Item[]> }> {
  const loaded = await loadBenchmarks(w.benchmarks);
  const items = Object.fromEntries(loaded.map((b) => [b.id, w.limits[b.id] == null ? b.items : fixedSample(b.items, w.limits[b.id]!, 42)]));
  return { loaded, items };
}

/** The same items without their images (the blind run of a model). */
export function blindItems(items: Record<string, Item[]>): Record<string, Item[]> {
  return Object.fromEntries(Object.entries(items).map(([id, list]) => [id, list.map((it) => ({ ...it, images: null }))]));
}

/**
 * The eval model name of a checkpoint: `<label>-<preset>-<weights fingerprint>`, as notebook 05's
 * discoverModels names it, so the notebooks share one run per model.
 */
export function evalModelName(label: string, preset: string, checkpointDir: string): string {
  return `${label}-${preset}-${checkpointFingerprint(checkpointDir)}`;
}

/** Records of "always answer `letter`" on every benchmark, keyed as the harness keys items. */
export function alwaysLetterRecords(items: Record<string, Item[]>, letter: string): ResultRecord[] {
  return Object.entries(items).flatMap(([id, list]) => constantLetterRecords(id, list, letter));
}

/** Accuracy (%) per benchmark of a set of records (one run, one sample per item). */
export function accuracyByBenchmark(records: Pick<ResultRecord, "benchmark" | "correct">[]): Record<string, number> {
  const by = new Map<string, { n: number; c: number }>();
  for (const r of records) {
    const e = by.get(r.benchmark) ?? { n: 0, c: 0 };
    e.n++;
    e.c += r.correct ? 1 : 0;
    by.set(r.benchmark, e);
  }
  return Object.fromEntries([...by].map(([b, e]) => [b, (100 * e.c) / e.n]));
}

/**
 * A paired comparison as a table whose columns name the models (no "A" and "B": in a notebook
 * about answer letters they read as letters): items, both accuracies, right only in one, right only
 * in the other, exact McNemar p.
 */
export function pairedTable(before: { label: string; records: ResultRecord[] }, after: { label: string; records: ResultRecord[] }): { cmp: Comparison; rows: Record<string, string | number>[] } {
  const cmp = compareRecords(before.records, after.records, { a: before.label, b: after.label });
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const rows = cmp.rows.map((r) => ({
    benchmark: r.benchmark,
    items: r.items,
    [`${before.label} %`]: r1(r.acc_a),
    [`${after.label} %`]: r1(r.acc_b),
    [`right only with ${before.label}`]: r.a_only,
    [`right only with ${after.label}`]: r.b_only,
    "McNemar p": Number(r.p_mcnemar.toPrecision(3)),
  }));
  return { cmp, rows };
}

/** One sentence per benchmark on a paired comparison, generated from it. */
export function pairedProse(cmp: Comparison, before: string, after: string, alpha = 0.05): string {
  return cmp.rows
    .map((r) => {
      const diff = r.acc_b - r.acc_a;
      const flips = r.a_only + r.b_only;
      const head = `**${r.benchmark}**: ${after} ${r.acc_b.toFixed(1)}% vs ${before} ${r.acc_a.toFixed(1)}% on ${r.items} items (${diff >= 0 ? "+" : ""}${diff.toFixed(1)} points; ${flips} ${flips === 1 ? "item" : "items"} flipped, ${r.b_only} to right and ${r.a_only} to wrong`;
      if (flips === 0) return `${head}): the same items right and wrong.`;
      return `${head}, McNemar p = ${r.p_mcnemar.toPrecision(2)}): ${r.p_mcnemar < alpha ? `the flips lean ${r.b_only > r.a_only ? `towards ${after}` : `towards ${before}`} more than chance explains` : "not shown to differ"}.`;
    })
    .join("\n\n");
}

/** The model each stage's run started from: the paired test of a row is against this one. */
export const STARTED_FROM: Record<string, string> = { instruct: "base", sft: "base", grpo: "instruct" };

/** Rows "always A" and "always B" for the results table (percent, one decimal), one column per benchmark label. */
export function alwaysLetterRows(items: Record<string, Item[]>, labels: Record<string, string>, letters = ["A", "B"]): Record<string, unknown>[] {
  return letters.map((letter) => {
    const acc = accuracyByBenchmark(alwaysLetterRecords(items, letter));
    const row: Record<string, unknown> = { model: `always ${letter}`, source: `answers ${letter} on every item` };
    for (const id of Object.keys(items)) row[labels[id] ?? id] = Math.round(10 * (acc[id] ?? 0)) / 10;
    return row;
  });
}

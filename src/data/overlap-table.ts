/**
 * overlapReport (overlap.ts) for several training sets against several evaluation sets at once,
 * as arquero tables: a compact grid (one row per training set, one column per evaluation set), the
 * long form (one row per pair), and one row per overlapping item.
 */
import * as aq from "arquero";
import type { Item } from "./item";
import { overlapReport } from "./overlap";
import type { ColumnTable } from "./summary";

export interface NamedItems {
  name: string;
  items: Item[];
}

export interface OverlapTables {
  /** train, eval, eval_items, overlapping (same question, options, image), question_only (same question, other options). */
  matrix: ColumnTable;
  /**
   * One row per training set: train, train_items, train_duplicates (same key twice inside it), then
   * one column per evaluation set: "0", "3" (overlapping items) or "0 (+2)" (question-only matches).
   */
  grid: ColumnTable;
  /** train, eval, kind ("item" | "question only"), train_item, eval_item, question (cut to 120 characters). */
  pairs: ColumnTable;
}

export function overlapTables(train: NamedItems[], evals: NamedItems[]): OverlapTables {
  const matrix: Record<string, unknown>[] = [];
  const pairs: Record<string, unknown>[] = [];
  const grid: Record<string, unknown>[] = [];
  const cut = (s: string) => (s.length > 120 ? `${s.slice(0, 119)}…` : s);
  for (const t of train) {
    const rep = overlapReport(t.items, evals.map((e) => e.items));
    const row: Record<string, unknown> = { train: t.name, train_items: t.items.length, train_duplicates: rep.trainDuplicates };
    rep.perEval.forEach((p, e) => {
      matrix.push({ train: t.name, eval: evals[e].name, eval_items: p.size, overlapping: p.overlapping, question_only: p.questionOnly });
      row[evals[e].name] = p.questionOnly ? `${p.overlapping} (+${p.questionOnly})` : String(p.overlapping);
    });
    grid.push(row);
    for (const [kind, list] of [["item", rep.pairs], ["question only", rep.questionOnly]] as const) {
      for (const p of list) {
        pairs.push({ train: t.name, eval: evals[p.evalSet].name, kind, train_item: `${p.train.dataset_name}#${p.train.dataset_index}`, eval_item: `${p.eval.dataset_name}#${p.eval.dataset_index}`, question: cut(p.question) });
      }
    }
  }
  const emptyPairs = { train: [], eval: [], kind: [], train_item: [], eval_item: [], question: [] };
  return { matrix: aq.from(matrix), grid: aq.from(grid), pairs: pairs.length ? aq.from(pairs) : aq.table(emptyPairs) };
}

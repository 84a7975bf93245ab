/**
 * What the loaders produced, as arquero tables for notebook 01 and anyone comparing sources:
 * items per source (closed / open, images, traces, duplicates, what the loader skipped), the
 * options count, the answer-letter balance, question and prompt lengths, what the loaders reported
 * (skipped records and warnings), and how closed VQA questions got their options.
 */
import * as aq from "arquero";
import { buildPrompt } from "../prompt";
import { isOpen, type Item } from "./item";
import type { LoadResult } from "./registry";
import { sourceStats } from "./stats";

export type ColumnTable = ReturnType<typeof aq.from>;

export interface DatasetSummary {
  /** One row per load result: dataset, items, splits, closed, open, with_images, with_reasoning, duplicates, skipped, warnings. */
  perSource: ColumnTable;
  /** dataset, options (count per item; 0 for open questions), items. */
  options: ColumnTable;
  /**
   * Closed questions only: dataset, letter, items (keyed to that letter), share, expected (the share
   * if keys were placed at random), ratio = share / expected (1 = balanced).
   */
  letters: ColumnTable;
  /** One row per item: dataset, question_chars, prompt_chars (the published prompt; open items: question only). */
  lengths: ColumnTable;
}

/** "test 451, train 1797": the split counts of a source, from misc.split. */
export function splitCounts(items: Pick<Item, "misc">[]): string {
  const m = new Map<string, number>();
  for (const it of items) {
    const s = String(it.misc?.split ?? "-");
    m.set(s, (m.get(s) ?? 0) + 1);
  }
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s} ${n}`).join(", ");
}

export function datasetSummary(results: LoadResult[]): DatasetSummary {
  const perSource: Record<string, unknown>[] = [];
  const options: Record<string, unknown>[] = [];
  const letters: Record<string, unknown>[] = [];
  const lengths = { dataset: [] as string[], question_chars: [] as number[], prompt_chars: [] as number[] };
  for (const r of results) {
    const s = sourceStats(r.name, r.items);
    perSource.push({
      dataset: r.name,
      items: s.items,
      splits: splitCounts(r.items),
      closed: s.closed,
      open: s.open,
      with_images: s.withImages,
      with_reasoning: s.withReasoning,
      duplicates: s.duplicates,
      skipped: r.skipped.length,
      warnings: r.warnings.length,
    });
    for (const [n, count] of Object.entries(s.optionCounts)) options.push({ dataset: r.name, options: Number(n), items: count });
    // Expected share of a letter if keys were placed at random: each item adds 1 / its option count
    // to every letter it has (so 4- and 5-option items mix correctly).
    const closed = r.items.filter((it) => !isOpen(it));
    const observed = new Map<string, number>();
    const expected = new Map<string, number>();
    for (const it of closed) {
      observed.set(it.answer_label, (observed.get(it.answer_label) ?? 0) + 1);
      const ls = Object.keys(it.options);
      for (const l of ls) expected.set(l, (expected.get(l) ?? 0) + 1 / ls.length);
    }
    for (const [letter, e] of [...expected.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const count = observed.get(letter) ?? 0;
      letters.push({ dataset: r.name, letter, items: count, share: count / closed.length, expected: e / closed.length, ratio: e > 0 ? count / e : 0 });
    }
    for (const it of r.items) {
      lengths.dataset.push(r.name);
      lengths.question_chars.push(it.question.length);
      lengths.prompt_chars.push(isOpen(it) ? it.question.length : buildPrompt(it).length);
    }
  }
  return { perSource: aq.from(perSource), options: aq.from(options), letters: aq.from(letters), lengths: aq.table(lengths) };
}

/** Median, 90th percentile and maximum question and prompt lengths (characters) per dataset. */
export function lengthStats(lengths: ColumnTable): ColumnTable {
  return lengths
    .groupby("dataset")
    .rollup({
      median_question: aq.op.median("question_chars"),
      p90_question: aq.op.quantile("question_chars", 0.9),
      max_question: aq.op.max("question_chars"),
      median_prompt: aq.op.median("prompt_chars"),
      max_prompt: aq.op.max("prompt_chars"),
    })
    .orderby("dataset");
}

/**
 * Everything the loaders reported instead of failing: one row per skipped record (kind "skipped",
 * with its record, field and reason) and one per warning (kind "warning"). Warnings are cut to
 * `maxChars` so a table stays readable.
 */
export function loaderIssues(results: LoadResult[], opts: { maxChars?: number } = {}): ColumnTable {
  const max = opts.maxChars ?? 240;
  const cut = (s: string) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
  const rows: Record<string, unknown>[] = [];
  for (const r of results) {
    for (const s of r.skipped) rows.push({ dataset: r.name, kind: "skipped", record: String(s.record), field: s.field, detail: cut(s.reason) });
    for (const w of r.warnings) rows.push({ dataset: r.name, kind: "warning", record: "", field: "", detail: cut(w) });
  }
  return rows.length ? aq.from(rows) : aq.table({ dataset: [], kind: [], record: [], field: [], detail: [] });
}

/**
 * How VQA questions became items: per dataset, split, answer type ("closed" / "open") and the
 * options rule of closed-options.ts ("yes-no", "or", "list", with "+answer" when the answer was
 * appended; "-" for open ones), the count and one example.
 */
export function optionsRuleTable(items: Item[]): ColumnTable {
  const groups = new Map<string, { dataset: string; split: string; answer_type: string; options_rule: string; items: number; example: string }>();
  for (const it of items) {
    const answerType = isOpen(it) ? (it.misc?.source_answer_type === "CLOSED" ? "open (CLOSED, no rule)" : "open") : "closed";
    const rule = isOpen(it) ? "-" : String(it.misc?.options_rule ?? "-");
    const split = String(it.misc?.split ?? "-");
    const key = [it.dataset_name, split, answerType, rule].join("\u0000");
    let g = groups.get(key);
    if (!g) {
      const opts = isOpen(it) ? "(no options)" : Object.entries(it.options).map(([l, t]) => `${l}. ${t}`).join(" / ");
      const example = `${it.question} → ${isOpen(it) ? it.answer : it.answer_label} ${opts}`;
      g = { dataset: it.dataset_name, split, answer_type: answerType, options_rule: rule, items: 0, example };
      groups.set(key, g);
    }
    g.items++;
  }
  const rows = [...groups.values()].sort((a, b) => a.dataset.localeCompare(b.dataset) || a.split.localeCompare(b.split) || b.items - a.items);
  return aq.from(rows);
}

/** Per-source summary: counts, options-count histogram, answer letters, images, closed / open. */
import type { Item } from "./item";

export interface SourceStats {
  source: string;
  items: number;
  /** Number of options -> items (open questions count under 0). */
  optionCounts: Record<string, number>;
  /** Answer letter -> items ("-" for open questions). */
  answerLetters: Record<string, number>;
  withImages: number;
  closed: number;
  open: number;
  withReasoning: number;
  /** Items whose question + options appear earlier in the same source. */
  duplicates: number;
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

const sortKeys = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (Number(a) - Number(b)) || a.localeCompare(b)));

export function sourceStats(source: string, items: Item[]): SourceStats {
  const optionCounts: Record<string, number> = {};
  const answerLetters: Record<string, number> = {};
  const seen = new Set<string>();
  let withImages = 0;
  let open = 0;
  let withReasoning = 0;
  let duplicates = 0;
  for (const it of items) {
    const n = Object.keys(it.options).length;
    bump(optionCounts, String(n));
    bump(answerLetters, it.answer_label || "-");
    if (it.images && it.images.length > 0) withImages++;
    if (it.misc?.answer_type === "open") open++;
    if (it.reasoning) withReasoning++;
    const key = JSON.stringify([it.question.trim(), Object.values(it.options).map((o) => o.trim()), (it.images ?? []).map((i) => i.path)]);
    if (seen.has(key)) duplicates++;
    seen.add(key);
  }
  return { source, items: items.length, optionCounts: sortKeys(optionCounts), answerLetters: sortKeys(answerLetters), withImages, closed: items.length - open, open, withReasoning, duplicates };
}

export function formatStats(s: SourceStats): string {
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k}:${v}`).join(" ");
  return [
    `${s.source}: ${s.items} items (${s.closed} multiple-choice, ${s.open} open), ${s.withImages} with images, ${s.withReasoning} with reasoning, ${s.duplicates} duplicates`,
    `  options per item: ${fmt(s.optionCounts)}`,
    `  answer letters:   ${fmt(s.answerLetters)}`,
  ].join("\n");
}

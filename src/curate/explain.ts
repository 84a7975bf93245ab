/**
 * Why an item was kept or dropped, in words a notebook reader can check against the recipe:
 * GRPO learns from the spread of rewards inside a group of samples; a group of all-0 or all-1
 * rewards has zero advantage and teaches nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PassCountRange } from "./filter";
import type { CurateResult } from "./curate";

export function keepReason(passCount: number, k: number, range: PassCountRange): string {
  if (passCount >= range.min && passCount <= range.max) return `kept: solved ${passCount} of ${k} (sometimes right: rewards differ within a group)`;
  if (passCount === 0) return `dropped: never solved (0 of ${k}: all rewards 0, zero advantage)`;
  if (passCount === k) return `dropped: always solved (${k} of ${k}: all rewards 1, zero advantage)`;
  if (passCount > range.max) return `dropped: too easy (${passCount} of ${k} > ${range.max})`;
  return `dropped: too hard (${passCount} of ${k} < ${range.min})`;
}

/** A type alias (not an interface) so rows pass as Record<string, unknown> to table helpers. */
export type CurationRow = {
  source: string;
  dataset_index: number;
  image: boolean;
  question: string;
  answer: string;
  pass_count: number;
  /** Position in the curated (training) order, or null when dropped. */
  position: number | null;
  reason: string;
};

/**
 * A few items per outcome, for a table: `perReason` rows of each distinct reason, in pool order.
 */
export function curationRows(r: Pick<CurateResult, "scored" | "curated" | "range" | "config">, opts: { perReason?: number; questionChars?: number } = {}): CurationRow[] {
  const per = opts.perReason ?? 3;
  const chars = opts.questionChars ?? 90;
  const position = new Map(r.curated.map((it, j) => [`${it.dataset_name}\u0000${it.dataset_index}\u0000${it.hash ?? it.question}`, j]));
  const seen = new Map<string, number>();
  const rows: CurationRow[] = [];
  for (const it of r.scored) {
    const pc = it.misc?.pass_count as number;
    const k = it.misc?.pass_k as number;
    const reason = keepReason(pc, k, r.range);
    const group = reason.replace(/\d+/g, "#");
    const n = seen.get(group) ?? 0;
    if (n >= per) continue;
    seen.set(group, n + 1);
    const q = it.question.replace(/\s+/g, " ");
    rows.push({
      source: it.dataset_name,
      dataset_index: it.dataset_index,
      image: !!it.images?.length,
      question: q.length > chars ? `${q.slice(0, chars - 1)}…` : q,
      answer: `${it.answer_label}. ${it.answer}`,
      pass_count: pc,
      position: position.get(`${it.dataset_name}\u0000${it.dataset_index}\u0000${it.hash ?? it.question}`) ?? null,
      reason,
    });
  }
  return rows;
}

/** Counts per source of scored and kept items (text vs image pools side by side). */
export function keptBySource(r: Pick<CurateResult, "scored" | "curated">): { source: string; scored: number; kept: number; kept_fraction: number }[] {
  const scored = new Map<string, number>();
  const kept = new Map<string, number>();
  for (const it of r.scored) scored.set(it.dataset_name, (scored.get(it.dataset_name) ?? 0) + 1);
  for (const it of r.curated) kept.set(it.dataset_name, (kept.get(it.dataset_name) ?? 0) + 1);
  return [...scored].map(([source, n]) => ({ source, scored: n, kept: kept.get(source) ?? 0, kept_fraction: Math.round((1000 * (kept.get(source) ?? 0)) / n) / 1000 }));
}

/**
 * The newest curated set under a curation output folder (default runs/curate), optionally only
 * from run folders whose name starts with `modelPrefix`; null when there is none or it is empty.
 * Training notebooks use it to train on curated items when curation has run.
 */
export function findCuratedSet(out = "runs/curate", opts: { modelPrefix?: string; nonEmpty?: boolean } = {}): string | null {
  const root = resolve(out);
  if (!existsSync(root)) return null;
  let best: { path: string; mtime: number } | null = null;
  for (const d of readdirSync(root)) {
    if (opts.modelPrefix && !d.startsWith(opts.modelPrefix)) continue;
    const p = join(root, d, "curated.parquet");
    if (!existsSync(p)) continue;
    if (opts.nonEmpty !== false && curatedCount(join(root, d)) === 0) continue;
    const mtime = statSync(p).mtimeMs;
    if (!best || mtime > best.mtime) best = { path: p, mtime };
  }
  return best?.path ?? null;
}

function curatedCount(dir: string): number {
  try {
    // summary.json is written with the outputs; it says how many items were kept.
    const s = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as { curated?: number };
    return s.curated ?? 0;
  } catch {
    return 0;
  }
}

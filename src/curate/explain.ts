/**
 * Why an item was kept or dropped, in words a notebook reader can check against the recipe:
 * GRPO learns from the spread of rewards inside a group of samples; a group of all-0 or all-1
 * rewards has zero advantage and teaches nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
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

/** The newest curation run folder under `out` whose name starts with `prefix` (by its summary.json), as join(out, name); null when there is none. */
export function newestCurationRun(prefix: string, out = "runs/curate"): string | null {
  if (!existsSync(out)) return null;
  const dirs = readdirSync(out).filter((d) => d.startsWith(prefix) && existsSync(join(out, d, "summary.json")));
  dirs.sort((a, b) => statSync(join(out, b, "summary.json")).mtimeMs - statSync(join(out, a, "summary.json")).mtimeMs);
  return dirs.length ? join(out, dirs[0]) : null;
}

/** A curation run folder in one table row: items, samples, share passing the format gate, share rewarded 1, items kept. */
export function curationRunRow(model: string, dir: string): Record<string, string | number> {
  const s = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as { k: number; scored: number; curated: number };
  const recs = readFileSync(join(dir, "results.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { format: boolean; correct: boolean });
  const pct = (n: number) => +((100 * n) / Math.max(1, recs.length)).toFixed(1);
  return {
    model,
    run: dir,
    k: s.k,
    items: s.scored,
    samples: recs.length,
    "format passed (%)": pct(recs.filter((r) => r.format).length),
    "reward 1 (%)": pct(recs.filter((r) => r.correct).length),
    kept: s.curated,
  };
}

/**
 * Whether GRPO trains on a curated set (`curated`, a curated.parquet or null) and for how many
 * epochs: on it when it holds at least one step's prompts, cycled (more epochs) up to the preset's
 * maxSteps; otherwise on the preset's own data and epochs.
 */
export function grpoCuratedPlan(curated: string | null, p: { promptsPerStep: number; epochs: number; maxSteps: number | null }): { curated: string | null; curatedCount: number; useCurated: boolean; epochs: number } {
  const count = curated ? curatedCount(dirname(curated)) : 0;
  const useCurated = curated !== null && count >= p.promptsPerStep;
  const epochs = useCurated ? Math.max(p.epochs, Math.ceil((p.maxSteps ?? 1) / Math.floor(count / p.promptsPerStep))) : p.epochs;
  return { curated, curatedCount: count, useCurated, epochs };
}

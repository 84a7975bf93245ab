/**
 * GRPO prompts: closed (multiple-choice) items from the configured sources, minus every item that
 * appears in an evaluation set. No reasoning is needed (the reward only reads the answer).
 */
import { isOpen, type Item } from "../data/item";
import { excludeOverlap } from "../data/overlap";
import { isDatasetName, loadDataset, loadPath } from "../data/registry";
import { loadBenchmarks } from "../eval/benchmarks";
import type { GrpoConfig } from "./grpo-config";

export interface GrpoDataReport {
  loaded: number;
  sources: { source: string; items: number; skipped: number }[];
  open: number;
  excludedByBenchmark: Record<string, number>;
  kept: number;
  warnings: string[];
}

export async function loadGrpoItems(data: GrpoConfig["data"]): Promise<{ items: Item[]; report: GrpoDataReport }> {
  const sources: GrpoDataReport["sources"] = [];
  const warnings: string[] = [];
  let all: Item[] = [];
  for (const s of data.sources) {
    const r = isDatasetName(s) ? await loadDataset(s, { root: data.root, split: "train" }) : await loadPath(s, { root: data.root });
    sources.push({ source: s, items: r.items.length, skipped: r.skipped.length });
    warnings.push(...r.warnings.map((w) => `${s}: ${w}`));
    all = all.concat(r.items);
  }
  const closed = all.filter((it) => !isOpen(it) && Object.keys(it.options).length >= 2);
  let kept = closed;
  const excludedByBenchmark: Record<string, number> = {};
  if (data.excludeEval.length) {
    for (const b of await loadBenchmarks(data.excludeEval, { dataRoot: data.root })) {
      const r = excludeOverlap(kept, [b.items]);
      excludedByBenchmark[b.id] = r.excluded.length;
      kept = r.kept;
    }
  }
  const items = data.limit !== null ? kept.slice(0, data.limit) : kept;
  return { items, report: { loaded: all.length, sources, open: all.length - closed.length, excludedByBenchmark, kept: items.length, warnings } };
}

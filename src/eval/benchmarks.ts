/**
 * The benchmark registry: the six image-text benchmarks of the paper and five text benchmarks,
 * where each comes from (a MedVLThinker-Eval parquet, else the local copies in shared/data), how
 * it is cut (closed questions, English, deduplicated) and the paper's column for it.
 */
import { resolve } from "node:path";
import type { Item } from "../data/item";
import type { DatasetName } from "../data/registry";
import { ConfigError } from "./config";

export interface BenchmarkSpec {
  id: string;
  label: string;
  kind: "image-text" | "text";
  /** Column of shared/reference/medvlthinker_results.csv, for the six of the paper. */
  paperColumn?: string;
  /** Size the paper reports. */
  paperCount?: number;
  /** Local dataset in src/data/registry.ts, when shared/data has a copy. */
  local?: DatasetName;
  /** Cut of the local dataset: which items count (closed, English, deduplicated). */
  select?: (items: Item[]) => { items: Item[]; notes: string[] };
  /** Normalised MedVLThinker-Eval `dataset_name` values (lowercase, letters and digits only). */
  evalNames: string[];
  /** Where to get it when it is not here. */
  source: string;
}

function norm(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, "");
}

const closed = (items: Item[]) => items.filter((it) => String(it.misc?.answer_type ?? "").trim().toLowerCase() === "closed");

/** English only where the loader keeps a language field (SLAKE has English and Chinese). */
const english = (items: Item[]) =>
  items.filter((it) => {
    const lang = it.misc?.q_lang ?? it.misc?.lang ?? it.misc?.language;
    return lang === undefined || String(lang).toLowerCase() === "en";
  });

/** Keep the first of items with the same question and options (MMLU repeats 78 between subjects). */
export function dedupeItems(items: Item[]): { items: Item[]; removed: number } {
  const seen = new Set<string>();
  const out: Item[] = [];
  for (const it of items) {
    const key = JSON.stringify([it.question.trim(), Object.values(it.options).map((o) => o.trim())]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(it);
  }
  return { items: out, removed: items.length - out.length };
}

const HF_EVAL = "the MedVLThinker-Eval parquet (huggingface.co/datasets/UCSC-VLAA/MedVLThinker-Eval), passed with --eval-parquet FILE";

export const BENCHMARKS: BenchmarkSpec[] = [
  {
    id: "pmc-vqa",
    label: "PMC-VQA",
    kind: "image-text",
    paperColumn: "pmc_vqa",
    paperCount: 2000,
    evalNames: ["pmcvqa"],
    source: `${HF_EVAL}; or HF xmcmic/PMC-VQA (test_clean.csv and its images). No public GitHub copy exists, so shared/data has none.`,
  },
  {
    id: "mmmu-med",
    label: "MMMU medical",
    kind: "image-text",
    paperColumn: "mmmu_med",
    paperCount: 170,
    evalNames: ["mmmu", "mmmumedical", "mmmuhealth", "mmmuhealthmedicine", "mmmumed"],
    source: `${HF_EVAL}; or HF MMMU/MMMU (5 Health & Medicine subsets, val+dev, multiple choice). The GitHub repository holds no images.`,
  },
  {
    id: "medxpertqa-mm",
    label: "MedXpertQA-MM",
    kind: "image-text",
    paperColumn: "medxpertqa_mm",
    paperCount: 2000,
    local: "medxpertqa-mm",
    evalNames: ["medxpertqamm", "medxpertqa", "medxpertqamultimodal"],
    // The loader already warns when the images are missing (a blind, text-only baseline).
    select: (items) => ({ items, notes: [] }),
    source: `${HF_EVAL}; or HF TsinghuaC3I/MedXpertQA (config MM, images.zip).`,
  },
  {
    id: "pathvqa",
    label: "PathVQA (closed)",
    kind: "image-text",
    paperColumn: "pathvqa",
    paperCount: 3362,
    evalNames: ["pathvqa"],
    source: `${HF_EVAL}; or HF flaviagiammarino/path-vqa (test, yes/no questions). Its images are not cleared for redistribution, so shared/data has none.`,
  },
  {
    id: "slake",
    label: "SLAKE (closed, English)",
    kind: "image-text",
    paperColumn: "slake",
    paperCount: 416,
    local: "slake",
    evalNames: ["slake", "slakevqa", "slakeen"],
    select: (items) => {
      const out = closed(english(items));
      return { items: out, notes: out.length === 416 ? [] : [`${out.length} closed English test questions (the paper counts 416)`] };
    },
    source: "shared/data/slake (SLAKE 1.0 test.json + images)",
  },
  {
    id: "vqa-rad",
    label: "VQA-RAD (closed)",
    kind: "image-text",
    paperColumn: "vqa_rad",
    paperCount: 272,
    local: "vqa-rad",
    evalNames: ["vqarad"],
    select: (items) => {
      const out = closed(items);
      return { items: out, notes: out.length === 272 ? [] : [`${out.length} closed test questions (the paper counts 272)`] };
    },
    source: "shared/data/vqa-rad (OSF VQA_RAD Dataset Public.json + images)",
  },
  { id: "medqa", label: "MedQA (USMLE, 4 options)", kind: "text", local: "medqa", evalNames: ["medqa"], source: "shared/data/medqa" },
  { id: "pubmedqa", label: "PubMedQA (PQA-L test)", kind: "text", local: "pubmedqa", evalNames: ["pubmedqa"], source: "shared/data/pubmedqa" },
  { id: "medmcqa", label: "MedMCQA (validation)", kind: "text", local: "medmcqa", evalNames: ["medmcqa"], source: "shared/data/medmcqa" },
  {
    id: "mmlu-med",
    label: "MMLU medical (deduplicated)",
    kind: "text",
    local: "mmlu-med",
    evalNames: ["mmlumed", "mmlumedical", "mmlu"],
    select: (items) => {
      const d = dedupeItems(items);
      return { items: d.items, notes: d.removed > 0 ? [`${d.removed} duplicate questions removed (${items.length} -> ${d.items.length})`] : [] };
    },
    source: "shared/data/mmlu-med",
  },
  {
    id: "medxpertqa-text",
    label: "MedXpertQA-Text (Reasoning)",
    kind: "text",
    local: "medxpertqa-text",
    evalNames: ["medxpertqatext", "medxpertqar"],
    select: (items) => ({ items, notes: ["the local copy is the Reasoning subset (1,861 of 2,450 questions)"] }),
    source: "shared/data/medxpertqa-text",
  },
];

export const PAPER_BENCHMARKS = BENCHMARKS.filter((b) => b.paperColumn).map((b) => b.id);
export const TEXT_BENCHMARKS = BENCHMARKS.filter((b) => b.kind === "text").map((b) => b.id);

/** A spec by id (or a name that normalises to one: "VQA_RAD", "vqarad"). */
export function getBenchmark(id: string): BenchmarkSpec {
  const spec = BENCHMARKS.find((b) => b.id === id || norm(b.id) === norm(id));
  if (!spec) throw new ConfigError(`unknown benchmark '${id}'; known: ${BENCHMARKS.map((b) => b.id).join(", ")} (or 'paper', 'text', 'all')`);
  return spec;
}

/** Expand a list that may use the groups 'paper' (the six), 'text' and 'all'. */
export function expandBenchmarks(ids: string[]): string[] {
  const out: string[] = [];
  for (const id of ids.map((s) => s.trim()).filter(Boolean)) {
    const group = id === "paper" ? PAPER_BENCHMARKS : id === "text" ? TEXT_BENCHMARKS : id === "all" ? BENCHMARKS.map((b) => b.id) : [getBenchmark(id).id];
    for (const g of group) if (!out.includes(g)) out.push(g);
  }
  return out;
}

/** The benchmark a MedVLThinker-Eval `dataset_name` belongs to, or undefined. */
export function benchmarkForEvalName(datasetName: string): string | undefined {
  const n = norm(datasetName);
  const exact = BENCHMARKS.find((b) => b.evalNames.includes(n));
  if (exact) return exact.id;
  // Longest prefix wins ("medxpertqamm..." before "medxpertqa").
  let best: { id: string; len: number } | undefined;
  for (const b of BENCHMARKS) for (const e of b.evalNames) if (n.startsWith(e) && (!best || e.length > best.len)) best = { id: b.id, len: e.length };
  return best?.id;
}

export interface LoadedBenchmark {
  id: string;
  label: string;
  items: Item[];
  notes: string[];
}

/** Read every item of a MedVLThinker-Eval parquet, grouped by benchmark. */
export async function readEvalParquet(path: string): Promise<{ groups: Map<string, Item[]>; unknown: Map<string, number> }> {
  const groups = new Map<string, Item[]>();
  const unknown = new Map<string, number>();
  // Loaded on use: the registry and report need no parquet reader.
  const { readParquetItems } = await import("../data/parquet");
  for await (const chunk of readParquetItems(resolve(path))) {
    const items: Item[] = Array.isArray(chunk) ? chunk : [chunk as Item];
    for (const it of items) {
      const id = benchmarkForEvalName(it.dataset_name);
      if (!id) {
        unknown.set(it.dataset_name, (unknown.get(it.dataset_name) ?? 0) + 1);
        continue;
      }
      if (!groups.has(id)) groups.set(id, []);
      groups.get(id)!.push(it);
    }
  }
  return { groups, unknown };
}

/**
 * Items of each requested benchmark: from the parquet when given (all it holds), else the local
 * copy cut as the paper does. A benchmark with neither fails before any request, saying where to get it.
 */
export async function loadBenchmarks(ids: string[], opts: { evalParquet?: string | null; dataRoot?: string } = {}): Promise<LoadedBenchmark[]> {
  const specs = expandBenchmarks(ids).map(getBenchmark);
  const fromParquet = opts.evalParquet ? await readEvalParquet(opts.evalParquet) : null;
  const out: LoadedBenchmark[] = [];
  const missing: string[] = [];
  for (const spec of specs) {
    const notes: string[] = [];
    const pq = fromParquet?.groups.get(spec.id);
    if (pq && pq.length > 0) {
      if (spec.paperCount && pq.length !== spec.paperCount) notes.push(`${pq.length} items in the parquet (the paper counts ${spec.paperCount})`);
      out.push({ id: spec.id, label: spec.label, items: pq, notes });
      continue;
    }
    if (!spec.local) {
      missing.push(`  ${spec.id}: not available here. Get ${spec.source}`);
      continue;
    }
    const { loadDataset } = await import("../data/registry");
    const ds = await loadDataset(spec.local, { root: opts.dataRoot, split: "test" });
    for (const w of ds.warnings) notes.push(w);
    if (ds.skipped.length) notes.push(`${ds.skipped.length} malformed records skipped by the loader`);
    const sel = spec.select ? spec.select(ds.items) : { items: ds.items, notes: [] };
    notes.push(...sel.notes);
    if (fromParquet) notes.push("not in the parquet: read from the local copy");
    out.push({ id: spec.id, label: spec.label, items: sel.items, notes });
  }
  if (missing.length) throw new ConfigError(`benchmarks not available:\n${missing.join("\n")}`);
  if (fromParquet && fromParquet.unknown.size) {
    const list = [...fromParquet.unknown].map(([k, v]) => `${k} (${v})`).join(", ");
    for (const b of out) b.notes.push(`parquet dataset_name values not mapped to a benchmark: ${list}`);
  }
  return out;
}

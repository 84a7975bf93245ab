/**
 * The two training pools of the text-only vs image-text ablation (issue 13), in miniature:
 *   text        HEAD-QA train + dev, PubMedQA train (PQA-L minus the official test split) and the
 *               HuatuoGPT-o1 traces: the analogue of the paper's m23k (its own sources include
 *               HEAD-QA; the traces are what SFT learns from);
 *   image-text  SLAKE train + validate (closed, English) and VQA-RAD train (closed): the analogue
 *               of the paper's PMC-VQA.
 * Each pool is closed (multiple-choice) items only, deduplicated, and disjoint from every
 * evaluation set: an item whose question (with its image) appears in any evaluation test split is
 * excluded, and the count is reported per source. `sft` is the part with a reasoning trace (the
 * HuatuoGPT-o1 traces; none in the image-text pool: the shared data has no image-text traces).
 * Curation by pass rate is the next step (src/curate), not done here.
 */
import { ConfigError } from "../errors";
import { isOpen, type Item } from "./item";
import { imageName, overlapKey, questionKey } from "./overlap";
import type { NamedItems } from "./overlap-table";
import { DATASETS, loadDataset, type DatasetName, type SkippedRecord } from "./registry";

export type PoolName = "text" | "image-text";
export const POOL_NAMES: PoolName[] = ["text", "image-text"];

export interface PoolSource {
  /** Registry name; loaded with `split` ("train" unless said). */
  dataset: DatasetName;
  split: "train" | "test" | "all";
}

export interface PoolSpec {
  name: PoolName;
  /** The paper's training set this pool stands in for. */
  analogue: string;
  sources: PoolSource[];
}

const train = (dataset: DatasetName): PoolSource => ({ dataset, split: "train" });

export const POOLS: Record<PoolName, PoolSpec> = {
  text: { name: "text", analogue: "m23k", sources: [train("headqa-train"), train("headqa-dev"), train("pubmedqa"), train("huatuo-o1")] },
  "image-text": { name: "image-text", analogue: "PMC-VQA", sources: [train("slake-train"), train("slake-validate"), train("vqa-rad")] },
};

/**
 * The evaluation sets every training pool must be disjoint from: the test split of each local
 * benchmark (all of it, open questions included, so that a training question never shares its
 * wording and image with a test question).
 */
export const EVALUATION_DATASETS: DatasetName[] = ["medqa", "medmcqa", "mmlu-med", "medxpertqa-text", "pubmedqa", "vqa-rad", "slake", "medxpertqa-mm"];

/** The evaluation sets, loaded (test splits), named by registry name. */
export async function loadEvaluationSets(opts: { root?: string } = {}): Promise<NamedItems[]> {
  const out: NamedItems[] = [];
  for (const name of EVALUATION_DATASETS) out.push({ name, items: (await loadDataset(name, { root: opts.root, split: "test" })).items });
  return out;
}

/** One source's way through the pool: every count is an item count. */
export interface PoolSourceRow {
  source: string;
  loaded: number;
  /** Records the loader dropped or could not read (see `skipped`). */
  skipped: number;
  /** Open questions (no options): not trainable with a letter reward. */
  open: number;
  /** Same question, options and image as an earlier item of the pool. */
  duplicates: number;
  /** Question (with image) found in an evaluation set: excluded. */
  inEvaluation: number;
  /** Items whose image is also an evaluation image (excluded only with disjointImages). */
  sharedImage: number;
  kept: number;
  /** Kept items with a reasoning trace (for SFT). */
  sft: number;
}

export interface TrainingPool {
  name: PoolName;
  analogue: string;
  /** Closed items for RL and curation, in source order. */
  items: Item[];
  /** The items with a reasoning trace (a subset of `items`), for SFT. */
  sft: Item[];
  /** Names of the evaluation sets checked against. */
  evaluationSets: string[];
  sources: PoolSourceRow[];
  /** Excluded items and the evaluation set each was found in. */
  excluded: { source: string; dataset_name: string; dataset_index: number; evalSet: string; question: string }[];
  skipped: SkippedRecord[];
  warnings: string[];
}

export interface LoadedSource {
  source: string;
  items: Item[];
  skipped: SkippedRecord[];
  warnings: string[];
}

export interface PoolOptions {
  /** Also exclude items whose image appears in an evaluation set (VQA-RAD's train and test share 202 images). */
  disjointImages?: boolean;
}

const imageNames = (it: Item) => (it.images ?? []).map((im) => (im.path ? imageName(im.path) : "")).filter(Boolean);

/** The pool from loaded sources (pure: the loading is in loadTrainingPool). */
export function buildPool(spec: Pick<PoolSpec, "name" | "analogue">, sources: LoadedSource[], evalSets: NamedItems[], opts: PoolOptions = {}): TrainingPool {
  const evalByQuestion = new Map<string, string>();
  const evalImages = new Map<string, string>();
  for (const e of evalSets) {
    for (const it of e.items) {
      if (!evalByQuestion.has(questionKey(it))) evalByQuestion.set(questionKey(it), e.name);
      for (const n of imageNames(it)) if (!evalImages.has(n)) evalImages.set(n, e.name);
    }
  }
  const seen = new Set<string>();
  const items: Item[] = [];
  const rows: PoolSourceRow[] = [];
  const excluded: TrainingPool["excluded"] = [];
  const warnings: string[] = [];
  const skipped: SkippedRecord[] = [];
  for (const s of sources) {
    const row: PoolSourceRow = { source: s.source, loaded: s.items.length, skipped: s.skipped.length, open: 0, duplicates: 0, inEvaluation: 0, sharedImage: 0, kept: 0, sft: 0 };
    skipped.push(...s.skipped);
    warnings.push(...s.warnings.map((w) => `${s.source}: ${w}`));
    for (const it of s.items) {
      if (isOpen(it) || Object.keys(it.options).length < 2) {
        row.open++;
        continue;
      }
      const key = overlapKey(it);
      if (seen.has(key)) {
        row.duplicates++;
        continue;
      }
      const inEval = evalByQuestion.get(questionKey(it));
      if (inEval !== undefined) {
        row.inEvaluation++;
        excluded.push({ source: s.source, dataset_name: it.dataset_name, dataset_index: it.dataset_index, evalSet: inEval, question: it.question });
        continue;
      }
      const shared = imageNames(it).find((n) => evalImages.has(n));
      if (shared !== undefined) {
        row.sharedImage++;
        if (opts.disjointImages) {
          excluded.push({ source: s.source, dataset_name: it.dataset_name, dataset_index: it.dataset_index, evalSet: `${evalImages.get(shared)} (image ${shared})`, question: it.question });
          continue;
        }
      }
      seen.add(key);
      items.push(it);
      row.kept++;
      if (typeof it.reasoning === "string" && it.reasoning.trim() !== "") row.sft++;
    }
    if (row.duplicates) warnings.push(`${s.source}: ${row.duplicates} items repeat an earlier item of the pool (same question, options and image): dropped`);
    if (row.inEvaluation) warnings.push(`${s.source}: ${row.inEvaluation} items are in an evaluation set: excluded (see excluded)`);
    if (row.sharedImage) warnings.push(`${s.source}: ${row.sharedImage} items use an image that an evaluation set also uses (${opts.disjointImages ? "excluded: disjointImages" : "kept: the questions differ; disjointImages excludes them"})`);
    rows.push(row);
  }
  const sft = items.filter((it) => typeof it.reasoning === "string" && it.reasoning.trim() !== "");
  return { name: spec.name, analogue: spec.analogue, items, sft, evaluationSets: evalSets.map((e) => e.name), sources: rows, excluded, skipped, warnings };
}

/**
 * Load a pool: every source of POOLS[name], checked against the evaluation sets (loaded here
 * unless given, so that one load serves both pools).
 */
export async function loadTrainingPool(name: PoolName, opts: PoolOptions & { root?: string; evalSets?: NamedItems[] } = {}): Promise<TrainingPool> {
  const spec = POOLS[name];
  if (!spec) throw new ConfigError(`unknown training pool '${name}'; known: ${POOL_NAMES.join(", ")}`);
  const evalSets = opts.evalSets ?? (await loadEvaluationSets({ root: opts.root }));
  const sources: LoadedSource[] = [];
  for (const s of spec.sources) {
    const r = await loadDataset(s.dataset, { root: opts.root, split: s.split });
    // "pubmedqa:train" / "vqa-rad:train" name the half of a two-split file; a training-only file is its name.
    const label = s.split === "all" || (s.split === "train" && DATASETS[s.dataset].splits === "train") ? s.dataset : `${s.dataset}:${s.split}`;
    sources.push({ source: label, items: r.items, skipped: r.skipped, warnings: r.warnings });
  }
  return buildPool(spec, sources, evalSets, opts);
}

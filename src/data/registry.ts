/**
 * Dataset names -> loaders and default paths under the shared data folder (or `root`), and
 * `loadPath`, which sniffs the format of any file or folder (a user's full download included).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { dataRoot } from "../paths";
import { DataError, type Item } from "./item";
import { loadHeadQa } from "./headqa";
import { loadHuatuo } from "./huatuo";
import { imageBytes } from "./images";
import { readItemsJsonl } from "./jsonl";
import { loadMedAgentsJsonl } from "./medagents";
import { loadMedMcqaJsonl } from "./medmcqa";
import { loadMedXpertQaMm } from "./medxpertqa-mm";
import { readParquetItems } from "./parquet";
import { loadPubMedQaOriginal } from "./pubmedqa";
import { loadSlake } from "./slake";
import { Collector, parseJsonl, readJson, readText, type SkippedRecord } from "./source";
import { loadVqaRad } from "./vqarad";
import { ConfigError } from "../errors";

export type { SkippedRecord } from "./source";

export type DatasetName = "medqa" | "medmcqa" | "mmlu-med" | "medxpertqa-text" | "pubmedqa" | "pubmedqa-train" | "vqa-rad" | "slake" | "medxpertqa-mm" | "huatuo-o1" | "slake-train" | "slake-validate" | "headqa-train" | "headqa-dev";

export interface LoadOptions {
  root?: string;
  split?: "train" | "test" | "all";
  skipBad?: boolean;
  /** Read image bytes into ImageRef.bytes (otherwise only `path` is set and bytes are read on use). */
  decodeImages?: boolean;
}

export interface LoadResult {
  name: string;
  items: Item[];
  skipped: SkippedRecord[];
  warnings: string[];
}

type Split = "train" | "test" | "all";

/** Which loader reads a file, by its name and content (sniffFormat). */
export type SniffedFormat = "parquet" | "interchange-jsonl" | "medagents-jsonl" | "medmcqa-jsonl" | "medxpertqa-mm-jsonl" | "pubmedqa-ori" | "vqa-rad" | "slake" | "huatuo" | "headqa";

interface FormatRead {
  /** The split asked for ("all": every record of a file the loader splits by record). */
  split: Split;
  /** The split a whole-file format holds, from the file name (train, validation, test). */
  fileSplit: string;
  skipBad: boolean;
}

/** Format -> loader: the one place that says how each published format is read (named datasets and loadPath alike). */
const FORMATS: Record<Exclude<SniffedFormat, "parquet">, { name: (file: string) => string; load: (file: string, r: FormatRead) => Collector }> = {
  "interchange-jsonl": { name: stemOf, load: (f, r) => readItemsJsonl(f, { skipBad: r.skipBad }) },
  "medagents-jsonl": { name: medAgentsName, load: (f, r) => loadMedAgentsJsonl(f, { datasetName: medAgentsName(f), split: r.fileSplit, skipBad: r.skipBad }) },
  "medmcqa-jsonl": { name: () => "medmcqa", load: (f, r) => loadMedMcqaJsonl(f, { split: r.fileSplit, skipBad: r.skipBad }) },
  "medxpertqa-mm-jsonl": { name: () => "medxpertqa-mm", load: (f, r) => loadMedXpertQaMm(f, { skipBad: r.skipBad }) },
  "pubmedqa-ori": { name: () => "pubmedqa", load: (f, r) => loadPubMedQaOriginal(f, { split: r.split, skipBad: r.skipBad }) },
  "vqa-rad": { name: () => "vqa-rad", load: (f, r) => loadVqaRad(f, { split: r.split, skipBad: r.skipBad }) },
  slake: { name: () => "slake", load: (f, r) => loadSlake(f, { skipBad: r.skipBad }) },
  huatuo: { name: () => "huatuo-o1", load: (f, r) => loadHuatuo(f, { skipBad: r.skipBad }) },
  headqa: { name: () => "headqa", load: (f, r) => loadHeadQa(f, { skipBad: r.skipBad, split: r.fileSplit }) },
};

interface DatasetSpec {
  /** Path relative to the data root. */
  path: string;
  /** The split(s) the file holds; "by-record" when the loader splits it. */
  splits: "test" | "train" | "by-record";
  /** Its published format (FORMATS reads it). */
  format: Exclude<SniffedFormat, "parquet">;
}

export const DATASETS: Record<DatasetName, DatasetSpec> = {
  medqa: { path: "medqa/test.jsonl", splits: "test", format: "medagents-jsonl" },
  medmcqa: { path: "medmcqa/dev.jsonl", splits: "test", format: "medmcqa-jsonl" },
  "mmlu-med": { path: "mmlu-med/test.jsonl", splits: "test", format: "medagents-jsonl" },
  "medxpertqa-text": { path: "medxpertqa-text/test.jsonl", splits: "test", format: "medagents-jsonl" },
  pubmedqa: { path: "pubmedqa/ori_pqal.json", splits: "by-record", format: "pubmedqa-ori" },
  "pubmedqa-train": { path: "pubmedqa/train.jsonl", splits: "train", format: "medagents-jsonl" },
  "vqa-rad": { path: "vqa-rad/VQA_RAD Dataset Public.json", splits: "by-record", format: "vqa-rad" },
  slake: { path: "slake/test.json", splits: "test", format: "slake" },
  "medxpertqa-mm": { path: "medxpertqa-mm/medxpertqa_mm_input.jsonl", splits: "test", format: "medxpertqa-mm-jsonl" },
  "huatuo-o1": { path: "huatuo-o1-traces/demo_data.json", splits: "train", format: "huatuo" },
  // Training-only sources (issue 13's ablation pools). SLAKE validate and HEAD-QA dev are training
  // data here, so they answer `split: "train"`; their items keep misc.split "validation" (from the file name).
  "slake-train": { path: "slake/train.json", splits: "train", format: "slake" },
  "slake-validate": { path: "slake/validate.json", splits: "train", format: "slake" },
  "headqa-train": { path: "headqa/train_HEAD_EN.json", splits: "train", format: "headqa" },
  "headqa-dev": { path: "headqa/dev_HEAD_EN.json", splits: "train", format: "headqa" },
};

function stemOf(file: string): string {
  return basename(file).replace(/\.(jsonl|json|parquet)$/, "");
}

/** The split a whole-file format holds, from its file name. */
function splitOfFile(file: string): string {
  const stem = stemOf(file);
  return /train/.test(stem) ? "train" : /dev|val/.test(stem) ? "validation" : "test";
}

/** Read a file of a known format (not parquet). */
function readFormat(format: Exclude<SniffedFormat, "parquet">, file: string, split: Split, skipBad: boolean): { name: string; collector: Collector } {
  const f = FORMATS[format];
  return { name: f.name(file), collector: f.load(file, { split, fileSplit: splitOfFile(file), skipBad }) };
}

export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

export function isDatasetName(s: string): s is DatasetName {
  return s in DATASETS;
}

function finish(name: string, c: Collector, opts: LoadOptions, extraWarnings: string[] = []): LoadResult {
  if (opts.decodeImages) {
    for (const it of c.items) for (const im of it.images ?? []) if (!im.bytes) im.bytes = imageBytes(im, it);
  }
  const warnings = [...extraWarnings, ...c.warnings];
  if (c.skipped.length) warnings.push(`${c.skipped.length} records skipped (see skipped): ${c.skipped.slice(0, 10).map((s) => `${s.record} (${s.field})`).join(", ")}${c.skipped.length > 10 ? ", ..." : ""}`);
  return { name, items: c.items, skipped: c.skipped, warnings };
}

export async function loadDataset(name: DatasetName, opts: LoadOptions = {}): Promise<LoadResult> {
  const spec = DATASETS[name];
  if (!spec) throw new ConfigError(`unknown dataset '${name}'; known: ${DATASET_NAMES.join(", ")}`);
  const root = resolve(opts.root ?? dataRoot());
  const file = join(root, spec.path);
  if (!existsSync(file)) throw new DataError(file, "-", "(file)", `dataset '${name}' not found (root ${root})`);
  const split = opts.split ?? "all";
  if (spec.splits !== "by-record" && split !== "all" && split !== spec.splits) {
    return { name, items: [], skipped: [], warnings: [`${name}: the copy at ${file} holds only the ${spec.splits} split; '${split}' is empty`] };
  }
  return finish(name, readFormat(spec.format, file, split, !!opts.skipBad).collector, opts);
}

const FOLDER_FILES: [string, SniffedFormat][] = [
  ["VQA_RAD Dataset Public.json", "vqa-rad"],
  ["ori_pqal.json", "pubmedqa-ori"],
  ["demo_data.json", "huatuo"],
  ["test.json", "slake"],
];

/** Resolve a folder to the file inside it that a loader reads. */
function fileInFolder(dir: string): string {
  for (const [name] of FOLDER_FILES) if (existsSync(join(dir, name))) return join(dir, name);
  const data = readdirSync(dir).filter((f) => /\.(jsonl|parquet|json)$/.test(f)).sort();
  const pick = data.find((f) => f.startsWith("test")) ?? data[0];
  if (!pick) throw new DataError(dir, "-", "(folder)", "no .jsonl, .json or .parquet file to load");
  return join(dir, pick);
}

export function sniffFormat(file: string): SniffedFormat {
  if (file.endsWith(".parquet")) return "parquet";
  if (file.endsWith(".jsonl")) {
    const first = parseJsonl(file, readText(file)).find((l) => l.value && typeof l.value === "object");
    const r = (first?.value ?? {}) as Record<string, unknown>;
    if ("answer_label" in r) return "interchange-jsonl";
    if ("label" in r && Array.isArray(r.options)) return "medxpertqa-mm-jsonl";
    if ("label" in r) return "medmcqa-jsonl";
    if ("answer_idx" in r) return "medagents-jsonl";
    throw new DataError(file, first ? `line ${first.line}` : "-", "(record)", "unknown JSONL layout (expected interchange, MedAgentsBench, MedMCQA or MedXpertQA records)");
  }
  if (basename(file) === "VQA_RAD Dataset Public.json") return "vqa-rad";
  const v = readJson(file);
  if (v && typeof v === "object" && !Array.isArray(v) && "exams" in v) return "headqa";
  const first = Array.isArray(v) ? v[0] : v && typeof v === "object" ? Object.values(v as object)[0] : undefined;
  const r = (first ?? {}) as Record<string, unknown>;
  if ("QUESTION" in r && "CONTEXTS" in r) return "pubmedqa-ori";
  if ("phrase_type" in r) return "vqa-rad";
  if ("img_name" in r && "q_lang" in r) return "slake";
  if ("Complex_CoT" in r) return "huatuo";
  throw new DataError(file, "-", "(json)", "unknown JSON layout (expected VQA-RAD, SLAKE, PubMedQA ori_pqal, HuatuoGPT-o1 or HEAD-QA records)");
}

/** The MedAgentsBench file's benchmark, from its folder name. */
function medAgentsName(file: string): string {
  const dir = basename(dirname(file)).toLowerCase();
  if (dir === "mmlu" || dir === "mmlu-med") return "mmlu-med";
  if (dir.startsWith("medxpertqa")) return "MedXpertQA-Text";
  return dir || basename(file).replace(/\.jsonl$/, "");
}

/**
 * Parquet shards of a Hugging Face download folder: `*.parquet` in the folder or in its `data/`
 * subfolder (HF names them `test-00000-of-00002.parquet`, ...), in name order; [] when none.
 */
export function parquetShards(dir: string): string[] {
  for (const d of [dir, join(dir, "data")]) {
    if (!existsSync(d) || !statSync(d).isDirectory()) continue;
    const files = readdirSync(d).filter((f) => f.endsWith(".parquet")).sort();
    if (files.length) return files.map((f) => join(d, f));
  }
  return [];
}

/** Load any supported file or folder; the format is sniffed from the name and the content. */
export async function loadPath(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new DataError(abs, "-", "(file)", "no such file or folder");
  const isDir = statSync(abs).isDirectory();
  const shards = isDir ? parquetShards(abs) : [];
  if (shards.length) {
    // An HF dataset download: every shard, streamed one row group at a time.
    const c = new Collector(abs, !!opts.skipBad);
    for (const f of shards) for await (const chunk of readParquetItems(f, { skipBad: !!opts.skipBad, skipped: c.skipped })) c.items.push(...chunk);
    return finish(basename(abs), c, opts, shards.length > 1 ? [`read ${shards.length} parquet shards`] : []);
  }
  const file = isDir ? fileInFolder(abs) : abs;
  const split = opts.split ?? "all";
  const b = !!opts.skipBad;
  const fmt = sniffFormat(file);
  if (fmt === "parquet") {
    const c = new Collector(file, b);
    for await (const chunk of readParquetItems(file, { skipBad: b, skipped: c.skipped })) c.items.push(...chunk);
    return finish(stemOf(file), c, opts);
  }
  const r = readFormat(fmt, file, split, b);
  return finish(r.name, r.collector, opts);
}

/** A dataset name (optionally "name:split", e.g. "vqa-rad:test") or a path, as the CLI takes them. */
export async function loadAny(nameOrPath: string, opts: LoadOptions = {}): Promise<LoadResult> {
  if (existsSync(nameOrPath)) return loadPath(nameOrPath, opts);
  const m = /^([a-z0-9-]+):(train|test|all)$/.exec(nameOrPath);
  if (m && isDatasetName(m[1])) {
    const r = await loadDataset(m[1], { ...opts, split: m[2] as Split });
    return { ...r, name: nameOrPath };
  }
  return isDatasetName(nameOrPath) ? loadDataset(nameOrPath, opts) : loadPath(nameOrPath, opts);
}

/**
 * `medvlthinker data stats <path-or-name>... [--json]`
 * `medvlthinker data convert <in> --out <file.parquet|file.jsonl>`
 * `medvlthinker data overlap --train X --eval Y,Z [--json] [--kept-out FILE]`
 * Bad input throws DataError (file, record, field); the CLI prints it and exits 1.
 */
import { parseArgs } from "node:util";
import { writeItemsJsonl } from "../data/jsonl";
import { excludeOverlap, overlapReport } from "../data/overlap";
import { writeParquetItems } from "../data/parquet";
import { DATASET_NAMES, loadAny, type LoadOptions } from "../data/registry";
import { formatStats, sourceStats } from "../data/stats";
import { loadTrainingPool, POOL_NAMES, type PoolName } from "../data/pools";
import { ConfigError } from "../errors";

const USAGE = `usage:
  medvlthinker data stats <path-or-dataset>... [--json] [--split train|test|all] [--skip-bad]
  medvlthinker data convert <in> --out <file.parquet|file.jsonl> [--split ...] [--skip-bad] [--row-group-size N] [--no-embed-images]
  medvlthinker data overlap --train <path-or-dataset> --eval <a,b,...> [--json] [--kept-out <file>] [--by item|question]
  medvlthinker data pool text|image-text [--out <file.jsonl|file.parquet>] [--json] [--disjoint-images]

datasets: ${DATASET_NAMES.join(", ")}
Any file or folder in a supported format also works: interchange jsonl, HF parquet, MedAgentsBench /
MedMCQA / MedXpertQA-MM jsonl, PubMedQA ori_pqal.json, VQA-RAD json, SLAKE json, HuatuoGPT-o1 json.`;

function configError(msg: string): Error {
  return new ConfigError(msg);
}

function loadOpts(v: Record<string, unknown>): LoadOptions {
  const split = (v.split as string | undefined) ?? "all";
  if (!["train", "test", "all"].includes(split)) throw configError(`--split must be train, test or all; got '${split}'`);
  return { split: split as LoadOptions["split"], skipBad: !!v["skip-bad"] };
}

function reportLoad(name: string, r: { warnings: string[]; skipped: unknown[] }): void {
  for (const w of r.warnings) console.error(`warning: ${name}: ${w}`);
}

async function stats(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean" }, split: { type: "string" }, "skip-bad": { type: "boolean" } } });
  if (!positionals.length) throw configError(`data stats: give at least one path or dataset name\n\n${USAGE}`);
  const out = [];
  for (const p of positionals) {
    const r = await loadAny(p, loadOpts(values));
    reportLoad(p, r);
    // One block per source: a file may mix dataset_name values (a MedVLThinker-Eval parquet).
    const bySource = new Map<string, typeof r.items>();
    for (const it of r.items) {
      if (!bySource.has(it.dataset_name)) bySource.set(it.dataset_name, []);
      bySource.get(it.dataset_name)!.push(it);
    }
    if (!bySource.size) bySource.set(r.name, []);
    for (const [src, items] of bySource) out.push({ input: p, skipped: r.skipped.length, ...sourceStats(src, items) });
  }
  if (values.json) console.log(JSON.stringify(out, null, 2));
  else for (const s of out) console.log(`${formatStats(s)}${s.skipped ? `\n  skipped records: ${s.skipped}` : ""}`);
  return 0;
}

async function convert(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: "string" }, split: { type: "string" }, "skip-bad": { type: "boolean" }, "row-group-size": { type: "string" }, "no-embed-images": { type: "boolean" } },
  });
  if (positionals.length !== 1 || !values.out) throw configError(`data convert: give one input and --out FILE\n\n${USAGE}`);
  const r = await loadAny(positionals[0], loadOpts(values));
  reportLoad(positionals[0], r);
  const out = values.out;
  let n: number;
  if (out.endsWith(".parquet")) {
    const rg = values["row-group-size"] ? Number(values["row-group-size"]) : undefined;
    if (rg !== undefined && !(Number.isInteger(rg) && rg > 0)) throw configError(`--row-group-size must be a positive integer`);
    n = await writeParquetItems(out, r.items, { rowGroupSize: rg, embedImages: !values["no-embed-images"] });
  } else if (out.endsWith(".jsonl")) {
    n = writeItemsJsonl(out, r.items, { embedImages: false });
  } else throw configError(`--out must end in .parquet or .jsonl; got '${out}'`);
  console.log(`wrote ${n} items to ${out}${r.skipped.length ? ` (${r.skipped.length} bad records skipped)` : ""}`);
  return 0;
}

async function overlap(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { train: { type: "string" }, eval: { type: "string" }, json: { type: "boolean" }, "kept-out": { type: "string" }, by: { type: "string" }, split: { type: "string" }, "skip-bad": { type: "boolean" } } });
  if (!values.train || !values.eval) throw configError(`data overlap: give --train and --eval\n\n${USAGE}`);
  const by = (values.by ?? "item") as "item" | "question";
  if (by !== "item" && by !== "question") throw configError(`--by must be item or question`);
  const opts = loadOpts(values);
  const train = await loadAny(values.train, opts);
  reportLoad(values.train, train);
  const evalNames = values.eval.split(",").map((s) => s.trim()).filter(Boolean);
  const evals = [];
  for (const e of evalNames) {
    const r = await loadAny(e, opts);
    reportLoad(e, r);
    evals.push(r.items);
  }
  const rep = overlapReport(train.items, evals);
  rep.perEval.forEach((p, i) => (p.name = evalNames[i]));
  const { kept, excluded } = excludeOverlap(train.items, evals, { by });
  if (values["kept-out"]) {
    const f = values["kept-out"];
    if (f.endsWith(".parquet")) await writeParquetItems(f, kept);
    else writeItemsJsonl(f, kept);
  }
  if (values.json) {
    console.log(JSON.stringify({ train: values.train, trainItems: train.items.length, kept: kept.length, excluded: excluded.length, ...rep }, null, 2));
  } else {
    console.log(`train ${values.train}: ${train.items.length} items, ${rep.trainDuplicates} duplicates inside it`);
    for (const p of rep.perEval) console.log(`  vs ${p.name} (${p.size}): ${p.overlapping} overlapping items, ${p.questionOnly} more with the same question but other options`);
    for (const p of rep.pairs.slice(0, 20)) console.log(`    train ${p.train.dataset_name}#${p.train.dataset_index} = ${p.evalName} ${p.eval.dataset_name}#${p.eval.dataset_index}: ${p.question.slice(0, 80).replace(/\n/g, " ")}`);
    console.log(`exclude (by ${by}): ${excluded.length} training items; ${kept.length} kept${values["kept-out"] ? ` -> ${values["kept-out"]}` : ""}`);
  }
  return 0;
}

/** The ablation's training pools (src/data/pools.ts): the per-source counts, and the items to a file. */
async function pool(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: "string" }, json: { type: "boolean" }, "disjoint-images": { type: "boolean" } } });
  const name = positionals[0];
  if (positionals.length !== 1 || !(POOL_NAMES as string[]).includes(name)) throw configError(`data pool: give one pool name (${POOL_NAMES.join(", ")})\n\n${USAGE}`);
  if (values.out && !/\.(jsonl|parquet)$/.test(values.out)) throw configError(`--out must end in .parquet or .jsonl; got '${values.out}'`);
  const p = await loadTrainingPool(name as PoolName, { disjointImages: !!values["disjoint-images"] });
  for (const w of p.warnings) console.error(`warning: ${w}`);
  if (values.out) {
    if (values.out.endsWith(".parquet")) await writeParquetItems(values.out, p.items);
    else writeItemsJsonl(values.out, p.items);
  }
  if (values.json) {
    console.log(JSON.stringify({ pool: p.name, analogue: p.analogue, items: p.items.length, sft: p.sft.length, evaluationSets: p.evaluationSets, sources: p.sources, excluded: p.excluded, out: values.out ?? null }, null, 2));
  } else {
    console.log(`pool ${p.name} (the paper's ${p.analogue}): ${p.items.length} closed items, ${p.sft.length} with a reasoning trace; checked against ${p.evaluationSets.join(", ")}`);
    for (const r of p.sources) console.log(`  ${r.source}: ${r.loaded} loaded, ${r.skipped} dropped by the loader, ${r.open} open, ${r.duplicates} duplicates, ${r.inEvaluation} in an evaluation set, ${r.sharedImage} on an evaluation image -> ${r.kept} kept`);
    if (values.out) console.log(`wrote ${p.items.length} items to ${values.out}`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  if (sub === "stats") return stats(rest);
  if (sub === "convert") return convert(rest);
  if (sub === "overlap") return overlap(rest);
  if (sub === "pool") return pool(rest);
  console.error(`data: unknown subcommand '${sub}'\n\n${USAGE}`);
  return 2;
}

/**
 * One folder holding everything a verl GRPO job needs, submitted as the job's working directory
 * (or run by hand with `bash command.sh` on a node with verl):
 *
 *   data/train*.parquet        verl RL rows (verl-data.ts), data/val*.parquet when given
 *   reward/medvlthinker_reward.py   compute_score, equal to src/reward.ts
 *   command.sh                 python3 -m verl.trainer.main_ppo with every override, one per line
 *   job.json                   what `cluster submit` posts: entrypoint, env vars, metadata
 *   config.json                the resolved GRPO config the command was rendered from
 *   manifest.json              every file with its role, size and sha256; row, image and left-out counts
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { writeFileAtomic } from "../atomic";
import { ConfigError } from "../errors";
import type { Item } from "../data/item";
import { packagedFile } from "../paths";
import { checkGrpoConfigFiles, parseGrpoConfig, type GrpoConfig } from "../train/grpo-config";
import { loadGrpoItems, type GrpoDataReport } from "../train/grpo-data";
import { grpoOverrides, mainPpoEntrypoint, mainPpoScript, PAPER_RESOURCES, type Override, type VerlResources } from "./verl-command";
import { exportSftRows, PAPER_SFT_RESOURCES, sftEntrypoint, sftOverrides, type SftResources } from "./verl-sft";
import { parseSftConfig, type SftConfig } from "../train/config";
import { loadSftItems } from "../train/sft-data";
import { exportVerlRows, VERL_COMMITS, type ExportedFile, type LeftOut, type VerlTarget } from "./verl-data";

let rewardSource: string | null = null;

/**
 * The Python reward verl loads (src/cluster/verl_reward.py; an installed package ships it as
 * dist/cluster/verl_reward.py), read on first use so that loading this module needs no file.
 */
export function rewardPy(): string {
  if (rewardSource !== null) return rewardSource;
  const found = packagedFile("cluster/verl_reward.py", "the verl reward plug-in verl_reward.py");
  rewardSource = readFileSync(found, "utf8");
  return rewardSource;
}
export const REWARD_FILE = "reward/medvlthinker_reward.py";
export const MANIFEST_FILE = "manifest.json";
export const JOB_FILE = "job.json";
export const COMMAND_FILE = "command.sh";

/** What `cluster submit` sends (runtime_env.working_dir is added at upload). */
export interface JobSpec {
  entrypoint: string;
  runtime_env: { env_vars: Record<string, string> };
  /** Names of variables copied from the submitting shell at submit time (WANDB_API_KEY, HF_TOKEN): values are never written here. */
  pass_env?: string[];
  metadata: Record<string, string>;
  /** Set only for jobs whose entrypoint itself needs GPUs (vllm serve), never for verl. */
  entrypoint_num_gpus?: number;
}

export interface ManifestFile {
  path: string;
  role: string;
  bytes: number;
  sha256: string;
  rows?: number;
  images?: number;
}

export interface Manifest {
  kind: "verl-grpo" | "verl-sft";
  target: VerlTarget;
  verl_commit: string;
  data_source: string;
  entrypoint: string;
  files: ManifestFile[];
  counts: { items: number; rows: number; images: number; left_out: number; left_out_by_reason: Record<string, number>; val_rows: number; val_left_out: number };
  /** The hardware side of the command (model, GPUs, parallelism); the algorithm side is config.json. */
  resources: Record<string, unknown>;
  prompt_tokens: { counting: "exact" | "upper-bound"; max_prompt_length: number; longest_kept: number };
  left_out: LeftOut[];
  train_files: string[];
  val_files: string[];
  warnings: string[];
}

export interface GrpoBundleOptions {
  config: GrpoConfig;
  items: Item[];
  /** Held-out items for verl's validation (data.val_files); without them validation is off. */
  valItems?: Item[];
  target?: VerlTarget;
  resources?: Partial<VerlResources>;
  /** With both text and image rows, which file the pinned commit trains on (it cannot mix them); "larger": the one with more rows. */
  modality?: "text" | "image" | "larger";
  dataSource?: string;
  tokenizerFile?: string;
  /** Extra Hydra overrides (key=value), renamed for current verl like the rest. */
  extra?: Override[];
  /** Variables the job gets from the submitting shell (WANDB_API_KEY, HF_TOKEN...): only names are written. */
  passEnv?: string[];
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Ray's GCS package limit is 100-500 MiB depending on the version: warn above the smallest. */
const PACKAGE_WARN_BYTES = 100 * 1024 * 1024;

function sha256File(p: string): string {
  return createHash("sha256").update(readFileSync(p)).digest("hex");
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** A fresh export folder: refuses one that holds an export unless `overwrite`, which empties it. */
function prepareFolder(dir: string, overwrite?: boolean): void {
  if (existsSync(join(dir, MANIFEST_FILE)) && !overwrite) throw new ConfigError(`${dir} already holds an export (manifest.json); pass overwrite to replace it or choose another folder`);
  if (existsSync(dir) && overwrite) rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "data"), { recursive: true });
}

function writeJobAndConfig(dir: string, job: JobSpec, config: unknown): void {
  writeFileAtomic(join(dir, JOB_FILE), JSON.stringify(job, null, 2) + "\n");
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
}

/** Every file of the folder with its role, size and digest (and rows/images where `extra` gives them). */
function manifestFiles(dir: string, role: (rel: string) => string, extra: (rel: string) => Partial<ManifestFile> = () => ({})): ManifestFile[] {
  return listFiles(dir).map((p) => {
    const rel = relative(dir, p);
    return { path: rel, role: role(rel), bytes: statSync(p).size, sha256: sha256File(p), ...extra(rel) };
  });
}

/** The training files the command names: all of them for current verl, one modality for the pinned commit. */
function chooseTrainFiles(files: ExportedFile[], target: VerlTarget, modality?: "text" | "image" | "larger"): ExportedFile[] {
  if (!files.length) throw new ConfigError("no rows to export: every item was left out (see the left-out list) or none was given");
  if (target === "head" || files.length === 1) {
    if (modality && modality !== "larger" && !files.some((f) => f.modality === modality || f.modality === "mixed")) throw new ConfigError(`--modality ${modality}: the export has no ${modality} rows`);
    return files;
  }
  if (!modality) {
    const counts = files.map((f) => `${f.rows} ${f.modality}`).join(", ");
    throw new ConfigError(`the data has both text-only and image rows (${counts}); verl ${VERL_COMMITS.pinned.slice(0, 7)} cannot mix them in one run: choose --modality text or --modality image (or --verl head)`);
  }
  if (modality === "larger") return [[...files].sort((a, b) => b.rows - a.rows)[0]];
  return files.filter((f) => f.modality === modality);
}

/** Write the bundle into `dir` and return its manifest. */
export async function writeGrpoBundle(dir: string, o: GrpoBundleOptions): Promise<Manifest> {
  dir = resolve(dir);
  const target = o.target ?? "pinned";
  prepareFolder(dir, o.overwrite);
  const c = o.config;
  const resources: VerlResources = { ...PAPER_RESOURCES, ...o.resources };
  const dataSource = o.dataSource ?? "medvlthinker";
  const common = { target, dataSource, maxPromptLength: c.rollout.maxPromptTokens, tokenizerFile: o.tokenizerFile, realNewline: c.data.realNewline };
  const train = await exportVerlRows(o.items, join(dir, "data"), { ...common, stem: "train", split: "train", onProgress: o.onProgress });
  const val = o.valItems?.length ? await exportVerlRows(o.valItems, join(dir, "data"), { ...common, stem: "val", split: "test" }) : null;
  const trainFiles = chooseTrainFiles(train.files, target, o.modality).map((f) => `./data/${f.file}`);
  const valFiles = val ? chooseTrainFiles(val.files, target, o.modality).map((f) => `./data/${f.file}`) : trainFiles;
  if (!val) resources.testFreq = -1; // no held-out set: verl's validation would only re-score training prompts
  writeFileAtomic(join(dir, REWARD_FILE), rewardPy());
  const overrides = grpoOverrides(c, resources, { trainFiles, valFiles, rewardPath: `./${REWARD_FILE}` }, target, o.extra);
  const entrypoint = mainPpoEntrypoint(overrides);
  const header = [
    `MedVLThinker GRPO on verl ${VERL_COMMITS[target]} (${target === "pinned" ? "the paper's commit" : "current verl"}), written by medvlthinker cluster export.`,
    "Run it from this folder on a node with verl installed, or submit the folder: medvlthinker cluster submit DIR --address URL",
  ];
  writeFileAtomic(join(dir, COMMAND_FILE), mainPpoScript(overrides, header));
  const job: JobSpec = {
    entrypoint,
    // verl's own runtime_env.yaml sets this (NCCL memory behaviour); keep it.
    runtime_env: { env_vars: { TORCH_NCCL_AVOID_RECORD_STREAMS: "1", ...(target === "head" ? { CUDA_DEVICE_MAX_CONNECTIONS: "1" } : {}) } },
    ...(o.passEnv?.length ? { pass_env: o.passEnv } : {}),
    metadata: { tool: "medvlthinker-ts", kind: "verl-grpo", target, verl_commit: VERL_COMMITS[target], preset: c.preset, data_source: dataSource, experiment: resources.experiment },
  };
  writeJobAndConfig(dir, job, c);

  const byPath = new Map<string, ExportedFile>();
  for (const f of train.files) byPath.set(`data/${f.file}`, f);
  for (const f of val?.files ?? []) byPath.set(`data/${f.file}`, f);
  const roles: Record<string, string> = {
    [REWARD_FILE]: "verl custom_reward_function (compute_score), equal to src/reward.ts",
    [COMMAND_FILE]: "the verl command (python3 -m verl.trainer.main_ppo with every override)",
    [JOB_FILE]: "the Ray job cluster submit posts (entrypoint, env var names, metadata)",
    "config.json": "the resolved GRPO config the command was rendered from",
  };
  const inCommand = (rel: string) => trainFiles.includes(`./${rel}`) || valFiles.includes(`./${rel}`);
  const files = manifestFiles(
    dir,
    (rel) => {
      const f = byPath.get(rel);
      return f ? `verl RL parquet: ${f.modality} rows${rel.startsWith("data/val") ? " (validation)" : ""}${inCommand(rel) ? "" : " (not in this command)"}` : roles[rel] ?? "file";
    },
    (rel) => {
      const f = byPath.get(rel);
      return f ? { rows: f.rows, images: f.images } : {};
    },
  );
  const leftOutBy: Record<string, number> = {};
  for (const l of train.leftOut) leftOutBy[l.reason] = (leftOutBy[l.reason] ?? 0) + 1;
  const total = files.reduce((a, f) => a + f.bytes, 0);
  const warnings: string[] = [];
  if (total > PACKAGE_WARN_BYTES) warnings.push(`the folder is ${(total / 2 ** 20).toFixed(0)} MiB; Ray's package store may refuse more than 100 MiB: put the parquet on storage every node sees and pass its path with --set data.train_files=...`);
  if (train.counting === "upper-bound") warnings.push("prompt lengths are upper bounds (no Qwen tokenizer.json given): a few prompts near max_prompt_length may have been left out needlessly; pass --tokenizer for exact counts");
  const manifest: Manifest = {
    kind: "verl-grpo",
    target,
    verl_commit: VERL_COMMITS[target],
    data_source: dataSource,
    entrypoint,
    files,
    counts: {
      items: o.items.length,
      rows: train.files.reduce((a, f) => a + f.rows, 0),
      images: train.files.reduce((a, f) => a + f.images, 0),
      left_out: train.leftOut.length,
      left_out_by_reason: leftOutBy,
      val_rows: val ? val.files.reduce((a, f) => a + f.rows, 0) : 0,
      val_left_out: val ? val.leftOut.length : 0,
    },
    resources: { ...resources },
    prompt_tokens: { counting: train.counting, max_prompt_length: train.maxPromptLength, longest_kept: train.longestPrompt },
    left_out: train.leftOut,
    train_files: trainFiles,
    val_files: valFiles,
    warnings,
  };
  writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

export interface SftBundleOptions {
  config: SftConfig;
  items: Item[];
  resources?: Partial<SftResources>;
  tokenizerFile?: string;
  passEnv?: string[];
  overwrite?: boolean;
}

/** The SFT folder: data/sft.parquet (messages + images), command.sh (torchrun verl.trainer.sft_trainer), job.json, manifest.json. */
export async function writeSftBundle(dir: string, o: SftBundleOptions): Promise<Manifest> {
  dir = resolve(dir);
  prepareFolder(dir, o.overwrite);
  const r: SftResources = { ...PAPER_SFT_RESOURCES, ...o.resources };
  const data = await exportSftRows(o.items, join(dir, "data", "sft.parquet"), { maxLength: r.maxLength, realNewline: o.config.data.realNewline, tokenizerFile: o.tokenizerFile });
  if (!data.rows) throw new ConfigError("no rows to export: every item was left out (see the left-out list) or none was given");
  const overrides = sftOverrides(o.config, r, ["./data/sft.parquet"], data.rows);
  const entrypoint = sftEntrypoint(overrides, r);
  const script = ["#!/usr/bin/env bash", `# MedVLThinker SFT (the paper's TRL settings) on verl ${VERL_COMMITS.head}'s SFT trainer, written by medvlthinker cluster export sft.`, "set -euo pipefail", 'cd "$(dirname "$0")"', `${entrypoint} "$@"`, ""].join("\n");
  writeFileAtomic(join(dir, COMMAND_FILE), script);
  const job: JobSpec = {
    entrypoint,
    runtime_env: { env_vars: { TORCH_NCCL_AVOID_RECORD_STREAMS: "1" } },
    ...(o.passEnv?.length ? { pass_env: o.passEnv } : {}),
    metadata: { tool: "medvlthinker-ts", kind: "verl-sft", target: "head", verl_commit: VERL_COMMITS.head, preset: o.config.preset, experiment: r.experiment },
    // torchrun runs in the entrypoint itself, so its GPUs are reserved for it (unlike main_ppo's workers).
    entrypoint_num_gpus: r.nGpusPerNode,
  };
  writeJobAndConfig(dir, job, o.config);
  const roles: Record<string, string> = {
    "data/sft.parquet": "verl SFT parquet: messages (user prompt, assistant target) + images",
    [COMMAND_FILE]: "the verl SFT command (torchrun -m verl.trainer.sft_trainer)",
    [JOB_FILE]: "the Ray job cluster submit posts",
    "config.json": "the resolved SFT config the command was rendered from",
  };
  const files = manifestFiles(dir, (rel) => roles[rel] ?? "file", (rel) => (rel === "data/sft.parquet" ? { rows: data.rows, images: data.images } : {}));
  const by: Record<string, number> = {};
  for (const l of data.leftOut) by[l.reason] = (by[l.reason] ?? 0) + 1;
  const manifest: Manifest = {
    kind: "verl-sft",
    target: "head",
    verl_commit: VERL_COMMITS.head,
    data_source: "sft",
    entrypoint,
    files,
    counts: { items: o.items.length, rows: data.rows, images: data.images, left_out: data.leftOut.length, left_out_by_reason: by, val_rows: 0, val_left_out: 0 },
    resources: { ...r },
    prompt_tokens: { counting: data.counting, max_prompt_length: r.maxLength, longest_kept: 0 },
    left_out: data.leftOut,
    train_files: ["./data/sft.parquet"],
    val_files: [],
    warnings: data.counting === "upper-bound" ? ["sequence lengths are upper bounds (no Qwen tokenizer.json given); pass --tokenizer for exact counts"] : [],
  };
  writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** Load SFT items (traces, evaluation items excluded, as the embedded SFT does) and write the SFT folder. */
export async function exportSft(dir: string, o: Omit<SftBundleOptions, "items" | "config"> & { data: string[]; config?: Record<string, unknown>; dataRoot?: string; limit?: number | null }): Promise<Manifest> {
  const config = parseSftConfig({ preset: "published", ...o.config, data: { ...((o.config?.data as object) ?? {}), sources: o.data, ...(o.dataRoot ? { root: o.dataRoot } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) } }, "SFT config");
  const { items } = await loadSftItems(config.data);
  return writeSftBundle(dir, { ...o, config, items });
}

export function readManifest(dir: string): Manifest {
  const p = join(resolve(dir), MANIFEST_FILE);
  if (!existsSync(p)) throw new ConfigError(`${resolve(dir)} is not an export folder (no ${MANIFEST_FILE}); run medvlthinker cluster export first`);
  return JSON.parse(readFileSync(p, "utf8")) as Manifest;
}

export function readJobSpec(dir: string): JobSpec {
  const p = join(resolve(dir), JOB_FILE);
  if (!existsSync(p)) throw new ConfigError(`${resolve(dir)} has no ${JOB_FILE}; run medvlthinker cluster export first`);
  return JSON.parse(readFileSync(p, "utf8")) as JobSpec;
}

export interface ExportGrpoOptions extends Omit<GrpoBundleOptions, "items" | "valItems" | "config"> {
  /** Dataset names or files the project loads (a curated.parquet, an interchange jsonl...). */
  data: string[];
  /** Held-out data for verl's validation (evaluation benchmarks are allowed here). */
  val?: string[];
  /** The GRPO config fields (default: the published preset). */
  config?: Record<string, unknown>;
  dataRoot?: string;
  limit?: number | null;
}

/**
 * The whole export: load the training items (closed questions, every evaluation benchmark's items
 * removed, as training everywhere in the project), render the published GRPO config, write the
 * bundle. The notebook and `medvlthinker cluster export grpo` both call this.
 */
export async function exportGrpo(dir: string, o: ExportGrpoOptions): Promise<{ manifest: Manifest; data: GrpoDataReport }> {
  const config = parseGrpoConfig({ preset: "published", ...o.config, data: { ...((o.config?.data as object) ?? {}), sources: o.data, ...(o.dataRoot ? { root: o.dataRoot } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) } }, "GRPO config");
  checkGrpoConfigFiles(config);
  const { items, report } = await loadGrpoItems(config.data);
  let valItems: Item[] | undefined;
  if (o.val?.length) valItems = (await loadGrpoItems({ ...config.data, sources: o.val, excludeEval: [], limit: null })).items;
  const manifest = await writeGrpoBundle(dir, { ...o, config, items, valItems });
  return { manifest, data: report };
}

/**
 * SFT at scale on current verl's SFT trainer (`torchrun -m verl.trainer.sft_trainer`, scaleout.md
 * section 3), with the paper's TRL hyperparameters.
 *
 * Why verl and not TRL 0.15.2 as the paper ran it: the paper's run is MedVLThinker's own
 * train/sft/sft.py (a custom completion-only collator over pre-rendered text), not a documented
 * interface a folder can call; verl's SFT trainer is (parquet `messages` + `images`, Hydra keys),
 * trains Qwen2.5-VL with images, masks the loss to the assistant turn like the paper's collator,
 * writes the checkpoints the same merger and `cluster serve` read, and runs as a Ray job. verl at the
 * paper's commit cannot (its SFT trainer is text-only), so SFT targets current verl. Not
 * bit-identical to TRL: verl averages the loss over all tokens of the global batch, TRL over each
 * micro-batch's; the schedule, batch and optimizer settings are the paper's.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ParquetWriter } from "hyparquet-writer";
import { closeSync, openSync, renameSync } from "node:fs";
import { ConfigError } from "../errors";
import { DataError, type Item } from "../data/item";
import { fdWriter } from "../data/parquet";
import { imageDataUrl, sftTarget, toVerlMessages } from "../prompt";
import type { SftConfig } from "../train/config";
import { shellWord, type Override } from "./verl-command";
import { itemImageTokens, placeholderInText, promptCounter, QWEN_GENERATION, type LeftOut } from "./verl-data";

export interface SftRow {
  messages: { role: "user" | "assistant"; content: string }[];
  images: { image: string }[];
}

/** One SFT row: the RL prompt as the user turn, the paper's target as the assistant turn. */
export function sftRow(item: Item, o: { realNewline?: boolean } = {}): Omit<SftRow, "images"> {
  if (item.reasoning === null) throw new DataError(item.dataset_name, item.dataset_index, "reasoning", "an SFT item needs a reasoning trace");
  return { messages: [...toVerlMessages(item, o), { role: "assistant", content: sftTarget(item.reasoning, item.answer_label) }] };
}

const STR = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" } as const;
const SFT_SCHEMA = [
  { name: "root", num_children: 2 },
  { name: "messages", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 2 },
  { name: "role", ...STR },
  { name: "content", ...STR },
  { name: "images", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 1 },
  { name: "image", ...STR },
];

/**
 * Write SFT rows (current verl mixes text and image rows: `images: []` on text rows). Sequences
 * longer than `maxLength` (prompt, image tokens and target, counted as in verl-data) are left out
 * and reported, since verl's `truncation: error` would stop the job.
 */
export async function exportSftRows(items: Item[], path: string, o: { maxLength: number; realNewline?: boolean; tokenizerFile?: string }): Promise<{ rows: number; images: number; leftOut: LeftOut[]; counting: "exact" | "upper-bound" }> {
  mkdirSync(join(path, ".."), { recursive: true });
  const counter = promptCounter(o.tokenizerFile);
  const rows: SftRow[] = [];
  const leftOut: LeftOut[] = [];
  let images = 0;
  for (const it of items) {
    let urls: string[];
    let tokens: number[];
    try {
      tokens = await itemImageTokens(it);
      urls = [];
      for (let i = 0; i < (it.images?.length ?? 0); i++) urls.push(await imageDataUrl((it.images as NonNullable<Item["images"]>)[i], it, i));
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      leftOut.push({ dataset_name: it.dataset_name, dataset_index: it.dataset_index, reason: "bad image", detail: e.message });
      continue;
    }
    const r = sftRow(it, o);
    if (placeholderInText(r.messages[0].content, urls.length) || /<image>|<video>/.test(r.messages[1].content)) {
      leftOut.push({ dataset_name: it.dataset_name, dataset_index: it.dataset_index, reason: "placeholder in text", detail: "the question, an option or the trace contains <image> or <video>" });
      continue;
    }
    const n = counter.count(r.messages[0].content.replaceAll("<image>", "") + QWEN_GENERATION.replace("<|im_start|>assistant\n", "") + r.messages[1].content, tokens);
    if (n > o.maxLength) {
      leftOut.push({ dataset_name: it.dataset_name, dataset_index: it.dataset_index, reason: "too long", prompt_tokens: n });
      continue;
    }
    images += urls.length;
    rows.push({ ...r, images: urls.map((image) => ({ image })) });
  }
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  const writer = fdWriter(fd);
  const pw = new ParquetWriter({ writer, schema: SFT_SCHEMA as ConstructorParameters<typeof ParquetWriter>[0]["schema"] });
  for (let i = 0; i < rows.length; i += 256) {
    const b = rows.slice(i, i + 256);
    await pw.write({ columnData: [{ name: "messages", data: b.map((r) => r.messages) }, { name: "images", data: b.map((r) => r.images) }] as Parameters<ParquetWriter["write"]>[0]["columnData"], rowGroupSize: b.length });
    (writer as unknown as { flush: () => void }).flush();
  }
  await pw.finish();
  closeSync(fd);
  renameSync(tmp, path);
  return { rows: rows.length, images, leftOut, counting: counter.kind };
}

export interface SftResources {
  model: string;
  nGpusPerNode: number;
  /** data.max_length: the longest sequence (the paper's TRL block size was 32,768; verl's default 1024). */
  maxLength: number;
  logger: string[];
  project: string;
  experiment: string;
  checkpointDir?: string;
}

export const PAPER_SFT_RESOURCES: SftResources = {
  model: "Qwen/Qwen2.5-VL-3B-Instruct",
  nGpusPerNode: 8,
  maxLength: 8192,
  logger: ["console"],
  project: "med-vlrm",
  experiment: "sft-qwen2_5_vl_3b-m23k",
};

/** The paper's SFT settings as verl SFT trainer overrides (the mapping of scaleout.md section 3). */
export function sftOverrides(c: SftConfig, r: SftResources, trainFiles: string[], rows?: number): Override[] {
  if (c.train.schedule !== "cosine") throw new ConfigError("only the cosine schedule is rendered");
  const globalBatch = c.train.microBatch * c.train.gradAccum;
  const o: Override[] = [
    ["data.train_files", trainFiles.length === 1 ? trainFiles[0] : `[${trainFiles.join(",")}]`],
    ["data.messages_key", "messages"],
    ["data.train_batch_size", String(globalBatch)],
    ["data.max_length", String(r.maxLength)],
    ["data.truncation", "error"],
    ["model.path", r.model],
    ["optim.lr", String(c.train.lr)],
    ["optim.lr_warmup_steps_ratio", String(c.train.warmupRatio)],
    ["optim.lr_scheduler_type", "cosine"],
    ["optim.min_lr_ratio", String(c.train.minLrRatio)],
    ["optim.weight_decay", String(c.train.weightDecay)],
    ["optim.betas", `[${c.train.betas.join(",")}]`],
    ["optim.clip_grad", String(c.train.maxGradNorm)],
    ["trainer.total_epochs", String(c.train.epochs)],
    ["trainer.logger", `[${r.logger.join(",")}]`],
    ["trainer.project_name", r.project],
    ["trainer.experiment_name", r.experiment],
    ["trainer.test_freq", "-1"],
  ];
  // The paper saves every epoch (and reports epoch 3): verl counts in steps.
  if (rows !== undefined) o.push(["trainer.save_freq", String(Math.max(1, Math.floor(rows / globalBatch)))]);
  if (c.train.maxSteps !== null) o.push(["trainer.total_training_steps", String(c.train.maxSteps)]);
  if (r.checkpointDir) o.push(["trainer.default_local_dir", r.checkpointDir]);
  return o;
}

export function sftEntrypoint(o: Override[], r: SftResources): string {
  return ["torchrun", "--standalone", "--nnodes=1", `--nproc-per-node=${r.nGpusPerNode}`, "-m", "verl.trainer.sft_trainer", ...o.map(([k, v]) => shellWord(`${k}=${v}`))].join(" ");
}

/**
 * Items -> verl's RL parquet, row for row as MedVLThinker's data_process/train_dataset/
 * convert_verl_format.py writes it (scaleout.md section 1):
 *
 *   data_source  str                         (= data.reward_fn_key; groups validation metrics)
 *   prompt       [{role: "user", content: "<image>" * k + the official prompt}]
 *   images       [{image: "data:<mime>;base64,..."}]   image rows only
 *   ability      "medical_mcqa"
 *   reward_model {style: "rule", ground_truth: option text}
 *   extra_info   {split, index, question, options (JSON), answer_label, answer, dataset_name, dataset_index}
 *
 * Images as `{image: data URL}` structs: the one form both verl 54b2677 (the paper's commit,
 * through qwen-vl-utils fetch_image) and current verl accept without a Python step (raw bytes crash
 * the pinned commit unless HF `Image` metadata matches the arrow type exactly). The pinned commit
 * iterates `images` of every row and concatenating files needs equal columns, so text-only and
 * image rows go to separate files there; current verl takes one file with `images: []` on text rows.
 *
 * Prompts longer than data.max_prompt_length (image tokens included, as Qwen2.5-VL's processor
 * expands them) would stop the pinned job (`truncation='error'`), so they are left out and reported.
 */
import { closeSync, mkdirSync, openSync, renameSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import sharp from "sharp";
import { ParquetWriter } from "hyparquet-writer";
import { imageBytes } from "../data/images";
import { DataError, type Item } from "../data/item";
import { fdWriter, fileAsyncBuffer } from "../data/parquet";
import { parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { qwenImageTokens } from "../data/qwen-vl-image";
import { imageDataUrl, toVerlMessages, type PromptOptions } from "../prompt";

/** The verl commits the project renders for: the paper's pin and current verl. */
export type VerlTarget = "pinned" | "head";
export const VERL_COMMITS: Record<VerlTarget, string> = {
  pinned: "54b2677f72f6720f80480d72af7f47eee74b4dc2",
  head: "b178a3cd56f58b2d502255daba591e92833930a7",
};

export const ABILITY = "medical_mcqa";

export interface VerlRow {
  data_source: string;
  prompt: { role: "user"; content: string }[];
  /** Present on image rows (and, for current verl, `[]` on text rows of a mixed file). */
  images?: { image: string }[];
  ability: string;
  reward_model: { style: "rule"; ground_truth: string };
  extra_info: {
    split: string;
    index: number;
    question: string;
    options: string;
    answer_label: string;
    answer: string;
    dataset_name: string;
    dataset_index: number;
  };
}

/** One verl row (images not yet attached): pure, the function the tests check rows against. */
export function verlRow(item: Item, index: number, o: { dataSource: string; split?: string } & PromptOptions): VerlRow {
  return {
    data_source: o.dataSource,
    prompt: toVerlMessages(item, o),
    ability: ABILITY,
    // my_reward.py raises unless extra_info.answer == ground_truth: both are the option text.
    reward_model: { style: "rule", ground_truth: item.answer },
    extra_info: {
      split: o.split ?? "train",
      index,
      question: item.question,
      options: JSON.stringify(item.options),
      answer_label: item.answer_label,
      answer: item.answer,
      dataset_name: item.dataset_name,
      dataset_index: item.dataset_index,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Prompt length as Qwen2.5-VL counts it

/** Qwen2.5-VL's chat template around one user message (no system message: the template adds its default). */
export const QWEN_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
export const QWEN_GENERATION = "<|im_end|>\n<|im_start|>assistant\n";
/** Special tokens in QWEN_SYSTEM + QWEN_GENERATION (3 x im_start, 2 x im_end). */
const TEMPLATE_SPECIALS = 5;

export interface PromptCounter {
  /** "exact" with Qwen's tokenizer.json; "upper-bound" counts a UTF-8 byte as a token (byte-level BPE never yields more tokens than bytes). */
  kind: "exact" | "upper-bound";
  /** Prompt tokens of a text (placeholders removed) plus the given per-image token counts. */
  count(text: string, imageTokens: number[]): number;
}

/**
 * A counter of chat-templated prompt tokens. With Qwen2.5-VL's `tokenizer.json` the text is
 * tokenized exactly; without one (no hub access here) the count is an upper bound, so no row that
 * verl would reject is ever passed on, at the price of leaving out a few that would just fit.
 */
export function promptCounter(tokenizerFile?: string): PromptCounter {
  if (tokenizerFile) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(tokenizerFile, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new DataError(tokenizerFile, "-", "(tokenizer)", `cannot read a tokenizer.json: ${(e as Error).message}`);
    }
    const tok = new Tokenizer(json, {});
    return {
      kind: "exact",
      count: (text, images) => tok.encode(QWEN_SYSTEM + text + QWEN_GENERATION, { add_special_tokens: false }).ids.length + images.reduce((a, b) => a + b, 0),
    };
  }
  const overhead = Buffer.byteLength(QWEN_SYSTEM + QWEN_GENERATION, "utf8") - Buffer.byteLength("<|im_start|><|im_start|><|im_start|><|im_end|><|im_end|>", "utf8") + TEMPLATE_SPECIALS;
  return { kind: "upper-bound", count: (text, images) => overhead + Buffer.byteLength(text, "utf8") + images.reduce((a, b) => a + b, 0) };
}

/** True when the prompt has an <image>/<video> of its own after the k leading placeholders. */
export function placeholderInText(content: string, k: number): boolean {
  return /<image>|<video>/.test(content.slice("<image>".length * k));
}

/** Tokens each image of an item takes (from its header: width and height as PIL reads them, no EXIF rotation). */
export async function itemImageTokens(item: Item): Promise<number[]> {
  const out: number[] = [];
  for (const [i, ref] of (item.images ?? []).entries()) {
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
    try {
      meta = await sharp(imageBytes(ref, item)).metadata();
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(item.dataset_name, item.dataset_index, `images[${i}]`, `not a readable image: ${(e as Error).message}`);
    }
    if (!meta.width || !meta.height) throw new DataError(item.dataset_name, item.dataset_index, `images[${i}]`, "image has no size");
    try {
      out.push(qwenImageTokens(meta.height, meta.width));
    } catch (e) {
      throw new DataError(item.dataset_name, item.dataset_index, `images[${i}]`, (e as Error).message);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

const STR = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" } as const;

/** The parquet schema of verl rows, with or without the images column (pyarrow reads it as list<struct>). */
export function verlSchema(withImages: boolean): unknown[] {
  return [
    { name: "root", num_children: withImages ? 6 : 5 },
    { name: "data_source", ...STR },
    { name: "prompt", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
    { name: "element", repetition_type: "REQUIRED", num_children: 2 },
    { name: "role", ...STR },
    { name: "content", ...STR },
    ...(withImages
      ? [
          { name: "images", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
          { name: "list", repetition_type: "REPEATED", num_children: 1 },
          { name: "element", repetition_type: "REQUIRED", num_children: 1 },
          { name: "image", ...STR },
        ]
      : []),
    { name: "ability", ...STR },
    { name: "reward_model", repetition_type: "REQUIRED", num_children: 2 },
    { name: "style", ...STR },
    { name: "ground_truth", ...STR },
    { name: "extra_info", repetition_type: "REQUIRED", num_children: 8 },
    { name: "split", ...STR },
    { name: "index", type: "INT64", repetition_type: "REQUIRED" },
    { name: "question", ...STR },
    { name: "options", ...STR },
    { name: "answer_label", ...STR },
    { name: "answer", ...STR },
    { name: "dataset_name", ...STR },
    { name: "dataset_index", type: "INT64", repetition_type: "REQUIRED" },
  ];
}

/** Streams verl rows into a parquet file in row groups, atomically (temp file renamed at close). */
export class VerlParquetWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly writer: ReturnType<typeof fdWriter>;
  private readonly pw: ParquetWriter;
  private batch: VerlRow[] = [];
  rows = 0;

  constructor(readonly path: string, readonly withImages: boolean, private readonly rowGroupSize = 256) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
    this.writer = fdWriter(this.fd);
    this.pw = new ParquetWriter({ writer: this.writer, schema: verlSchema(withImages) as ConstructorParameters<typeof ParquetWriter>[0]["schema"] });
  }

  async add(row: VerlRow): Promise<void> {
    if (this.withImages && !row.images) throw new Error("an image file needs every row's images (use [] for none)");
    this.batch.push(row);
    this.rows++;
    if (this.batch.length >= this.rowGroupSize) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.batch.length) return;
    const b = this.batch;
    const col = (name: string, data: unknown[]) => ({ name, data });
    const columnData = [
      col("data_source", b.map((r) => r.data_source)),
      col("prompt", b.map((r) => r.prompt)),
      ...(this.withImages ? [col("images", b.map((r) => r.images ?? []))] : []),
      col("ability", b.map((r) => r.ability)),
      col("reward_model", b.map((r) => r.reward_model)),
      col("extra_info", b.map((r) => ({ ...r.extra_info, index: BigInt(r.extra_info.index), dataset_index: BigInt(r.extra_info.dataset_index) }))),
    ];
    await this.pw.write({ columnData: columnData as Parameters<ParquetWriter["write"]>[0]["columnData"], rowGroupSize: b.length });
    (this.writer as unknown as { flush: () => void }).flush();
    this.batch = [];
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await this.pw.finish();
    } catch (e) {
      this.abort();
      throw e;
    }
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    try {
      unlinkSync(this.tmp);
    } catch {
      /* already gone */
    }
  }
}

export interface LeftOut {
  dataset_name: string;
  dataset_index: number;
  /** "too long" (prompt tokens > max_prompt_length), "bad image" or "placeholder in text". */
  reason: string;
  prompt_tokens?: number;
  detail?: string;
}

export interface ExportedFile {
  /** Path relative to the export folder. */
  file: string;
  modality: "text" | "image" | "mixed";
  rows: number;
  images: number;
}

export interface VerlExportReport {
  target: VerlTarget;
  files: ExportedFile[];
  leftOut: LeftOut[];
  counting: PromptCounter["kind"];
  maxPromptLength: number;
  /** Longest prompt kept, in (counted) tokens. */
  longestPrompt: number;
}

export interface VerlExportOptions extends PromptOptions {
  target: VerlTarget;
  dataSource: string;
  /** data.max_prompt_length (MedVLThinker: 2048). */
  maxPromptLength: number;
  split?: string;
  /** Qwen2.5-VL's tokenizer.json for exact text counts (else an upper bound). */
  tokenizerFile?: string;
  /** File name stem inside `dir` (default "train"). */
  stem?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Write items as verl RL parquet into `dir`: `<stem>-text.parquet` and `<stem>-image.parquet` for
 * the pinned commit, one `<stem>.parquet` (text rows with `images: []`) for current verl. Rows over
 * max_prompt_length and items whose images cannot be read are left out and reported; `index`
 * counts the rows kept in each file.
 */
export async function exportVerlRows(items: Item[], dir: string, o: VerlExportOptions): Promise<VerlExportReport> {
  const stem = o.stem ?? "train";
  const counter = promptCounter(o.tokenizerFile);
  const anyImages = items.some((it) => (it.images?.length ?? 0) > 0);
  const writers = new Map<ExportedFile["modality"], { w: VerlParquetWriter; images: number }>();
  const writerFor = (m: ExportedFile["modality"]) => {
    let e = writers.get(m);
    if (!e) {
      const name = m === "mixed" ? `${stem}.parquet` : `${stem}-${m}.parquet`;
      e = { w: new VerlParquetWriter(`${dir}/${name}`, m !== "text"), images: 0 };
      writers.set(m, e);
    }
    return e;
  };
  const leftOut: LeftOut[] = [];
  let longest = 0;
  try {
    for (const [n, item] of items.entries()) {
      o.onProgress?.(n, items.length);
      const k = item.images?.length ?? 0;
      let imageTokens: number[];
      let urls: string[];
      try {
        imageTokens = await itemImageTokens(item);
        urls = [];
        for (let i = 0; i < k; i++) urls.push(await imageDataUrl((item.images as NonNullable<Item["images"]>)[i], item, i));
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        leftOut.push({ dataset_name: item.dataset_name, dataset_index: item.dataset_index, reason: "bad image", detail: e.message });
        continue;
      }
      const base = verlRow(item, 0, o);
      // verl splits the content on <image>/<video>: one in the question or an option would pair
      // text with a missing image (current verl asserts the counts match and stops the job).
      if (placeholderInText(base.prompt[0].content, k)) {
        leftOut.push({ dataset_name: item.dataset_name, dataset_index: item.dataset_index, reason: "placeholder in text", detail: "the question or an option contains <image> or <video>" });
        continue;
      }
      const tokens = counter.count(base.prompt[0].content.replaceAll("<image>", ""), imageTokens);
      if (tokens > o.maxPromptLength) {
        leftOut.push({ dataset_name: item.dataset_name, dataset_index: item.dataset_index, reason: "too long", prompt_tokens: tokens });
        continue;
      }
      longest = Math.max(longest, tokens);
      const modality = o.target === "head" && anyImages ? "mixed" : k > 0 ? "image" : "text";
      const e = writerFor(modality);
      const row: VerlRow = { ...base, extra_info: { ...base.extra_info, index: e.w.rows } };
      if (modality !== "text") row.images = urls.map((image) => ({ image }));
      e.images += k;
      await e.w.add(row);
    }
    o.onProgress?.(items.length, items.length);
    for (const e of writers.values()) await e.w.close();
  } catch (err) {
    for (const e of writers.values()) e.w.abort();
    throw err;
  }
  const files: ExportedFile[] = [...writers.entries()].map(([modality, e]) => ({ file: e.w.path.slice(dir.length + 1), modality, rows: e.w.rows, images: e.images }));
  return { target: o.target, files, leftOut, counting: counter.kind, maxPromptLength: o.maxPromptLength, longestPrompt: longest };
}

/** Read verl rows back (the project's parquet reader: hyparquet over a file handle); bigints become numbers. */
export async function readVerlRows(path: string): Promise<VerlRow[]> {
  const fd = openSync(path, "r");
  try {
    const file = fileAsyncBuffer(fd);
    const metadata = await parquetMetadataAsync(file);
    const rows = (await parquetReadObjects({ file, metadata })) as Record<string, unknown>[];
    return JSON.parse(JSON.stringify(rows, (_, x) => (typeof x === "bigint" ? Number(x) : x))) as VerlRow[];
  } finally {
    closeSync(fd);
  }
}

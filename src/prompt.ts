/**
 * The official MedVLThinker prompt (training, pass-rate estimation and evaluation share it), the
 * chat messages built from it, and the SFT target. Upstream: eval/run_offline_inference_v2.py,
 * eval/run_api_inference.py, data_process/train_dataset/convert_verl_format.py, convert_trl_format.py.
 */
import { readFile } from "node:fs/promises";
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { DataError, type ImageRef, type Item } from "./data/item";
import { pyStrip } from "./pystr";

export interface PromptOptions {
  /**
   * Upstream writes the instruction as a Python raw string, so its "\n" is a literal backslash
   * followed by "n" (the default here, byte for byte). `true` puts a real newline there instead.
   */
  realNewline?: boolean;
  /** Replace the instruction entirely (upstream `--instruction_prompt`). */
  instruction?: string;
}

/** The instruction exactly as upstream sends it: note the two characters `\` `n` in the middle. */
export const INSTRUCTION =
  "You will solve a problem/request. You should provide your thoughts within <think> </think> tags before providing the answer.\\nWrite your final answer within <answer> </answer> tags.";

/** The same instruction with a real newline (a named variant, not the published prompt). */
export const INSTRUCTION_REAL_NEWLINE = INSTRUCTION.replace("\\n", "\n");

/** `INSTRUCTION + "\n\nQuestion: {q}\n\nOptions:" + "\n\n{L}. {text}"` per option, in letter order. */
export function buildPrompt(item: Pick<Item, "question" | "options">, opts: PromptOptions = {}): string {
  const instruction = opts.instruction ?? (opts.realNewline ? INSTRUCTION_REAL_NEWLINE : INSTRUCTION);
  let body = `Question: ${item.question}\n\nOptions:`;
  for (const [letter, text] of Object.entries(item.options)) body += `\n\n${letter}. ${text}`;
  return `${instruction}\n\n${body}`;
}

/** verl RL rows: one user message, one `<image>` placeholder per image (no separator) before the prompt. */
export function toVerlMessages(item: Pick<Item, "question" | "options" | "images">, opts: PromptOptions = {}): { role: "user"; content: string }[] {
  const k = item.images?.length ?? 0;
  return [{ role: "user", content: "<image>".repeat(k) + buildPrompt(item, opts) }];
}

export interface OpenAIMessageOptions extends PromptOptions {
  /** Turn an image into the URL sent to the server; default: a base64 data URL of its bytes. */
  imageUrl?: (ref: ImageRef) => Promise<string>;
  /** Send no images (upstream `--ignore_image`). */
  ignoreImages?: boolean;
}

/**
 * One user message for an OpenAI-compatible server: image parts first, then the prompt text, as
 * upstream eval/run_api_inference.py. No system message (the chat template adds its default).
 * Upstream re-encodes images as PNG; the default here sends the stored bytes unchanged.
 */
export async function toOpenAIMessages(item: Item, opts: OpenAIMessageOptions = {}): Promise<ChatCompletionMessageParam[]> {
  const content: ChatCompletionContentPart[] = [];
  const images = opts.ignoreImages ? [] : item.images ?? [];
  for (let i = 0; i < images.length; i++) {
    const url = opts.imageUrl ? await opts.imageUrl(images[i]) : await imageDataUrl(images[i], item, i);
    content.push({ type: "image_url", image_url: { url } });
  }
  content.push({ type: "text", text: buildPrompt(item, opts) });
  return [{ role: "user", content }];
}

/** The SFT target, as upstream convert_trl_format.py: both parts stripped, spaces inside the tags. */
export function sftTarget(reasoning: string, letter: string): string {
  return `<think> ${pyStrip(reasoning)} </think>\n<answer> ${pyStrip(letter)} </answer>`;
}

/** Image MIME type from magic bytes; null when unknown. */
export function sniffImageMime(b: Uint8Array): string | null {
  const at = (i: number, ...xs: number[]) => xs.every((x, j) => b[i + j] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (at(0, 0xff, 0xd8, 0xff)) return "image/jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "image/gif";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "image/webp";
  if (at(0, 0x42, 0x4d)) return "image/bmp";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "image/tiff";
  return null;
}

/** A base64 data URL of an image's bytes (from `bytes`, else read from `path`). */
export async function imageDataUrl(ref: ImageRef, item?: Pick<Item, "dataset_name" | "dataset_index">, index = 0): Promise<string> {
  const where = item ? item.dataset_name : "(item)";
  const record = item ? item.dataset_index : "?";
  let bytes = ref.bytes;
  if (!bytes || bytes.length === 0) {
    if (!ref.path) throw new DataError(where, record, `images[${index}]`, "has neither bytes nor a path");
    try {
      bytes = await readFile(ref.path);
    } catch (e) {
      throw new DataError(where, record, `images[${index}]`, `cannot read ${ref.path}: ${(e as Error).message}`);
    }
  }
  const mime = sniffImageMime(bytes);
  if (!mime) throw new DataError(where, record, `images[${index}]`, "bytes are not a PNG, JPEG, GIF, WebP, BMP or TIFF image");
  return `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}`;
}

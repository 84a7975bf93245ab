/**
 * The MedVLThinker interchange row: one multiple-choice question, with or without images.
 * Same fields as the released Hugging Face sets (UCSC-VLAA/MedVLThinker-Eval, -m23k-tokenized,
 * -pmc_vqa); in memory `options` is an object, on disk (parquet / HF) it is a JSON string.
 *
 * Open questions (VQA-RAD / SLAKE "OPEN": a free-text answer, no options) are kept so that
 * nothing is dropped silently, in one marked shape: `misc.answer_type === "open"`,
 * `options` = {} and `answer_label` = "" and `answer` = the reference text. The schema accepts
 * that shape only with the mark; every other item must be a valid multiple-choice item.
 * Evaluation and training select closed items with `isOpen` / `closedOnly`.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** An image as the HF `Image` feature stores it: encoded bytes and/or a path. */
export interface ImageRef {
  bytes: Uint8Array | null;
  path: string | null;
}

export interface Item {
  images: ImageRef[] | null;
  question: string;
  /** Letter -> option text, letters A, B, C, ... in order. */
  options: Record<string, string>;
  answer_label: string;
  answer: string;
  reasoning: string | null;
  dataset_name: string;
  dataset_index: number;
  /** sha256(question + answer)[:16], as upstream. */
  hash?: string;
  /** Free-form extras (split, answer_type "closed"/"open", modality, organ, source id...). */
  misc?: Record<string, unknown>;
}

/** Error for bad input: always names the file, the record (line / row / key) and the field. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly record: string | number,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${file}: record ${record}: field '${field}': ${detail}`);
    this.name = "DataError";
  }
}

const imageRefSchema = z.object({
  bytes: z.instanceof(Uint8Array).nullable(),
  path: z.string().nullable(),
});

export const itemSchema = z
  .object({
    images: z.array(imageRefSchema).nullable(),
    question: z.string().min(1),
    options: z.record(z.string().regex(/^[A-Z]$/), z.string()),
    answer_label: z.string().regex(/^[A-Z]?$/),
    answer: z.string(),
    reasoning: z.string().nullable(),
    dataset_name: z.string().min(1),
    dataset_index: z.number().int(),
    hash: z.string().optional(),
    misc: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((it, ctx) => {
    const letters = Object.keys(it.options);
    if (it.misc?.answer_type === "open") {
      if (letters.length > 0 || it.answer_label !== "") ctx.addIssue({ code: "custom", path: ["options"], message: "an open question has no options and an empty answer_label" });
      if (it.answer.trim() === "") ctx.addIssue({ code: "custom", path: ["answer"], message: "an open question needs a reference answer" });
      return;
    }
    if (it.answer_label === "") {
      ctx.addIssue({ code: "custom", path: ["answer_label"], message: "empty answer_label (only open questions, misc.answer_type 'open', may have none)" });
      return;
    }
    if (letters.length < 2) ctx.addIssue({ code: "custom", path: ["options"], message: `needs at least 2 options, got ${letters.length}` });
    letters.forEach((l, i) => {
      if (l !== String.fromCharCode(65 + i)) ctx.addIssue({ code: "custom", path: ["options"], message: `letters must run A, B, C... in order; got ${letters.join(",")}` });
    });
    if (!(it.answer_label in it.options)) {
      ctx.addIssue({ code: "custom", path: ["answer_label"], message: `'${it.answer_label}' is not among the options ${letters.join(",")}` });
    } else if (it.options[it.answer_label] !== it.answer) {
      ctx.addIssue({ code: "custom", path: ["answer"], message: `'${it.answer}' differs from option ${it.answer_label} '${it.options[it.answer_label]}'` });
    }
  });

/** Validate one item; throws DataError naming file, record and the first failing field. */
export function validateItem(value: unknown, file: string, record: string | number): Item {
  const r = itemSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new DataError(file, record, issue.path.join(".") || "(item)", issue.message);
  }
  return r.data as Item;
}

/** True for an open question (free-text answer, no options); see the note at the top. */
export function isOpen(item: Pick<Item, "misc">): boolean {
  return item.misc?.answer_type === "open";
}

/** The multiple-choice items only (drops open questions). */
export function closedOnly<T extends Pick<Item, "misc">>(items: T[]): T[] {
  return items.filter((it) => !isOpen(it));
}

/** Option letters for n options: A, B, ... (up to Z). */
export function letters(n: number): string[] {
  if (n < 1 || n > 26) throw new RangeError(`option count must be 1..26, got ${n}`);
  return Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
}

/** Upstream's item hash, sha256(question + answer)[:16]; an item's own `hash` when it carries one. */
export function itemHash(item: { question: string; answer: string; hash?: string | null }): string {
  return item.hash ?? createHash("sha256").update(`${item.question}${item.answer}`).digest("hex").slice(0, 16);
}

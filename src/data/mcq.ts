/**
 * Building one multiple-choice Item from the pieces every text benchmark has, with the checks
 * they all need: letters A.. in order, the answer among the options, the "Answer Choices" tail
 * removed from the question (the model sees the options once, from the prompt).
 */
import { DataError, letters, type Item } from "./item";
import { itemHash } from "./item";

/** Remove the "\nAnswer Choices: (A) ..." tail that MedMCQA / MedXpertQA put inside the question. */
export function stripAnswerChoices(question: string): string {
  const i = question.indexOf("\nAnswer Choices:");
  return (i >= 0 ? question.slice(0, i) : question).trim();
}

export interface McqParts {
  question: string;
  /** Option texts in letter order (A, B, ...). */
  options: string[];
  answerLabel: string;
  /** The keyed answer text, when the source has one: must equal the option text (after trimming). */
  answerText?: string;
  reasoning?: string | null;
  images?: Item["images"];
  datasetName: string;
  datasetIndex: number;
  misc: Record<string, unknown>;
}

export function buildMcq(p: McqParts, file: string, record: string | number): Item {
  const opts = p.options.map((o) => o.trim());
  if (opts.length < 2) throw new DataError(file, record, "options", `needs at least 2 options, got ${opts.length}`);
  if (opts.length > 26) throw new DataError(file, record, "options", `too many options (${opts.length})`);
  const ls = letters(opts.length);
  opts.forEach((o, i) => {
    if (o === "") throw new DataError(file, record, `options.${ls[i]}`, "empty option text");
  });
  const label = p.answerLabel.trim().toUpperCase();
  const idx = ls.indexOf(label);
  if (idx < 0) throw new DataError(file, record, "answer_label", `'${p.answerLabel}' is not among the options ${ls.join(",")}`);
  const answer = opts[idx];
  if (p.answerText !== undefined && p.answerText.trim() !== answer) {
    throw new DataError(file, record, "answer", `'${p.answerText}' differs from option ${label} '${answer}'`);
  }
  const question = stripAnswerChoices(p.question);
  if (question === "") throw new DataError(file, record, "question", "empty question");
  return {
    images: p.images ?? null,
    question,
    options: Object.fromEntries(ls.map((l, i) => [l, opts[i]])),
    answer_label: label,
    answer,
    reasoning: p.reasoning ?? null,
    dataset_name: p.datasetName,
    dataset_index: p.datasetIndex,
    hash: itemHash({ question, answer }),
    misc: p.misc,
  };
}

/** Options given as a {letter: text} object: checked to run A, B, C... in order. */
export function optionsFromObject(value: unknown, file: string, record: string | number): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DataError(file, record, "options", "expected an object {A: text, ...}");
  const entries = Object.entries(value as Record<string, unknown>);
  const ls = letters(Math.max(1, Math.min(26, entries.length)));
  return entries.map(([k, v], i) => {
    if (k.trim().toUpperCase() !== ls[i]) throw new DataError(file, record, "options", `letters must run A, B, C... in order; got ${entries.map((e) => e[0]).join(",")}`);
    if (typeof v !== "string" && typeof v !== "number") throw new DataError(file, record, `options.${k}`, `expected text, got ${v === null ? "null" : typeof v}`);
    return String(v);
  });
}

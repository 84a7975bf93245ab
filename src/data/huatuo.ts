/**
 * HuatuoGPT-o1 SFT records (data/demo_data.json; the same fields as HF
 * FreedomIntelligence/medical-o1-reasoning-SFT plus the source MCQ): `question, options,
 * answer_idx, answer` (the source multiple-choice item), `Open-ended Verifiable Question`,
 * `Ground-True Answer`, `Complex_CoT` (the trace: goes to `reasoning`) and `Response`.
 *
 * Disagreements are reported, never used silently:
 * - multi-select / letter-coded items (every option is a code such as "ae", "bd", or the options are
 *   bare letters) are skipped with a reason: their keyed answer is not a single option;
 * - items whose `answer` differs from `Ground-True Answer` (beyond case and punctuation) are kept,
 *   marked misc.answer_check = "differs", and listed in the warnings.
 */
import { DataError } from "./item";
import { buildMcq, optionsFromObject } from "./mcq";
import { asRecord, Collector, readJson, str } from "./source";

const loose = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();

export function isLetterCoded(options: string[]): boolean {
  return options.every((o) => /^[a-e]{1,5}$/i.test(o.trim()));
}

export function loadHuatuo(file: string, opts: { skipBad?: boolean; split?: string }): Collector {
  // Letter-coded items are always reported as skipped: they are not usable single-answer MCQs.
  const c = new Collector(file, !!opts.skipBad);
  const data = readJson(file);
  if (!Array.isArray(data)) throw new DataError(file, "-", "(json)", "expected a list of records");
  const differs: number[] = [];
  const letterCoded: number[] = [];
  data.forEach((value, position) => {
    const record = `#${position}`;
    let options: string[] = [];
    try {
      options = optionsFromObject(asRecord(value, file, record).options, file, record);
    } catch {
      /* reported by the builder below */
    }
    if (options.length && isLetterCoded(options)) {
      letterCoded.push(position);
      c.skipped.push({ file, record, field: "options", reason: `multi-select / letter-coded options (${options.join(", ")}): the key is not one option; Ground-True Answer: '${String((value as Record<string, unknown>)["Ground-True Answer"] ?? "")}'` });
      return;
    }
    c.add(record, () => {
      const r = asRecord(value, file, record);
      const gt = str(r, "Ground-True Answer", file, record);
      const item = buildMcq(
        {
          question: str(r, "question", file, record),
          options: optionsFromObject(r.options, file, record),
          answerLabel: str(r, "answer_idx", file, record),
          answerText: str(r, "answer", file, record),
          reasoning: str(r, "Complex_CoT", file, record),
          datasetName: "HuatuoGPT-o1",
          datasetIndex: position,
          misc: {
            split: opts.split ?? "train",
            source_id: position,
            open_question: str(r, "Open-ended Verifiable Question", file, record),
            ground_truth_answer: gt,
            response: str(r, "Response", file, record),
            answer_check: "agrees",
          },
        },
        file,
        record,
      );
      if (loose(gt) !== loose(item.answer)) {
        item.misc!.answer_check = "differs";
        differs.push(position);
      }
      return item;
    });
  });
  if (letterCoded.length) c.warnings.push(`${file}: ${letterCoded.length} multi-select / letter-coded items skipped (records ${letterCoded.map((p) => `#${p}`).join(", ")})`);
  if (differs.length) c.warnings.push(`${file}: ${differs.length} items whose answer differs from Ground-True Answer (kept, misc.answer_check 'differs'): ${differs.map((p) => `#${p}`).join(", ")}`);
  return c;
}

/**
 * MedMCQA validation JSONL as MedXpertQA's eval ships it: `id, question, label [letter],
 * label_rationale, subject_name, topic_name`. There is no options field: the options sit in the
 * question after "\nAnswer Choices: (A) ... (B) ... (C) ... (D) ...".
 */
import { DataError, letters } from "./item";
import { buildMcq, stripAnswerChoices } from "./mcq";
import { asRecord, collectJsonl, Collector, singleLabel, str } from "./source";

const TAIL = "\nAnswer Choices:";

/**
 * Options from the "Answer Choices" tail. Markers are searched in order, each after the previous
 * one, so an option that itself mentions "(A)" or "(C)" (MedMCQA's "Both (A) & (C)") stays whole:
 * the real "(C) " marker comes first, and the later "(C)" inside option D is never reached.
 * The number of options is the longest run of markers (A), (B), ... found this way.
 */
export function parseAnswerChoices(question: string, file = "(text)", record: string | number = "-"): string[] {
  const at = question.indexOf(TAIL);
  if (at < 0) throw new DataError(file, record, "question", "no 'Answer Choices:' tail to read the options from");
  const tail = question.slice(at + TAIL.length);
  const starts: { letter: string; at: number; body: number }[] = [];
  let from = 0;
  for (const l of letters(26)) {
    const marker = `(${l}) `;
    const i = l === "A" ? tail.indexOf(marker, from) : tail.indexOf(` ${marker}`, from);
    if (i < 0) break;
    const markerAt = l === "A" ? i : i + 1;
    starts.push({ letter: l, at: markerAt, body: markerAt + marker.length });
    from = markerAt + marker.length;
  }
  if (starts.length < 2) throw new DataError(file, record, "question", `found ${starts.length} option markers in the 'Answer Choices' tail`);
  // A later marker only counts if the text after the previous marker is not empty.
  return starts.map((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1].at : tail.length;
    const text = tail.slice(s.body, end).trim();
    if (text === "") throw new DataError(file, record, `options.${s.letter}`, "empty option text in the 'Answer Choices' tail");
    return text;
  });
}

export function loadMedMcqaJsonl(file: string, opts: { split: string; skipBad?: boolean; datasetName?: string }): Collector {
  return collectJsonl(new Collector(file, !!opts.skipBad), file, (value, record, position) => {
    const r = asRecord(value, file, record);
    const q = str(r, "question", file, record);
    const label = singleLabel(r, file, record);
    const options = parseAnswerChoices(q, file, record);
    return buildMcq(
      {
        question: stripAnswerChoices(q),
        options,
        answerLabel: label,
        datasetName: opts.datasetName ?? "medmcqa",
        datasetIndex: position,
        misc: {
          split: opts.split,
          source_id: r.id ?? null,
          subject_name: r.subject_name ?? null,
          topic_name: r.topic_name ?? null,
          label_rationale: r.label_rationale ?? null,
        },
      },
      file,
      record,
    );
  });
}

/**
 * MedAgentsBench JSONL (medqa, mmlu-med, medxpertqa-text, pubmedqa test/train): one object a line,
 * `realidx, question, options {A..}, answer_idx, answer` plus per-benchmark extras kept in misc.
 */
import { DataError } from "./item";
import { buildMcq, optionsFromObject } from "./mcq";
import { asRecord, collectJsonl, Collector, str } from "./source";

const CORE = new Set(["realidx", "question", "options", "answer_idx", "answer"]);
/** Fields that must never reach a prompt (PubMedQA's long answer gives the label away). */
const LEAKY = new Set(["answer_rationale"]);

export interface MedAgentsOptions {
  datasetName: string;
  split: string;
  skipBad?: boolean;
}

export function loadMedAgentsJsonl(file: string, opts: MedAgentsOptions): Collector {
  return collectJsonl(new Collector(file, !!opts.skipBad), file, (value, record, position) => {
    const r = asRecord(value, file, record);
    if (!("options" in r)) throw new DataError(file, record, "options", "missing");
    const misc: Record<string, unknown> = { split: opts.split, source_id: r.realidx === undefined ? null : String(r.realidx) };
    for (const [k, v] of Object.entries(r)) if (!CORE.has(k) && !LEAKY.has(k) && k !== "metamap_phrases") misc[k] = v;
    if (typeof r.answer_rationale === "string") misc.answer_rationale = r.answer_rationale; // kept for reference, never prompted
    return buildMcq(
      {
        question: str(r, "question", file, record),
        options: optionsFromObject(r.options, file, record),
        answerLabel: str(r, "answer_idx", file, record),
        answerText: str(r, "answer", file, record),
        datasetName: opts.datasetName,
        datasetIndex: position,
        misc,
      },
      file,
      record,
    );
  });
}

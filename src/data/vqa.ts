/**
 * Shared shape of the two VQA loaders: one image, a question, a free answer and CLOSED / OPEN.
 * Closed questions get options by the rule in closed-options.ts; open ones keep their free answer
 * in the open-item shape of item.ts. A closed question no rule can give options for is kept as
 * open (misc.source_answer_type "CLOSED") and reported in the warnings.
 */
import { DataError, type Item } from "./item";
import { closedOptions } from "./closed-options";
import { buildMcq } from "./mcq";
import { itemHash } from "./item";

export interface VqaParts {
  question: string;
  answer: string;
  answerType: string;
  imagePath: string;
  datasetName: string;
  datasetIndex: number;
  misc: Record<string, unknown>;
}

export function buildVqaItem(p: VqaParts, file: string, record: string | number, unparsed: string[]): Item {
  const type = p.answerType.trim().toUpperCase();
  if (type !== "CLOSED" && type !== "OPEN") throw new DataError(file, record, "answer_type", `expected CLOSED or OPEN, got '${p.answerType}'`);
  const images = [{ bytes: null, path: p.imagePath }];
  if (type === "CLOSED") {
    const c = closedOptions(p.question, p.answer);
    if (c) {
      return buildMcq(
        {
          question: p.question,
          options: c.options,
          answerLabel: String.fromCharCode(65 + c.answerIndex),
          images,
          datasetName: p.datasetName,
          datasetIndex: p.datasetIndex,
          misc: { ...p.misc, answer_type: "closed", options_rule: c.rule, source_answer: (p.misc.source_answer as string | undefined) ?? p.answer },
        },
        file,
        record,
      );
    }
    unparsed.push(String(record));
  }
  const question = p.question.trim();
  return {
    images,
    question,
    options: {},
    answer_label: "",
    answer: p.answer.trim(),
    reasoning: null,
    dataset_name: p.datasetName,
    dataset_index: p.datasetIndex,
    hash: itemHash({ question, answer: p.answer.trim() }),
    misc: { ...p.misc, answer_type: "open", ...(type === "CLOSED" ? { source_answer_type: "CLOSED" } : {}) },
  };
}

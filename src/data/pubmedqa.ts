/**
 * PubMedQA PQA-L as its authors ship it: `ori_pqal.json` (PMID -> record) and
 * `test_ground_truth.json` (PMID -> yes/no/maybe, the official 500-item test split).
 * The question is built as MedAgentsBench builds it ("\n".join(CONTEXTS) + "\n" + QUESTION),
 * so both copies give the same text; the options are yes / no / maybe.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "./item";
import { buildMcq } from "./mcq";
import { asRecord, Collector, readJson, str } from "./source";

export const PUBMEDQA_OPTIONS = ["yes", "no", "maybe"];

export function loadPubMedQaOriginal(file: string, opts: { split: "train" | "test" | "all"; groundTruth?: string; skipBad?: boolean }): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const data = asRecord(readJson(file), file, "-");
  const gtFile = opts.groundTruth ?? join(dirname(file), "test_ground_truth.json");
  if (!existsSync(gtFile)) throw new DataError(gtFile, "-", "(file)", "test_ground_truth.json is needed beside ori_pqal.json to tell the test split");
  const gt = asRecord(readJson(gtFile), gtFile, "-");
  for (const [pmid, label] of Object.entries(gt)) {
    if (!(pmid in data)) throw new DataError(gtFile, pmid, "(key)", `PMID ${pmid} is not in ${file}`);
    if (typeof label !== "string" || !PUBMEDQA_OPTIONS.includes(label)) throw new DataError(gtFile, pmid, "(value)", `expected yes/no/maybe, got ${JSON.stringify(label)}`);
  }
  let position = 0;
  for (const [pmid, value] of Object.entries(data)) {
    const index = position++;
    const inTest = pmid in gt;
    const split = inTest ? "test" : "train";
    if (opts.split !== "all" && opts.split !== split) continue;
    const record = `PMID ${pmid}`;
    c.add(record, () => {
      const r = asRecord(value, file, record);
      const contexts = r.CONTEXTS;
      if (!Array.isArray(contexts) || contexts.some((x) => typeof x !== "string")) throw new DataError(file, record, "CONTEXTS", "expected a list of strings");
      const question = `${(contexts as string[]).join("\n")}\n${str(r, "QUESTION", file, record)}`;
      const decision = inTest ? (gt[pmid] as string) : str(r, "final_decision", file, record).toLowerCase();
      const label = PUBMEDQA_OPTIONS.indexOf(decision);
      if (label < 0) throw new DataError(file, record, "final_decision", `expected yes/no/maybe, got '${decision}'`);
      return buildMcq(
        {
          question,
          options: PUBMEDQA_OPTIONS,
          answerLabel: "ABC"[label],
          datasetName: "pubmedqa",
          datasetIndex: index,
          misc: { split, source_id: pmid, year: r.YEAR ?? null, final_decision: r.final_decision ?? null, long_answer: r.LONG_ANSWER ?? null },
        },
        file,
        record,
      );
    });
  }
  const disagree = c.items.filter((it) => it.misc?.split === "test" && it.misc.final_decision !== it.answer).length;
  if (disagree) c.warnings.push(`${file}: ${disagree} test items where final_decision differs from test_ground_truth.json (the ground truth is used)`);
  return c;
}

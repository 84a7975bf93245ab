/**
 * HEAD-QA (Vilares & Gómez-Rodríguez 2019), English, in the authors' HEAD v1.0 format
 * (`train_HEAD_EN.json`, `dev_HEAD_EN.json`):
 *   {version, language, exams: {Cuaderno_YEAR_1_X: {name, category, year,
 *     data: [{qid, qtext, image, ra, answers: [{aid, atext}]}]}}}
 * Train questions have 5 options, dev (and test) 4; the options are taken in `aid` order.
 *
 * Known slips (PROVENANCE.md), each handled here and reported:
 * - `ra` (and `qid`) are strings while `aid` is an int: compared as numbers (`Number(ra) === aid`);
 * - questions that need an image the release does not include (`image` set, "Question linked to
 *   the image nº..."): dropped and listed in `skipped` (a text-only model cannot answer them);
 *   `keepImageQuestions` keeps them, marked misc.missing_images;
 * - exact duplicates (same stem and options, reused in two exams): the later copy is dropped.
 */
import { basename } from "node:path";
import { DataError } from "./item";
import { buildMcq } from "./mcq";
import { asRecord, Collector, readJson, str } from "./source";

export interface HeadQaOptions {
  split?: string;
  skipBad?: boolean;
  /** Keep the questions whose image is not included (misc.missing_images = true). Default false. */
  keepImageQuestions?: boolean;
}

export function loadHeadQa(file: string, opts: HeadQaOptions = {}): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const doc = asRecord(readJson(file), file, "-");
  const exams = doc.exams;
  if (exams === null || typeof exams !== "object" || Array.isArray(exams)) throw new DataError(file, "-", "exams", "expected an object {exam name: {name, category, year, data}}");
  const stem = basename(file);
  const split = opts.split ?? (/train/i.test(stem) ? "train" : /dev/i.test(stem) ? "validation" : "test");
  const seen = new Map<string, string>();
  const duplicates: string[] = [];
  const withImage: string[] = [];
  let position = 0;
  for (const [examName, examValue] of Object.entries(exams as Record<string, unknown>)) {
    let exam: Record<string, unknown>;
    let questions: unknown[];
    try {
      exam = asRecord(examValue, file, `exam ${examName}`);
      if (!Array.isArray(exam.data)) throw new DataError(file, `exam ${examName}`, "data", "expected a list of questions");
      questions = exam.data;
    } catch (e) {
      c.add(`exam ${examName}`, () => {
        throw e;
      });
      continue;
    }
    for (const value of questions) {
      const index = position++;
      const q0 = value && typeof value === "object" ? (value as Record<string, unknown>) : {};
      const record = `exam ${examName} qid ${String(q0.qid ?? "?")}`;
      const image = typeof q0.image === "string" ? q0.image.trim() : "";
      if (image && !opts.keepImageQuestions) {
        withImage.push(`${examName}#${String(q0.qid)}`);
        c.skipped.push({ file, record, field: "image", reason: `refers to an image that is not included (${image}): dropped from text-only use` });
        continue;
      }
      c.add(record, () => {
        const q = asRecord(value, file, record);
        const qid = str(q, "qid", file, record);
        const answers = q.answers;
        if (!Array.isArray(answers)) throw new DataError(file, record, "answers", "expected a list of {aid, atext}");
        const opts2 = answers.map((a, i) => {
          const r = asRecord(a, file, `${record} answer ${i}`);
          const aid = Number(r.aid);
          if (!Number.isInteger(aid)) throw new DataError(file, record, `answers.${i}.aid`, `expected an integer, got ${JSON.stringify(r.aid)}`);
          return { aid, text: str(r, "atext", file, `${record} aid ${aid}`) };
        });
        opts2.sort((a, b) => a.aid - b.aid);
        if (new Set(opts2.map((o) => o.aid)).size !== opts2.length) throw new DataError(file, record, "answers", "repeated aid");
        const ra = Number(str(q, "ra", file, record));
        const idx = opts2.findIndex((o) => o.aid === ra);
        if (idx < 0) throw new DataError(file, record, "ra", `'${String(q.ra)}' is not among the aids ${opts2.map((o) => o.aid).join(",")}`);
        const question = str(q, "qtext", file, record);
        const key = JSON.stringify([question, opts2.map((o) => o.text)]);
        const first = seen.get(key);
        if (first !== undefined) {
          duplicates.push(`${examName}#${qid} = ${first}`);
          c.skipped.push({ file, record, field: "(record)", reason: `exact duplicate of ${first} (same stem and options): dropped` });
          return null;
        }
        seen.set(key, `${examName}#${qid}`);
        return buildMcq(
          {
            question,
            options: opts2.map((o) => o.text),
            answerLabel: String.fromCharCode(65 + idx),
            datasetName: "HEAD-QA",
            datasetIndex: index,
            misc: {
              split,
              source_id: `${examName}#${qid}`,
              exam: examName,
              category: typeof exam.category === "string" ? exam.category : null,
              year: exam.year === undefined || exam.year === null ? null : String(exam.year),
              ...(image ? { missing_images: true, image } : {}),
            },
          },
          file,
          record,
        );
      });
    }
  }
  if (withImage.length) c.warnings.push(`${file}: ${withImage.length} questions refer to an image that is not included and are dropped (listed in skipped)`);
  if (duplicates.length) c.warnings.push(`${file}: ${duplicates.length} questions exactly duplicate an earlier one (same stem and options) and are dropped: ${duplicates.join(", ")}`);
  return c;
}

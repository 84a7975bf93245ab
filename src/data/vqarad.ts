/**
 * VQA-RAD as the OSF release ships it: `VQA_RAD Dataset Public.json` (a list of QA records) and an
 * image folder (`images/` here; the original name `VQA_RAD Image Folder/` is also accepted).
 * Split by phrase_type: train = freeform + para, test = test_freeform + test_para.
 * Tolerates the known slips: a string qid, int answers, "CLOSED " with a trailing space, a missing
 * question_rephrase key.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "./item";
import { asRecord, Collector, optStr, readJson, safeJoin, str } from "./source";
import { buildVqaItem } from "./vqa";

export function vqaRadImageDir(jsonFile: string): string {
  const dir = dirname(jsonFile);
  for (const name of ["images", "VQA_RAD Image Folder"]) if (existsSync(join(dir, name))) return join(dir, name);
  return join(dir, "images");
}

export function loadVqaRad(file: string, opts: { split: "train" | "test" | "all"; skipBad?: boolean }): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const data = readJson(file);
  if (!Array.isArray(data)) throw new DataError(file, "-", "(json)", "expected a list of QA records");
  const imageDir = vqaRadImageDir(file);
  const unparsed: string[] = [];
  data.forEach((value, position) => {
    const record = `#${position}`;
    let split: string | undefined;
    try {
      const r0 = asRecord(value, file, record);
      split = str(r0, "phrase_type", file, record).startsWith("test") ? "test" : "train";
    } catch (e) {
      // A record whose split cannot be read is reported whatever split was asked for.
      c.add(record, () => {
        throw e;
      });
      return;
    }
    if (opts.split !== "all" && opts.split !== split) return;
    c.add(record, () => {
      const r = asRecord(value, file, record);
      const qid = str(r, "qid", file, record);
      const rec = `qid ${qid} (#${position})`;
      const imageName = str(r, "image_name", file, rec);
      const imagePath = safeJoin(imageDir, imageName, file, rec, "image_name");
      if (!existsSync(imagePath)) throw new DataError(file, rec, "image_name", `image file not found: ${imagePath}`);
      return buildVqaItem(
        {
          question: str(r, "question", file, rec),
          answer: str(r, "answer", file, rec),
          answerType: str(r, "answer_type", file, rec),
          imagePath,
          datasetName: "VQA-RAD",
          datasetIndex: position,
          misc: {
            split,
            source_id: qid,
            phrase_type: str(r, "phrase_type", file, rec),
            organ: optStr(r, "image_organ", file, rec) ?? null,
            question_type: optStr(r, "question_type", file, rec) ?? null,
            image_name: imageName,
          },
        },
        file,
        rec,
        unparsed,
      );
    });
  });
  if (unparsed.length) c.warnings.push(`${file}: ${unparsed.length} CLOSED questions name no alternatives and are not yes/no; kept as open (misc.source_answer_type 'CLOSED'): ${unparsed.join(", ")}`);
  return c;
}

/**
 * SLAKE 1.0 split files (`test.json`, `train.json`, `validate.json`): a list of QA records with
 * `img_name` relative to `imgs/`. English questions only (q_lang "en"); the Chinese records are
 * counted in a warning, not loaded.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { DataError } from "./item";
import { asRecord, Collector, optStr, readJson, safeJoin, str } from "./source";
import { buildVqaItem } from "./vqa";

export function loadSlake(file: string, opts: { skipBad?: boolean; split?: string }): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const data = readJson(file);
  if (!Array.isArray(data)) throw new DataError(file, "-", "(json)", "expected a list of QA records");
  const imageDir = join(dirname(file), "imgs");
  const split = opts.split ?? (basename(file).replace(/\.json$/, "") === "validate" ? "validation" : basename(file).replace(/\.json$/, ""));
  const unparsed: string[] = [];
  let otherLang = 0;
  data.forEach((value, position) => {
    const record = `#${position}`;
    const r0 = value && typeof value === "object" ? (value as Record<string, unknown>) : {};
    if (r0.q_lang !== undefined && r0.q_lang !== "en") {
      otherLang++;
      return;
    }
    c.add(record, () => {
      const r = asRecord(value, file, record);
      const qid = str(r, "qid", file, record);
      const rec = `qid ${qid} (#${position})`;
      const imgName = str(r, "img_name", file, rec);
      const imagePath = safeJoin(imageDir, imgName, file, rec, "img_name");
      if (!existsSync(imagePath)) throw new DataError(file, rec, "img_name", `image file not found: ${imagePath}`);
      return buildVqaItem(
        {
          question: str(r, "question", file, rec),
          answer: str(r, "answer", file, rec),
          answerType: str(r, "answer_type", file, rec),
          imagePath,
          datasetName: "SLAKE",
          datasetIndex: position,
          misc: {
            split,
            source_id: qid,
            q_lang: "en",
            modality: optStr(r, "modality", file, rec) ?? null,
            organ: optStr(r, "location", file, rec) ?? null,
            content_type: optStr(r, "content_type", file, rec) ?? null,
            base_type: optStr(r, "base_type", file, rec) ?? null,
            img_name: imgName,
          },
        },
        file,
        rec,
        unparsed,
      );
    });
  });
  if (otherLang) c.warnings.push(`${file}: ${otherLang} non-English records (q_lang != "en") not loaded`);
  if (unparsed.length) c.warnings.push(`${file}: ${unparsed.length} CLOSED questions name no alternatives and are not yes/no; kept as open: ${unparsed.join(", ")}`);
  return c;
}

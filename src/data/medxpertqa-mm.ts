/**
 * MedXpertQA MM JSONL (TsinghuaC3I eval input): `id, question (with the Answer Choices tail),
 * options [{letter, content}], label [letter], images [{image_path}], medical_task, body_system,
 * question_type`. The images live only in HF TsinghuaC3I/MedXpertQA images.zip: when the folder
 * `images/` beside the file holds them they are referenced; otherwise the loader says so once and
 * yields the text with images = null (misc.missing_images lists the names).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "./item";
import { buildMcq } from "./mcq";
import { asRecord, collectJsonl, Collector, safeJoin, singleLabel, str } from "./source";

export function loadMedXpertQaMm(file: string, opts: { skipBad?: boolean; split?: string; imageDir?: string }): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const imageDir = opts.imageDir ?? join(dirname(file), "images");
  const haveDir = existsSync(imageDir);
  let missing = 0;
  collectJsonl(c, file, (value, record, index) => {
    const r = asRecord(value, file, record);
    const raw = r.options;
    if (!Array.isArray(raw)) throw new DataError(file, record, "options", "expected a list of {letter, content}");
    const options = raw.map((o, i) => {
      const oo = asRecord(o, file, record);
      const l = str(oo, "letter", file, record);
      if (l !== String.fromCharCode(65 + i)) throw new DataError(file, record, `options[${i}].letter`, `expected ${String.fromCharCode(65 + i)}, got '${l}'`);
      return str(oo, "content", file, record);
    });
    const label = singleLabel(r, file, record);
    const imgs = Array.isArray(r.images) ? r.images : [];
    const names = imgs.map((im, i) => str(asRecord(im, file, record), "image_path", file, `${record} images[${i}]`));
    const paths = names.map((n, i) => safeJoin(imageDir, n, file, record, `images[${i}].image_path`));
    const present = haveDir && paths.length > 0 && paths.every((p) => existsSync(p));
    if (!present && paths.length > 0) missing++;
    return buildMcq(
      {
        question: str(r, "question", file, record),
        options,
        answerLabel: label,
        images: present ? paths.map((p) => ({ bytes: null, path: p })) : null,
        datasetName: "MedXpertQA-MM",
        datasetIndex: index,
        misc: {
          split: opts.split ?? "test",
          source_id: r.id ?? null,
          medical_task: r.medical_task ?? null,
          body_system: r.body_system ?? null,
          question_type: r.question_type ?? null,
          image_names: names,
          ...(present ? {} : { missing_images: true }),
        },
      },
      file,
      record,
    );
  });
  if (missing) {
    c.warnings.push(
      `${file}: images not found for ${missing} questions (looked in ${imageDir}); they are only in images.zip on HF TsinghuaC3I/MedXpertQA. Loaded text only (images = null, misc.missing_images): a blind baseline, not the paper's benchmark.`,
    );
  }
  return c;
}

/**
 * SLAKE 1.0 split files (`test.json`, `train.json`, `validate.json`): a list of QA records with
 * `img_name` relative to `imgs/`. English questions only (q_lang "en"); the Chinese records are
 * counted in a warning, not loaded.
 *
 * The known slips of the published files (PROVENANCE.md) are handled here, each one reported in
 * the warnings (and, for dropped records, in `skipped` with the reason), never silently:
 * - exact duplicates (same image, question, answer; train has 7 English ones on xmlab19, qid
 *   592-598 = 585-591): the later copy is dropped;
 * - an empty answer (train qid 1622): the record is dropped (nothing to train or grade on);
 * - runs of whitespace inside an answer ("Transverse  Plane"): collapsed to one space;
 * - answers that differ only in case ("Spinal cord" / "Spinal Cord"): every spelling becomes the
 *   most frequent one over the split files in the folder (ties: the first seen), so train,
 *   validate and test spell it alike; `misc.source_answer` keeps the original;
 * - CLOSED questions that are choices, not yes/no: options come from the question
 *   (closed-options.ts); the count per rule is reported.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DataError } from "./item";
import { asRecord, Collector, optStr, readJson, safeJoin, str } from "./source";
import { buildVqaItem } from "./vqa";

/** Whitespace runs collapsed and ends trimmed ("Transverse  Plane" -> "Transverse Plane"). */
export function collapseSpaces(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/**
 * For answers that differ only in case, the spelling to use: lowercase key -> the most frequent
 * spelling (ties: the first seen). Only keys with more than one spelling are in the map.
 */
export function canonicalSpellings(answers: string[]): Map<string, string> {
  const counts = new Map<string, Map<string, number>>();
  for (const a of answers) {
    const key = a.toLowerCase();
    if (!counts.has(key)) counts.set(key, new Map());
    const m = counts.get(key)!;
    m.set(a, (m.get(a) ?? 0) + 1);
  }
  const out = new Map<string, string>();
  for (const [key, m] of counts) {
    if (m.size < 2) continue;
    let best = "";
    let n = -1;
    for (const [s, c] of m) if (c > n) [best, n] = [s, c]; // Map keeps first-seen order: ties keep the first
    out.set(key, best);
  }
  return out;
}

/** SLAKE 1.0's split files; the case of an answer is unified over those present in one folder. */
export const SPLIT_FILES = ["train.json", "validate.json", "test.json"];

export function loadSlake(file: string, opts: { skipBad?: boolean; split?: string }): Collector {
  const c = new Collector(file, !!opts.skipBad);
  const data = readJson(file);
  if (!Array.isArray(data)) throw new DataError(file, "-", "(json)", "expected a list of QA records");
  const imageDir = join(dirname(file), "imgs");
  const split = opts.split ?? (basename(file).replace(/\.json$/, "") === "validate" ? "validation" : basename(file).replace(/\.json$/, ""));
  const unparsed: string[] = [];
  let otherLang = 0;
  const isEnglish = (v: unknown) => {
    const r0 = v && typeof v === "object" ? (v as Record<string, unknown>) : {};
    return r0.q_lang === undefined || r0.q_lang === "en";
  };
  // First pass over the English answers of every split file in the folder, so that one answer is
  // spelled the same in train, validate and test.
  const answers: string[] = [];
  // Always in the order train, validate, test (so a tie breaks the same way whichever file loads).
  const self = resolve(file);
  const files = SPLIT_FILES.map((f) => join(dirname(self), f)).filter((f) => existsSync(f));
  if (!files.includes(self)) files.unshift(self);
  for (const f of files) {
    let d: unknown = data;
    if (f !== self) {
      try {
        d = readJson(f);
      } catch (e) {
        // A broken neighbour must not stop this file from loading: its answers just do not vote.
        c.warnings.push(`${file}: ${f} not read for answer spellings (${(e as Error).message})`);
        continue;
      }
    }
    if (!Array.isArray(d)) continue;
    for (const v of d) {
      const a = isEnglish(v) && v && typeof v === "object" ? (v as Record<string, unknown>).answer : undefined;
      if (typeof a === "string" || typeof a === "number") answers.push(collapseSpaces(String(a)));
    }
  }
  const spelling = canonicalSpellings(answers.filter(Boolean));
  const seen = new Map<string, string>();
  const duplicates: string[] = [];
  const empty: string[] = [];
  let spaced = 0;
  const recased = new Map<string, number>();
  data.forEach((value, position) => {
    const record = `#${position}`;
    if (!isEnglish(value)) {
      otherLang++;
      return;
    }
    const r0 = value && typeof value === "object" ? (value as Record<string, unknown>) : {};
    const rec0 = `qid ${String(r0.qid ?? "?")} (#${position})`;
    const raw = r0.answer;
    if (typeof raw === "string" && raw.trim() === "") {
      empty.push(String(r0.qid ?? record));
      c.skipped.push({ file, record: rec0, field: "answer", reason: "empty answer: dropped (known upstream slip, e.g. train qid 1622)" });
      return;
    }
    const dupKey = JSON.stringify([r0.img_name, typeof r0.question === "string" ? collapseSpaces(r0.question) : r0.question, raw, r0.answer_type]);
    const first = seen.get(dupKey);
    if (first !== undefined) {
      duplicates.push(`${String(r0.qid)} = ${first}`);
      c.skipped.push({ file, record: rec0, field: "(record)", reason: `exact duplicate of qid ${first} (same image, question, answer): dropped` });
      return;
    }
    seen.set(dupKey, String(r0.qid ?? record));
    c.add(record, () => {
      const r = asRecord(value, file, record);
      const qid = str(r, "qid", file, record);
      const rec = `qid ${qid} (#${position})`;
      const imgName = str(r, "img_name", file, rec);
      const imagePath = safeJoin(imageDir, imgName, file, rec, "img_name");
      if (!existsSync(imagePath)) throw new DataError(file, rec, "img_name", `image file not found: ${imagePath}`);
      const sourceAnswer = str(r, "answer", file, rec);
      let answer = collapseSpaces(sourceAnswer);
      if (answer !== sourceAnswer) spaced++;
      const canon = spelling.get(answer.toLowerCase());
      if (canon !== undefined && canon !== answer) {
        recased.set(`'${answer}' -> '${canon}'`, (recased.get(`'${answer}' -> '${canon}'`) ?? 0) + 1);
        answer = canon;
      }
      return buildVqaItem(
        {
          question: str(r, "question", file, rec),
          answer,
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
            ...(answer !== sourceAnswer ? { source_answer: sourceAnswer } : {}),
          },
        },
        file,
        rec,
        unparsed,
      );
    });
  });
  if (otherLang) c.warnings.push(`${file}: ${otherLang} non-English records (q_lang != "en") not loaded`);
  if (duplicates.length) c.warnings.push(`${file}: ${duplicates.length} English records exactly duplicate an earlier one and are dropped (qid ${duplicates.join(", ")})`);
  if (empty.length) c.warnings.push(`${file}: ${empty.length} English records with an empty answer dropped (qid ${empty.join(", ")})`);
  if (spaced) c.warnings.push(`${file}: ${spaced} answers had repeated spaces, collapsed ("Transverse  Plane" -> "Transverse Plane"); misc.source_answer keeps the original`);
  if (recased.size) {
    const n = [...recased.values()].reduce((a, b) => a + b, 0);
    c.warnings.push(`${file}: ${n} answers differ from another only in case and take the most frequent spelling over the split files in the folder: ${[...recased].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  }
  const choices = c.items.filter((it) => it.misc?.answer_type === "closed" && it.misc.options_rule !== "yes-no");
  if (choices.length || unparsed.length) {
    const rules = new Map<string, number>();
    for (const it of choices) rules.set(String(it.misc?.options_rule), (rules.get(String(it.misc?.options_rule)) ?? 0) + 1);
    c.warnings.push(`${file}: ${choices.length + unparsed.length} CLOSED questions are choices, not yes/no: ${choices.length} take their options from the question (${[...rules].map(([k, v]) => `${k} ${v}`).join(", ")})${unparsed.length ? `, ${unparsed.length} name no alternatives and are kept as open (misc.source_answer_type 'CLOSED'): ${unparsed.join(", ")}` : ""}`);
  }
  return c;
}

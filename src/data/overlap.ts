/**
 * Train / evaluation contamination. Two items are the same when their normalised question, their
 * options (as a set, order ignored) and their images match; for open questions (no options) the
 * normalised answer takes the options' place. Normalising lowercases, drops punctuation and
 * collapses whitespace, so case-only and spacing differences still match.
 * Images are compared by file name (imageName) or, with no path, by a hash of the bytes.
 */
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import type { Item } from "./item";

export function normText(s: string): string {
  return s.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

/**
 * An image's name for matching: its file name, with the folder in front when the file name is
 * SLAKE's shared `source.jpg` (every SLAKE image is `imgs/xmlabN/source.jpg`, so the file name
 * alone would make all SLAKE images one image).
 */
export function imageName(path: string): string {
  const name = basename(path).toLowerCase();
  return /^source\.(jpe?g|png)$/.test(name) ? `${basename(dirname(path)).toLowerCase()}/${name}` : name;
}

function imageKey(it: Item): string {
  if (!it.images?.length) return "";
  return it.images
    .map((im) => (im.path ? imageName(im.path) : im.bytes ? createHash("sha1").update(im.bytes).digest("hex").slice(0, 16) : "?"))
    .join("+");
}

/** The identity used for overlap: question + options (or open answer) + images. */
export function overlapKey(it: Item): string {
  const opts = Object.values(it.options).map(normText).sort();
  const tail = opts.length ? opts.join("|") : `open:${normText(it.answer)}`;
  return `${normText(it.question)}\u0000${tail}\u0000${imageKey(it)}`;
}

/** Question-only identity (with images): a looser match, reported separately. */
export function questionKey(it: Item): string {
  return `${normText(it.question)}\u0000${imageKey(it)}`;
}

export interface OverlapPair {
  evalSet: number;
  evalName: string;
  train: { dataset_name: string; dataset_index: number };
  eval: { dataset_name: string; dataset_index: number };
  question: string;
}

export interface OverlapReport {
  /** Exact matches (question + options + images). */
  pairs: OverlapPair[];
  /** Same question (and images) but different options: reported, not excluded by default. */
  questionOnly: OverlapPair[];
  /** Duplicates inside the training set itself (same key twice). */
  trainDuplicates: number;
  perEval: { name: string; size: number; overlapping: number; questionOnly: number }[];
}

const ref = (it: Item) => ({ dataset_name: it.dataset_name, dataset_index: it.dataset_index });

export function overlapReport(train: Item[], evals: Item[][]): OverlapReport {
  const byKey = new Map<string, Item>();
  const byQuestion = new Map<string, Item>();
  let trainDuplicates = 0;
  for (const it of train) {
    const k = overlapKey(it);
    if (byKey.has(k)) trainDuplicates++;
    else byKey.set(k, it);
    const q = questionKey(it);
    if (!byQuestion.has(q)) byQuestion.set(q, it);
  }
  const pairs: OverlapPair[] = [];
  const questionOnly: OverlapPair[] = [];
  const perEval = evals.map((set, e) => {
    const name = set[0]?.dataset_name ?? `eval ${e}`;
    let overlapping = 0;
    let qOnly = 0;
    for (const it of set) {
      const t = byKey.get(overlapKey(it));
      if (t) {
        overlapping++;
        pairs.push({ evalSet: e, evalName: name, train: ref(t), eval: ref(it), question: it.question });
        continue;
      }
      const tq = byQuestion.get(questionKey(it));
      if (tq) {
        qOnly++;
        questionOnly.push({ evalSet: e, evalName: name, train: ref(tq), eval: ref(it), question: it.question });
      }
    }
    return { name, size: set.length, overlapping, questionOnly: qOnly };
  });
  return { pairs, questionOnly, trainDuplicates, perEval };
}

/**
 * Training items with every evaluation item removed. `by: "question"` also drops training items
 * whose question (with images) appears in an evaluation set with other options.
 */
export function excludeOverlap(train: Item[], evalSets: Item[][], opts: { by?: "item" | "question" } = {}): { kept: Item[]; excluded: Item[] } {
  const keyOf = opts.by === "question" ? questionKey : overlapKey;
  const evalKeys = new Set<string>();
  for (const set of evalSets) for (const it of set) evalKeys.add(keyOf(it));
  const kept: Item[] = [];
  const excluded: Item[] = [];
  for (const it of train) (evalKeys.has(keyOf(it)) ? excluded : kept).push(it);
  return { kept, excluded };
}

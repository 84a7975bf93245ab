/**
 * The evaluation grader, as published (analysis/regrade_eval_results.py), and the k-sample metrics.
 *
 * Extraction, reproduced exactly (Python string and `re` semantics):
 * 1. The LAST non-overlapping `<answer>(.*?)</answer>` (re.S), stripped, then its first line
 *    (up to "\n" or "\r"), stripped.
 * 2. Else the last match of `answer:\s*(.*)\s*`, then `answer is:\s*(.*)\s*`, `answer is\s*(.*)\s*`,
 *    `is:\s*(.*)\s*` (re.I; `.` stops at "\n"; `\s*` may cross lines), group stripped.
 * 3. Else the whole response stripped. Then the strings <think>, </think>, <answer>, </answer> are
 *    removed and the result stripped.
 * Mapping and correctness: the prediction, lowercased, equal to "{L}. {text}", "{L}" or "{text}"
 * (each stripped and lowercased). `correct` compares against the gold option directly (so when two
 * options differ only in case, either text is correct); `predicted` is the FIRST option in letter
 * order that matches. With `llavaMedRule` an option also matches if its text occurs in the prediction.
 * All scanning is linear in the response length.
 */
import { looseLetter, matchOption, type MatchForm } from "./reward";
import { pyStrip, skipPySpace } from "./pystr";

export interface GradeResult {
  correct: boolean;
  /** The option letter the prediction maps to, or null if it maps to none. */
  predicted: string | null;
  /** The extracted prediction string (upstream `pred_letter` before mapping). */
  extracted: string | null;
  /** Where the prediction came from: the last answer block, a textual fallback, or neither (whole text). */
  via: "answer_tag" | "fallback" | "none";
  /** How the gold option matched, when correct. */
  matched: MatchForm | "llava_med" | "loose_letter" | null;
  /** Upstream's majority-vote key: the mapped letter, else the raw extracted string. */
  vote: string;
}

export interface GradeOptions {
  /** Upstream `--llava_med_rule`: an option also matches if its text (lowercased) occurs in the prediction. */
  llavaMedRule?: boolean;
  /** Variant: when no option matches, read a letter loosely ("(B)", "**B**", "Option B", "B. ..."). */
  extraction?: "published" | "loose";
}

const A_OPEN = "<answer>";
const A_CLOSE = "</answer>";

/** Last non-overlapping `<answer>(.*?)</answer>` with re.S: the group, or null. */
export function lastAnswerBlock(s: string): string | null {
  let out: string | null = null;
  let pos = 0;
  for (;;) {
    const i = s.indexOf(A_OPEN, pos);
    if (i === -1) break;
    const j = s.indexOf(A_CLOSE, i + A_OPEN.length);
    if (j === -1) break; // no close after this open: no later match either
    out = s.slice(i + A_OPEN.length, j);
    pos = j + A_CLOSE.length;
  }
  return out;
}

// Python re.I also folds U+017F (long s) to "s" and U+0130 / U+0131 (dotted / dotless I) to "i".
const S = "[sS\u017f]";
const I = "[iI\u0130\u0131]";
const FALLBACKS: RegExp[] = [
  new RegExp(`[aA][nN]${S}[wW][eE][rR]:`, "g"),
  new RegExp(`[aA][nN]${S}[wW][eE][rR] ${I}${S}:`, "g"),
  new RegExp(`[aA][nN]${S}[wW][eE][rR] ${I}${S}`, "g"),
  new RegExp(`${I}${S}:`, "g"),
];

/** Last match of `KEY\s*(.*)\s*` with Python finditer semantics: the group stripped, or null. */
function lastFallback(s: string, key: RegExp): string | null {
  let out: string | null = null;
  key.lastIndex = 0;
  for (let m = key.exec(s); m !== null; m = key.exec(s)) {
    const k = skipPySpace(s, m.index + m[0].length);
    let e = s.indexOf("\n", k);
    if (e === -1) e = s.length;
    out = s.slice(k, e);
    key.lastIndex = skipPySpace(s, e); // the trailing \s* consumes only whitespace
  }
  return out === null ? null : pyStrip(out);
}

/** upstream `_extract_answer` + tag removal: the prediction string and where it came from. */
export function extractPrediction(text: string): { extracted: string; via: GradeResult["via"] } {
  let raw: string;
  let via: GradeResult["via"] = "none";
  const block = lastAnswerBlock(text);
  if (block !== null) {
    via = "answer_tag";
    const t = pyStrip(block);
    let e = 0;
    while (e < t.length && t[e] !== "\n" && t[e] !== "\r") e++;
    raw = pyStrip(t.slice(0, e));
  } else {
    let hit: string | null = null;
    for (const key of FALLBACKS) {
      hit = lastFallback(text, key);
      if (hit !== null) break;
    }
    if (hit !== null) via = "fallback";
    raw = hit ?? pyStrip(text);
  }
  const cleaned = raw.indexOf("<") === -1 ? raw : raw.split("<think>").join("").split("</think>").join("").split(A_OPEN).join("").split(A_CLOSE).join("");
  return { extracted: pyStrip(cleaned), via };
}

/** upstream grade_answer(prediction, answer, answer_label, llava_med_rule). */
function gradeOne(extracted: string, predNorm: string, letter: string, text: string, llava: boolean): GradeResult["matched"] {
  if (llava && extracted.toLowerCase().includes(text.toLowerCase())) return "llava_med";
  return matchOption(predNorm, letter, text);
}

/** Grade one response against an item's options and gold letter. Pure; never throws on any string. */
export function gradeResponse(response: string, options: Record<string, string>, answerLabel: string, opts: GradeOptions = {}): GradeResult {
  const llava = opts.llavaMedRule === true;
  const { extracted, via } = extractPrediction(response);
  const predNorm = extracted.toLowerCase(); // already stripped
  let predicted: string | null = null;
  for (const letter in options) {
    if (gradeOne(extracted, predNorm, letter, options[letter], llava) !== null) {
      predicted = letter;
      break;
    }
  }
  const goldText = options[answerLabel];
  let matched: GradeResult["matched"] = goldText === undefined ? null : gradeOne(extracted, predNorm, answerLabel, goldText, llava);
  if (opts.extraction === "loose" && predicted === null) {
    predicted = looseLetter(extracted, options);
    if (matched === null && predicted !== null && predicted === answerLabel) matched = "loose_letter";
  }
  return { correct: matched !== null, predicted, extracted, via, matched, vote: predicted ?? extracted };
}

export interface SampleMetrics {
  /** Pooled fraction of correct samples (= avg_correct when every item has k samples). */
  accuracy: number;
  /** Mean over items of (correct samples / samples): upstream `accuracy_total`. */
  avg_correct: number;
  /** Fraction of items with at least one correct sample: upstream `accuracy_pass@total`. */
  pass_at_k: number;
  /** Fraction of items whose most common prediction (ties: first seen) is the gold letter. */
  majority_at_k: number;
  n_items: number;
  /** Samples per item (the largest, if they differ). */
  k: number;
}

/**
 * Metrics over items with k samples each. `predicted[i][j]` is the vote of sample j of item i: pass
 * `GradeResult.vote` to reproduce upstream (unmapped answers vote with their raw text); null votes
 * count as one "no answer" bucket. Empty input gives NaN metrics.
 */
export function sampleMetrics(correct: boolean[][], predicted: (string | null)[][], gold: string[]): SampleMetrics {
  const n = correct.length;
  if (predicted.length !== n || gold.length !== n) throw new RangeError(`sampleMetrics: ${n} correctness rows, ${predicted.length} prediction rows, ${gold.length} gold letters`);
  let k = 0;
  let pooledC = 0;
  let pooledN = 0;
  let avg = 0;
  let pass = 0;
  let maj = 0;
  for (let i = 0; i < n; i++) {
    const row = correct[i];
    if (row.length === 0) throw new RangeError(`sampleMetrics: item ${i} has no samples`);
    if (predicted[i].length !== row.length) throw new RangeError(`sampleMetrics: item ${i} has ${row.length} correctness values but ${predicted[i].length} predictions`);
    k = Math.max(k, row.length);
    let c = 0;
    for (const x of row) if (x) c++;
    pooledC += c;
    pooledN += row.length;
    avg += c / row.length;
    if (c > 0) pass++;
    if (majorityVote(predicted[i]) === gold[i]) maj++;
  }
  return {
    accuracy: n ? pooledC / pooledN : NaN,
    avg_correct: n ? avg / n : NaN,
    pass_at_k: n ? pass / n : NaN,
    majority_at_k: n ? maj / n : NaN,
    n_items: n,
    k,
  };
}

/** The most common vote; ties go to the one seen first (Python Counter.most_common(1)). */
export function majorityVote<T>(votes: T[]): T | undefined {
  const counts = new Map<T, number>();
  let best: T | undefined;
  let bestN = 0;
  for (const v of votes) counts.set(v, (counts.get(v) ?? 0) + 1);
  for (const [v, c] of counts) if (c > bestN) [best, bestN] = [v, c]; // Map keeps first-seen order
  return best;
}

/** Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n || k < 1 || c < 0 || c > n) throw new RangeError(`passAtK: need 1 <= k <= n and 0 <= c <= n, got n=${n} c=${c} k=${k}`);
  if (n - c < k) return 1;
  let p = 1;
  for (let i = n - c + 1; i <= n; i++) p *= 1 - k / i;
  return 1 - p;
}

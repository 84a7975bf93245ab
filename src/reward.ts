/**
 * The RLVR training reward, as published (train/my_reward.py), with named variants off by default.
 *
 * Published rule, reproduced exactly (Python string semantics from ./pystr):
 * 1. Format gate: the WHOLE response must match `<think>.*?</think>\s*<answer>.*?</answer>` (re.DOTALL,
 *    fullmatch), else 0. There is no partial format credit.
 * 2. The answer is the first `<answer>(.*?)</answer>` WITHOUT re.DOTALL: the first `<answer>` whose
 *    nearest following `</answer>` comes before any "\n". With no such match upstream compares the
 *    whole stripped response instead (which then almost never matches).
 * 3. Correct (1) if the answer, stripped and lowercased, equals "{letter}. {text}", the letter, or
 *    the option text (each stripped and lowercased); else 0.
 * Consequences kept on purpose (tested on the real data):
 * - Options differing only in case are indistinguishable by text: if one is gold, the other's text
 *   also scores 1, and `predicted` names the first in letter order. In MedXpertQA Text-345 and
 *   Text-1978 neither is gold, so only `predicted` is affected (G's text maps to A). Letters and
 *   "L. text" still tell them apart.
 * - An option text that is a letter wins over that letter (MedQA 709, options A:"B" B:"C" ...:
 *   the answer "B" is read as option A's text and scores 1 when A is gold).
 * - A gold text with a newline (5 MedQA and 8 MedXpertQA items) cannot be written on one answer
 *   line; only its letter can score.
 *
 * Everything is indexOf scanning: linear time in the response length, no regex backtracking.
 */
import type { Item } from "./data/item";
import { norm, pyStrip, skipPySpace } from "./pystr";

export type MatchForm = "letter" | "text" | "letter_text";

export interface RewardResult {
  /** 1 iff the format gate passed (or is off) and the answer is correct. The published reward. */
  score: 0 | 1;
  /** First failing stage: format gate, no answer tag, wrong answer, or correct. */
  reason: "format" | "no_answer" | "wrong" | "correct";
  /** The answer string compared (stripped), or null when the format gate failed. */
  extracted: string | null;
  /** How the gold option matched (only when correct). */
  matched: MatchForm | null;
  /** The letter of the first option (A, B, ...) the answer matches, or null. */
  predicted: string | null;
  /** Whether the response passed the format fullmatch (reported even when the gate is off). */
  format: boolean;
  /** The scalar for the trainer: `score` by default; with `format: "separate"`, the weighted sum. */
  reward: number;
}

export interface RewardOptions {
  /**
   * "gate" (published, default): a response failing the format regex scores 0.
   * "separate": accuracy is scored regardless of format and the format earns its own reward,
   * reward = (1 - formatWeight) * accuracy + formatWeight * format, as verl geo3k / EasyR1 r1v.
   */
  format?: "gate" | "separate";
  /** Weight of the format part when format = "separate" (default 0.1, verl geo3k's format_score). */
  formatWeight?: number;
  /**
   * "published" (default): the first single-line `<answer>...</answer>` compared exactly.
   * "loose": also accepts tags in any case, multi-line or unclosed answers (first non-empty line),
   * and letters written "(B)", "B.", "B)", "**B**", "Option B", "Answer: B", "B. <any text>".
   */
  extraction?: "published" | "loose";
}

const THINK_OPEN = "<think>";
const THINK_CLOSE = "</think>";
const ANSWER_OPEN = "<answer>";
const ANSWER_CLOSE = "</answer>";

/**
 * re.fullmatch(`<think>.*?</think>\s*<answer>.*?</answer>`, s, re.DOTALL) in linear time: the string
 * starts with <think>, ends with </answer>, and some `</think>` after the opening tag is followed by
 * Python whitespace and then an `<answer>` that ends before the final `</answer>` begins.
 */
export function formatOk(s: string): boolean {
  const n = s.length;
  const lastAnswerOpen = n - ANSWER_CLOSE.length - ANSWER_OPEN.length; // latest start for <answer>
  if (lastAnswerOpen < THINK_OPEN.length + THINK_CLOSE.length) return false;
  if (!s.startsWith(THINK_OPEN) || !s.endsWith(ANSWER_CLOSE)) return false;
  // Occurrences of </think> never overlap, and the whitespace run after one ends before the next
  // starts ('<' is not whitespace), so the total work is O(n).
  for (let p = s.indexOf(THINK_CLOSE, THINK_OPEN.length); p !== -1 && p + THINK_CLOSE.length <= lastAnswerOpen; p = s.indexOf(THINK_CLOSE, p + 1)) {
    const q = skipPySpace(s, p + THINK_CLOSE.length);
    if (q <= lastAnswerOpen && s.startsWith(ANSWER_OPEN, q)) return true;
  }
  return false;
}

/**
 * re.search(`<answer>(.*?)</answer>`, s) without DOTALL: the content of the first `<answer>` whose
 * next `</answer>` comes before the next "\n" (Python's `.` excludes only "\n"); null if none.
 * The next-close and next-newline positions only move forward, so this is O(n).
 */
export function firstSingleLineAnswer(s: string): string | null {
  let close = -2;
  let nl = -2;
  for (let i = s.indexOf(ANSWER_OPEN); i !== -1; i = s.indexOf(ANSWER_OPEN, i + 1)) {
    const from = i + ANSWER_OPEN.length;
    if (close !== -1 && close < from) close = s.indexOf(ANSWER_CLOSE, from);
    if (close === -1) return null; // no closing tag after this opening: none after later ones either
    if (nl !== -1 && nl < from) nl = s.indexOf("\n", from);
    if (nl === -1 || nl > close) return s.slice(from, close);
  }
  return null;
}

/**
 * upstream grade_answer(prediction, text, letter) on an already normalised (stripped, lowercased)
 * prediction: which form of the option it equals, checked in upstream's order, or null.
 * Allocation-free in the common case: lowercasing never shortens a string (checked over all code
 * points), so a candidate whose stripped form is longer than the prediction cannot equal it and
 * is never lowercased or built.
 */
export function matchOption(pred: string, letter: string, text: string): MatchForm | null {
  const st = pyStrip(text);
  // norm(`${letter}. ${text}`) contains "." and all of pyStrip(text), so it is at least that long.
  if (pred.length >= st.length + 1 && pred === norm(`${letter}. ${text}`)) return "letter_text";
  if (pred === norm(letter)) return "letter";
  if (pred.length >= st.length && pred === st.toLowerCase()) return "text";
  return null;
}

/** The first option (in letter order) whose letter, text or "L. text" equals the normalised prediction. */
export function mapToOption(predNorm: string, options: Record<string, string>): string | null {
  for (const letter in options) if (matchOption(predNorm, letter, options[letter]) !== null) return letter;
  return null;
}

// Loose letter forms: an optional lead-in ("answer:", "the correct option is"), an optional wrapper
// ("(", "[", "**", "_") around one letter, then the end, a separator (".", ")", ":", "-") or a space.
// Input is capped at 200 characters and every repeat is separated by literals: linear time.
const LOOSE_LETTER =
  /^([*_]{0,3}(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)(?:\s+is)?[*_]{0,3}\s*[:\-]?[*_]{0,3}\s*)?([*_]{1,3}[(\[]?|[(\[][*_]{0,3})?([A-Za-z])([*_]{1,3}[)\]]?|[)\]][*_]{0,3})?($|[.):\-]|\s)/i;

/**
 * A letter read loosely from an answer: "(B)", "B.", "B)", "**B**", "Option B", "Answer: B",
 * "**Answer:** B", "B. any text". A bare letter followed by a space ("I think B") or a bare lowercase letter with
 * more text ("a. ...") is not a letter. Returns the letter if it names an option, else null.
 */
export function looseLetter(answer: string, options: Record<string, string>): string | null {
  const s = pyStrip(answer.length > 200 ? answer.slice(0, 200) : answer);
  const m = LOOSE_LETTER.exec(s);
  if (!m) return null;
  const decorated = m[1] !== undefined || m[2] !== undefined || m[4] !== undefined;
  const letter = m[3];
  if (!decorated) {
    if (m[5] !== "" && m[5] !== "." && m[5] !== ")" && m[5] !== ":") return null; // "I think B", "A-" ...
    if (letter !== letter.toUpperCase() && s.length > m[0].length) return null; // "a. tumour ..."
  }
  const l = letter.toUpperCase();
  return l in options ? l : null;
}

const ANSWER_OPEN_CI = /<answer>/i;
const ANSWER_CLOSE_CI = /<\/answer>/gi;

/** Loose extraction: the first `<answer>` in any case; its content up to `</answer>` (any case) or the end; first non-empty line. */
export function looseAnswer(s: string): string | null {
  const i = s.search(ANSWER_OPEN_CI);
  if (i === -1) return null;
  const from = i + ANSWER_OPEN.length;
  ANSWER_CLOSE_CI.lastIndex = from;
  const m = ANSWER_CLOSE_CI.exec(s);
  const body = s.slice(from, m ? m.index : s.length);
  let a = 0;
  while (a <= body.length) {
    let b = a;
    while (b < body.length && body[b] !== "\n" && body[b] !== "\r") b++;
    const t = pyStrip(body.slice(a, b));
    if (t) return t;
    a = b + 1;
  }
  return "";
}

/**
 * The training reward for one response. Pure; never throws on any response string (only on a
 * formatWeight outside [0, 1]). `item` needs only the options, the gold letter and the gold text.
 */
export function computeReward(response: string, item: Pick<Item, "options" | "answer_label" | "answer">, opts: RewardOptions = {}): RewardResult {
  const separate = opts.format === "separate";
  const format = formatOk(response);
  let score: 0 | 1 = 0;
  let reason: RewardResult["reason"] = "format";
  let extracted: string | null = null;
  let matched: MatchForm | null = null;
  let predicted: string | null = null;
  if (format || separate) {
    let tag = firstSingleLineAnswer(response);
    let found = tag !== null;
    // Upstream falls back to the whole stripped response when no answer tag matched.
    let ex = pyStrip(found ? (tag as string) : response);
    let pred = ex.toLowerCase();
    matched = matchOption(pred, item.answer_label, item.answer);
    predicted = mapToOption(pred, item.options);
    if (opts.extraction === "loose" && matched === null && predicted === null) {
      tag = looseAnswer(response);
      if (tag !== null) {
        found = true;
        ex = tag;
        pred = ex.toLowerCase();
        matched = matchOption(pred, item.answer_label, item.answer);
        predicted = mapToOption(pred, item.options) ?? looseLetter(ex, item.options);
        if (matched === null && predicted === item.answer_label) matched = "letter";
      }
    }
    if (matched !== null) {
      score = 1;
      reason = "correct";
      extracted = ex;
    } else {
      reason = found ? "wrong" : "no_answer";
      extracted = found ? ex : null;
      if (!found) predicted = null;
    }
  }
  const w = opts.formatWeight ?? 0.1;
  if (separate && !(w >= 0 && w <= 1)) throw new RangeError(`formatWeight must be in [0, 1], got ${w}`);
  const reward = separate ? (1 - w) * score + w * (format ? 1 : 0) : score;
  return { score, reason, extracted, matched, predicted, format, reward };
}

/** verl's custom reward signature (`compute_score(data_source, solution_str, ground_truth, extra_info)`). */
export function computeScore(
  _dataSource: string,
  solution: string,
  groundTruth: string,
  extraInfo: { answer: string; answer_label: string; options?: string | Record<string, string> },
): number {
  if (extraInfo.answer !== groundTruth) throw new Error(`Answer mismatch: ${extraInfo.answer} != ${groundTruth}`);
  const options = typeof extraInfo.options === "string" ? (JSON.parse(extraInfo.options) as Record<string, string>) : extraInfo.options ?? { [extraInfo.answer_label]: extraInfo.answer };
  return computeReward(solution, { options, answer_label: extraInfo.answer_label, answer: extraInfo.answer }).score;
}


export interface RewardBreakdown {
  n: number;
  /** Mean of `reward`. */
  mean_reward: number;
  /** Count per reason: format, no_answer, wrong, correct. */
  reasons: Record<RewardResult["reason"], number>;
  /** Count of correct answers per form: letter, text, letter_text. */
  matched: Record<MatchForm, number>;
  /** Responses that passed the format fullmatch. */
  format_ok: number;
}

/** Counts of why responses scored what they did, for failure breakdowns in notebooks and logs. */
export function summarizeRewards(results: Iterable<RewardResult>): RewardBreakdown {
  const out: RewardBreakdown = { n: 0, mean_reward: 0, reasons: { format: 0, no_answer: 0, wrong: 0, correct: 0 }, matched: { letter: 0, text: 0, letter_text: 0 }, format_ok: 0 };
  let sum = 0;
  for (const r of results) {
    out.n++;
    sum += r.reward;
    out.reasons[r.reason]++;
    if (r.matched) out.matched[r.matched]++;
    if (r.format) out.format_ok++;
  }
  out.mean_reward = out.n ? sum / out.n : NaN;
  return out;
}

/**
 * Options for closed VQA questions (VQA-RAD, SLAKE), which ship a question and a free answer.
 *
 * Upstream (UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data.py + extract_options.py)
 * asked GPT-4o to "extract all distinct answer options mentioned in the question": ["Yes", "No"]
 * for a yes/no answer, otherwise the alternatives the question names ("T1 or T2" -> ["T1", "T2"],
 * "left or right side" -> ["Left side", "Right side"]), in order, and required the answer among
 * them. We do the same without a model, by a fixed rule (recorded in misc.options_rule):
 *   "yes-no"  the answer is yes / no: options ["Yes", "No"] (the paper's rule);
 *   "list"    "Which ..., a, b or c?": the comma / "or" list after the first comma;
 *   "or"      "... a or b ...": the words either side of the last " or " (a comma list before it
 *             is kept: "T1 weighted, T2 weighted, or FLAIR"), same word count on each side;
 *   then the answer picks its alternative (same text, or its first word is the alternative:
 *   "Right side" -> "right" -> options "Left side" / "Right side"); an answer the question does not
 *   name is appended as the last option ("+answer" in the rule), so the key is always an option.
 *   "none"    no alternative could be read: the item is reported, not guessed.
 */

export interface ClosedOptions {
  options: string[];
  answerIndex: number;
  rule: string;
}

const ARTICLES = new Set(["a", "an", "the"]);
const words = (s: string) => s.split(/\s+/).filter(Boolean);
const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9 ]+/g, " ").replace(/\s+/g, " ").trim();
const cap = (s: string) => (s ? s[0].toUpperCase() + s.slice(1) : s);

/** The alternatives a question names, or [] when it names none. */
export function questionAlternatives(question: string, answer?: string): { alts: string[]; rule: string } {
  const q = question.trim().replace(/[?.!\s]+$/, "");
  const list = /^(which|where|what)\b[^,]*,(.+)$/i.exec(q);
  if (list && /\bor\b/i.test(list[2])) {
    const alts = list[2].split(/,|\bor\b/i).map((s) => s.trim()).filter(Boolean);
    if (alts.length >= 2) return { alts, rule: "list" };
  }
  const m = /^(.*)\s(?:or|vs\.?)\s(.*)$/i.exec(q);
  if (!m) return { alts: [], rule: "none" };
  const rightWords = words(m[2]).filter((w, i) => !(i === 0 && ARTICLES.has(w.toLowerCase())));
  const before = m[1].replace(/,\s*$/, "");
  const chunks = before.split(",").map((s) => s.trim()).filter(Boolean);
  const headWords = words(chunks[0] ?? "");
  let alts: string[];
  if (chunks.length > 1) {
    // "a T1 weighted, T2 weighted, or FLAIR": the chunks after the first are alternatives, and the
    // first one's tail has as many words as the second.
    const middle = chunks.slice(1);
    const k = words(middle[0]).length;
    alts = [headWords.slice(Math.max(0, headWords.length - k)).join(" "), ...middle, rightWords.slice(0, k).join(" ")];
  } else {
    const aw = words(norm(answer ?? ""));
    const n = aw.length;
    const rightHas = n > 0 && norm(rightWords.slice(0, n).join(" ")) === aw.join(" ");
    const leftHas = n > 0 && norm(headWords.slice(-n).join(" ")) === aw.join(" ");
    if (rightHas) {
      // "T1 weighted or T2 weighted MRI": skip the words both sides share before taking the left one.
      let s = 0;
      while (s < headWords.length - 1 && n + s < rightWords.length && norm(headWords[headWords.length - 1 - s]) === norm(rightWords[n + (s === 0 ? 0 : s)]) && s < 3) s++;
      const end = headWords.length - s;
      alts = [headWords.slice(Math.max(0, end - n), end).join(" "), rightWords.slice(0, n).join(" ")];
    } else if (leftHas) {
      alts = [headWords.slice(-n).join(" "), rightWords.slice(0, n).join(" ")];
    } else {
      alts = [headWords.slice(-1).join(" "), rightWords.slice(0, 1).join(" ")];
    }
  }
  alts = alts.map((s) => s.replace(/^(a|an|the)\s+/i, "").trim()).filter(Boolean);
  return alts.length >= 2 ? { alts, rule: "or" } : { alts: [], rule: "none" };
}

/** Match the answer against alternatives: same text, or its first word names a one-word alternative. */
function pick(alts: string[], answer: string, rule: string): ClosedOptions | null {
  const a = norm(answer);
  const upper = /^[A-Z]/.test(answer.trim());
  const shape = (s: string) => (upper ? cap(s) : s);
  const exact = alts.findIndex((x) => norm(x) === a);
  if (exact >= 0) return { options: alts.map((x, i) => (i === exact ? answer.trim() : shape(x))), answerIndex: exact, rule };
  // "FLAIR" for the alternative "FLAIR image": the answer names the alternative's first words.
  const prefix = alts.findIndex((x) => norm(x).startsWith(`${a} `));
  if (prefix >= 0) return { options: alts.map((x, i) => (i === prefix ? answer.trim() : shape(x))), answerIndex: prefix, rule };
  // "Right side" for "left or right side": each alternative takes the answer's other words.
  const [head, ...rest] = words(answer.trim());
  const byHead = alts.findIndex((x) => norm(x) === norm(head ?? ""));
  if (byHead >= 0 && rest.length > 0 && alts.every((x) => words(x).length === 1)) {
    const tail = rest.join(" ");
    return { options: alts.map((x, i) => (i === byHead ? answer.trim() : `${shape(x)} ${tail}`)), answerIndex: byHead, rule };
  }
  return null;
}

/** Options and the answer's position for a closed question; null when no rule applies. */
export function closedOptions(question: string, answer: string): ClosedOptions | null {
  const a = norm(answer);
  if (a === "yes" || a === "no") return { options: ["Yes", "No"], answerIndex: a === "yes" ? 0 : 1, rule: "yes-no" };
  // One-word answers read the alternatives with the answer in view (shared words such as
  // "T1 weighted or T2 weighted" are skipped); longer answers try one-word alternatives first.
  const one = words(a).length === 1 ? questionAlternatives(question, answer) : questionAlternatives(question);
  if (one.alts.length === 0) return null;
  const first = pick(one.alts, answer, one.rule);
  if (first) return first;
  // Multi-word answers: take as many words on the other side of "or" as the answer has.
  const many = one.rule === "or" ? questionAlternatives(question, answer) : one;
  const second = pick(many.alts, answer, many.rule);
  if (second) return second;
  const upper = /^[A-Z]/.test(answer.trim());
  const distinct = one.alts.filter((x, i) => one.alts.findIndex((y) => norm(y) === norm(x)) === i).map((x) => (upper ? cap(x) : x));
  return { options: [...distinct, answer.trim()], answerIndex: distinct.length, rule: `${one.rule}+answer` };
}

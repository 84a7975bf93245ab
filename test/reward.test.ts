import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { dataRoot } from "../src/paths";
import { computeReward, computeScore, firstSingleLineAnswer, formatOk, looseAnswer, looseLetter, summarizeRewards } from "../src/reward";

const ITEM = { options: { A: "Standard Deviation", B: "Mode", C: "Ménière disease", D: "Yes, always." }, answer_label: "B", answer: "Mode" };
const wrap = (answer: string, think = "reasoning") => `<think>${think}</think>\n<answer>${answer}</answer>`;

describe("formatOk = re.fullmatch(<think>.*?</think>\\s*<answer>.*?</answer>, re.DOTALL)", () => {
  const cases: [string, boolean][] = [
    ["<think>a</think><answer>B</answer>", true],
    ["<think>a</think> \n\t<answer>B</answer>", true],
    ["<think></think><answer></answer>", true],
    ["<think>a\nb</think>\n<answer>\nB\n</answer>", true], // DOTALL: newlines anywhere
    ["<think>a</think>x</think><answer>B</answer>", true], // a later </think> makes it match
    ["<think>a</think><answer>B</answer>junk</answer>", true], // .*? may span a </answer>
    ["<think>a</think><answer>A</answer><answer>B</answer>", true],
    ["<think><think>a</think></think><answer>B</answer>", true],
    [" <think>a</think><answer>B</answer>", false], // leading space
    ["<think>a</think><answer>B</answer>\n", false], // trailing newline
    ["<think>a</think>x<answer>B</answer>", false],
    ["<THINK>a</THINK><ANSWER>B</ANSWER>", false], // case matters
    ["<think>a</think><answer>B", false], // no closing tag
    ["<think>a<answer>B</answer>", false],
    ["<think>a</think>", false],
    ["", false],
    ["<think></answer>", false],
    ["<think></think<answer></answer>", false],
    ["<think>x</think><answer></answer", false],
    ["<think>a</think>\u00a0\u2003<answer>B</answer>", true], // Python \s: NBSP, em space
    ["<think>a</think>\x1c\x85<answer>B</answer>", true], // Python \s includes U+001C and U+0085
    ["<think>a</think>\ufeff<answer>B</answer>", false], // ...but not the BOM (JS \s does)
    ["<think></think><answer></answer></answer>", true],
  ];
  for (const [s, want] of cases) test(JSON.stringify(s), () => assert.equal(formatOk(s), want));
});

describe("firstSingleLineAnswer = re.search(<answer>(.*?)</answer>) without DOTALL", () => {
  const cases: [string, string | null][] = [
    ["<answer>B</answer>", "B"],
    ["<answer> b </answer>", " b "],
    ["<answer>\nB\n</answer>", null],
    ["<answer>\nB</answer><answer>C</answer>", "C"],
    ["<answer>a<answer>b</answer>", "a<answer>b"],
    ["<answer>B\r</answer>", "B\r"], // Python's . matches \r
    ["<answer>B", null],
    ["<answer>A</answer><answer>B</answer>", "A"],
    ["", null],
  ];
  for (const [s, want] of cases) test(JSON.stringify(s), () => assert.equal(firstSingleLineAnswer(s), want));
});

describe("computeReward: the published rule", () => {
  const cases: [string, string, 0 | 1, string, string | null][] = [
    // [name, response, score, reason, matched]
    ["letter", wrap("B"), 1, "correct", "letter"],
    ["letter, lowercase and padded", wrap("  b \t"), 1, "correct", "letter"],
    ["text", wrap("Mode"), 1, "correct", "text"],
    ["text, other case", wrap("MODE"), 1, "correct", "text"],
    ["letter. text", wrap("B. Mode"), 1, "correct", "letter_text"],
    ["letter.text without space", wrap("B.Mode"), 0, "wrong", null],
    ["wrong letter", wrap("A"), 0, "wrong", null],
    ["(B)", wrap("(B)"), 0, "wrong", null],
    ["B.", wrap("B."), 0, "wrong", null],
    ["B)", wrap("B)"), 0, "wrong", null],
    ["**B**", wrap("**B**"), 0, "wrong", null],
    ["Option B", wrap("Option B"), 0, "wrong", null],
    ["multi-line answer", wrap("\nB\n"), 0, "no_answer", null],
    ["empty answer", wrap(""), 0, "wrong", null],
    ["empty response", "", 0, "format", null],
    ["no think", "<answer>B</answer>", 0, "format", null],
    ["text after the answer", wrap("B") + " done", 0, "format", null],
    ["tags in other case", "<think>r</think><ANSWER>B</ANSWER>", 0, "format", null],
    ["missing closing tag", "<think>r</think><answer>B", 0, "format", null],
    ["answers repeated: first counts", "<think>r</think><answer>B</answer><answer>A</answer>", 1, "correct", "letter"],
    ["answers repeated: first counts (wrong first)", "<think>r</think><answer>A</answer><answer>B</answer>", 0, "wrong", null],
    ["an answer inside think counts first", "<think>maybe <answer>A</answer></think><answer>B</answer>", 0, "wrong", null],
    ["nested answers", "<think>r</think><answer><answer>B</answer></answer>", 0, "wrong", null],
    ["NBSP stripped (Python strip)", wrap("\u00a0B\u2003"), 1, "correct", "letter"],
    ["BOM not stripped (Python strip)", wrap("\ufeffB"), 0, "wrong", null],
    ["unicode case", wrap("MÉNIÈRE DISEASE"), 0, "wrong", null],
  ];
  for (const [name, response, score, reason, matched] of cases) {
    test(name, () => {
      const r = computeReward(response, ITEM);
      assert.equal(r.score, score);
      assert.equal(r.reason, reason);
      assert.equal(r.matched, matched);
      assert.equal(r.reward, score);
    });
  }

  test("unicode case folds for the gold option", () => {
    const item = { ...ITEM, answer_label: "C", answer: "Ménière disease" };
    assert.equal(computeReward(wrap("MÉNIÈRE DISEASE"), item).score, 1);
    assert.equal(computeReward(wrap("c. ménière DISEASE"), item).matched, "letter_text");
  });

  test("option text with punctuation must match exactly", () => {
    const item = { ...ITEM, answer_label: "D", answer: "Yes, always." };
    assert.equal(computeReward(wrap("yes, always."), item).score, 1);
    assert.equal(computeReward(wrap("Yes, always"), item).score, 0);
  });

  test("reports what was extracted and which option it names", () => {
    const r = computeReward(wrap(" standard deviation "), ITEM);
    assert.deepEqual([r.score, r.reason, r.extracted, r.predicted, r.format], [0, "wrong", "standard deviation", "A", true]);
    const f = computeReward("no tags", ITEM);
    assert.deepEqual([f.extracted, f.predicted, f.format], [null, null, false]);
    const n = computeReward(wrap("\nB\n"), ITEM);
    assert.deepEqual([n.extracted, n.predicted], [null, null]);
  });

  test("yes/no questions", () => {
    const yn = { options: { A: "Yes", B: "No" }, answer_label: "B", answer: "No" };
    assert.equal(computeReward(wrap("no"), yn).score, 1);
    assert.equal(computeReward(wrap("B"), yn).score, 1);
    assert.equal(computeReward(wrap("No."), yn).score, 0);
    assert.equal(computeReward(wrap("Yes"), yn).score, 0);
  });

  test("26 options", () => {
    const options: Record<string, string> = {};
    for (let i = 0; i < 26; i++) options[String.fromCharCode(65 + i)] = `choice ${i}`;
    const item = { options, answer_label: "Z", answer: "choice 25" };
    assert.equal(computeReward(wrap("Z"), item).score, 1);
    assert.equal(computeReward(wrap("z. CHOICE 25"), item).score, 1);
    assert.equal(computeReward(wrap("Y"), item).predicted, "Y");
  });

  test("MedQA 709 quirk: option texts that are letters", () => {
    // options A:"B" B:"C" C:"D" D:"E", gold A. The bare "B" equals the gold TEXT, so it scores 1.
    const item = { options: { A: "B", B: "C", C: "D", D: "E" }, answer_label: "A", answer: "B" };
    assert.deepEqual([computeReward(wrap("B"), item).score, computeReward(wrap("B"), item).matched], [1, "text"]);
    assert.equal(computeReward(wrap("A"), item).score, 1);
    assert.equal(computeReward(wrap("C"), item).predicted, "B"); // first option in letter order whose letter/text matches
  });

  test("summarizeRewards counts reasons and match forms", () => {
    const rs = [wrap("B"), wrap("mode"), wrap("A"), wrap("\nB\n"), "oops", wrap("B. Mode")].map((r) => computeReward(r, ITEM));
    assert.deepEqual(summarizeRewards(rs), {
      n: 6,
      mean_reward: 3 / 6,
      reasons: { format: 1, no_answer: 1, wrong: 1, correct: 3 },
      matched: { letter: 1, text: 1, letter_text: 1 },
      format_ok: 5,
    });
    assert.ok(Number.isNaN(summarizeRewards([]).mean_reward));
  });

  test("verl compute_score signature", () => {
    const extra = { answer: "Mode", answer_label: "B", options: JSON.stringify(ITEM.options) };
    assert.equal(computeScore("m23k", wrap("B"), "Mode", extra), 1);
    assert.equal(computeScore("m23k", wrap("A"), "Mode", extra), 0);
    assert.throws(() => computeScore("m23k", wrap("B"), "Mean", extra), /Answer mismatch/);
  });
});

describe("computeReward variants (off by default)", () => {
  test("separate format reward: weighted sum, accuracy scored without the gate", () => {
    const bad = "I think <answer>B</answer>";
    const r = computeReward(bad, ITEM, { format: "separate" });
    assert.deepEqual([r.score, r.format, r.reason], [1, false, "correct"]);
    assert.ok(Math.abs(r.reward - 0.9) < 1e-12);
    const w = computeReward(wrap("A"), ITEM, { format: "separate", formatWeight: 0.5 });
    assert.deepEqual([w.score, w.format, w.reward], [0, true, 0.5]);
    assert.equal(computeReward(wrap("B"), ITEM, { format: "separate" }).reward, 1);
    assert.throws(() => computeReward(wrap("B"), ITEM, { format: "separate", formatWeight: 2 }), RangeError);
  });

  test("loose extraction reads decorated letters", () => {
    for (const a of ["(B)", "B.", "B)", "**B**", "Option B", "option b", "Answer: B", "The correct answer is B", "[B]", "B. mode!", "**(B)**", "B: Mode", "**Answer:** B", "**Answer: B**", "_Option B_"]) {
      const r = computeReward(wrap(a), ITEM, { extraction: "loose" });
      assert.equal(r.score, 1, a);
      assert.equal(r.predicted, "B", a);
    }
    for (const a of ["I think B", "A.", "(A)", "a. mode", "Bmode", "B-cell", ""]) assert.equal(computeReward(wrap(a), ITEM, { extraction: "loose" }).score, 0, a);
  });

  test("loose extraction: multi-line, other-case and unclosed answer tags", () => {
    assert.equal(computeReward(wrap("\n\n  B\nbecause"), ITEM, { extraction: "loose" }).score, 1);
    assert.equal(looseAnswer("<ANSWER>\n B \n</Answer>"), "B");
    assert.equal(looseAnswer("x <Answer> (B) and more"), "(B) and more");
    assert.equal(looseAnswer("<answer>\n \n</answer>"), "");
    assert.equal(looseAnswer("no tag"), null);
    // the format gate still applies unless format: "separate"
    assert.equal(computeReward("<think>r</think><ANSWER>B</ANSWER>", ITEM, { extraction: "loose" }).score, 0);
    assert.equal(computeReward("<think>r</think><ANSWER>B</ANSWER>", ITEM, { extraction: "loose", format: "separate" }).score, 1);
  });

  test("looseLetter only returns letters that are options", () => {
    assert.equal(looseLetter("(E)", ITEM.options), null);
    assert.equal(looseLetter("(d)", ITEM.options), "D");
  });
});

/** MedAgentsBench jsonl read inline (the data layer is written in parallel). */
function medagents(rel: string): { id: string; options: Record<string, string>; answer_label: string; answer: string }[] {
  return readFileSync(join(dataRoot(), rel), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l);
      return { id: String(r.realidx), options: r.options, answer_label: r.answer_idx, answer: r.answer };
    });
}

describe("real data: every gold form scores 1, every other option 0", () => {
  // [file, records, items whose gold text holds a newline (cannot be written on one answer line),
  //  other-option forms that equal a gold form once lowercased (published ambiguity)]
  const sets: [string, number, number, string[]][] = [
    ["medqa/test.jsonl", 1273, 5, ["709:B:letter"]],
    ["mmlu-med/test.jsonl", 1089, 0, []],
    ["medxpertqa-text/test.jsonl", 1861, 8, []],
    ["pubmedqa/test.jsonl", 500, 0, []],
  ];
  for (const [file, count, newlineGold, collisions] of sets) {
    test(file, () => {
      const items = medagents(file);
      assert.equal(items.length, count);
      let multiLine = 0;
      const seen: string[] = [];
      for (const it of items) {
        const oneLine = !it.answer.includes("\n");
        if (!oneLine) multiLine++;
        const L = it.answer_label;
        const gold: [string, boolean][] = [
          [L, true],
          [L.toLowerCase(), true],
          [` ${L} `, true],
          [it.answer, oneLine],
          [it.answer.toUpperCase(), oneLine && it.answer.toUpperCase().toLowerCase() === it.answer.toLowerCase()],
          [`${L}. ${it.answer}`, oneLine],
        ];
        for (const [form, ok] of gold) assert.equal(computeReward(wrap(form), it).score, ok ? 1 : 0, `${it.id} gold form ${JSON.stringify(form)}`);
        for (const [l, text] of Object.entries(it.options)) {
          if (l === L) continue;
          for (const [kind, form] of [["letter", l], ["text", text], ["letter_text", `${l}. ${text}`]] as const) {
            const s = computeReward(wrap(form), it).score;
            if (s === 1) seen.push(`${it.id}:${l}:${kind}`);
          }
        }
      }
      assert.equal(multiLine, newlineGold);
      assert.deepEqual(seen, collisions);
    });
  }

  test("MedXpertQA Text-345 / Text-1978: options differing only in case", () => {
    const items = medagents("medxpertqa-text/test.jsonl");
    const t345 = items.find((i) => i.id === "Text-345")!;
    assert.equal(t345.options.A, "Standard Deviation");
    assert.equal(t345.options.G, "Standard deviation");
    // Published behaviour: lowercased comparison cannot tell A from G; the text maps to the first, A.
    assert.equal(computeReward(wrap("Standard deviation"), t345).predicted, "A");
    assert.equal(computeReward(wrap("G"), t345).predicted, "G");
    assert.equal(computeReward(wrap("G. Standard deviation"), t345).predicted, "G"); // the letter form disambiguates
    assert.equal(computeReward(wrap("Standard deviation"), t345).score, 0); // gold is B "Mode"
  });
});

describe("properties (fast-check)", () => {
  const tokens = fc.constantFrom("<think>", "</think>", "<answer>", "</answer>", "\n", " ", "\r", "\u00a0", "\x1c", "\ufeff", "B", "b", "A", "Mode", "MODE", "B. Mode", "(B)", "x");
  const soup = fc.array(tokens, { maxLength: 20 }).map((a) => a.join(""));
  const PY_WS = "[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  const FORMAT = new RegExp(`^<think>[\\s\\S]*?</think>${PY_WS}*<answer>[\\s\\S]*?</answer>$`);

  test("never throws, always 0 or 1 (arbitrary strings)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), soup), (s) => {
        for (const opts of [{}, { extraction: "loose" as const }]) {
          const r = computeReward(s, ITEM, opts);
          assert.ok(r.score === 0 || r.score === 1);
          assert.equal(r.reward, r.score);
          assert.ok(r.predicted === null || r.predicted in ITEM.options);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test("formatOk agrees with the backtracking regex on short strings", () => {
    fc.assert(fc.property(soup, (s) => assert.equal(formatOk(s), FORMAT.test(s), JSON.stringify(s))), { numRuns: 5000 });
  });

  test("firstSingleLineAnswer agrees with the regex", () => {
    fc.assert(
      fc.property(soup, (s) => {
        const m = /<answer>(.*?)<\/answer>/.exec(s.replace(/[\r\u2028\u2029]/g, "\u0001")); // JS . also stops at \r, U+2028/9
        const got = firstSingleLineAnswer(s);
        assert.equal(got === null ? null : got.replace(/[\r\u2028\u2029]/g, "\u0001"), m ? m[1] : null, JSON.stringify(s));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("linear time on 1 MB adversarial responses", () => {
  const MB = 1 << 20;
  const adversarial: [string, string][] = [
    ["many </think> without <answer>", "<think>" + "</think> \n".repeat(MB / 10) + "</answer>"],
    ["many <answer> without close", "<think>a</think><answer>" + "<answer>".repeat(MB / 8)],
    ["many <answer> with a far close after a newline", "<think>a</think>" + "<answer>".repeat(MB / 8) + "\n</answer>"],
    ["whitespace run", "<think>a</think>" + " ".repeat(MB) + "x</answer>"],
    ["think-close then whitespace repeated", "<think>" + "</think>      ".repeat(MB / 14) + "</answer>"],
    ["plain text", "x".repeat(MB)],
  ];
  for (const [name, s] of adversarial) {
    test(name, () => {
      const t0 = performance.now();
      for (const opts of [{}, { format: "separate" as const, extraction: "loose" as const }]) computeReward(s, ITEM, opts);
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `${name}: ${ms.toFixed(0)} ms for 1 MB`);
    });
  }
});

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import fc from "fast-check";
import { formatReport, gradeFile, optionsFromPrompt, summarize } from "../src/cli/grade";
import { extractPrediction, gradeResponse, lastAnswerBlock, majorityVote, passAtK, sampleMetrics } from "../src/grade";
import { dataRoot, REPO_ROOT } from "../src/paths";
import { buildPrompt } from "../src/prompt";

const OPTS = { A: "Standard Deviation", B: "Mode", C: "Ménière disease", D: "Yes, always." };

describe("extractPrediction = upstream _extract_answer + tag removal", () => {
  const cases: [string, string, string][] = [
    // [response, extracted, via]
    ["<answer>A</answer> then <answer>B</answer>", "B", "answer_tag"], // the LAST block
    ["<answer>\n  B. Mode\nbecause\n</answer>", "B. Mode", "answer_tag"], // first line
    ["<answer>x\rY</answer>", "x", "answer_tag"], // \r ends the line too
    ["<answer></answer>", "", "answer_tag"],
    ["<answer> \n </answer> answer: B", "", "answer_tag"], // an empty block still wins over fallbacks
    ["<answer>a<answer>b</answer>", "ab", "answer_tag"], // non-overlapping: group "a<answer>b", tags removed
    ["<answer>A</answer><answer>B", "A", "answer_tag"],
    ["The answer is: B", "B", "fallback"],
    ["Answer: C\nmore text", "C", "fallback"],
    ["answer:\n\n B", "B", "fallback"], // \s* crosses lines
    ["answer: A answer: B", "A answer: B", "fallback"], // one match per line, from its first key
    ["answer: A\nanswer: B", "B", "fallback"],
    ["answer is: A\nAnswer: B", "B", "fallback"], // "answer:" is tried before "answer is:"
    ["The answer is B.", "B.", "fallback"],
    ["the answer isn't clear", "n't clear", "fallback"],
    ["This is: C", "C", "fallback"],
    ["ANſWER: D", "D", "fallback"], // Python re.I folds U+017F to s
    ["THİS: E", "E", "fallback"], // ... and U+0130 to i
    ["just text", "just text", "none"],
    ["", "", "none"],
    ["<think>abc</think>", "abc", "none"],
    ["<ANSWER>B</ANSWER>", "<ANSWER>B</ANSWER>", "none"], // tags are case-sensitive
    ["<think>r</think><answer>B", "rB", "none"], // missing close: whole text, tags removed
    ["  \u00a0B\u00a0 ", "B", "none"],
  ];
  for (const [s, want, via] of cases) test(JSON.stringify(s), () => assert.deepEqual(extractPrediction(s), { extracted: want, via }));

  test("lastAnswerBlock", () => {
    assert.equal(lastAnswerBlock("x"), null);
    assert.equal(lastAnswerBlock("<answer>a</answer><answer>b\nc</answer>"), "b\nc");
  });
});

describe("gradeResponse", () => {
  const cases: [string, boolean, string | null][] = [
    ["<answer>B</answer>", true, "B"],
    ["<answer> b </answer>", true, "B"],
    ["<answer>mode</answer>", true, "B"],
    ["<answer>B. Mode</answer>", true, "B"],
    ["<answer>(B)</answer>", false, null],
    ["<answer>**B**</answer>", false, null],
    ["<answer>B.</answer>", false, null],
    ["<answer>Option B</answer>", false, null],
    ["<answer>A</answer>", false, "A"],
    ["Final answer: b", true, "B"],
    ["<answer>MÉNIÈRE DISEASE</answer>", false, "C"],
    ["<answer>yes, always.</answer>", false, "D"],
    ["", false, null],
  ];
  for (const [s, correct, predicted] of cases) {
    test(JSON.stringify(s), () => {
      const g = gradeResponse(s, OPTS, "B");
      assert.equal(g.correct, correct);
      assert.equal(g.predicted, predicted);
      assert.equal(g.vote, predicted ?? g.extracted);
    });
  }

  test("loose variant reads decorated letters", () => {
    for (const a of ["(B)", "**B**", "B.", "B)", "Option B", "[b]"]) {
      const g = gradeResponse(`<answer>${a}</answer>`, OPTS, "B", { extraction: "loose" });
      assert.deepEqual([g.correct, g.predicted, g.matched], [true, "B", "loose_letter"], a);
    }
    assert.equal(gradeResponse("<answer>(A)</answer>", OPTS, "B", { extraction: "loose" }).correct, false);
  });

  test("llava_med_rule: option text contained in the prediction", () => {
    const s = "I believe it is the mode of the data";
    assert.equal(gradeResponse(s, OPTS, "B").correct, false);
    const g = gradeResponse(s, OPTS, "B", { llavaMedRule: true });
    assert.deepEqual([g.correct, g.predicted, g.matched], [true, "B", "llava_med"]);
  });

  test("yes/no and 26 options", () => {
    assert.equal(gradeResponse("<answer>No</answer>", { A: "Yes", B: "No" }, "B").correct, true);
    const many: Record<string, string> = {};
    for (let i = 0; i < 26; i++) many[String.fromCharCode(65 + i)] = `opt ${i}`;
    assert.equal(gradeResponse("answer: z", many, "Z").correct, true);
    assert.equal(gradeResponse("<answer>opt 3</answer>", many, "Z").predicted, "D");
  });
});

describe("sampleMetrics", () => {
  test("hand-computed, k = 3", () => {
    const correct = [
      [true, false, true],
      [false, false, false],
      [false, true, false],
    ];
    const predicted = [
      ["A", "B", "A"],
      ["C", null, null],
      ["B", "A", "B"],
    ];
    const m = sampleMetrics(correct, predicted, ["A", "D", "A"]);
    assert.deepEqual(m, { accuracy: 3 / 9, avg_correct: (2 / 3 + 0 + 1 / 3) / 3, pass_at_k: 2 / 3, majority_at_k: 1 / 3, n_items: 3, k: 3 });
  });

  test("uneven k: accuracy pools samples, avg_correct averages items", () => {
    const m = sampleMetrics([[true], [false, false, false]], [["A"], ["B", "B", "B"]], ["A", "A"]);
    assert.equal(m.accuracy, 1 / 4);
    assert.equal(m.avg_correct, 1 / 2);
    assert.equal(m.k, 3);
  });

  test("bad shapes throw, empty gives NaN", () => {
    assert.throws(() => sampleMetrics([[true]], [], ["A"]), RangeError);
    assert.throws(() => sampleMetrics([[]], [[]], ["A"]), RangeError);
    assert.ok(Number.isNaN(sampleMetrics([], [], []).accuracy));
  });

  test("majority ties go to the first seen (Counter.most_common)", () => {
    assert.equal(majorityVote(["B", "A", "A", "B"]), "B");
    assert.equal(majorityVote(["C", "A", "A"]), "A");
    assert.equal(majorityVote([]), undefined);
  });

  test("unbiased pass@k", () => {
    assert.equal(passAtK(5, 0, 1), 0);
    assert.ok(Math.abs(passAtK(5, 1, 1) - 0.2) < 1e-12);
    assert.ok(Math.abs(passAtK(4, 2, 2) - (1 - 1 / 6)) < 1e-12);
    assert.equal(passAtK(4, 3, 2), 1);
    assert.throws(() => passAtK(2, 1, 3), RangeError);
  });
});

function medagents(rel: string) {
  return readFileSync(join(dataRoot(), rel), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l);
      return { id: String(r.realidx), question: r.question as string, options: r.options as Record<string, string>, answer_label: r.answer_idx as string, answer: r.answer as string };
    });
}

describe("real data", () => {
  for (const [file, count] of [
    ["medqa/test.jsonl", 1273],
    ["medxpertqa-text/test.jsonl", 1861],
    ["mmlu-med/test.jsonl", 1089],
  ] as const) {
    test(`${file}: gold forms correct; other letters map to themselves`, () => {
      const items = medagents(file);
      assert.equal(items.length, count);
      const odd: string[] = [];
      for (const it of items) {
        const L = it.answer_label;
        for (const form of [L, `<answer>${L.toLowerCase()}</answer>`, `answer: ${L}`, `<answer>${L}. ${it.answer}</answer>`]) {
          const g = gradeResponse(form, it.options, L);
          if (!g.correct || g.predicted !== L) odd.push(`${it.id}:${JSON.stringify(form).slice(0, 30)}`);
        }
        for (const l of Object.keys(it.options)) {
          if (l === L) continue;
          const g = gradeResponse(`<answer>${l}</answer>`, it.options, L);
          if (g.correct || g.predicted !== l) odd.push(`${it.id}:${l}`);
        }
      }
      // gold texts with a newline: only the first line is read, so "L. text" fails (5 MedQA, 8 MedXpertQA);
      // MedQA 709 has option texts that are letters (A:"B", B:"C", C:"D", D:"E"): "B" maps to A (and
      // is graded correct), "C" to B, "D" to C, because the first option in letter order wins.
      const expected: Record<string, number> = { "medqa/test.jsonl": 5 + 3, "medxpertqa-text/test.jsonl": 8, "mmlu-med/test.jsonl": 0 };
      assert.equal(odd.length, expected[file], odd.join(" / "));
    });
  }

  test("MedXpertQA Text-345: the text of G maps to A (first match), as upstream", () => {
    const it = medagents("medxpertqa-text/test.jsonl").find((i) => i.id === "Text-345")!;
    assert.equal(gradeResponse("<answer>Standard deviation</answer>", it.options, "B").predicted, "A");
    assert.equal(gradeResponse("<answer>G. Standard deviation</answer>", it.options, "B").predicted, "G");
    const t1978 = medagents("medxpertqa-text/test.jsonl").find((i) => i.id === "Text-1978")!;
    assert.equal(gradeResponse("<answer>somato-somatic reflex</answer>", t1978.options, "I").predicted, "A");
  });

  test("options recovered from a chat-templated prompt (eval/run_offline_inference.py)", () => {
    const templated = `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>${buildPrompt({ question: "Q", options: { A: "x", B: "y z" } })}<|im_end|>\n<|im_start|>assistant\n`;
    assert.deepEqual(optionsFromPrompt(templated), { A: "x", B: "y z" });
    assert.equal(optionsFromPrompt("no options here"), null);
    assert.equal(optionsFromPrompt("Options:\n\nB. x\n\nC. y"), null); // must start at A
  });

  test("options recovered from the official prompt for every MedQA item", () => {
    for (const it of medagents("medqa/test.jsonl")) assert.deepEqual(optionsFromPrompt(buildPrompt(it)), it.options, it.id);
  });
});

describe("properties and linear time", () => {
  test("never throws; predicted is an option or null", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => {
        for (const o of [{}, { extraction: "loose" as const, llavaMedRule: true }]) {
          const g = gradeResponse(s, OPTS, "B", o);
          assert.equal(typeof g.correct, "boolean");
          assert.ok(g.predicted === null || g.predicted in OPTS);
        }
      }),
      { numRuns: 2000 },
    );
  });

  const MB = 1 << 20;
  for (const [name, s] of [
    ["many answer:", "answer:".repeat(MB / 7)],
    ["many 'answer is'", "answer is ".repeat(MB / 10)],
    ["many is: on one line then newline", "is:".repeat(MB / 3) + "\n"],
    ["many <answer>", "<answer>".repeat(MB / 8)],
    ["many blocks", "<answer>x</answer>".repeat(MB / 17)],
    ["whitespace", " ".repeat(MB)],
  ] as const) {
    test(`1 MB: ${name}`, () => {
      const t0 = performance.now();
      gradeResponse(s, OPTS, "B", { extraction: "loose" });
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    });
  }
});

describe("grade CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "grade-"));
  const item = { question: "Is it?", options: { A: "Yes", B: "No" } };
  const prompt = buildPrompt(item);
  const lines = [
    // upstream run_offline_inference_v2.py output (vLLM prompt string with an <image> line)
    { dp_index: 0, prompts: "<image>\n" + prompt, dataset_name: "slake", dataset_index: 3, answer_label: "B", answer: "No", parsed_outputs: [{ output_text: "<think>t</think><answer>B</answer>", pred_letter: "B", is_correct: true }, { output_text: "The answer is: no", pred_letter: "x", is_correct: false }, { output_text: "<answer>A</answer>", pred_letter: "A", is_correct: false }], num_rollouts: 3, num_correct: 1 },
    // upstream run_api_inference.py output (messages with image_url nulled)
    { dp_index: 1, prompts: [{ role: "user", content: [{ type: "image_url", image_url: null }, { type: "text", text: prompt }] }], dataset_name: "slake", dataset_index: 4, answer_label: "A", answer: "Yes", parsed_outputs: [{ output_text: "<answer>(A)</answer>" }, { output_text: "<answer>no</answer>" }, { output_text: "<answer>(A)</answer>" }], num_rollouts: 3, num_correct: 0 },
    // an item plus a response
    { item: { options: JSON.stringify({ A: "x", B: "y", C: "z" }), answer_label: "C", dataset_name: "medqa" }, response: "<answer>C. z</answer>" },
    // looked up in --items by dataset_name + dataset_index
    { dataset_name: "medqa", dataset_index: 7, response: "Answer: B" },
  ];
  const file = join(dir, "pred.jsonl");
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const items = join(dir, "items.jsonl");
  writeFileSync(items, JSON.stringify({ id: "q7", question: "q", options: { A: "a", B: "b" }, answer_label: "B", answer: "b", dataset_name: "medqa", dataset_index: 7 }) + "\n");

  test("gradeFile + summarize on upstream and generic lines", async () => {
    const graded = await gradeFile(file, { items });
    assert.equal(graded.length, 4);
    const r = summarize(graded);
    assert.deepEqual(Object.keys(r.benchmarks), ["medqa", "slake"]);
    assert.equal(r.benchmarks.medqa.accuracy, 1);
    const s = r.benchmarks.slake;
    assert.deepEqual([s.n_items, s.k, s.accuracy, s.pass_at_k, s.majority_at_k], [2, 3, 2 / 6, 1 / 2, 1 / 2]);
    // with --loose "(A)" counts: item 2 gets 2/3 correct and majority A
    const loose = summarize(await gradeFile(file, { items, extraction: "loose" })).benchmarks.slake;
    assert.deepEqual([loose.accuracy, loose.majority_at_k], [4 / 6, 1]);
    assert.match(formatReport(r), /slake\s+2\s+3\s+33\.33/);
  });

  test("--items a dataset name: lookup by id (source id) and by row (upstream dataset[dataset_index])", async () => {
    const medqa = readFileSync(join(dataRoot(), "medqa/test.jsonl"), "utf8").split("\n").slice(0, 3).map((l) => JSON.parse(l));
    const f = join(dir, "by-id.jsonl");
    writeFileSync(
      f,
      [
        { id: medqa[0].realidx, response: `<answer>${medqa[0].answer_idx}</answer>` },
        { dataset_index: 1, responses: [`<answer>${medqa[1].answer}</answer>`, "<answer>Z</answer>"] },
        { id: medqa[2].realidx, response: "no answer at all" },
      ]
        .map((l) => JSON.stringify(l))
        .join("\n"),
    );
    const r = summarize(await gradeFile(f, { items: "medqa" }));
    assert.deepEqual(Object.keys(r.benchmarks), ["medqa"]);
    assert.deepEqual([r.overall.n_items, r.overall.accuracy, r.overall.avg_correct, r.overall.no_answer], [3, 2 / 4, 1 / 2, 1 / 4]);
  });

  test("bad input names the file, line and field", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"response": "x", "options": {"A": "a", "B": "b"}, "answer_label": "A"}\n{"response": "x"}\n');
    await assert.rejects(gradeFile(bad), (e: Error) => e.name === "DataError" && /bad\.jsonl: record line 2: field 'options'/.test(e.message));
    writeFileSync(bad, "{oops\n");
    await assert.rejects(gradeFile(bad), /record line 1: field '\(json\)'/);
    writeFileSync(bad, JSON.stringify({ ...lines[0], answer: "Maybe" }) + "\n");
    await assert.rejects(gradeFile(bad), /field 'answer'/);
  });

  test("medvlthinker grade --json runs end to end", async () => {
    const out = join(dir, "graded.jsonl");
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, "bin/medvlthinker.js"), "grade", file, "--items", items, "--json", "--out", out]);
    const report = JSON.parse(stdout);
    assert.equal(report.overall.n_items, 4);
    const regraded = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(regraded.length, 4);
    // upstream's regrade fields: "The answer is: no" now counts; "(A)"... stays wrong in item 2
    assert.deepEqual(
      regraded[0].parsed_outputs.map((o: { pred_letter: string; is_correct: boolean }) => [o.pred_letter, o.is_correct]),
      [["B", true], ["B", true], ["A", false]],
    );
    assert.deepEqual(
      [regraded[0].prev_num_correct, regraded[0].num_correct, regraded[0].majority_vote_pred_letter, regraded[0].majority_at_num_rollouts, regraded[0].options],
      [1, 2, "B", true, { A: "Yes", B: "No" }],
    );
    assert.deepEqual([regraded[1].majority_vote_pred_letter, regraded[1].pass_at_num_rollouts], ["(A)", false]);
    const fail = await promisify(execFile)(process.execPath, [join(REPO_ROOT, "bin/medvlthinker.js"), "grade", join(dir, "missing.jsonl")]).catch((e) => e);
    assert.equal(fail.code, 1);
    assert.match(fail.stderr, /^error: cannot read/);
  });
});

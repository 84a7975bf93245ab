/**
 * The Python reward verl loads (src/cluster/verl_reward.py) against the TypeScript reference
 * (src/reward.ts computeScore) on 100,000+ responses, random and adversarial, run with the system
 * python3: every score and every raised mismatch must agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeScore } from "../src/reward";
import { Rng } from "../src/train/runs";
import { rewardPy } from "../src/cluster/bundle";

const WS = [" ", "  ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u00a0", "\u2003", "\u2028", "\u3000", "\ufeff", "\u200b", ""];
const WORDS = ["Yes", "no", "İstanbul", "STRASSE", "straße", "ΣΟΦΟΣ", "σοφος", "𐐀x", "ﬁne", "the answer is", "A)", "(B)", "B.", "Option C", "answer:", "<think>", "</think>", "<answer>", "</answer>", "<ANSWER>", "<answer", "answer>", "\\n", "Ⅻ", "ǅ"];
const TEXTS = ["Yes", "No", "Aspirin", "aspirin ", " Heparin", "B", "C", "Left lung\nupper lobe", "İlaç", "straße", "ΣΟΦΟΣ", "MRI", "mri", "T1-weighted", "𐐀lpha", "None of the above", "a", "\u00a0spaced\u00a0"];

function pick<T>(r: Rng, xs: readonly T[]): T {
  return xs[r.int(xs.length)];
}

function makeItem(r: Rng): { options: Record<string, string>; label: string; answer: string } {
  const n = 2 + r.int(4);
  const options: Record<string, string> = {};
  for (let i = 0; i < n; i++) options[String.fromCharCode(65 + i)] = pick(r, TEXTS);
  const label = String.fromCharCode(65 + r.int(n));
  return { options, label, answer: options[label] };
}

/** An answer candidate: the letter, the text, "L. text", another option, in random case and spacing. */
function candidate(r: Rng, it: ReturnType<typeof makeItem>): string {
  const letters = Object.keys(it.options);
  const l = r.uniform() < 0.7 ? it.label : pick(r, letters);
  const forms = [l, it.options[l], `${l}. ${it.options[l]}`, `${l}.${it.options[l]}`, `${l}) ${it.options[l]}`, pick(r, WORDS), ""];
  let s = pick(r, forms);
  const c = r.int(4);
  if (c === 1) s = s.toUpperCase();
  else if (c === 2) s = s.toLowerCase();
  return pick(r, WS) + s + pick(r, WS);
}

/** Well-formed, near-miss and random responses. */
function response(r: Rng, it: ReturnType<typeof makeItem>): string {
  const kind = r.int(6);
  const think = () => Array.from({ length: r.int(4) }, () => pick(r, [...WORDS, ...WS])).join(pick(r, [" ", "\n", ""]));
  if (kind <= 2) {
    // <think>..</think> ws <answer>..</answer>, sometimes with junk before/after or a second block
    let s = `<think>${think()}</think>${pick(r, WS)}<answer>${candidate(r, it)}</answer>`;
    const twist = r.int(8);
    if (twist === 0) s = pick(r, WS) + s;
    else if (twist === 1) s += pick(r, WS);
    else if (twist === 2) s += `<answer>${candidate(r, it)}</answer>`;
    else if (twist === 3) s = s.replace("<answer>", `<answer>\n`);
    else if (twist === 4) s = `<think>${think()}</think><answer>x</answer>${think()}<answer>${candidate(r, it)}</answer>`;
    return s;
  }
  if (kind === 3) {
    // multi-line answers, nested and unclosed tags
    return `<think>${think()}<answer>${candidate(r, it)}\n</answer></think>${pick(r, WS)}<answer>${candidate(r, it)}${pick(r, ["</answer>", "", "</answer>\n"])}`;
  }
  // random concatenations of tags, words, whitespace and candidates
  const parts = ["<think>", "</think>", "<answer>", "</answer>", ...WORDS, ...WS];
  return Array.from({ length: 1 + r.int(12) }, () => (r.uniform() < 0.2 ? candidate(r, it) : pick(r, parts))).join("");
}

test("the Python reward equals the TypeScript reward on 100,000+ responses (system python3)", { timeout: 300_000 }, () => {
  const py = spawnSync("python3", ["--version"], { encoding: "utf8" });
  assert.equal(py.status, 0, "python3 is needed for this test");
  const r = new Rng(20260503);
  const cases: { s: string; gt: string; extra: { answer: string; answer_label: string; options: string } }[] = [];
  const N = 100_500;
  for (let i = 0; i < N; i++) {
    const it = makeItem(r);
    // A few rows whose ground truth differs from extra_info.answer: both must refuse them.
    const gt = i % 5000 === 7 ? `${it.answer}!` : it.answer;
    cases.push({ s: response(r, it), gt, extra: { answer: it.answer, answer_label: it.label, options: JSON.stringify(it.options) } });
  }
  const expected = cases.map((c) => {
    try {
      return String(computeScore("medvlthinker", c.s, c.gt, c.extra));
    } catch {
      return "error";
    }
  });
  const dir = mkdtempSync(join(tmpdir(), "reward-py-"));
  try {
    writeFileSync(join(dir, "reward.py"), rewardPy());
    writeFileSync(join(dir, "cases.jsonl"), cases.map((c) => JSON.stringify([c.s, c.gt, c.extra])).join("\n") + "\n");
    const driver = [
      "import importlib.util, json, sys",
      `spec = importlib.util.spec_from_file_location("custom_module", sys.argv[1])`,
      "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)",
      "out = []",
      "for line in open(sys.argv[2], encoding='utf-8'):",
      "    s, gt, extra = json.loads(line)",
      "    try:",
      "        v = mod.compute_score(data_source='medvlthinker', solution_str=s, ground_truth=gt, extra_info=extra)",
      "        out.append(str(int(v)) if v in (0.0, 1.0) else repr(v))",
      "    except ValueError:",
      "        out.append('error')",
      "sys.stdout.write('\\n'.join(out))",
    ].join("\n");
    const res = spawnSync("python3", ["-c", driver, join(dir, "reward.py"), join(dir, "cases.jsonl")], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    assert.equal(res.status, 0, res.stderr);
    const got = res.stdout.split("\n");
    assert.equal(got.length, N);
    const diffs = got.map((g, i) => (g === expected[i] ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(diffs.slice(0, 5).map((i) => ({ response: cases[i].s, ts: expected[i], py: got[i] })), []);
    // The sample exercises every outcome: correct, wrong and refused.
    const ones = expected.filter((e) => e === "1").length;
    const zeros = expected.filter((e) => e === "0").length;
    const errors = expected.filter((e) => e === "error").length;
    assert.ok(ones > 3_000 && zeros > 10_000 && errors > 10, `ones ${ones}, zeros ${zeros}, errors ${errors}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

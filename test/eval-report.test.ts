import { test } from "node:test";
import assert from "node:assert/strict";
import { paperAverage, summarize, report } from "../src/eval/report";
import { compareRecords } from "../src/eval/compare";
import { parsePaperCsv } from "../src/eval/paper";
import type { ResultRecord } from "../src/eval/store";
import type { EvalRun } from "../src/eval/harness";
import { parseEvalConfig } from "../src/eval/config";

function rec(benchmark: string, index: number, run: number, correct: boolean, extra: Partial<ResultRecord> = {}): ResultRecord {
  return { benchmark, index, hash: `${benchmark}-${index}`, run, sample: 0, response: "", finish_reason: "stop", correct, predicted: correct ? "A" : "B", gold: "A", ...extra };
}

const PAPER = parsePaperCsv("model,training,data_kind,pmc_vqa,mmmu_med,medxpertqa_mm,pathvqa,slake,vqa_rad,avg\nM,base,,10,20,30,40,50,60,35\n");

test("runs are averaged per item, then over items; per-run accuracy and its spread kept", () => {
  // 4 items x 3 runs: item 0 right 3/3, item 1 right 2/3, item 2 right 1/3, item 3 right 0/3 -> 50%.
  const rs: ResultRecord[] = [];
  const pattern = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]];
  pattern.forEach((runs, i) => runs.forEach((c, r) => rs.push(rec("vqa-rad", i, r, c === 1, r === 2 && i === 3 ? { finish_reason: "length", predicted: null } : {}))));
  const [s] = summarize(rs, PAPER[0]);
  assert.ok(Math.abs(s.accuracy - 50) < 1e-9, String(s.accuracy)); // thirds: float rounding
  assert.deepEqual(s.run_accuracy, [50, 75, 25]);
  assert.equal(s.run_std, 25);
  assert.equal(s.paper, 60);
  assert.equal(s.truncated, 1);
  assert.equal(s.unparsed, 1);
  assert.equal(s.pass_at_k, 75);
  assert.equal(s.majority_at_k, 50);
  assert.ok(s.ci_lo >= 0 && s.ci_hi <= 100 && s.ci_lo < 50 && s.ci_hi > 50);
});

test("the average of the six sits beside the paper's, only when all six are there", () => {
  const ids = ["pmc-vqa", "mmmu-med", "medxpertqa-mm", "pathvqa", "slake", "vqa-rad"];
  const rs = ids.flatMap((id, k) => Array.from({ length: 10 }, (_, i) => rec(id, i, 0, i < k + 1)));
  const sums = summarize(rs, PAPER[0]);
  const avg = paperAverage(sums)!;
  assert.equal(avg.accuracy, (10 + 20 + 30 + 40 + 50 + 60) / 6);
  assert.equal(avg.paper, 35);
  assert.equal(paperAverage(sums.slice(1)), null);
  const run: EvalRun = { dir: "/x", runId: "r", config: parseEvalConfig({ model: "M", benchmarks: ids, runs: 1 }), records: rs, benchmarks: ids.map((id) => ({ id, label: id, items: 10, notes: id === "slake" ? ["a note"] : [] })), sent: 0, resumed: 0, missing: 0, warnings: [] };
  const rep = report(run, { paperRows: PAPER });
  assert.equal(rep.paperRow?.model, "M");
  assert.match(rep.text, /\|average of the six\|60\|1\|35\|\|\|35\|0\|/);
  assert.match(rep.text, /\|VQA-RAD \(closed\)\|10\|1\|60\|[0-9.]+-[0-9.]+\|0\|60\|0\|/);
  assert.match(rep.text, /note: slake: a note/);
  assert.deepEqual(rep.table.columnNames().slice(0, 4), ["benchmark", "items", "runs", "accuracy"]);
});

test("paired comparison on hand-made records: flips and McNemar", () => {
  // 12 items; A right on 0-7, B right on 4-11: A-only 4 (0-3), B-only 4 (8-11) -> p = 1.
  const a = Array.from({ length: 12 }, (_, i) => rec("slake", i, 0, i < 8));
  const b = Array.from({ length: 12 }, (_, i) => rec("slake", i, 0, i >= 4));
  const c = compareRecords(a, b);
  assert.deepEqual(c.rows[0], { benchmark: "slake", items: 12, acc_a: (100 * 8) / 12, acc_b: (100 * 8) / 12, a_only: 4, b_only: 4, p_mcnemar: 1 });
  assert.deepEqual(c.flips.map((f) => `${f.index_a}${f.winner}`), ["0A", "1A", "2A", "3A", "8B", "9B", "10B", "11B"]);
  // B right on everything A missed and more: a_only 0, b_only 6 -> p = 2 * 0.5^6.
  const b2 = Array.from({ length: 12 }, (_, i) => rec("slake", i, 0, i < 8 || i >= 6));
  const a2 = Array.from({ length: 12 }, (_, i) => rec("slake", i, 0, i < 6));
  assert.ok(Math.abs(compareRecords(a2, b2).rows[0].p_mcnemar - 2 / 64) < 1e-12);
  // Items only in one run are not compared.
  assert.equal(compareRecords(a.slice(0, 5), b).rows[0].items, 5);
});

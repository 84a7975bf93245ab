import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chanceAccuracy, comparisonFigure, discoverModels, exampleRows, flipRows, PAPER_ANALOGUE, paperRowsFor, resultsRows, runCheckpoint, serverFromEnv, serverInstructions } from "../src/eval/notebook";
import { report } from "../src/eval/report";
import { compareRecords } from "../src/eval/compare";
import { loadPaperResults, parsePaperCsv } from "../src/eval/paper";
import { parseEvalConfig } from "../src/eval/config";
import type { EvalRun } from "../src/eval/harness";
import type { ResultRecord } from "../src/eval/store";
import type { Item } from "../src/data/item";

function fakeCheckpoint(dir: string, weights: string, marker = false): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), "{}");
  writeFileSync(join(dir, "model.safetensors"), weights);
  if (marker) writeFileSync(join(dir, "trainer-state.json"), "{}");
}

test("discoverModels: base, then SFT's reported checkpoint, then GRPO's latest; other presets and folders ignored", () => {
  const root = mkdtempSync(join(tmpdir(), "nb05-runs-"));
  try {
    fakeCheckpoint(join(root, "base-workshop", "checkpoint"), "base weights");
    // SFT: summary names the report-epoch checkpoint (step-6), not the final one (step-10).
    fakeCheckpoint(join(root, "sft-workshop", "checkpoints", "step-6"), "sft epoch 3", true);
    fakeCheckpoint(join(root, "sft-workshop", "checkpoints", "step-10"), "sft final", true);
    writeFileSync(join(root, "sft-workshop", "summary.json"), JSON.stringify({ reportCheckpoint: join(root, "sft-workshop", "checkpoints", "step-6"), finalCheckpoint: join(root, "sft-workshop", "checkpoints", "step-10") }));
    // GRPO: no summary (still running): the latest complete checkpoint; step-9 lacks its marker.
    fakeCheckpoint(join(root, "grpo-workshop", "checkpoints", "step-4"), "grpo 4", true);
    fakeCheckpoint(join(root, "grpo-workshop", "checkpoints", "step-8"), "grpo 8", true);
    fakeCheckpoint(join(root, "grpo-workshop", "checkpoints", "step-9"), "grpo 9 torn", false);
    fakeCheckpoint(join(root, "sft-smoke", "checkpoints", "step-1"), "smoke", true);
    mkdirSync(join(root, "eval-workshop"), { recursive: true });
    mkdirSync(join(root, "curate-workshop"), { recursive: true }); // no checkpoint: skipped

    const found = discoverModels({ preset: "workshop", baseDir: join(root, "base-workshop") });
    assert.deepEqual(found.map((f) => f.label), ["base", "sft", "grpo"]);
    assert.equal(found[1].dir, join(root, "sft-workshop", "checkpoints", "step-6"));
    assert.equal(found[2].dir, join(root, "grpo-workshop", "checkpoints", "step-8"));
    assert.deepEqual(found.map((f) => f.paperModel), [null, PAPER_ANALOGUE.sft, PAPER_ANALOGUE.grpo], "our base model has no paper row: the paper's starting model is an instruct model");
    assert.match(found[0].name, /^base-workshop-[0-9a-f]{10}$/);
    assert.equal(new Set(found.map((f) => f.fingerprint)).size, 3);

    // With the instruct model's folder: it comes second, beside the paper's starting model.
    fakeCheckpoint(join(root, "instruct-workshop", "checkpoint"), "instruct weights");
    const withInstruct = discoverModels({ preset: "workshop", baseDir: join(root, "base-workshop"), instructDir: join(root, "instruct-workshop") });
    assert.deepEqual(withInstruct.map((f) => f.label), ["base", "instruct", "sft", "grpo"]);
    assert.equal(withInstruct[1].paperModel, PAPER_ANALOGUE.instruct);
    assert.match(withInstruct[1].name, /^instruct-workshop-[0-9a-f]{10}$/);

    // Retrained weights: a new fingerprint, so a new eval run folder.
    const before = found[0].name;
    writeFileSync(join(root, "base-workshop", "checkpoint", "model.safetensors"), "retrained");
    assert.notEqual(discoverModels({ preset: "workshop", baseDir: join(root, "base-workshop") })[0].name, before);

    assert.deepEqual(discoverModels({ preset: "smoke", baseDir: join(root, "base-tiny-smoke"), runsRoot: root }).map((f) => f.label), ["sft"]);
    assert.equal(runCheckpoint(join(root, "curate-workshop")), null);
    // A summary written in another checkout (absolute paths elsewhere): the same step folder here.
    writeFileSync(join(root, "sft-workshop", "summary.json"), JSON.stringify({ reportCheckpoint: "/elsewhere/runs/sft-workshop/checkpoints/step-6", finalCheckpoint: "/elsewhere/runs/sft-workshop/checkpoints/step-10" }));
    assert.equal(runCheckpoint(join(root, "sft-workshop")), join(root, "sft-workshop", "checkpoints", "step-6"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("chanceAccuracy: mean of 1/options", () => {
  const yesNo = { options: { A: "Yes", B: "No" } };
  const four = { options: { A: "a", B: "b", C: "c", D: "d" } };
  assert.equal(chanceAccuracy([yesNo, four]), 37.5);
  assert.equal(chanceAccuracy([yesNo]), 50);
  assert.ok(Number.isNaN(chanceAccuracy([])));
});

const PAPER = parsePaperCsv(
  "model,training,data_kind,pmc_vqa,mmmu_med,medxpertqa_mm,pathvqa,slake,vqa_rad,avg\nQwen2.5-VL-3B-Instruct,base,,44.77,44.12,20.69,61.96,61.30,62.01,49.14\nMedVLThinker-3B,RL(m23k),text,47.32,52.16,22.90,62.28,63.38,71.08,53.19\n",
);

function rec(benchmark: string, index: number, correct: boolean, extra: Partial<ResultRecord> = {}): ResultRecord {
  return { benchmark, index, hash: `${benchmark}-${index}`, run: 0, sample: 0, response: `resp ${benchmark} ${index}`, finish_reason: "stop", correct, predicted: correct ? "A" : "B", gold: "A", via: "answer_tag", ...extra };
}

function run(model: string, records: ResultRecord[], paperModel: string): EvalRun {
  const ids = [...new Set(records.map((r) => r.benchmark))];
  return { dir: `/x/${model}`, runId: model, config: parseEvalConfig({ model, benchmarks: ids, runs: 1, paperModel }), records, benchmarks: ids.map((id) => ({ id, label: id, items: 4, notes: [] })), sent: 0, resumed: 0, missing: 0, warnings: [] };
}

// vqa-rad: base right on items 0,1 (50%); grpo right on 0,1,2,3 (100%). medqa (no paper column): base 25%, grpo 0%.
const baseRecs = [rec("vqa-rad", 0, true), rec("vqa-rad", 1, true), rec("vqa-rad", 2, false), rec("vqa-rad", 3, false), rec("medqa", 0, true), rec("medqa", 1, false), rec("medqa", 2, false), rec("medqa", 3, false)];
const grpoRecs = [0, 1, 2, 3].map((i) => rec("vqa-rad", i, true)).concat([0, 1, 2, 3].map((i) => rec("medqa", i, false)));
const reports = [
  { label: "base", report: report(run("base-x", baseRecs, PAPER_ANALOGUE.instruct), { paperRows: PAPER, resamples: 200 }) },
  { label: "grpo", report: report(run("grpo-x", grpoRecs, PAPER_ANALOGUE.grpo), { paperRows: PAPER, resamples: 200 }) },
];

test("resultsRows: ours, the matched paper rows and chance, per benchmark; no paper figure where the paper has no column", () => {
  const paperRows = paperRowsFor(reports, PAPER);
  assert.deepEqual(paperRows.map((p) => `${p.model} ${p.training}`), ["Qwen2.5-VL-3B-Instruct base", "MedVLThinker-3B RL(m23k)"]);
  const rows = resultsRows(reports, paperRows, { "vqa-rad": 50, medqa: 25 });
  assert.deepEqual(rows.map((r) => r.model), ["ours: base", "ours: grpo", "paper: Qwen2.5-VL-3B-Instruct base", "paper: MedVLThinker-3B RL(m23k)", "chance (uniform guess)"]);
  assert.equal(rows[0]["VQA-RAD (closed)"], 50);
  assert.equal(rows[0]["MedQA (USMLE, 4 options)"], 25);
  assert.equal(rows[1]["VQA-RAD (closed)"], 100);
  assert.equal(rows[2]["VQA-RAD (closed)"], 62.01);
  assert.equal(rows[3]["VQA-RAD (closed)"], 71.08);
  assert.equal(rows[2]["MedQA (USMLE, 4 options)"], null);
  assert.equal(rows[4]["MedQA (USMLE, 4 options)"], 25);
  // An extra row asked by name, and no duplicates.
  assert.equal(paperRowsFor(reports, PAPER, ["MedVLThinker-3B RL(m23k)", "Qwen2.5-VL-3B-Instruct base"]).length, 2);
});

test("resultsRows and comparisonFigure put the best constant-letter predictor beside chance", () => {
  const constant = { "vqa-rad": { letter: "B", items: 272, correct: 143, accuracy: 52.57, ci_lo: 46.6, ci_hi: 58.4 } };
  const rows = resultsRows(reports, [], { "vqa-rad": 50 }, constant);
  assert.deepEqual(rows.map((r) => r.model), ["ours: base", "ours: grpo", "chance (uniform guess)", "best constant letter"]);
  assert.equal(rows[3]["VQA-RAD (closed)"], 52.6);
  assert.equal(rows[3]["MedQA (USMLE, 4 options)"], null);
  assert.match(String(rows[3].source), /VQA-RAD \(closed\): B/);
  const fig = comparisonFigure(reports, [], { chance: { "vqa-rad": 50 }, constant });
  assert.deepEqual(fig.data.slice(2).map((t) => t.name), ["chance (uniform guess)", "best constant letter"]);
  const shapes = fig.layout?.shapes as { x0: number; y0: number; line: { dash: string } }[];
  assert.deepEqual(shapes.map((s) => [s.x0, s.y0, s.line.dash]), [[-0.45, 50, "dash"], [-0.45, 52.6, "dot"]]);
});

test("resultsRows works with the real paper table (3B rows present)", () => {
  const real = loadPaperResults();
  assert.ok(real.length >= 20, "shared/reference/medvlthinker_results.csv is read");
  for (const name of Object.values(PAPER_ANALOGUE)) assert.ok(paperRowsFor([], real, [name]).length === 1, name);
});

test("comparisonFigure: one bar trace per model and paper row, error bars from the bootstrap, a chance line per benchmark", () => {
  const fig = comparisonFigure(reports, paperRowsFor(reports, PAPER), { chance: { "vqa-rad": 50, medqa: 25 } });
  assert.deepEqual(fig.data.map((t) => t.type), ["bar", "bar", "bar", "bar", "scatter"]);
  assert.deepEqual(fig.data[0].x, ["VQA-RAD (closed)", "MedQA (USMLE, 4 options)"]);
  assert.deepEqual(fig.data[0].y, [50, 25]);
  assert.deepEqual(fig.data[1].text, ["100.0", "0.0"], "values are printed, zeros included");
  assert.deepEqual(fig.data[2].y, [62.01, null]);
  const err = fig.data[0].error_y as { array: number[]; arrayminus: number[] };
  assert.ok(err.array[0] > 0 && err.arrayminus[0] > 0, "a 50% accuracy over 4 items has an interval on both sides");
  const shapes = fig.layout?.shapes as { x0: number; x1: number; y0: number }[];
  assert.deepEqual(shapes.map((s) => [s.x0, s.x1, s.y0]), [[-0.45, 0.45, 50], [0.55, 1.45, 25]]);
  assert.equal(fig.data[4].name, "chance (uniform guess)");
  assert.equal(fig.layout?.barmode, "group");
  assert.equal(comparisonFigure(reports, []).data.length, 2, "no paper rows, no chance: our bars only");
});

test("exampleRows: right answers first, then wrong, per benchmark, with the question", () => {
  const items: Record<string, Item[]> = { "vqa-rad": [0, 1, 2, 3].map((i): Item => ({ images: null, reasoning: null, question: `Question ${i}?`, options: { A: "Yes", B: "No" }, answer_label: "A", answer: "Yes", dataset_name: "vqa-rad", dataset_index: i })) };
  const rows = exampleRows(baseRecs, items, { perBenchmark: 3 });
  const vqa = rows.filter((r) => r.benchmark === "VQA-RAD (closed)");
  assert.deepEqual(vqa.map((r) => [r.item, r.correct]), [[0, true], [2, false], [1, true]]);
  assert.equal(vqa[0].question, "Question 0?");
  assert.equal(rows.filter((r) => r.benchmark === "MedQA (USMLE, 4 options)")[0].question, "");
  // Only run 0, sample 0 is shown.
  assert.equal(exampleRows([rec("vqa-rad", 0, true, { run: 1 })]).length, 0);
});

test("flipRows: the items a paired comparison flipped, winner named", () => {
  const cmp = compareRecords(baseRecs, grpoRecs, { a: "base", b: "grpo" });
  const rows = flipRows(cmp);
  // vqa-rad 2,3 flip to B; medqa 0 flips to A.
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((r) => r["right in"]).sort(), ["A", "B", "B"]);
  assert.equal(flipRows(cmp, {}, 1).length, 1);
});

test("serverFromEnv: nothing without a URL; model required; limit parsed; instructions name every server", () => {
  assert.equal(serverFromEnv({}), null);
  assert.throws(() => serverFromEnv({ MEDVLTHINKER_BASE_URL: "http://127.0.0.1:8000/v1" }), /MEDVLTHINKER_MODEL/);
  assert.deepEqual(serverFromEnv({ MEDVLTHINKER_BASE_URL: "http://h/v1", MEDVLTHINKER_MODEL: "m" }), { baseURL: "http://h/v1", model: "m", limit: 50, paperModel: null, evalParquet: null });
  assert.equal(serverFromEnv({ MEDVLTHINKER_BASE_URL: "http://h/v1", MEDVLTHINKER_MODEL: "m", MEDVLTHINKER_EVAL_PARQUET: " /d/eval.parquet " })!.evalParquet, "/d/eval.parquet");
  assert.equal(serverFromEnv({ MEDVLTHINKER_BASE_URL: "http://h/v1", MEDVLTHINKER_MODEL: "m", MEDVLTHINKER_EVAL_LIMIT: "all" })!.limit, null);
  assert.throws(() => serverFromEnv({ MEDVLTHINKER_BASE_URL: "http://h/v1", MEDVLTHINKER_MODEL: "m", MEDVLTHINKER_EVAL_LIMIT: "-3" }), /EVAL_LIMIT/);
  const text = serverInstructions();
  for (const s of ["vLLM", "SGLang", "llama.cpp", "Ollama", "MEDVLTHINKER_BASE_URL"]) assert.ok(text.includes(s), s);
});

test("comparisonFigure gives each model the colour of the paper row beside it, and others the colours after", () => {
  const noPaper = { label: "base", report: report(run("base-y", baseRecs, ""), { paperRows: PAPER, resamples: 50 }) };
  const withRows = [noPaper, reports[1]]; // grpo sits beside the RL row
  const paperRows = paperRowsFor(withRows, PAPER);
  assert.deepEqual(paperRows.map((p) => p.training), ["RL(m23k)"]);
  const fig = comparisonFigure(withRows, paperRows);
  const colour = (name: string) => (fig.data.find((t) => t.name === name) as { marker: { color: string; pattern?: { fgcolor: string } } }).marker;
  assert.equal(colour("ours: grpo").color, colour("paper: MedVLThinker-3B RL(m23k)").pattern!.fgcolor, "grpo and its paper row share a hue");
  assert.notEqual(colour("ours: base").color, colour("ours: grpo").color);
});

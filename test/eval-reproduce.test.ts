/**
 * reproduceRow and `medvlthinker reproduce` against a loopback server whose answers are known in
 * advance: the published protocol in every request (checked field by field), 3 runs, the row
 * beside the paper's with exact differences and intervals, resumable; clear errors before any
 * request for an unknown paper row or missing benchmarks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Item } from "../src/data/item";
import { PAPER_BENCHMARKS } from "../src/eval/benchmarks";
import { loadPaperResults } from "../src/eval/paper";
import { reproduceRow } from "../src/eval/reproduce";
import { answerer, expectedAccuracy, JPEG, makeDatasets, startFakeServer } from "./helpers/fake-openai-server";

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "medvlthinker.js");
const PAPER_ROW = "MedVLThinker-3B RL(m23k)";

/** The six benchmarks with synthetic items (ids as the registry's), images on all. */
function sixBenchmarks(size: number): Record<string, Item[]> {
  const d = makeDatasets(Object.fromEntries(PAPER_BENCHMARKS.map((id) => [id, size])));
  for (const items of Object.values(d)) for (const it of items) it.images = [{ bytes: JPEG, path: null }];
  return d;
}

test("reproduceRow: the protocol in every request, 3 runs, the row beside the paper's with differences and intervals; rerun sends nothing", { timeout: 60_000 }, async () => {
  const datasets = sixBenchmarks(30);
  const bodies: any[] = [];
  const server = await startFakeServer({ answer: answerer(datasets), models: ["mvlt-3b"], fault: (info) => (bodies.push(info.body), null) });
  const out = mkdtempSync(join(tmpdir(), "reproduce-"));
  try {
    const r = await reproduceRow({ baseURL: server.url, model: "mvlt-3b", paperModel: PAPER_ROW, out, datasets, progress: false, log: () => {}, concurrency: 8 });
    assert.equal(bodies.length, 6 * 30 * 3);
    for (const b of bodies) {
      const { messages, ...fields } = b;
      assert.deepEqual(fields, { model: "mvlt-3b", temperature: 0, top_p: 1, max_tokens: 4096, n: 1, seed: 42, top_k: -1, repetition_penalty: 1, min_p: 0 });
      assert.deepEqual(messages[0].content.map((p: any) => p.type), ["image_url", "text"]);
      assert.match(messages[0].content[0].image_url.url, /^data:image\/png;base64,/);
    }
    const paper = loadPaperResults().find((p) => p.model === "MedVLThinker-3B" && p.training === "RL(m23k)")!;
    assert.deepEqual(r.paperRow, paper);
    assert.deepEqual(r.report.paperRow, paper);
    assert.equal(r.rows.length, 7);
    const cols: Record<string, string> = { "pmc-vqa": "pmc_vqa", "mmmu-med": "mmmu_med", "medxpertqa-mm": "medxpertqa_mm", pathvqa: "pathvqa", slake: "slake", "vqa-rad": "vqa_rad" };
    for (const row of r.rows.slice(0, 6)) {
      assert.equal(row.runs, 3);
      assert.equal(row.items, 30);
      assert.equal(row.ours, expectedAccuracy(datasets[row.benchmark]));
      assert.equal(row.paper, paper.scores[cols[row.benchmark]]);
      assert.equal(row.diff, row.ours - row.paper!);
      assert.equal(row.diff_lo, row.ci_lo - row.paper!);
      assert.equal(row.diff_hi, row.ci_hi - row.paper!);
      assert.ok(row.ci_lo < row.ours && row.ours < row.ci_hi);
      assert.equal(row.paper_inside, row.ci_lo <= row.paper! && row.paper! <= row.ci_hi);
    }
    // The synthetic model is right on about half: some paper figures fall inside, some (MedXpertQA-MM 22.9) outside.
    assert.equal(r.rows.find((x) => x.benchmark === "medxpertqa-mm")!.paper_inside, false);
    assert.ok(r.rows.slice(0, 6).some((x) => x.paper_inside));
    const avg = r.rows[6];
    assert.equal(avg.benchmark, "avg");
    assert.equal(avg.paper, paper.scores.avg);
    assert.ok(Math.abs(avg.ours - r.rows.slice(0, 6).reduce((a, x) => a + x.ours, 0) / 6) < 1e-9);
    assert.ok(avg.ci_lo < avg.ours && avg.ours < avg.ci_hi && avg.ci_hi - avg.ci_lo < r.rows[0].ci_hi - r.rows[0].ci_lo);
    assert.equal(r.complete, true);
    const inside = r.rows.slice(0, 6).filter((x) => x.paper_inside).length;
    assert.match(r.text, new RegExp(`${inside} of 6 paper figures lie inside our 95% intervals`));
    assert.match(r.text, /\|benchmark\|items\|runs\|ours\|ci95\|paper\|diff\|diff ci95\|paper inside\|truncated\|too long\|/);
    assert.match(r.text, /MedVLThinker-3B RL\(m23k\)/);

    const again = await reproduceRow({ baseURL: server.url, model: "mvlt-3b", paperModel: PAPER_ROW, out, datasets, progress: false, log: () => {} });
    assert.equal(again.run.sent, 0);
    assert.equal(bodies.length, 6 * 30 * 3);
    assert.deepEqual(again.rows, r.rows);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("reproduceRow: an unknown paper row fails before any request, listing the rows", { timeout: 10_000 }, async () => {
  const server = await startFakeServer({ answer: () => "x" });
  try {
    await assert.rejects(
      reproduceRow({ baseURL: server.url, model: "fake-model", paperModel: "MedVLThinker-5B RL(m23k)", datasets: sixBenchmarks(2), progress: false, log: () => {} }),
      (e: Error) => e.name === "ConfigError" && /no row of the paper's table matches 'MedVLThinker-5B RL\(m23k\)'.*"MedVLThinker-3B RL\(m23k\)"/.test(e.message),
    );
    await assert.rejects(reproduceRow({ baseURL: server.url, model: "m", paperModel: PAPER_ROW, benchmarks: ["medqa"], progress: false }), /not one of the paper's six/);
    assert.equal(server.stats.requests, 0);
  } finally {
    await server.close();
  }
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("medvlthinker reproduce: the six from a MedVLThinker-Eval parquet, the row printed; without the parquet a clear error", { timeout: 90_000 }, async () => {
  const { writeParquetItems } = await import("../src/data/parquet");
  const names: Record<string, string> = { "pmc-vqa": "PMC-VQA", "mmmu-med": "MMMU", "medxpertqa-mm": "MedXpertQA-MM", pathvqa: "PathVQA", slake: "SLAKE", "vqa-rad": "VQA-RAD" };
  const datasets = sixBenchmarks(6);
  const dir = mkdtempSync(join(tmpdir(), "reproduce-cli-"));
  const server = await startFakeServer({ answer: answerer(datasets), models: ["mvlt-3b"] });
  try {
    const file = join(dir, "eval.parquet");
    await writeParquetItems(file, Object.entries(datasets).flatMap(([id, items]) => items.map((it) => ({ ...it, dataset_name: names[id] }))));
    const r = await cli(["reproduce", "--base-url", server.url, "--model", "mvlt-3b", "--paper-model", PAPER_ROW, "--eval-parquet", file, "--out", join(dir, "runs"), "--no-progress"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.stats.requests, 6 * 6 * 3);
    assert.match(r.stdout, /\|PMC-VQA\|6\|3\|/);
    assert.match(r.stdout, /\|average of the six\|36\|3\|/);
    assert.match(r.stdout, /of 6 paper figures lie inside our 95% intervals/);
    const missing = await cli(["reproduce", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--paper-model", PAPER_ROW, "--out", join(dir, "runs2")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pmc-vqa: not available here/);
    assert.match(missing.stderr, /--eval-parquet FILE/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
    const badProfile = await cli(["reproduce", "--base-url", server.url, "--model", "mvlt-3b", "--profile", "tgi"]);
    assert.equal(badProfile.code, 1);
    assert.match(badProfile.stderr, /unknown server profile 'tgi'; known: vllm, sglang, llama.cpp, ollama, openai/);
    const help = await cli(["reproduce", "--help"]);
    assert.match(help.stdout, /--paper-model TEXT/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

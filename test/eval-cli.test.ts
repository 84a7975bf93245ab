import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runEval } from "../src/eval/harness";
import { OpenAIPolicy } from "../src/policy/openai";
import { answerer, isRight, makeDatasets, startFakeServer } from "./helpers/fake-openai-server";

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "medvlthinker.js");

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("benchmarks that are not here say where to get them, before any request", { timeout: 30_000 }, async () => {
  const r = await cli(["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--benchmarks", "pmc-vqa,pathvqa,mmmu-med", "--out", join(tmpdir(), "never")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /pmc-vqa: not available here\. Get .*MedVLThinker-Eval/);
  assert.match(r.stderr, /pathvqa: not available here/);
  assert.match(r.stderr, /mmmu-med: not available here/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // a message, not a stack
});

test("bad flags give a message and exit 1", { timeout: 30_000 }, async () => {
  const a = await cli(["eval", "--base-url", "http://x/v1", "--model", "m", "--benchmarks", "vqa-radd"]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /unknown benchmark 'vqa-radd'; known: .*vqa-rad/);
  const b = await cli(["eval", "--model", "m", "--benchmarks", "vqa-rad"]);
  assert.match(b.stderr, /--base-url is required/);
  const c = await cli(["eval", "--help"]);
  assert.equal(c.code, 0);
  assert.match(c.stdout, /medvlthinker eval compare RUN_A RUN_B/);
});

test("eval report and eval compare print tables from run folders", { timeout: 30_000 }, async () => {
  const datasets = makeDatasets({ txt: 30 });
  const sa = await startFakeServer({ answer: answerer(datasets), models: ["model-a"] });
  const sb = await startFakeServer({ answer: answerer(datasets, (it) => !isRight(it)), models: ["model-b"] });
  const out = mkdtempSync(join(tmpdir(), "eval-cli-"));
  try {
    const go = (url: string, model: string) =>
      runEval({ model, benchmarks: ["txt"], out, runs: 1 }, new OpenAIPolicy({ baseURL: url, model, apiKey: "k" }), { datasets, progress: false, log: () => {} });
    const a = await go(sa.url, "model-a");
    const b = await go(sb.url, "model-b");
    const rep = await cli(["eval", "report", a.dir]);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stdout, /\|txt\|30\|1\|/);
    const cmp = await cli(["eval", "compare", a.dir, b.dir, "--flips"]);
    assert.equal(cmp.code, 0, cmp.stderr);
    assert.match(cmp.stdout, /\|txt\|30\|/);
    // Every item flips: B is right exactly where A is wrong.
    assert.equal(cmp.stdout.split("\n").filter((l) => l.startsWith("txt\t")).length, 30);
  } finally {
    await sa.close();
    await sb.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("end to end on real VQA-RAD and SLAKE items: images sent as data URLs, printed accuracy exact, rerun sends nothing", { timeout: 60_000 }, async () => {
  const { loadBenchmarks } = await import("../src/eval/benchmarks");
  const { buildPrompt } = await import("../src/prompt");
  const { itemHash } = await import("../src/data/item");
  const loaded = await loadBenchmarks(["vqa-rad", "slake"]);
  const byPrompt = new Map<string, import("../src/data/item").Item>();
  for (const b of loaded) for (const it of b.items.slice(0, 25)) byPrompt.set(buildPrompt(it), it);
  const right = (it: import("../src/data/item").Item) => parseInt(itemHash(it)[1], 16) % 3 !== 0;
  let images = 0;
  const server = await startFakeServer({
    answer: (info) => {
      const it = byPrompt.get(info.prompt)!;
      const parts = info.body.messages[0].content;
      if (parts[0].type === "image_url" && /^data:image\/(jpeg|png);base64,/.test(parts[0].image_url.url)) images++;
      const wrong = Object.keys(it.options).find((l) => l !== it.answer_label)!;
      return `<think>...</think><answer>${right(it) ? it.answer_label : wrong}</answer>`;
    },
  });
  const out = mkdtempSync(join(tmpdir(), "eval-cli-real-"));
  try {
    const args = ["eval", "--base-url", server.url, "--model", "fake-model", "--benchmarks", "vqa-rad,slake", "--limit", "25", "--runs", "1", "--out", out, "--no-progress"];
    const r = await cli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(images, 50);
    for (const b of loaded) {
      const items = b.items.slice(0, 25);
      const acc = Math.round(100 * (100 * (items.filter(right).length / items.length))) / 100;
      assert.match(r.stdout, new RegExp(`\\|${b.label.replace(/[()]/g, "\\$&")}\\|25\\|1\\|${acc}\\|`), r.stdout);
    }
    const again = await cli(args);
    assert.equal(again.code, 0);
    assert.equal(server.stats.requests, 50);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

// Issue 16, points 4 and 5: every CLI error is one line (the stack only with --debug or DEBUG=1),
// the long commands share flag names, and a config is validated before any work.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "../src/paths";

const exec = promisify(execFile);
const BIN = join(REPO_ROOT, "bin", "medvlthinker.js");
const dir = mkdtempSync(join(tmpdir(), "mvt-cli-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  try {
    const r = await exec(process.execPath, [BIN, ...args], { env: { ...process.env, DEBUG: "", ...env }, timeout: 90_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
  } catch (e: any) {
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "", ms: Date.now() - t0 };
  }
}

function oneLine(stderr: string): void {
  assert.equal(stderr.trim().split("\n").length, 1, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /);
  assert.match(stderr, /^error: /);
}

test("a JSONL line that is null: one line naming file, line and what was expected", { timeout: 60_000 }, async () => {
  const f = join(dir, "null.jsonl");
  writeFileSync(f, JSON.stringify({ question: "q?", options: { A: "a", B: "b" }, answer_label: "A", answer: "a", dataset_name: "t", dataset_index: 0, images: null, reasoning: null }) + "\nnull\n");
  const r = await cli(["data", "stats", f]);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /null\.jsonl: record line 2: field '\(record\)': expected a JSON object/);
  // --debug and DEBUG=1 give the stack.
  const d = await cli(["data", "stats", f, "--debug"]);
  assert.match(d.stderr, /\n\s+at /);
  const e = await cli(["data", "stats", f], { DEBUG: "1" });
  assert.match(e.stderr, /\n\s+at /);
});

test("eval --eval-parquet on a missing file: one line naming it, before any request", { timeout: 60_000 }, async () => {
  const missing = join(dir, "nope.parquet");
  const r = await cli(["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--benchmarks", "vqa-rad", "--eval-parquet", missing, "--out", join(dir, "runs")]);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, new RegExp(`${missing.replace(/[.]/g, "\\.")}.*(no such file|not found|does not exist)`));
});

test("an unknown flag: one line naming the command and pointing to --help; the long commands share --no-progress, --quiet, --wait", { timeout: 90_000 }, async () => {
  const r = await cli(["train", "sft", "--bogus"]);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /train sft: unknown option '--bogus'; see 'medvlthinker train sft --help'/);
  // The shared flags parse everywhere (the error that follows is about the missing config, not the flag).
  for (const args of [
    ["train", "sft", "--no-progress", "--quiet", "--wait", "--config", join(dir, "none.json")],
    ["train", "grpo", "--no-progress", "--quiet", "--wait", "--config", join(dir, "none.json")],
    ["eval", "--no-progress", "--quiet", "--wait", "--model", "m", "--benchmarks", "vqa-rad"],
    ["curate", "--no-progress", "--quiet", "--wait", "--policy", "http", "--model", "m", "--data", "vqa-rad"],
  ]) {
    const x = await cli(args);
    assert.equal(x.code, 1, `${args.join(" ")}: ${x.stderr}`);
    oneLine(x.stderr);
    assert.doesNotMatch(x.stderr, /unknown option/, args.join(" "));
  }
});

test("curate --config given a training config is rejected before any work (no model warm-up)", { timeout: 90_000 }, async () => {
  const f = join(dir, "sft.json");
  writeFileSync(f, JSON.stringify({ preset: "smoke", out: join(dir, "sft-run"), train: { epochs: 1 } }));
  // A root with no base model yet: any warm-up would have to build one under root/runs.
  const root = mkdtempSync(join(tmpdir(), "mvt-cli-root-"));
  const env = { MEDVLTHINKER_SMOKE: "1", MEDVLTHINKER_ROOT: root, MEDVLTHINKER_DATA: join(REPO_ROOT, "..", "shared", "data") };
  const r = await cli(["curate", "--policy", "embedded", "--config", f, "--data", "vqa-rad"], env);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /looks like a training config \(it has preset, train\)/);
  assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
  assert.ok(!existsSync(join(root, "runs")), "no model was built or loaded");
  // An invalid curate config is also refused before the warm-up.
  const g = join(dir, "bad-curate.json");
  writeFileSync(g, JSON.stringify({ data: ["vqa-rad"], k: 0 }));
  const b = await cli(["curate", "--policy", "embedded", "--config", g], env);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /^error: invalid curate config: k: [^\n]*\n$/); // one line
  assert.doesNotMatch(b.stderr, /warm|pretrain|\n\s+at /i);
  assert.ok(!existsSync(join(root, "runs")), "no model was built or loaded");
  rmSync(root, { recursive: true, force: true });
});

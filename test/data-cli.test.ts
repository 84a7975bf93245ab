// `medvlthinker data ...` end to end: stats --json, convert both ways, overlap, exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REPO_ROOT, hasSharedData } from "../src/paths";

const dir = mkdtempSync(join(tmpdir(), "mvt-cli-data-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(REPO_ROOT, "bin", "medvlthinker.js");

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, "data", ...args], { encoding: "utf8", cwd: REPO_ROOT });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe("data CLI", { skip: !hasSharedData() && "no shared data" }, () => {
  test("stats --json gives counts, option histogram, letters and images per source", () => {
    const r = cli("stats", "mmlu-med", "vqa-rad:test", "--json");
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out);
    assert.equal(s[0].items, 1089);
    assert.equal(s[0].duplicates, 78);
    assert.deepEqual(s[0].optionCounts, { "4": 1089 });
    assert.equal(s[1].items, 451);
    assert.equal(s[1].closed, 272);
    assert.equal(s[1].withImages, 451);
  });

  test("convert: dataset -> parquet -> jsonl keeps every item; stats agree", () => {
    // Image paths only (--no-embed-images) keeps this fast; embedded bytes are tested in data-parquet.
    const pq = join(dir, "slake.parquet");
    const jl = join(dir, "slake.jsonl");
    assert.equal(cli("convert", "slake", "--out", pq, "--no-embed-images").code, 0);
    const c2 = cli("convert", pq, "--out", jl);
    assert.equal(c2.code, 0, c2.err);
    assert.match(c2.out, /wrote 1061 items/);
    const a = JSON.parse(cli("stats", pq, "--json").out)[0];
    const b = JSON.parse(cli("stats", jl, "--json").out)[0];
    assert.deepEqual({ ...a, input: 0 }, { ...b, input: 0 });
    assert.equal(a.withImages, 1061);
  });

  test("overlap prints the leak and the exclusion", () => {
    const r = cli("overlap", "--train", "vqa-rad:train", "--eval", "vqa-rad:test", "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.excluded, 1);
    assert.equal(j.kept, 1796);
  });

  test("bad input exits 1 with file, record and field, no stack", () => {
    const d = join(dir, "medqa");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "test.jsonl"), `${JSON.stringify({ realidx: 0, question: "q", options: { A: "a", B: "b" }, answer_idx: "C", answer: "a" })}\n`);
    const r = cli("stats", join(d, "test.jsonl"));
    assert.equal(r.code, 1);
    assert.match(r.err, /test\.jsonl: record line 1: field 'answer_label'/);
    assert.doesNotMatch(r.err, /at .*\.ts:\d+/);
    const ok = cli("stats", join(d, "test.jsonl"), "--skip-bad");
    assert.equal(ok.code, 0);
    assert.match(ok.out, /skipped records: 1/);
  });
});

test("datasets not found: one line naming MEDVLTHINKER_DATA and --data-root, no stack", () => {
  const missing = join(dir, "no-such-data");
  const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [bin, "data", "stats", "medqa"], { encoding: "utf8", cwd: REPO_ROOT, env: { ...process.env, ...env } });
  const r = run({ MEDVLTHINKER_DATA: missing });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `error: datasets not found: MEDVLTHINKER_DATA=${missing} does not exist; set MEDVLTHINKER_DATA to the folder holding the datasets (medqa/, slake/, vqa-rad/, ...) or pass --data-root DIR\n`);
  // Neither set, outside a checkout (MEDVLTHINKER_ROOT stands in for it): ../shared/data is looked for beside it.
  const r2 = run({ MEDVLTHINKER_DATA: "", MEDVLTHINKER_ROOT: join(dir, "elsewhere") });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /^error: datasets not found: MEDVLTHINKER_DATA is not set and there is no .*shared[\\/]data; set MEDVLTHINKER_DATA .* or pass --data-root DIR\n$/);
});

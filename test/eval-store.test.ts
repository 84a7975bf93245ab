import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseResults, readResults, ResultWriter, writeFileAtomic, type ResultRecord } from "../src/eval/store";

const rec = (index: number, correct = true): ResultRecord => ({
  benchmark: "b", index, hash: `h${index}`, run: 0, sample: 0, response: "<answer>A</answer>", finish_reason: "stop", correct, predicted: "A", gold: "A",
});

test("records round-trip through the writer, appended across openings", () => {
  const dir = mkdtempSync(join(tmpdir(), "store-"));
  try {
    const f = join(dir, "sub", "results.jsonl");
    const w = new ResultWriter(f);
    w.append([rec(0), rec(1, false)]);
    w.close();
    const w2 = new ResultWriter(f);
    w2.append([rec(2)]);
    w2.close();
    const got = readResults(f);
    assert.deepEqual(got.records.map((r) => [r.index, r.correct]), [[0, true], [1, false], [2, true]]);
    assert.equal(got.tornBytes, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a torn last line is ignored on read and cut before the next append", () => {
  const dir = mkdtempSync(join(tmpdir(), "store-"));
  try {
    const f = join(dir, "results.jsonl");
    const w = new ResultWriter(f);
    w.append([rec(0), rec(1)]);
    w.close();
    appendFileSync(f, JSON.stringify(rec(2)).slice(0, 37)); // a crash mid-write
    const got = readResults(f);
    assert.equal(got.records.length, 2);
    assert.equal(got.tornBytes, 37);
    assert.match(got.warnings[0], /torn last line/);
    const w2 = new ResultWriter(f, got.tornBytes);
    w2.append([rec(2)]);
    w2.close();
    const again = readResults(f);
    assert.deepEqual(again.records.map((r) => r.index), [0, 1, 2]);
    assert.equal(again.warnings.length, 0);
    assert.ok(readFileSync(f, "utf8").endsWith("}\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a garbled middle line is skipped with a warning naming the line", () => {
  const text = JSON.stringify(rec(0)) + "\n{oops\n" + JSON.stringify({ benchmark: "b" }) + "\n" + JSON.stringify(rec(3)) + "\n";
  const got = parseResults(text, "f.jsonl");
  assert.deepEqual(got.records.map((r) => r.index), [0, 3]);
  assert.equal(got.warnings.length, 2);
  assert.match(got.warnings[0], /f\.jsonl: line 2/);
  assert.match(got.warnings[1], /line 3: skipped \(missing fields\)/);
});

test("atomic write replaces the whole file", () => {
  const dir = mkdtempSync(join(tmpdir(), "store-"));
  try {
    const f = join(dir, "config.json");
    writeFileSync(f, "old");
    writeFileAtomic(f, "new\n");
    assert.equal(readFileSync(f, "utf8"), "new\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

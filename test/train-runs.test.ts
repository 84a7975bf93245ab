/** Run folders: config saved and checked on resume, torn metrics lines, checkpoint discovery, atomic checkpoints, RNG state. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  canonicalJson,
  checkpointName,
  jsonDiff,
  latestCheckpoint,
  listCheckpoints,
  MetricsWriter,
  openRun,
  pruneCheckpoints,
  readCheckpointState,
  readMetrics,
  Rng,
  STATE_FILE,
  truncateMetrics,
  writeCheckpoint,
} from "../src/train/runs";

const tmp = () => mkdtempSync(join(tmpdir(), "runs-test-"));

test("openRun saves the config, refuses to clobber a run, and resumes only with the same config", () => {
  const dir = join(tmp(), "run");
  const cfg = { lr: 1e-5, data: { sources: ["huatuo-o1"] }, betas: [0.9, 0.95] };
  const r = openRun(dir, cfg);
  assert.equal(r.resumed, false);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), cfg);
  assert.ok(existsSync(r.checkpointsDir));
  assert.throws(() => openRun(dir, cfg), (e: Error) => e.name === "ConfigError" && /already holds a run/.test(e.message));
  // Same config, keys in another order: resumes.
  assert.equal(openRun(dir, { betas: [0.9, 0.95], data: { sources: ["huatuo-o1"] }, lr: 1e-5 }, { resume: true }).resumed, true);
  // A changed field is named in the error.
  assert.throws(
    () => openRun(dir, { ...cfg, lr: 2e-5 }, { resume: true }),
    (e: Error) => e.name === "ConfigError" && /lr: 0\.00001 -> 0\.00002/.test(e.message),
  );
  assert.throws(() => openRun(dir, { ...cfg, betas: [0.9, 0.999] }, { resume: true }), /betas: \[0\.9,0\.95\] -> \[0\.9,0\.999\]/);
  // overwrite replaces the folder.
  writeFileSync(join(dir, "metrics.jsonl"), '{"step":1}\n');
  openRun(dir, { lr: 3 }, { overwrite: true });
  assert.equal(existsSync(join(dir, "metrics.jsonl")), false);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), { lr: 3 });
});

test("resume on an empty folder starts the run", () => {
  const dir = join(tmp(), "fresh");
  const r = openRun(dir, { a: 1 }, { resume: true });
  assert.equal(r.resumed, false);
  assert.ok(existsSync(join(dir, "config.json")));
});

test("canonicalJson and jsonDiff ignore key order and name nested paths", () => {
  assert.equal(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }] }), canonicalJson({ a: [{ x: 1, y: 2 }], b: 1 }));
  assert.deepEqual(jsonDiff({ a: { b: 1, c: 2 } }, { a: { b: 1, c: 3, d: 4 } }), ["a.c: 2 -> 3", "a.d: undefined -> 4"]);
});

test("metrics: appended lines are flushed; a torn last line is skipped on read and dropped by truncate", () => {
  const dir = tmp();
  const path = join(dir, "metrics.jsonl");
  const w = new MetricsWriter(path);
  for (let s = 1; s <= 5; s++) w.append({ step: s, loss: 1 / s });
  // Readable before close: each line is written and fsynced at once.
  assert.equal(readMetrics(path).records.length, 5);
  w.close();
  appendFileSync(path, '{"step":6,"lo'); // killed mid-write
  const r = readMetrics<{ step: number }>(path);
  assert.equal(r.records.length, 5);
  assert.equal(r.torn, 1);
  assert.match(r.warnings[0], /line 6 is not valid JSON/);
  assert.equal(truncateMetrics(path, 3), 3);
  const text = readFileSync(path, "utf8");
  assert.equal(text, '{"step":1,"loss":1}\n{"step":2,"loss":0.5}\n{"step":3,"loss":0.3333333333333333}\n');
  // Appending after truncation gives whole lines again.
  const w2 = new MetricsWriter(path);
  w2.append({ step: 4, loss: 0.25 });
  w2.close();
  assert.deepEqual(readMetrics<{ step: number }>(path).records.map((x) => x.step), [1, 2, 3, 4]);
  assert.deepEqual(readMetrics(join(dir, "missing.jsonl")), { records: [], torn: 0, warnings: [] });
});

test("checkpoints: step-N names, only complete folders count, latest by number not by name", async () => {
  const dir = join(tmp(), "checkpoints");
  assert.equal(checkpointName(12), "step-12");
  assert.throws(() => checkpointName(-1), RangeError);
  assert.equal(latestCheckpoint(dir), null);
  for (const s of [2, 10, 9]) {
    await writeCheckpoint(dir, s, async (d) => {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "model.bin"), `weights ${s}`);
    }, { step: s });
  }
  // A save killed before its state file: a partial folder, and a step folder without the marker.
  mkdirSync(join(dir, "step-11.partial-999"), { recursive: true });
  mkdirSync(join(dir, "step-12"), { recursive: true });
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [2, 9, 10]);
  const last = latestCheckpoint(dir)!;
  assert.equal(last.step, 10);
  assert.deepEqual(readCheckpointState(last.dir), { step: 10 });
  assert.equal(readFileSync(join(last.dir, "model.bin"), "utf8"), "weights 10");
  // A write that throws leaves no step folder.
  await assert.rejects(writeCheckpoint(dir, 13, async () => { throw new Error("disk full"); }, { step: 13 }), /disk full/);
  assert.equal(existsSync(join(dir, "step-13")), false);
  // Prune keeps the newest and the listed steps, and removes partial folders.
  assert.deepEqual(pruneCheckpoints(dir, 1, [2]), [9]);
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [2, 10]);
  assert.ok(!readdirSync(dir).some((n) => n.includes(".partial-")));
  assert.ok(existsSync(join(dir, "step-10", STATE_FILE)));
});

test("Rng: seeded, and restoring its state continues the same sequence", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  assert.deepEqual([a.uniform(), a.uniform()], [b.uniform(), b.uniform()]);
  assert.notEqual(new Rng(1).uniform(), new Rng(2).uniform());
  const saved = a.state;
  const next = [a.uniform(), a.int(10), a.uniform()];
  const c = new Rng(0, saved);
  assert.deepEqual([c.uniform(), c.int(10), c.uniform()], next);
  const xs = Array.from({ length: 20 }, (_, i) => i);
  const s = new Rng(7).shuffle(xs);
  assert.deepEqual([...s].sort((p, q) => p - q), xs);
  assert.notDeepEqual(s, xs);
  assert.deepEqual(new Rng(7).shuffle(xs), s);
  for (let i = 0; i < 1000; i++) {
    const u = a.uniform();
    assert.ok(u >= 0 && u < 1);
  }
});

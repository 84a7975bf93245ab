/** ensureBaseModel: made once (warm-up run, saved), then loaded; concurrent callers wait for the one warm-up. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { baseModelDir, ensureBaseModel, staleFields } from "../src/stages/base";

test("ensureBaseModel warms up once, saves, and later calls load the same weights", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "base-")), "base-tiny-smoke");
  const opts = { smoke: true, out, progress: false, pretrain: { steps: 3, evalEvery: 3, tokenizerChars: 50_000 } };
  assert.equal(baseModelDir(opts), out);
  assert.match(baseModelDir({ smoke: true }), /runs[\\/]base-tiny-smoke$/);
  assert.match(baseModelDir({ smoke: false, size: "workshop" }), /runs[\\/]base-workshop$/);
  // Two callers at once: one warm-up, the other waits on the lock and loads its result.
  const [a, b] = await Promise.all([ensureBaseModel(opts), ensureBaseModel(opts)]);
  const metrics = join(out, "metrics.jsonl");
  assert.equal(readFileSync(metrics, "utf8").trim().split("\n").length, 3, "one warm-up of 3 steps");
  assert.ok(existsSync(join(out, "checkpoint", "config.json")));
  assert.equal(existsSync(`${out}.lock`), false);
  assert.equal(a.config.dModel, 32, "smoke mode uses the tiny config");
  const mtime = statSync(metrics).mtimeMs;
  const c = await ensureBaseModel(opts);
  assert.equal(statSync(metrics).mtimeMs, mtime, "loaded, not trained again");
  const emb = async (m: typeof a) => Array.from((await m.params.embed.ref.data()) as Float32Array);
  const ea = await emb(a);
  assert.deepEqual(await emb(b), ea);
  assert.deepEqual(await emb(c), ea);
  assert.equal(c.tokenizer.vocabSize, a.tokenizer.vocabSize);
  for (const m of [a, b, c]) m.dispose();

  // A base made with another config of its size (here: a different context) is moved aside and made again.
  const cfgPath = join(out, "checkpoint", "config.json");
  const saved = JSON.parse(readFileSync(cfgPath, "utf8"));
  assert.deepEqual(staleFields(saved.model, "tiny"), []);
  saved.model.maxSeq = 48;
  writeFileSync(cfgPath, JSON.stringify(saved));
  assert.deepEqual(staleFields(saved.model, "tiny"), ["maxSeq 48 -> 64"]);
  const d = await ensureBaseModel(opts);
  assert.equal(d.config.maxSeq, 64);
  assert.ok(readdirSync(dirname(out)).some((n) => n.startsWith("base-tiny-smoke.stale-")));
  d.dispose();
});

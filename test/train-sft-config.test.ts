/** SFT config: presets (the published hyperparameters), overrides, and clear errors before any work. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkConfigFiles, deepMerge, defaultPreset, parseSftConfig, SFT_PRESETS } from "../src/train/config";
import { runSft } from "../src/train/sft";

const isConfigError = (re: RegExp) => (e: Error) => {
  assert.equal(e.name, "ConfigError");
  assert.match(e.message, re);
  return true;
};

test("the published preset carries recipe.md's SFT hyperparameters", () => {
  const c = parseSftConfig({ preset: "published" });
  assert.equal(c.train.lr, 1e-5);
  assert.equal(c.train.schedule, "cosine");
  assert.equal(c.train.warmupRatio, 0.05);
  assert.equal(c.train.microBatch * c.train.gradAccum, 16);
  assert.equal(c.train.weightDecay, 1e-4);
  assert.deepEqual(c.train.betas, [0.9, 0.95]);
  assert.equal(c.train.epochs, 5);
  assert.equal(c.train.reportEpoch, 3);
  assert.equal(c.train.minLrRatio, 0);
  assert.equal(c.data.overlong, "cut");
  assert.equal(c.data.keepDisagreeing, false);
  assert.ok(c.data.excludeEval.includes("medmcqa"));
});

test("workshop is the default preset; fields override it deeply; smoke follows MEDVLTHINKER_SMOKE", () => {
  const c = parseSftConfig({ out: "/tmp/x", train: { lr: 5e-4 } });
  assert.equal(c.preset, "workshop");
  assert.equal(c.train.lr, 5e-4);
  assert.equal(c.train.epochs, SFT_PRESETS.workshop.train.epochs); // untouched siblings stay
  assert.equal(c.model.size, "workshop");
  assert.equal(c.train.microBatch * c.train.gradAccum, 16);
  assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } }), { a: { b: 1, c: [3] } });
  const old = process.env.MEDVLTHINKER_SMOKE;
  process.env.MEDVLTHINKER_SMOKE = "1";
  assert.equal(defaultPreset(), "smoke");
  delete process.env.MEDVLTHINKER_SMOKE;
  assert.equal(defaultPreset(), "workshop");
  if (old !== undefined) process.env.MEDVLTHINKER_SMOKE = old;
  assert.equal(parseSftConfig({ preset: "smoke" }).model.size, "tiny");
});

test("bad configs: unknown key, wrong type, out of range, unknown preset", () => {
  assert.throws(() => parseSftConfig({ train: { learningRate: 1e-5 } }), isConfigError(/train: unknown key\(s\) 'learningRate'/));
  assert.throws(() => parseSftConfig({ colour: "red" }), isConfigError(/\(config\): unknown key\(s\) 'colour'/));
  assert.throws(() => parseSftConfig({ train: { lr: "1e-5" } }), isConfigError(/train\.lr: .*number/i));
  assert.throws(() => parseSftConfig({ train: { epochs: 0 } }), isConfigError(/train\.epochs/));
  assert.throws(() => parseSftConfig({ train: { betas: [0.9] } }), isConfigError(/train\.betas/));
  assert.throws(() => parseSftConfig({ data: { overlong: "wrap" } }), isConfigError(/data\.overlong/));
  assert.throws(() => parseSftConfig({ preset: "fast" }), isConfigError(/preset: 'fast' is not one of published, workshop, smoke/));
  assert.throws(() => parseSftConfig([1, 2]), isConfigError(/expected a JSON object, got an array/));
  // Several problems are all named.
  assert.throws(() => parseSftConfig({ train: { lr: -1, seed: 1.5 } }), (e: Error) => /train\.lr/.test(e.message) && /train\.seed/.test(e.message));
});

test("missing files and unknown names fail before any work", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sft-config-"));
  const missing = join(dir, "nope.jsonl");
  const c = parseSftConfig({ out: join(dir, "run"), data: { sources: ["huatuo-o1", missing] } });
  assert.throws(() => checkConfigFiles(c), isConfigError(/data\.sources: '.*nope\.jsonl' is neither a dataset name/));
  assert.throws(() => checkConfigFiles(parseSftConfig({ data: { sources: ["huatuo-o1"], root: dir } })), isConfigError(/dataset 'huatuo-o1' expects .*demo_data\.json/));
  assert.throws(() => checkConfigFiles(parseSftConfig({ model: { init: join(dir, "no-checkpoint") } })), isConfigError(/model\.init: .* is neither "base" nor a checkpoint folder/));
  assert.throws(() => checkConfigFiles(parseSftConfig({ data: { excludeEval: ["medqa", "not-a-benchmark"] } })), isConfigError(/data\.excludeEval: unknown benchmark 'not-a-benchmark'/));
  assert.throws(() => checkConfigFiles(parseSftConfig({ data: { evalParquet: join(dir, "eval.parquet") } })), isConfigError(/data\.evalParquet/));
  // runSft rejects the same config without creating the run folder or touching a model.
  const t0 = Date.now();
  await assert.rejects(runSft({ out: join(dir, "run"), data: { sources: [missing] } }, { progress: false }), isConfigError(/nope\.jsonl/));
  await assert.rejects(runSft({ out: join(dir, "run2"), train: { lr: "fast" } } as never, { progress: false }), isConfigError(/train\.lr/));
  await assert.rejects(runSft({ preset: "smoke", out: join(dir, "run3") }, { progress: false }), isConfigError(/stageModels/));
  assert.equal(existsSync(join(dir, "run3")), false, "model.init 'base' without the stage models fails before any work");
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(existsSync(join(dir, "run")), false);
  assert.equal(existsSync(join(dir, "run2")), false);
  writeFileSync(join(dir, "ok.jsonl"), "");
  checkConfigFiles(parseSftConfig({ data: { sources: [join(dir, "ok.jsonl")] } })); // exists: accepted
});

test("CLI: `train sft` prints config errors without a stack and exits 1; `train grpo` dispatches or says it is not there", async () => {
  const { spawnSync } = await import("node:child_process");
  const { existsSync: exists } = await import("node:fs");
  const dir = mkdtempSync(join(tmpdir(), "sft-cli-"));
  const cli = (args: string[]) => spawnSync(process.execPath, ["bin/medvlthinker.js", "train", ...args], { encoding: "utf8" });
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ out: join(dir, "run"), train: { lrr: 1 } }));
  let r = cli(["sft", "--config", join(dir, "bad.json")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: invalid SFT config: train: unknown key\(s\) 'lrr'\n$/); // one line
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  writeFileSync(join(dir, "broken.json"), "{ not json");
  r = cli(["sft", "--config", join(dir, "broken.json")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /broken\.json is not valid JSON/);
  r = cli(["sft", "--config", join(dir, "missing.json")]);
  assert.match(r.stderr, /missing\.json does not exist/);
  writeFileSync(join(dir, "nodata.json"), JSON.stringify({ out: join(dir, "run"), data: { sources: [join(dir, "traces.jsonl")] } }));
  r = cli(["sft", "--config", join(dir, "nodata.json")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /traces\.jsonl' is neither a dataset name .* nor an existing file/);
  assert.equal(exists(join(dir, "run")), false);
  r = cli(["grpo", "--help"]);
  if (exists("src/cli/train-grpo.ts")) assert.doesNotMatch(r.stderr, /not implemented yet/);
  else {
    assert.equal(r.status, 2);
    assert.match(r.stderr, /train grpo: not implemented yet/);
  }
  assert.equal(cli(["--help"]).status, 0);
});

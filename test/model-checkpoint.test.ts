/** Checkpoints: round trip gives identical log-probs; shape/name mismatches are named; a killed save leaves a loadable checkpoint. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { initEngine } from "../src/model/engine";
import { TextTokenizer } from "../src/model/tokenizer";
import { EmbeddedModel } from "../src/model/model";
import { CheckpointError, loadCheckpoint } from "../src/model/checkpoint";
import { readSafetensors, writeSafetensors } from "../src/model/safetensors";

const texts = ["Aspirin inhibits cyclooxygenase.", "The liver metabolises drugs.", "Question: which nerve? Options: A. ulnar B. radial"];

test("checkpoint round trip gives identical log-probs and samples", async () => {
  await initEngine();
  const dir = join(mkdtempSync(join(tmpdir(), "ck-")), "model");
  const tok = TextTokenizer.fit(texts, 300);
  const m = await EmbeddedModel.create("tiny", tok, 9);
  const items = [{ prompt: { text: "Which nerve?" }, completion: "<think> ulnar </think> <answer> A </answer>" }];
  const before = await m.score(items);
  const g1 = await m.generate([{ text: "Which nerve?" }], { maxNewTokens: 8, temperature: 1, seed: 1 });
  await m.save(dir, { step: 3 });
  const m2 = await EmbeddedModel.load(dir);
  assert.deepEqual(await m2.score(items), before);
  assert.deepEqual(await m2.generate([{ text: "Which nerve?" }], { maxNewTokens: 8, temperature: 1, seed: 1 }), g1);
  assert.equal(m2.info.step, 3);
  assert.deepEqual(m2.config, m.config);
  // The safetensors header is standard: 8-byte length, JSON with dtype/shape/data_offsets.
  const buf = readFileSync(join(dir, "model.safetensors"));
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString());
  assert.deepEqual(header.embed.shape, [tok.vocabSize, m.config.dModel]);
  assert.equal(header.embed.dtype, "F32");
  m.dispose();
  m2.dispose();
});

test("loading names missing, unexpected and mis-shaped tensors", async () => {
  await initEngine();
  const dir = join(mkdtempSync(join(tmpdir(), "ck-")), "model");
  const tok = TextTokenizer.fit(texts, 300);
  const m = await EmbeddedModel.create("tiny", tok, 1);
  await m.save(dir);
  const f = join(dir, "model.safetensors");
  const { tensors } = readSafetensors(f);
  delete tensors["layers.1.wo"];
  tensors["layers.0.wqkv"] = { shape: [2, 2], data: new Float32Array(4) };
  tensors.extra = { shape: [1], data: new Float32Array(1) };
  writeSafetensors(f, tensors);
  assert.throws(
    () => loadCheckpoint(dir),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      const msg = (e as Error).message;
      assert.match(msg, /missing tensor 'layers\.1\.wo'/);
      assert.match(msg, /tensor 'layers\.0\.wqkv': shape \[2,2\], expected \[32,96\]/);
      assert.match(msg, /unexpected tensor 'extra'/);
      return true;
    },
  );
  m.dispose();
});

test("a save killed part-way leaves a loadable checkpoint (old or new)", async () => {
  await initEngine();
  const root = mkdtempSync(join(tmpdir(), "ck-"));
  const dir = join(root, "model");
  const tok = TextTokenizer.fit(texts, 300);
  const m = await EmbeddedModel.create("tiny", tok, 1, { vocabSize: 300, dModel: 64, nHeads: 4, dMlp: 256 });
  await m.save(dir, { step: 0 });
  const item = [{ prompt: { text: "Which nerve?" }, completion: "ulnar" }];
  const old = await m.score(item);
  const { initParams } = await import("../src/model/params");
  const fresh = new EmbeddedModel(initParams(m.config, 77), m.config, tok);
  const next = await fresh.score(item);
  fresh.dispose();
  m.dispose();
  // A child process saves new weights in a loop; we SIGKILL it at several moments.
  const script = join(root, "saver.mts");
  writeFileSync(
    script,
    `import { EmbeddedModel } from ${JSON.stringify(resolve("src/model/model.ts"))};
const m = await EmbeddedModel.load(${JSON.stringify(dir)});
const { initParams } = await import(${JSON.stringify(resolve("src/model/params.ts"))});
m.params = initParams(m.config, 77);
process.stdout.write("ready\\n");
for (let i = 1; ; i++) await m.save(${JSON.stringify(dir)}, { step: i });
`,
  );
  const seen = new Set<string>();
  for (const delay of [5, 40, 120, 300]) {
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((res) => child.stdout!.once("data", () => res()));
    await new Promise((r) => setTimeout(r, delay));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    if (!existsSync(join(dir, "config.json"))) seen.add("fell back to .prev");
    const ck = await EmbeddedModel.load(dir); // falls back to <dir>.prev itself
    const s = await ck.score(item);
    const which = JSON.stringify(s) === JSON.stringify(old) ? "old" : JSON.stringify(s) === JSON.stringify(next) ? "new" : "neither";
    assert.notEqual(which, "neither", `after a kill at ${delay} ms the checkpoint holds neither the old nor the new weights`);
    seen.add(which);
    ck.dispose();
  }
  assert.ok(seen.size >= 1);
});

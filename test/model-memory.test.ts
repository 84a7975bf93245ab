// wasm memory hygiene of generation and GRPO: live jax-js buffers do not grow per call or per
// step, and the sampler's prefill peak does not scale with the batch (one row at a time).
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { initEngine } from "../src/model/engine";
import { sizeConfig } from "../src/model/config";
import { initParams } from "../src/model/params";
import { Sampler } from "../src/model/sampler";
import { tree } from "../src/model/jax";
import { trainGrpo } from "../src/train/grpo";
import { makeCopyTask } from "./helpers/grpo-task";

// Live-buffer counter as in test/train-core.test.ts (jax-js 0.1.25 exposes no count of live
// arrays): wrap the wasm backend's malloc/incRef/decRef, also tracking live and peak bytes.
const live = { buffers: 0, bytes: 0, peak: 0 };
async function installCounter(): Promise<boolean> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("@jax-js/jax"));
  const chunk = readdirSync(dist).find((f) => /^backend-.*\.js$/.test(f));
  if (!chunk) return false;
  const mod = (await import(pathToFileURL(join(dist, chunk)).href)) as Record<string, unknown>;
  const getBackend = Object.values(mod).find((f) => typeof f === "function" && f.name === "getBackend") as ((d: string) => Record<string, (...a: number[]) => number>) | undefined;
  if (!getBackend) return false;
  const backend = getBackend("wasm");
  const refs = new Map<number, { n: number; size: number }>();
  const { malloc, incRef, decRef } = backend;
  backend.malloc = (...a) => {
    const slot = malloc.apply(backend, a);
    refs.set(slot, { n: 1, size: a[0] });
    live.buffers++;
    live.bytes += a[0];
    live.peak = Math.max(live.peak, live.bytes);
    return slot;
  };
  backend.incRef = (slot) => {
    incRef.call(backend, slot);
    const r = refs.get(slot);
    if (r) r.n++;
    return 0;
  };
  backend.decRef = (slot) => {
    decRef.call(backend, slot);
    const r = refs.get(slot);
    if (r && --r.n <= 0) {
      refs.delete(slot);
      live.buffers--;
      live.bytes -= r.size;
    }
    return 0;
  };
  return true;
}

before(async () => {
  await initEngine();
  assert.ok(await installCounter(), "the live-buffer counter could not hook this jax-js build");
});

test("generate() leaves no buffers behind; the prefill peak does not grow with distinct rows", async () => {
  const c = sizeConfig("tiny", { vocabSize: 64, maxSeq: 256 });
  const params = initParams(c, 3);
  const s = new Sampler(c);
  // The jax-js sampler (onnxruntime, when present, holds no jax-js buffers at all).
  const opts = { maxNewTokens: 20, temperature: 1, stopIds: [], padId: 0, imageTokenId: 63, engine: "jax" as const };
  const row = (k: number) => ({ ids: Array.from({ length: 200 }, (_, i) => 1 + ((i * 7 + k) % 60)) });
  const gen = (rows: number) => s.generate(params, Array.from({ length: rows }, (_, k) => row(k)), opts);
  await gen(1); // compile
  live.peak = live.bytes;
  await gen(1);
  const one = live.peak - live.bytes;
  await gen(8); // compile the 8-row decode step
  for (let i = 0; i < 3; i++) await gen(8);
  const after = live.buffers;
  live.peak = live.bytes;
  await gen(8);
  const eight = live.peak - live.bytes;
  assert.equal(live.buffers, after, `live buffers grew from ${after} to ${live.buffers} over one generate() call`);
  // Batched prefill held every row's intermediates at once (8x); per row it stays near one row's.
  assert.ok(eight < 3 * one, `peak of 8 distinct rows ${eight} B vs one row ${one} B`);
  s.dispose();
  tree.dispose(params);
  assert.equal(live.buffers, 0, "buffers left after disposing the sampler and the params");
});

test("GRPO steps and runs leave no buffers behind", async () => {
  const task = await makeCopyTask({ items: 24 });
  const start = live.buffers;
  const perStep: number[] = [];
  for (const r of [0, 1]) {
    const run = await trainGrpo(
      {
        preset: "smoke",
        out: join(task.dir, `run${r}`),
        model: { init: task.modelDir, size: "tiny" },
        data: { sources: [task.itemsPath], excludeEval: [], limit: null },
        rollout: { promptsPerStep: 4, n: 4, maxResponseTokens: 8, maxPromptTokens: 80, batchRows: 16 },
        actor: { lr: 1e-3, miniBatchPrompts: 2, microBatchRows: 4 },
        warmup: { formatSteps: 0 },
        train: { maxSteps: 3, saveEvery: 0, epochs: 2, keepLast: 5 },
      } as never,
      { progress: false, log: () => {}, onStep: () => perStep.push(live.buffers) },
    );
    run.model.dispose();
    assert.equal(live.buffers, start, `live buffers after GRPO run ${r}: ${live.buffers}, before ${start}`);
  }
  assert.deepEqual(perStep.slice(1), perStep.slice(1).map(() => perStep[1]), `live buffers per step: ${perStep.join(" ")}`);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalJson, parseEvalConfig, runDir, runHash } from "../src/eval/config";

test("defaults are the published protocol", () => {
  const c = parseEvalConfig({ model: "m", benchmarks: ["vqa-rad"] });
  assert.deepEqual(c.sampling, { n: 1, temperature: 0, top_p: 1, max_tokens: 4096, seed: 42, seedPerRun: false, logprobs: false });
  assert.equal(c.runs, 3);
  assert.equal(c.grading, "regrade");
  assert.deepEqual(c.prompt, { realNewline: false, ignoreImages: false, images: "qwen-vl-utils" });
  assert.equal(c.profile, "vllm");
  assert.equal(c.concurrency, 64);
});

test("the run key changes with what a response depends on, not with how much or how fast", () => {
  const base = parseEvalConfig({ model: "m", benchmarks: ["vqa-rad"] });
  const h = runHash(base);
  const same = [{ benchmarks: ["slake", "vqa-rad"] }, { limit: 10 }, { runs: 5 }, { concurrency: 8 }, { retries: 2 }, { timeoutS: 30 }, { baseURL: "http://x/v1" }, { paperModel: "GPT-4o" }];
  for (const d of same) assert.equal(runHash(parseEvalConfig({ model: "m", benchmarks: ["vqa-rad"], ...d })), h, JSON.stringify(d));
  const differ = [{ model: "m2" }, { sampling: { temperature: 1 } }, { sampling: { max_tokens: 512 } }, { sampling: { seed: 1 } }, { sampling: { n: 4 } }, { prompt: { realNewline: true } }, { prompt: { images: "as-stored" as const } }, { profile: "llama.cpp" as const }, { evalParquet: "/tmp/x.parquet" }];
  for (const d of differ) assert.notEqual(runHash(parseEvalConfig({ model: "m", benchmarks: ["vqa-rad"], ...d })), h, JSON.stringify(d));
  assert.match(runDir(parseEvalConfig({ model: "Qwen/Qwen2.5-VL-3B-Instruct", benchmarks: ["x"], out: "/tmp/o" })), /^\/tmp\/o\/Qwen_Qwen2\.5-VL-3B-Instruct-[0-9a-f]{12}$/);
});

test("bad configs name every bad field", () => {
  assert.throws(
    () => parseEvalConfig({ model: "", benchmarks: [], sampling: { temperature: -1 }, extra: 1 }),
    (e: Error) => e.name === "ConfigError" && /model/.test(e.message) && /benchmarks/.test(e.message) && /sampling\.temperature/.test(e.message) && /extra/.test(e.message),
  );
});

test("canonical JSON ignores key order", () => {
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 }));
});

/**
 * `medvlthinker serve`: a tiny embedded checkpoint behind the OpenAI-compatible server on
 * loopback. Evaluating it through the server gives the same per-item answers as evaluating it
 * in-process (greedy, and sampled with n and a seed, logprobs included); bad requests get
 * OpenAI-style 400s naming the field.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpenAI } from "openai/client";
import type { Item } from "../src/data/item";
import { loadBenchmarks } from "../src/eval/benchmarks";
import { answerAgreement } from "../src/eval/compare";
import { runEval } from "../src/eval/harness";
import { recordKey, type ResultRecord } from "../src/eval/store";
import { initEngine } from "../src/model/engine";
import { EmbeddedModel } from "../src/model/model";
import { TextTokenizer } from "../src/model/tokenizer";
import { EmbeddedPolicy } from "../src/policy/embedded";
import { OpenAIPolicy } from "../src/policy/openai";
import { startPolicyServer, type PolicyServer } from "../src/policy/serve";
import { dataRoot } from "../src/paths";
import { makeDatasets } from "./helpers/fake-openai-server";

const tmp = mkdtempSync(join(tmpdir(), "serve-"));
const NAME = "tiny-served";
let policy: EmbeddedPolicy;
let server: PolicyServer;
let datasets: Record<string, Item[]>;

before(async () => {
  await initEngine();
  const lines = readFileSync(join(dataRoot(), "medqa", "test.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 20);
  const m = await EmbeddedModel.create("tiny", TextTokenizer.fit(lines, 400), 3, { maxSeq: 128 });
  await m.save(join(tmp, "ck"));
  m.dispose();
  policy = await EmbeddedPolicy.fromCheckpoint(join(tmp, "ck"), { name: NAME });
  server = await startPolicyServer({ policy, modelName: NAME, port: 0 });
  const [rad] = await loadBenchmarks(["vqa-rad"]);
  datasets = { "vqa-rad": rad.items.slice(0, 5), txt: makeDatasets({ txt: 5 }).txt };
});

after(async () => {
  await server?.close();
  await policy?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function byKey(records: ResultRecord[]): Map<string, ResultRecord> {
  return new Map(records.map((r) => [recordKey(r), r]));
}

async function both(sampling: Record<string, unknown>, batchSize: number) {
  const cfg = { model: NAME, benchmarks: ["vqa-rad", "txt"], runs: 1, concurrency: 4, sampling, prompt: { images: "as-stored" as const } };
  const local = await runEval({ ...cfg, out: join(tmp, "local"), batchSize }, policy, { datasets, progress: false, log: () => {} });
  const http = new OpenAIPolicy({ baseURL: server.url, model: NAME, apiKey: "k", images: "as-stored", retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 5 } });
  const remote = await runEval({ ...cfg, out: join(tmp, "http") }, http, { datasets, progress: false, log: () => {} });
  return { local: byKey(local.records), remote: byKey(remote.records), http };
}

test("the server binds to loopback and lists the model", { timeout: 10_000 }, async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  const client = new OpenAI({ baseURL: server.url, apiKey: "x" });
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [NAME]);
  assert.equal((await fetch(server.url.replace(/\/v1$/, "/health"))).status, 200);
});

test("greedy: the same answer for every item through the server as in-process (batched 8 rows)", { timeout: 120_000 }, async () => {
  const { local, remote } = await both({ temperature: 0, max_tokens: 12, logprobs: true }, 8);
  assert.equal(local.size, 10);
  assert.deepEqual([...remote.keys()].sort(), [...local.keys()].sort());
  for (const [k, a] of local) {
    const b = remote.get(k)!;
    assert.deepEqual([b.response, b.finish_reason, b.predicted, b.correct], [a.response, a.finish_reason, a.predicted, a.correct], k);
    // The log-probs depend on every prompt token and image (a random tiny model answers alike
    // whatever it is shown, so the text alone would not tell); batching 8 rows vs 1 moves the last bits.
    assert.equal(b.logprobs!.length, a.logprobs!.length, k);
    a.logprobs!.forEach((x, j) => assert.ok(Math.abs(x - b.logprobs![j]) < 1e-6, `${k}: ${x} vs ${b.logprobs![j]}`));
  }
  assert.ok([...local.values()].some((r) => r.response.length > 0));
  const agreement = answerAgreement([...local.values()], [...remote.values()]);
  assert.deepEqual([agreement.compared, agreement.same, agreement.differ], [10, 10, []]);
  const flipped = [...remote.values()].map((r) => (r.index === 2 && r.benchmark === "txt" ? { ...r, response: r.response + "!" } : r));
  assert.deepEqual(answerAgreement([...local.values()], flipped).differ, ["txt/2/0/0"]);
});

test("sampled with n = 3 and a seed, logprobs on: the same samples and logprobs through the server", { timeout: 120_000 }, async () => {
  const { local, remote, http } = await both({ temperature: 1, n: 3, max_tokens: 8, seed: 7, logprobs: true }, 1);
  assert.equal(local.size, 30);
  for (const [k, a] of local) {
    const b = remote.get(k)!;
    assert.equal(b.response, a.response, k);
    assert.deepEqual(b.logprobs, a.logprobs, k);
  }
  // The samples differ from each other: the seed is used, not ignored.
  const first = [...local.values()].filter((r) => r.benchmark === "txt" && r.index === 0).map((r) => r.response);
  assert.ok(new Set(first).size > 1, JSON.stringify(first));
  assert.equal(http.stats.requests, 10); // one request per item with n = 3
});

test("bad requests get OpenAI-style errors naming the field", { timeout: 20_000 }, async () => {
  const post = async (body: unknown) => {
    const res = await fetch(`${server.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ok = { model: NAME, messages: [{ role: "user", content: "Question: ?" }], max_tokens: 4 };
  const good = await post(ok);
  assert.equal(good.status, 200);
  assert.equal(good.body.object, "chat.completion");
  assert.equal(good.body.choices.length, 1);
  assert.ok(good.body.usage.prompt_tokens > 0);
  const cases: [unknown, number, RegExp, string | null][] = [
    ["{not json", 400, /not JSON/, null],
    [{ ...ok, messages: undefined }, 400, /messages/, "messages"],
    [{ ...ok, temperature: -1 }, 400, /temperature/, "temperature"],
    [{ ...ok, n: 0 }, 400, /n:/, "n"],
    [{ ...ok, max_tokens: 2.5 }, 400, /max_tokens/, "max_tokens"],
    [{ ...ok, stream: true }, 400, /stream: not supported/, "stream"],
    [{ ...ok, top_k: 50 }, 400, /top_k: not supported by the embedded model/, "top_k"],
    [{ ...ok, repetition_penalty: 1.05 }, 400, /repetition_penalty/, "repetition_penalty"],
    [{ ...ok, messages: [{ role: "system", content: "x" }, ok.messages[0]] }, 400, /'system' messages are not supported/, "messages"],
    [{ ...ok, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://example.com/a.png" } }] }] }, 400, /only data: URLs/, "messages.content[0].image_url.url"],
    [{ ...ok, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,aGVsbG8=" } }] }] }, 400, /does not hold a PNG/, "messages.content[0].image_url.url"],
    [{ ...ok, model: "other" }, 404, /The model `other` does not exist/, "model"],
  ];
  for (const [body, status, re, param] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
    assert.match(r.body.error.message, re);
    assert.equal(r.body.error.param, param);
    assert.equal(typeof r.body.error.type, "string");
  }
  // The neutral values the vllm profile sends are accepted.
  assert.equal((await post({ ...ok, top_k: -1, repetition_penalty: 1, min_p: 0, n: 1, seed: 42, top_p: 1 })).status, 200);
  const res = await fetch(`${server.url}/nothing`);
  assert.equal(res.status, 404);
  // Through the harness's policy, a bad request is a clear ConfigError with the server's message.
  const p = new OpenAIPolicy({ baseURL: server.url, model: NAME, apiKey: "k", extraBody: { top_k: 40 } });
  await assert.rejects(p.sample([datasets.txt[0]], { n: 1, temperature: 0, top_p: 1, max_tokens: 4 }), (e: Error) => e.name === "ConfigError" && /HTTP 400.*top_k: not supported/.test(e.message));
  // Every profile's neutral fields are accepted.
  for (const profile of ["vllm", "sglang", "llama.cpp", "ollama", "openai"] as const) {
    const q = new OpenAIPolicy({ baseURL: server.url, model: NAME, apiKey: "k", profile });
    assert.equal((await q.sample([datasets.txt[0]], { n: 2, temperature: 1, top_p: 1, max_tokens: 3, seed: 1 }))[0].length, 2, profile);
  }
});

test("medvlthinker serve: starts on loopback, answers, stops on SIGINT; a missing checkpoint is a clear error", { timeout: 60_000 }, async () => {
  const { spawn, execFile } = await import("node:child_process");
  const BIN = join(import.meta.dirname, "..", "bin", "medvlthinker.js");
  const child = spawn(process.execPath, [BIN, "serve", "--checkpoint", join(tmp, "ck"), "--port", "0", "--name", "cli-served", "--quiet"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const deadline = Date.now() + 40_000;
    while (!/at (http:\S+\/v1)/.test(stdout)) {
      assert.ok(Date.now() < deadline, `no URL printed: ${stdout} ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /at (http:\S+\/v1)/.exec(stdout)![1];
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const client = new OpenAI({ baseURL: url, apiKey: "x" });
    assert.deepEqual((await client.models.list()).data.map((m) => m.id), ["cli-served"]);
    const r = await client.chat.completions.create({ model: "cli-served", messages: [{ role: "user", content: "Question: ?" }], max_tokens: 3, temperature: 0 });
    assert.equal(r.choices.length, 1);
  } finally {
    child.kill("SIGINT");
  }
  assert.equal(await exited, 0, stderr);
  const missing = await new Promise<{ code: number | null; stderr: string }>((r) =>
    execFile(process.execPath, [BIN, "serve", "--checkpoint", join(tmp, "nope")], (e, _o, err) => r({ code: (e as any)?.code ?? 0, stderr: err })),
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*nope/m);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
});

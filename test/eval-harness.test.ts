/**
 * The harness against a loopback server whose correctness is known in advance (right exactly on
 * items whose hash starts with 0-7), with faults injected: the accuracy must come out exactly,
 * with no item lost or counted twice, also across an abort, a SIGKILL and a torn last line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Item } from "../src/data/item";
import { runEval } from "../src/eval/harness";
import { report } from "../src/eval/report";
import { compareRuns } from "../src/eval/compare";
import { readResults, recordKey } from "../src/eval/store";
import { OpenAIPolicy } from "../src/policy/openai";
import { answerer, expectedAccuracy, isRight, makeDatasets, startFakeServer, type Fault } from "./helpers/fake-openai-server";

/** Faults on first tries of some items: 500, 429, drops, cut bodies, garbage, slow. */
const faultPlan = (info: { prompt: string; seen: number }): Fault | null => {
  const i = Number(info.prompt.match(/\[q:[^:]+:(\d+)\]/)?.[1] ?? -1);
  if (info.seen > 0 || i < 0) return null;
  const kinds: (Fault | null)[] = ["500", "429", "drop", "drop-mid-body", "malformed", "slow", null, null, null];
  return kinds[i % kinds.length];
};

const FAST = { maxRetries: 6, baseDelayMs: 1, maxDelayMs: 10 };

function policyFor(url: string, concurrency = 8) {
  return new OpenAIPolicy({ baseURL: url, model: "fake-model", apiKey: "k", retry: FAST, timeoutMs: 1000, concurrency });
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "eval-harness-"));
}

const baseConfig = (out: string) => ({ model: "fake-model", benchmarks: ["txt", "img"], out, runs: 2, concurrency: 8 });

function assertExactlyOnce(dir: string, datasets: Record<string, Item[]>, runs: number) {
  const { records, warnings } = readResults(join(dir, "results.jsonl"));
  const keys = records.map(recordKey);
  assert.equal(new Set(keys).size, keys.length, "a record is duplicated");
  const total = Object.values(datasets).reduce((a, d) => a + d.length, 0) * runs;
  assert.equal(records.length, total, "records missing");
  return { records, warnings };
}

test("accuracy equals the one the server was built to give, through injected faults", { timeout: 30_000 }, async () => {
  const datasets = makeDatasets({ txt: 45, img: 27 });
  const server = await startFakeServer({ answer: answerer(datasets), fault: faultPlan, slowMs: 1500 });
  const out = tmp();
  try {
    const policy = policyFor(server.url);
    const run = await runEval(baseConfig(out), policy, { datasets, progress: false, log: () => {} });
    assert.equal(run.missing, 0);
    assert.equal(run.records.length, (45 + 27) * 2);
    assertExactlyOnce(run.dir, datasets, 2);
    const rep = report(run, { paperRows: [] });
    const acc = Object.fromEntries(rep.summaries.map((s) => [s.benchmark, s.accuracy]));
    assert.equal(acc.txt, expectedAccuracy(datasets.txt));
    assert.equal(acc.img, expectedAccuracy(datasets.img));
    assert.ok(acc.txt > 20 && acc.txt < 80); // the subset is a real mix
    for (const s of rep.summaries) {
      assert.equal(s.runs, 2);
      assert.ok(s.ci_lo <= s.accuracy && s.accuracy <= s.ci_hi);
    }
    assert.ok(policy.stats.retries >= 8, `retries ${policy.stats.retries}`);
    assert.match(rep.text, /\|txt\|45\|2\|/);
    const cfg = JSON.parse(readFileSync(join(run.dir, "config.json"), "utf8"));
    assert.equal(cfg.config.sampling.seed, 42);
    assert.equal(cfg.config.sampling.max_tokens, 4096);
    assert.equal(cfg.config.sampling.temperature, 0);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("every run is sent with seed 42 (as upstream), or 42 + r with seedPerRun", { timeout: 20_000 }, async () => {
  const datasets = makeDatasets({ txt: 6 });
  const seeds: number[] = [];
  const server = await startFakeServer({ answer: answerer(datasets), fault: (info) => (seeds.push(info.body.seed), null) });
  const out = tmp();
  try {
    await runEval({ ...baseConfig(out), benchmarks: ["txt"], runs: 3 }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.deepEqual([...new Set(seeds)], [42]);
    assert.equal(seeds.length, 18);
    seeds.length = 0;
    await runEval({ ...baseConfig(out), benchmarks: ["txt"], runs: 3, sampling: { seedPerRun: true } }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.deepEqual([...new Set(seeds)].sort(), [42, 43, 44]);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("abort midway, rerun: only the missing items are sent, none counted twice", { timeout: 30_000 }, async () => {
  const datasets = makeDatasets({ txt: 60, img: 20 });
  const server = await startFakeServer({ answer: answerer(datasets), latencyMs: 5 });
  const out = tmp();
  try {
    const ac = new AbortController();
    let answered = 0;
    const policy = policyFor(server.url, 4);
    const orig = policy.sample.bind(policy);
    policy.sample = async (items, params, signal) => {
      const r = await orig(items, params, signal);
      if (++answered === 50) ac.abort();
      return r;
    };
    await assert.rejects(runEval(baseConfig(out), policy, { datasets, signal: ac.signal, progress: false, log: () => {} }), (e: Error) => e.name === "AbortError" && /rerun to resume/.test(e.message));
    const dirs = readdirSync(out);
    assert.equal(dirs.length, 1);
    const partial = readResults(join(out, dirs[0], "results.jsonl")).records.length;
    assert.ok(partial >= 45 && partial < 160, `partial ${partial}`);

    // A fresh server for the rerun: the first one may still answer requests the abort left behind.
    const server2 = await startFakeServer({ answer: answerer(datasets) });
    const run2 = await runEval(baseConfig(out), policyFor(server2.url), { datasets, progress: false, log: () => {} });
    await server2.close();
    assert.equal(run2.resumed, partial);
    assert.equal(run2.sent, 160 - partial);
    assert.equal(server2.stats.answered, 160 - partial);
    assertExactlyOnce(run2.dir, datasets, 2);
    const acc = report(run2, { paperRows: [] }).summaries.find((s) => s.benchmark === "txt")!.accuracy;
    assert.equal(acc, expectedAccuracy(datasets.txt));

    // A third call has nothing to send.
    const run3 = await runEval(baseConfig(out), policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.equal(run3.sent, 0);
    assert.equal(run3.records.length, 160);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("a torn last line is ignored and its item sent again", { timeout: 20_000 }, async () => {
  const datasets = makeDatasets({ txt: 10 });
  const server = await startFakeServer({ answer: answerer(datasets) });
  const out = tmp();
  const cfg = { ...baseConfig(out), benchmarks: ["txt"], runs: 1 };
  try {
    const run = await runEval(cfg, policyFor(server.url), { datasets, progress: false, log: () => {} });
    const file = join(run.dir, "results.jsonl");
    // Simulate a crash while writing the last line: cut it in half.
    const text = readFileSync(file, "utf8");
    const lines = text.trimEnd().split("\n");
    const last = lines.pop()!;
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, lines.join("\n") + "\n" + last.slice(0, 30));
    const notes: string[] = [];
    const run2 = await runEval(cfg, policyFor(server.url), { datasets, progress: false, log: (m) => notes.push(m) });
    assert.equal(run2.sent, 1);
    assert.ok(notes.some((n) => /torn last line/.test(n)));
    const after = readResults(file);
    assert.equal(after.tornBytes, 0);
    assert.equal(after.warnings.length, 0);
    assertExactlyOnce(run2.dir, datasets, 1);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("a changed config starts a new run folder; a larger limit extends the same one", { timeout: 20_000 }, async () => {
  const datasets = makeDatasets({ txt: 12 });
  const server = await startFakeServer({ answer: answerer(datasets) });
  const out = tmp();
  const cfg = { ...baseConfig(out), benchmarks: ["txt"], runs: 1, limit: 5 };
  try {
    const a = await runEval(cfg, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.equal(a.records.length, 5);
    const b = await runEval({ ...cfg, limit: 12 }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.equal(b.dir, a.dir);
    assert.equal(b.sent, 7);
    const c = await runEval({ ...cfg, sampling: { max_tokens: 512 } }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.notEqual(c.dir, a.dir);
    assert.equal(c.sent, 5);
    assert.equal(readdirSync(out).length, 2);
    await assert.rejects(runEval({ ...cfg, runs: 0 }, policyFor(server.url), { datasets, progress: false }), (e: Error) => e.name === "ConfigError" && /runs/.test(e.message));
    await assert.rejects(runEval({ ...cfg, sampling: { temprature: 1 } } as never, policyFor(server.url), { datasets, progress: false }), (e: Error) => e.name === "ConfigError" && /temprature/.test(e.message));
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("n samples per item: all graded, pass@k and majority@k reported", { timeout: 20_000 }, async () => {
  const datasets = makeDatasets({ txt: 16 });
  // Choice c of item i is right iff (i + c) % 4 != 0: 3 of 4 samples right for every item.
  const byToken = new Map(datasets.txt.map((it, i) => [`[q:txt:${i}]`, { it, i }]));
  const server = await startFakeServer({
    nMode: "ignore", // llama.cpp-like: the policy must top up with separate requests
    answer: (info, c) => {
      const { it, i } = byToken.get(info.prompt.match(/\[q:[^\]]+\]/)![0])!;
      const k = (info.body.seed - 42 + c) % 4; // seed varies per separate request
      return `<think>x</think><answer>${(i + k) % 4 !== 0 ? it.answer_label : it.answer_label === "A" ? "B" : "A"}</answer>`;
    },
  });
  const out = tmp();
  try {
    const run = await runEval({ ...baseConfig(out), benchmarks: ["txt"], runs: 1, sampling: { n: 4, temperature: 1 } }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.equal(run.records.length, 64);
    const s = report(run, { paperRows: [] }).summaries[0];
    assert.equal(s.accuracy, 75);
    assert.equal(s.pass_at_k, 100);
    assert.equal(s.majority_at_k, 100);
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("paired comparison finds exactly the flipped items", { timeout: 20_000 }, async () => {
  const datasets = makeDatasets({ txt: 40 });
  const ruleA = (it: Item) => isRight(it);
  const ruleB = (it: Item) => (it.dataset_index < 10 ? !isRight(it) : isRight(it)); // flip the first 10
  const sa = await startFakeServer({ answer: answerer(datasets, ruleA), models: ["model-a"] });
  const sb = await startFakeServer({ answer: answerer(datasets, ruleB), models: ["model-b"] });
  const out = tmp();
  try {
    const mk = (url: string, model: string) => new OpenAIPolicy({ baseURL: url, model, apiKey: "k", retry: FAST });
    const a = await runEval({ ...baseConfig(out), model: "model-a", benchmarks: ["txt"], runs: 1 }, mk(sa.url, "model-a"), { datasets, progress: false, log: () => {} });
    const b = await runEval({ ...baseConfig(out), model: "model-b", benchmarks: ["txt"], runs: 1 }, mk(sb.url, "model-b"), { datasets, progress: false, log: () => {} });
    const cmp = compareRuns(a.dir, b.dir);
    assert.equal(cmp.flips.length, 10);
    assert.deepEqual(cmp.flips.map((f) => f.index_a).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const first10 = datasets.txt.slice(0, 10);
    const aOnly = first10.filter(ruleA).length;
    const row = cmp.rows[0];
    assert.equal(row.items, 40);
    assert.equal(row.a_only, aOnly);
    assert.equal(row.b_only, 10 - aOnly);
    assert.match(cmp.text, /McNemar/);
  } finally {
    await sa.close();
    await sb.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("the API key never reaches the results folder", { timeout: 20_000 }, async () => {
  const secret = "sk-harness-SECRET-98765";
  const datasets = makeDatasets({ txt: 6 });
  const server = await startFakeServer({ answer: answerer(datasets) });
  const out = tmp();
  const old = process.env.OPENAI_API_KEY;
  process.env.OPENAI_API_KEY = secret;
  try {
    const policy = new OpenAIPolicy({ baseURL: server.url, model: "fake-model", retry: FAST });
    const run = await runEval({ ...baseConfig(out), benchmarks: ["txt"], runs: 1, baseURL: `http://user:${secret}@127.0.0.1:1/v1` }, policy, { datasets, progress: false, log: () => {} });
    assert.ok(server.stats.authHeaders.has(`Bearer ${secret}`));
    for (const f of readdirSync(run.dir)) assert.ok(!readFileSync(join(run.dir, f), "utf8").includes(secret), `${f} holds the key`);
  } finally {
    if (old === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = old;
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test("SIGKILL of a child mid-run, then rerun: exact accuracy, nothing lost or doubled", { timeout: 60_000 }, async () => {
  const datasets = makeDatasets({ txt: 150 });
  const server = await startFakeServer({ answer: answerer(datasets), latencyMs: 10 });
  const out = tmp();
  try {
    const script = [
      `const { runEval } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, "../src/eval/harness.ts")).href)});`,
      `const { OpenAIPolicy } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, "../src/policy/openai.ts")).href)});`,
      `const { makeDatasets } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, "helpers/fake-openai-server.ts")).href)});`,
      `const policy = new OpenAIPolicy({ baseURL: process.env.EVAL_CHILD_URL, model: "fake-model", apiKey: "k", concurrency: 4 });`,
      `await runEval({ model: "fake-model", benchmarks: ["txt"], out: process.env.EVAL_CHILD_OUT, runs: 1, concurrency: 4 }, policy, { datasets: makeDatasets({ txt: 150 }), progress: false, log: () => {} });`,
    ].join("\n");
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, EVAL_CHILD_URL: server.url, EVAL_CHILD_OUT: out },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code, sig) => r(sig ? -1 : code)));
    // Kill once the child has written some records.
    const deadline = Date.now() + 30_000;
    let file = "";
    for (;;) {
      assert.ok(Date.now() < deadline, `child never wrote: ${stderr}`);
      const d = existsSync(out) ? readdirSync(out) : [];
      if (d.length) file = join(out, d[0], "results.jsonl");
      if (file && existsSync(file) && readFileSync(file, "utf8").split("\n").length > 40) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    assert.equal(await exited, -1);
    const partial = readResults(file).records.length;
    assert.ok(partial > 0 && partial < 150, `partial ${partial}`);
    const run = await runEval({ ...baseConfig(out), benchmarks: ["txt"], runs: 1 }, policyFor(server.url), { datasets, progress: false, log: () => {} });
    assert.equal(run.sent, 150 - partial);
    assertExactlyOnce(run.dir, datasets, 1);
    assert.equal(report(run, { paperRows: [] }).summaries[0].accuracy, expectedAccuracy(datasets.txt));
  } finally {
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});

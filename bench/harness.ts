/**
 * Evaluation harness overhead: items/s through runEval with a policy that answers instantly
 * (prompt building skipped: grading, JSONL append, bookkeeping only), and items/s against a
 * zero-latency OpenAI-compatible server on loopback (in a child process, so it does not share
 * our event loop) with 64 requests in flight; peak RSS over the HTTP run.
 *
 *   npx tsx bench/harness.ts                 (BENCH_ITEMS=100000 by default)
 *   BENCH_ITEMS=20000 npx tsx bench/harness.ts
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item } from "../src/data/item";
import { runEval } from "../src/eval/harness";
import { OpenAIPolicy } from "../src/policy/openai";
import type { Completion, Policy } from "../src/policy/policy";

function items(n: number): Item[] {
  return Array.from({ length: n }, (_, i) => ({
    images: null,
    question: `Synthetic question ${i}: which option is right?`,
    options: { A: `alpha ${i}`, B: `beta ${i}`, C: `gamma ${i}`, D: `delta ${i}` },
    answer_label: "ABCD"[i % 4],
    answer: [`alpha ${i}`, `beta ${i}`, `gamma ${i}`, `delta ${i}`][i % 4],
    reasoning: null,
    dataset_name: "bench",
    dataset_index: i,
  }));
}

const ANSWER = "<think>The findings point to the first option.</think>\n<answer>A</answer>";

/** A zero-latency chat-completions server (plain node:http) in a child process. */
const SERVER = `
const http = require("node:http");
const body = JSON.stringify({ id: "x", object: "chat.completion", created: 0, model: "bench",
  choices: [{ index: 0, message: { role: "assistant", content: ${JSON.stringify(ANSWER)} }, finish_reason: "stop" }] });
const s = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }); res.end(body); });
});
s.keepAliveTimeout = 60000;
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
`;

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(String(d).trim()));
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}/v1`, stop: () => child.kill() };
}

class InstantPolicy implements Policy {
  readonly name = "instant";
  async sample(batch: Item[]): Promise<Completion[][]> {
    return batch.map(() => [{ text: ANSWER, finish_reason: "stop" }]);
  }
}

export async function run(): Promise<Record<string, number | string>> {
  const n = Number(process.env.BENCH_ITEMS ?? 100_000);
  const data = { bench: items(n) };
  const out = mkdtempSync(join(tmpdir(), "bench-harness-"));
  const quiet = { progress: false, log: () => {} };
  try {
    // 1. The harness alone.
    let t = performance.now();
    await runEval({ model: "instant", benchmarks: ["bench"], out, runs: 1, concurrency: 64 }, new InstantPolicy(), { datasets: data, ...quiet });
    const harnessOnly = n / ((performance.now() - t) / 1000);

    // 2. Over HTTP, 64 in flight, with real prompts (text items) through the openai client.
    const server = await startServer();
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const rssBefore = process.memoryUsage().rss;
    try {
      const policy = new OpenAIPolicy({ baseURL: server.url, model: "bench", apiKey: "EMPTY", concurrency: 64 });
      t = performance.now();
      const r = await runEval({ model: "bench", benchmarks: ["bench"], out, runs: 1, concurrency: 64 }, policy, { datasets: data, ...quiet });
      const secs = (performance.now() - t) / 1000;
      const correct = r.records.filter((x) => x.correct).length;
      if (r.records.length !== n || correct !== Math.ceil(n / 4)) throw new Error(`bench: ${r.records.length} records, ${correct} correct`);
      return {
        items: n,
        harness_only_items_per_s: Math.round(harnessOnly),
        http_items_per_s_64_in_flight: Math.round(n / secs),
        http_seconds: Number(secs.toFixed(1)),
        rss_mb_before: Math.round(rssBefore / 2 ** 20),
        rss_mb_peak: Math.round(peakRss / 2 ** 20),
        node: process.version,
      };
    } finally {
      clearInterval(sampler);
      server.stop();
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && /bench[\\/]harness\.ts$/.test(process.argv[1])) {
  run().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

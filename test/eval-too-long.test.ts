/**
 * Prompts longer than the server's context in a whole evaluation: recorded per item with the
 * server's reason, graded wrong, counted in the report's "too long" column with a hint about
 * --max-model-len; the run goes on; a rerun sends only those items again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runEval } from "../src/eval/harness";
import { report } from "../src/eval/report";
import { readResults } from "../src/eval/store";
import { OpenAIPolicy } from "../src/policy/openai";
import { PROMPT_TOO_LONG } from "../src/policy/policy";
import { answerer, expectedAccuracy, isRight, makeDatasets, startFakeServer, TOO_LONG_MM_MESSAGE, TOO_LONG_TEXT_MESSAGE } from "./helpers/fake-openai-server";

const FAST = { maxRetries: 4, baseDelayMs: 1, maxDelayMs: 5 };
const idx = (prompt: string) => Number(prompt.match(/\[q:[^:]+:(\d+)\]/)?.[1] ?? -1);
const tooLong = (i: number) => i % 4 === 1;

test("too-long prompts: recorded per item, graded wrong, counted with a hint; the run goes on; a rerun sends only those", { timeout: 30_000 }, async () => {
  const datasets = makeDatasets({ txt: 12, img: 8 });
  const small = await startFakeServer({
    answer: answerer(datasets),
    fault: (info) => (tooLong(idx(info.prompt)) ? (idx(info.prompt) % 8 === 1 ? "too-long-text" : "too-long-mm") : null),
  });
  const out = mkdtempSync(join(tmpdir(), "eval-too-long-"));
  const cfg = { model: "fake-model", benchmarks: ["txt", "img"], out, runs: 2, concurrency: 4 };
  const policy = (url: string) => new OpenAIPolicy({ baseURL: url, model: "fake-model", apiKey: "k", retry: FAST });
  try {
    const run = await runEval(cfg, policy(small.url), { datasets, progress: false, log: () => {} });
    assert.equal(run.missing, 0);
    assert.equal(run.records.length, 40);
    const refused = run.records.filter((r) => r.finish_reason === PROMPT_TOO_LONG);
    // txt: items 1, 5, 9; img: 1, 5 -> 5 items x 2 runs, each sent once per run (no retries).
    assert.equal(refused.length, 10);
    assert.equal(small.stats.requests, 40);
    for (const r of refused) {
      assert.equal(r.correct, false);
      assert.equal(r.predicted, null);
      assert.equal(r.response, "");
      assert.equal(r.error, r.index % 8 === 1 ? TOO_LONG_TEXT_MESSAGE : TOO_LONG_MM_MESSAGE);
    }
    const rep = report(run, { paperRows: [] });
    const txt = rep.summaries.find((s) => s.benchmark === "txt")!;
    assert.equal(txt.too_long, 6);
    assert.equal(txt.unparsed, 0); // refused prompts are not "unparsed" answers
    const expected = 100 * (datasets.txt.filter((it, i) => !tooLong(i) && isRight(it)).length / 12); // the report's rounding
    assert.equal(txt.accuracy, expected);
    assert.match(rep.text, /\|too long\|/);
    assert.match(rep.text, /too long: 10 prompts were longer than the server's context \(txt 6, img 4\).*--max-model-len/);

    // A server with a larger context: only the refused items are sent again, and they replace the old records.
    const big = await startFakeServer({ answer: answerer(datasets) });
    const notes: string[] = [];
    const run2 = await runEval(cfg, policy(big.url), { datasets, progress: false, log: (m) => notes.push(m) });
    await big.close();
    assert.equal(big.stats.requests, 10);
    assert.ok(notes.some((n) => /10 answers were refused last time/.test(n)), notes.join("\n"));
    assert.equal(run2.records.length, 40);
    assert.equal(run2.records.filter((r) => r.finish_reason === PROMPT_TOO_LONG).length, 0);
    const fromFolder = report(run2.dir, { paperRows: [] });
    assert.equal(fromFolder.summaries.find((s) => s.benchmark === "txt")!.accuracy, expectedAccuracy(datasets.txt));
    assert.equal(fromFolder.summaries.reduce((a, s) => a + s.too_long, 0), 0);
    assert.doesNotMatch(fromFolder.text, /prompts were longer/);
    const resultsFile = join(run2.dir, "results.jsonl");
    assert.equal(readFileSync(resultsFile, "utf8").trim().split("\n").length, 50); // 40 + the 10 sent again, appended
    const reread = readResults(resultsFile); // the 10 sent again replace their refusals: no duplicates
    assert.equal(reread.records.length, 40);
    assert.equal(reread.duplicates, 0);
    assert.equal(reread.records.filter((r) => r.finish_reason === PROMPT_TOO_LONG).length, 0);

    // Nothing left to send.
    const run3 = await runEval(cfg, policy(small.url), { datasets, progress: false, log: () => {} });
    assert.equal(run3.sent, 0);
  } finally {
    await small.close();
    rmSync(out, { recursive: true, force: true });
  }
});

// Issue 16, point 3: one process at a time in a run folder (eval, curation, training); a stale lock
// from a killed process does not block; a results file holding duplicates says so.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { curate } from "../src/curate/curate";
import { curateRunDir, parseCurateConfig } from "../src/curate/config";
import { runDir, parseEvalConfig } from "../src/eval/config";
import { runEval } from "../src/eval/harness";
import { report } from "../src/eval/report";
import { readResults, RESULTS_FILE } from "../src/eval/store";
import { OpenAIPolicy } from "../src/policy/openai";
// The lock module is loaded on use, so the tests of behaviour that predates it run without it.
const lockModule = () => import("../src/run-lock");
const LOCK_FILE = ".lock";
const isLocked = (e: Error) => e.name === "RunLockedError";
import { answerer, makeDatasets, startFakeServer } from "./helpers/fake-openai-server";

const dir = mkdtempSync(join(tmpdir(), "mvt-lock-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A live process that is not us, and a lock file naming it as the holder. */
function foreignHolder(runFolder: string): ChildProcess {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(child);
  mkdirSync(runFolder, { recursive: true });
  writeFileSync(join(runFolder, LOCK_FILE), JSON.stringify({ pid: child.pid, host: hostname(), command: "medvlthinker eval --model other", since: new Date().toISOString(), token: "other" }));
  return child;
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));
}

test("a second holder is refused with the holder named; a dead holder's lock is taken over", async () => {
  const { lockRunFolder, RunLockedError } = await lockModule();
  const run = join(dir, "plain");
  const child = foreignHolder(run);
  await assert.rejects(lockRunFolder(run, { log: () => {} }), (e: Error) => e instanceof RunLockedError && e.message.includes(`pid ${child.pid}`) && /medvlthinker eval --model other/.test(e.message) && /--wait/.test(e.message));
  child.kill("SIGKILL");
  await exited(child);
  const notes: string[] = [];
  const lock = await lockRunFolder(run, { log: (m) => notes.push(m) });
  assert.match(notes.join("\n"), /taking over a stale lock/);
  assert.equal(JSON.parse(readFileSync(join(run, LOCK_FILE), "utf8")).pid, process.pid);
  lock.release();
  assert.ok(!existsSync(join(run, LOCK_FILE)));
});

test("wait: the second process starts when the holder ends", async () => {
  const { lockRunFolder, RunLockedError } = await lockModule();
  const run = join(dir, "wait");
  const child = foreignHolder(run);
  const notes: string[] = [];
  const t0 = Date.now();
  setTimeout(() => child.kill("SIGKILL"), 400);
  const lock = await lockRunFolder(run, { wait: true, pollMs: 50, log: (m) => notes.push(m) });
  assert.ok(Date.now() - t0 >= 350);
  assert.match(notes[0], /waiting for pid/);
  lock.release();
  await assert.rejects(lockRunFolder(join(dir, "wait2"), { wait: 100 }).then(async (l) => {
    l.release();
    foreignHolder(join(dir, "wait2"));
    return lockRunFolder(join(dir, "wait2"), { wait: 100, pollMs: 20, log: () => {} });
  }), RunLockedError);
});

test("eval and curation refuse a run folder another process holds, before any request", { timeout: 30_000 }, async () => {
  const datasets = makeDatasets({ txt: 4 });
  const server = await startFakeServer({ answer: answerer(datasets) });
  try {
    const policy = new OpenAIPolicy({ baseURL: server.url, model: "fake-model", apiKey: "k" });
    const evalCfg = { model: "fake-model", benchmarks: ["txt"], out: join(dir, "eval"), runs: 1 };
    foreignHolder(runDir(parseEvalConfig(evalCfg)));
    await assert.rejects(runEval(evalCfg, policy, { datasets, progress: false, log: () => {} }), isLocked);
    const curateCfg = parseCurateConfig({ data: ["txt"], out: join(dir, "curate"), k: 2, model: "fake-model" });
    foreignHolder(curateRunDir(curateCfg, "fake-model"));
    await assert.rejects(curate(curateCfg, policy, { sources: [{ id: "txt", items: datasets.txt }], progress: false, log: () => {} }), isLocked);
    assert.equal(server.stats.requests, 0);
  } finally {
    await server.close();
  }
});

test("training refuses a run folder another process holds, before any work", { timeout: 30_000 }, async () => {
  const out = join(dir, "sft");
  foreignHolder(out);
  const { runSft } = await import("../src/train/sft");
  const { stageModels } = await import("../src/stages/models");
  await assert.rejects(runSft({ preset: "smoke", out }, { progress: false, log: () => {}, models: stageModels }), isLocked);
  const { trainGrpo } = await import("../src/train/grpo");
  const gout = join(dir, "grpo");
  foreignHolder(gout);
  await assert.rejects(trainGrpo({ preset: "smoke", out: gout }, { progress: false, log: () => {}, models: stageModels }), isLocked);
});

test("a results file holding duplicates says so, keeps the first of each, and the report shows it", () => {
  const run = join(dir, "dups");
  mkdirSync(run, { recursive: true });
  const rec = (index: number, correct: boolean) => JSON.stringify({ benchmark: "txt", index, hash: `h${index}`, run: 0, sample: 0, response: "", finish_reason: "stop", correct, predicted: null, gold: "A" });
  writeFileSync(join(run, RESULTS_FILE), [rec(0, true), rec(1, false), rec(1, true), rec(0, false)].join("\n") + "\n");
  const r = readResults(join(run, RESULTS_FILE));
  assert.equal(r.records.length, 2);
  assert.equal(r.duplicates, 2);
  assert.deepEqual(r.records.map((x) => x.correct), [true, false]);
  assert.match(r.warnings.join("\n"), /2 duplicate records .*first at line 3: txt\/1\/0\/0/);
  writeFileSync(join(run, "config.json"), JSON.stringify({ runId: "x", config: { model: "m", benchmarks: ["txt"] } }));
  assert.match(report(run).text, /warning: .*2 duplicate records/);
});

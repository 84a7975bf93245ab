import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { writeItemsJsonl } from "../src/data/jsonl";
import { loadPath } from "../src/data/registry";
import { run } from "../src/cli/curate";
import { readResults, recordKey } from "../src/eval/store";
import { makeDatasets, startFakeServer } from "./helpers/fake-openai-server";
import { builtPassCount, itemIndexOf, slotAnswerer } from "./helpers/curate-fakes";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "medvlthinker.js");
const tmp = mkdtempSync(join(tmpdir(), "curate-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], opts: { onSpawn?: (pid: number) => void } = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, "curate", ...args], { cwd: ROOT, env: { ...process.env, MEDVLTHINKER_API_KEY: "", OPENAI_API_KEY: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    opts.onSpawn?.(child.pid!);
    child.on("close", (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

function dataFile(name: string, size: number): string {
  const file = join(tmp, `${name}.jsonl`);
  writeItemsJsonl(file, makeDatasets({ [name]: size })[name]);
  return file;
}

function runFolder(out: string): string {
  const dirs = readdirSync(out).filter((d) => existsSync(join(out, d, "config.json")));
  assert.equal(dirs.length, 1, `one run folder in ${out}: ${dirs.join(", ")}`);
  return join(out, dirs[0]);
}

describe("medvlthinker curate --policy http (loopback OpenAI server)", () => {
  test("pass counts, curated outputs and the histogram; a rerun sends nothing", async () => {
    const server = await startFakeServer({ answer: slotAnswerer() });
    try {
      const data = dataFile("pool", 30);
      const out = join(tmp, "out-a");
      const args = ["--policy", "http", "--base-url", server.url, "--model", "fake-model", "--data", data, "--k", "16", "--out", out, "--no-progress"];
      const r = await cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(server.stats.answered, 30);
      assert.ok(server.stats.nSeen.every((n) => n === 16));
      assert.match(r.stdout, /pool\.jsonl: 30 loaded, 0 open dropped, 0 in evaluation sets dropped, 30 sampled/);
      assert.match(r.stdout, /pass count\s+ours \(n=30, k=16\)\s+paper 7B m23k \(n=23456\)/);
      const dir = runFolder(out);
      const scored = (await loadPath(join(dir, "scored.jsonl"))).items;
      assert.equal(scored.length, 30);
      for (const it of scored) assert.equal(it.misc!.pass_count, builtPassCount(itemIndexOf(it)));
      const curated = (await loadPath(join(dir, "curated.parquet"))).items;
      const kept = scored.filter((it) => (it.misc!.pass_count as number) >= 1 && (it.misc!.pass_count as number) <= 7);
      assert.equal(curated.length, kept.length);
      assert.match(r.stdout, new RegExp(`curated: ${kept.length} of 30 items \\(easy_to_hard, seed 42\\)`));

      const again = await cli(args);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(server.stats.answered, 30, "nothing sent on the rerun");
      assert.match(again.stderr, /resuming .*: 30 items complete, 0 to sample/);
      // A changed sampling setting starts a new folder.
      const hot = await cli([...args, "--temperature", "0.7"]);
      assert.equal(hot.code, 0, hot.stderr);
      assert.equal(readdirSync(out).filter((d) => existsSync(join(out, d, "config.json"))).length, 2);
    } finally {
      await server.close();
    }
  });

  test("SIGKILL mid-run, then the same command: loses nothing, counts nothing twice", async () => {
    const server = await startFakeServer({ answer: slotAnswerer(), latencyMs: 25 });
    try {
      const data = dataFile("pool", 80);
      const out = join(tmp, "out-b");
      const args = ["--policy", "http", "--base-url", server.url, "--model", "fake-model", "--data", data, "--out", out, "--concurrency", "2", "--no-progress"];
      let pid = 0;
      const killer = setInterval(() => {
        if (!existsSync(out)) return;
        const dirs = readdirSync(out);
        const file = dirs.length ? join(out, dirs[0], "results.jsonl") : "";
        if (file && existsSync(file) && readFileSync(file, "utf8").split("\n").length > 16 * 10) {
          process.kill(pid, "SIGKILL");
          clearInterval(killer);
        }
      }, 5);
      const first = await cli(args, { onSpawn: (p) => (pid = p) });
      clearInterval(killer);
      assert.equal(first.signal, "SIGKILL", `the run finished before it was killed: ${first.stdout}`);
      await new Promise((r) => setTimeout(r, 150)); // requests in flight at the kill are answered into the void
      const dir = runFolder(out);
      const saved = readResults(join(dir, "results.jsonl"));
      const doneItems = new Set(saved.records.map((r) => r.index));
      assert.ok(doneItems.size >= 10 && doneItems.size < 80, `${doneItems.size} items saved`);
      const answeredBefore = server.stats.answered;

      const second = await cli(args);
      assert.equal(second.code, 0, second.stderr);
      const sentAgain = server.stats.answered - answeredBefore;
      assert.equal(sentAgain, 80 - doneItems.size, "only the missing items are sent");
      const all = readResults(join(dir, "results.jsonl")).records;
      assert.equal(all.length, 80 * 16);
      assert.equal(new Set(all.map(recordKey)).size, 80 * 16);
      const scored = (await loadPath(join(dir, "scored.jsonl"))).items;
      assert.equal(scored.length, 80);
      for (const it of scored) assert.equal(it.misc!.pass_count, builtPassCount(itemIndexOf(it)));
    } finally {
      await server.close();
    }
  });

  test("bad input: a ConfigError naming the flag; the CLI prints it without a stack and exits 1", async () => {
    await assert.rejects(run(["--data", "x"]), (e: Error) => e.name === "ConfigError" && /--policy must be http or embedded/.test(e.message));
    await assert.rejects(run(["--policy", "http", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--data", "x", "--min", "3"]), /--min and --max go together/);
    await assert.rejects(run(["--policy", "http", "--base-url", "http://127.0.0.1:9/v1", "--data", "x"]), /--model is required/);
    await assert.rejects(run(["--policy", "http", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--data", "x", "--k", "two"]), /--k: expected an integer/);
    const r = await cli(["--policy", "http", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--data", join(tmp, "nope.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*nope\.jsonl.*no such file/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

// The server flags shared by `eval`, `reproduce`, `serve` and `cluster serve` (src/cli/args.ts):
// one parser, one help text, one-line errors that name the flag; and the commands give the same
// error for the same bad value.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { benchmarksFlag, missingServerFlag, portFlag, reproduceOptions, requestHelp, requestOptions, SERVER_FLAGS, SERVER_HELP } from "../src/cli/args";
import { REPO_ROOT } from "../src/paths";

test("requestOptions: numbers and the profile checked with the flag named; unset ones undefined", () => {
  assert.deepStrictEqual(requestOptions({}), { profile: undefined, concurrency: undefined, retries: undefined, timeoutS: undefined });
  assert.deepStrictEqual(requestOptions({ profile: "sglang", concurrency: "8", retries: "2", timeout: "1.5" }), { profile: "sglang", concurrency: 8, retries: 2, timeoutS: 1.5 });
  assert.throws(() => requestOptions({ concurrency: "x" }), { name: "ConfigError", message: "--concurrency: expected an integer, got 'x'" });
  assert.throws(() => requestOptions({ retries: "1.5" }), { name: "ConfigError", message: "--retries: expected an integer, got '1.5'" });
  assert.throws(() => requestOptions({ timeout: "soon" }), { name: "ConfigError", message: "--timeout: expected a number, got 'soon'" });
  assert.throws(() => requestOptions({ profile: "nope" }), { name: "ConfigError", message: /^unknown server profile 'nope'; known: vllm, sglang/ });
});

test("missing --base-url / --model, --port, --benchmarks: one-line errors", () => {
  assert.equal(missingServerFlag("base-url").message, "--base-url is required (e.g. http://127.0.0.1:8000/v1)");
  assert.equal(missingServerFlag("model").message, "--model is required (the name the server serves)");
  assert.equal(missingServerFlag("base-url", ", or --checkpoint DIR").name, "ConfigError");
  assert.equal(portFlag(undefined), undefined);
  assert.equal(portFlag("0"), 0);
  assert.equal(portFlag("65535"), 65535);
  assert.throws(() => portFlag("65536"), { name: "ConfigError", message: "--port: expected 0-65535, got 65536" });
  assert.throws(() => portFlag("-1"), { message: "--port: expected 0-65535, got -1" });
  assert.throws(() => portFlag("80a"), { message: "--port: expected an integer, got '80a'" });
  assert.deepStrictEqual(benchmarksFlag("vqa-rad,slake,vqa-rad"), ["vqa-rad", "slake"]);
  assert.equal(benchmarksFlag("paper")!.length, 6);
  assert.equal(benchmarksFlag(undefined), undefined);
  assert.throws(() => benchmarksFlag("nope"), { name: "ConfigError", message: /^unknown benchmark 'nope'/ });
  assert.deepStrictEqual(reproduceOptions({}), { paperModel: null, evalParquet: null, dataRoot: undefined, benchmarks: undefined, limit: null, progress: true });
  assert.throws(() => reproduceOptions({ limit: "ten" }), { message: "--limit: expected an integer, got 'ten'" });
});

test("help: every server flag is described, the concurrency default as the command words it", () => {
  for (const f of Object.keys(SERVER_FLAGS).filter((f) => !["profile", "concurrency", "retries", "timeout"].includes(f))) assert.match(SERVER_HELP, new RegExp(`--${f} `));
  const h = requestHelp("64; embedded: 1");
  assert.match(h, /--concurrency N {7}requests in flight \(64; embedded: 1\)\n/);
  assert.match(h, /--retries N {11}retries per request \(8\)\n {2}--timeout S/);
});

const exec = promisify(execFile);
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await exec(process.execPath, [join(REPO_ROOT, "bin", "medvlthinker.js"), ...args], { env: { ...process.env, DEBUG: "" }, timeout: 90_000 });
    return { code: 0, stderr: "" };
  } catch (e: any) {
    return { code: e.code ?? -1, stderr: e.stderr ?? "" };
  }
}

test("eval, reproduce, serve and cluster serve give the same one-line error for the same bad server flag", { timeout: 240_000 }, async () => {
  const cases: [string[], string][] = [
    [["reproduce"], "error: --base-url is required (e.g. http://127.0.0.1:8000/v1)"],
    [["reproduce", "--base-url", "http://127.0.0.1:9/v1"], "error: --model is required (the name the server serves)"],
    [["reproduce", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--timeout", "soon"], "error: --timeout: expected a number, got 'soon'"],
    [["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--benchmarks", "vqa-rad", "--timeout", "soon"], "error: --timeout: expected a number, got 'soon'"],
    [["eval", "--base-url", "http://127.0.0.1:9/v1", "--benchmarks", "vqa-rad"], "error: --model is required (the name the server serves)"],
    [["serve", "--checkpoint", "/nonexistent", "--port", "70000"], "error: --port: expected 0-65535, got 70000"],
    [["cluster", "serve", "ck", "--address", "http://127.0.0.1:9", "--port", "70000"], "error: --port: expected 0-65535, got 70000"],
  ];
  for (const [args, want] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 1, args.join(" "));
    assert.equal(r.stderr.trim(), want, args.join(" "));
  }
});

/**
 * The installable package, as a user outside this repository gets it: `npm pack` (prepack runs
 * `npm run build`), `npm install <tarball>` in an empty folder, then the CLI with plain node (no tsx,
 * no checkout above it), `data stats` on a shared dataset, `grade`, and the library from its
 * `exports` (JavaScript and types). Dependencies come from the npm cache when it has them.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { computeReward } from "../src/reward";
import { loadDataset } from "../src/data/registry";
import { REPO_ROOT, dataRoot, hasSharedData } from "../src/paths";

const PKG = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { name: string; exports: Record<string, unknown> };
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

let tmp = "";
let proj = "";
let files: string[] = [];
let unpackedSize = 0;

/** A user's environment: none of the repository's variables, no loader hooks from this test run. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of Object.keys(env)) if (k.startsWith("MEDVLTHINKER_") && !(k in extra)) delete env[k];
  delete env.NODE_OPTIONS;
  env.npm_config_update_notifier = "false";
  return env;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? userEnv(), encoding: "utf8", timeout: opts.timeout ?? 120_000 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `medvlthinker ...` through the bin npm linked in the consumer project (npx itself: see --help). */
function cli(args: string[], env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return run(process.execPath, [join(proj, "node_modules", ".bin", "medvlthinker"), ...args], { cwd: proj, env });
}

describe("npm package (pack, install into an empty folder, use)", { timeout: 900_000 }, () => {
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "mvt-package-"));
    const packed = ok(run(NPM, ["pack", "--json", "--pack-destination", tmp], { cwd: REPO_ROOT, env: { ...process.env, npm_config_update_notifier: "false" }, timeout: 600_000 }), "npm pack");
    const info = JSON.parse(packed.slice(packed.indexOf("["))) as { filename: string; files: { path: string }[]; unpackedSize: number }[];
    files = info[0].files.map((f) => f.path);
    unpackedSize = info[0].unpackedSize;
    proj = join(tmp, "consumer");
    mkdirSync(proj);
    writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    // onnxruntime-node (optional): skip its CUDA download, as scripts/setup.sh does.
    const env = userEnv({ ONNXRUNTIME_NODE_INSTALL: "skip" });
    ok(run(NPM, ["install", "--prefer-offline", "--no-audit", "--no-fund", join(tmp, info[0].filename)], { cwd: proj, env, timeout: 600_000 }), "npm install <tarball>");
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("the tarball holds the build, the bin and no sources, tests, runs or notebooks", () => {
    for (const f of ["package.json", "README.md", "bin/medvlthinker.js", "dist/index.js", "dist/index.d.ts", "dist/cli.js"]) assert.ok(files.includes(f), `${f} missing from the tarball`);
    const stray = files.filter((f) => /^(src|test|bench|scripts|notebooks|runs|out|jupyter|\.cache|node_modules)\//.test(f));
    assert.deepEqual(stray, []);
    for (const [key, target] of Object.entries(PKG.exports)) {
      const paths = typeof target === "string" ? [target] : Object.values(target as Record<string, string>);
      for (const p of paths) assert.ok(files.includes(p.replace(/^\.\//, "")), `exports["${key}"] -> ${p} is not in the tarball`);
    }
    assert.ok(unpackedSize < 5e6, `unpacked size ${unpackedSize} bytes`);
  });

  test("npx medvlthinker --help and every command's --help run the compiled CLI with plain node", () => {
    const help = ok(run("npx", ["--no-install", "medvlthinker", "--help"], { cwd: proj }), "npx medvlthinker --help");
    const commands = [...help.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
    assert.ok(commands.includes("data") && commands.includes("grade"), help);
    for (const c of commands) {
      const r = cli([c, "--help"]);
      assert.equal(r.status, 0, `medvlthinker ${c} --help exited ${r.status}\n${r.stderr}`);
      assert.equal(r.stderr, "", `medvlthinker ${c} --help wrote to stderr`);
    }
    // The package name works as the command too (npx medvlthinker-ts: the one bin).
    assert.match(ok(run("npx", ["--no-install", PKG.name, "--help"], { cwd: proj }), "npx medvlthinker-ts --help"), /usage: medvlthinker/);
    // No TypeScript runner at run time: the package never reaches for tsx.
    assert.throws(() => readdirSync(join(proj, "node_modules", "tsx")));
  });

  test("every JavaScript file of the package loads with plain node", () => {
    const dist = join(proj, "node_modules", PKG.name, "dist");
    const js = (readdirSync(dist, { recursive: true }) as string[]).filter((f) => f.endsWith(".js")).map((f) => join(dist, f));
    // dist/ mirrors src/ (one file per module): every src module the CLI or an entry reaches.
    assert.ok(js.some((f) => f.endsWith(join("cli", "data.js"))) && js.some((f) => f.endsWith(join("model", "jax.js"))), js.join("\n"));
    const script = `for (const f of ${JSON.stringify(js)}) await import(f); console.log("loaded", ${js.length});`;
    const out = ok(run(process.execPath, ["--input-type=module", "-e", script], { cwd: proj }), "importing every dist file");
    assert.match(out, new RegExp(`loaded ${js.length}`));
  });

  test("data stats on a shared dataset with MEDVLTHINKER_DATA; without it, one line saying how to point at the data", { skip: !hasSharedData() && "no ../shared/data" }, async () => {
    const n = (await loadDataset("medqa")).items.length;
    const out = ok(cli(["data", "stats", "medqa"], userEnv({ MEDVLTHINKER_DATA: dataRoot() })), "data stats medqa");
    assert.match(out, new RegExp(`^medqa: ${n} items`, "m"));
    const r = cli(["data", "stats", "medqa"]);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^error: datasets not found: .*MEDVLTHINKER_DATA.*--data-root/);
  });

  test("the embedded model trains with plain node: jax-js's worker shim is installed before jax-js loads", { skip: !hasSharedData() && "no ../shared/data" }, () => {
    const out = join(tmp, "tiny");
    const r = cli(["model", "pretrain", "--size", "tiny", "--steps", "2", "--vocab", "265", "--out", out], userEnv({ MEDVLTHINKER_DATA: dataRoot(), MEDVLTHINKER_ENGINE: "jax", MEDVLTHINKER_THREADS: "2" }));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /done: 2 steps, final loss \d/);
    assert.ok(readdirSync(join(out, "checkpoint")).includes("config.json"));
  });

  test("grade on a small file", () => {
    const file = join(proj, "preds.jsonl");
    const lines = [
      { dataset_name: "toy", options: { A: "yes", B: "no" }, answer_label: "B", responses: ["<answer>B</answer>", "<answer>no</answer>"] },
      { dataset_name: "toy", options: { A: "yes", B: "no", C: "maybe" }, answer_label: "C", responses: ["<answer>A</answer>", "I cannot say"] },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const report = JSON.parse(ok(cli(["grade", file, "--json"]), "grade")) as { overall: { n_items: number; accuracy: number } };
    assert.equal(report.overall.n_items, 2);
    assert.equal(report.overall.accuracy, 2 / 4);
  });

  test("the library: a one-line import computing a reward, and every sub-path", () => {
    const item = { options: { A: "pneumonia", B: "edema" }, answer_label: "B", answer: "edema" };
    const response = "<think>fluid</think><answer>B</answer>";
    const oneLine = `import { computeReward } from "${PKG.name}"; console.log(JSON.stringify(computeReward(${JSON.stringify(response)}, ${JSON.stringify(item)})));`;
    const got = JSON.parse(ok(run(process.execPath, ["--input-type=module", "-e", oneLine], { cwd: proj }), "library import"));
    assert.deepEqual(got, computeReward(response, item));
    assert.equal(got.reward, 1);
    // CommonJS callers too: Node >= 20.19 require()s ES modules (the package has no top-level await).
    const cjs = `console.log(require("${PKG.name}").computeReward(${JSON.stringify(response)}, ${JSON.stringify(item)}).reward)`;
    assert.equal(ok(run(process.execPath, ["-e", cjs], { cwd: proj }), "require()").trim(), "1");

    const expected: Record<string, string[]> = {
      ".": ["computeReward", "gradeResponse", "buildPrompt", "loadDataset", "DataError"],
      "./data": ["loadDataset", "readItemsJsonl", "writeParquetItems", "validateItem"],
      "./prompt": ["buildPrompt", "toOpenAIMessages"],
      "./reward": ["computeReward", "computeScore"],
      "./grade": ["gradeResponse", "passAtK"],
      "./eval": ["runEval", "report", "OpenAIPolicy"],
      "./policy": ["OpenAIPolicy", "EmbeddedPolicy"],
    };
    assert.deepEqual(Object.keys(expected).sort(), Object.keys(PKG.exports).filter((k) => k !== "./package.json").sort());
    const script = `const want = ${JSON.stringify(expected)}; const missing = [];
      for (const [sub, names] of Object.entries(want)) { const m = await import("${PKG.name}" + sub.slice(1)); for (const n of names) if (typeof m[n] !== "function") missing.push(sub + ":" + n); }
      console.log(JSON.stringify(missing));`;
    assert.deepEqual(JSON.parse(ok(run(process.execPath, ["--input-type=module", "-e", script], { cwd: proj }), "sub-path imports")), []);
  });

  test("the types resolve for a node16 TypeScript consumer (a wrong use is an error, not any)", () => {
    writeFileSync(
      join(proj, "check.ts"),
      [
        `import { computeReward, type Item } from "${PKG.name}";`,
        `import { gradeResponse } from "${PKG.name}/grade";`,
        `import type { EvalRun } from "${PKG.name}/eval";`,
        `import type { Policy } from "${PKG.name}/policy";`,
        `import { loadDataset } from "${PKG.name}/data";`,
        `const item: Pick<Item, "options" | "answer_label" | "answer"> = { options: { A: "a" }, answer_label: "A", answer: "a" };`,
        `const reward: number = computeReward("<answer>A</answer>", item).reward;`,
        `// @ts-expect-error reward is a number`,
        `const wrong: string = computeReward("x", item).reward;`,
        `const correct: boolean = gradeResponse("A", item.options, "A").correct;`,
        `// @ts-expect-error the dataset name is checked`,
        `void loadDataset("no-such-dataset");`,
        `export type T = [EvalRun, Policy, typeof reward, typeof wrong, typeof correct];`,
      ].join("\n"),
    );
    const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const args = ["--noEmit", "--strict", "--module", "node16", "--moduleResolution", "node16", "--target", "es2022", "--skipLibCheck", "--typeRoots", resolve(REPO_ROOT, "node_modules", "@types"), "--types", "node", "check.ts"];
    ok(run(process.execPath, [tsc, ...args], { cwd: proj }), "tsc on a consumer file");
  });
});

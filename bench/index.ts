/**
 * npm run bench [-- NAME ...]: run every bench/*.ts module that exports
 * `run(): Promise<Record<string, number | string>>` (or the ones named), each in its own Node
 * process so one bench's memory and threads cannot skew another's figures; print each figure with
 * its unit and write all of them, with the machine they ran on, to out/bench/<timestamp>.json.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, platform, arch, release, totalmem, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, "..");

type Figures = Record<string, number | string>;

/** The unit a figure's name implies (the bench modules name figures as value_unit). */
export function unitOf(name: string): string {
  if (/(?:^|_)mb_per_s(?:_|$)/.test(name)) return "MiB/s";
  const perCpu = /(?:^|_)([a-z]+)_per_cpu_s(?:_|$)/.exec(name);
  if (perCpu) return `${perCpu[1]}/CPU-s`;
  const per = /(?:^|_)([a-z]+)_per_s(?:_|$)/.exec(name);
  if (per) return `${per[1]}/s`;
  if (/(?:^|_)mb(?:_|$)/.test(name)) return "MiB";
  if (/_pct$/.test(name)) return "%";
  if (/_ms$/.test(name)) return "ms";
  if (/(?:^|_)seconds?(?:_|$)|_s$/.test(name)) return "s";
  if (/_bytes$/.test(name)) return "bytes";
  if (/gflops?/.test(name)) return "GFLOP/s";
  return "";
}

function benchNames(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".ts") && f !== "index.ts" && !f.endsWith(".d.ts"))
    .map((f) => basename(f, ".ts"))
    .sort();
}

function machine() {
  const c = cpus();
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  return {
    cpus: c.length,
    cpu_model: c[0]?.model ?? "unknown",
    memory_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    commit: git.status === 0 ? git.stdout.trim() : null,
  };
}

/** Child mode: import one bench module, call run(), write its figures as JSON. */
async function child(name: string, out: string): Promise<void> {
  const mod = (await import(pathToFileURL(join(BENCH_DIR, `${name}.ts`)).href)) as { run?: () => Promise<Figures> };
  if (typeof mod.run !== "function") {
    writeFileSync(out, JSON.stringify({ skipped: "exports no run()" }));
    return;
  }
  const started = performance.now();
  const figures = await mod.run();
  writeFileSync(out, JSON.stringify({ figures, seconds: (performance.now() - started) / 1000 }));
}

function runOne(name: string): { figures?: Figures; seconds?: number; skipped?: string; error?: string } {
  const work = mkdtempSync(join(tmpdir(), "bench-"));
  const out = join(work, "result.json");
  try {
    // stdout/stderr pass through: long benches report their own progress
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", name, out], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    try {
      return JSON.parse(readFileSync(out, "utf8"));
    } catch {
      return { error: `exited with ${r.status ?? r.signal} before writing results` };
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--child") {
    await child(argv[1], argv[2]);
    return 0;
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`usage: npm run bench [-- NAME ...]\nbenches: ${benchNames().join(", ")}\nresults: out/bench/<timestamp>.json`);
    return 0;
  }
  const all = benchNames();
  const names = argv.length > 0 ? argv.map((a) => basename(a, ".ts")) : all;
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(", ")} (have: ${all.join(", ")})`);
    return 2;
  }
  const info = machine();
  console.log(`machine: ${info.cpus} x ${info.cpu_model}, ${info.memory_gib} GiB, node ${info.node}, commit ${info.commit}`);
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const name of names) {
    console.log(`\n== ${name}`);
    const r = runOne(name);
    results[name] = r;
    if (r.skipped) console.log(`   skipped: ${r.skipped}`);
    else if (r.error || !r.figures) {
      failed++;
      console.error(`   FAILED: ${r.error ?? "no figures"}`);
    } else {
      const width = Math.max(...Object.keys(r.figures).map((k) => k.length));
      for (const [k, v] of Object.entries(r.figures)) console.log(`   ${k.padEnd(width)}  ${typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 4 }) : v} ${typeof v === "number" ? unitOf(k) : ""}`.trimEnd());
      console.log(`   (${r.seconds!.toFixed(1)} s)`);
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = join(ROOT, "out", "bench");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${stamp}.json`);
  writeFileSync(`${path}.tmp`, JSON.stringify({ timestamp: new Date().toISOString(), machine: info, env: benchEnv(), results }, null, 2) + "\n");
  renameSync(`${path}.tmp`, path);
  console.log(`\nwrote ${path.slice(ROOT.length + 1)}`);
  return failed > 0 ? 1 : 0;
}

/** BENCH_* settings change the figures: keep them with the results. */
function benchEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BENCH_")) as [string, string][]);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

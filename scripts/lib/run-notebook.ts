/**
 * Execute one notebook headlessly with the repo's tslab kernelspec, through scripts/nbexec.py
 * (Debian python3-nbclient on /usr/bin/python3), and report its first failing cell.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { notebookName, readNotebook } from "./notebook-files";

/** Debian's Jupyter lives on the system Python; the `python3` first on PATH may be another one. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const SYSTEM_JUPYTER = "/usr/bin/jupyter";

export interface CellFailure {
  /** 0-based position in the notebook's cell list (markdown cells count). */
  index: number;
  kind: "error" | "uncaught" | "timeout" | "dead-kernel" | "kernel" | "settle" | "driver";
  source: string;
  error: string;
}

export interface NotebookResult {
  name: string;
  input: string;
  output: string;
  html?: string;
  ok: boolean;
  seconds: number;
  codeCells: number;
  failure?: CellFailure;
}

export interface RunOptions {
  root: string;
  outDir: string;
  smoke: boolean;
  /** Seconds for the whole notebook; undefined: the notebook's metadata, else the default. */
  timeoutS?: number;
  html: boolean;
  /** Each progress line from the driver (default: printed indented). */
  onLine?: (line: string) => void;
}

export const DEFAULT_TIMEOUT_S = 3600;
export const DEFAULT_SMOKE_TIMEOUT_S = 900;

/** Notebook metadata `medvlthinker: { timeout_s, smoke_timeout_s }` sets a per-notebook limit. */
export function notebookTimeout(path: string, smoke: boolean, override?: number): number {
  if (override !== undefined) return override;
  const meta = (readNotebook(path).metadata.medvlthinker ?? {}) as Record<string, unknown>;
  const v = smoke ? meta.smoke_timeout_s : meta.timeout_s;
  if (typeof v === "number" && v > 0) return v;
  return smoke ? DEFAULT_SMOKE_TIMEOUT_S : DEFAULT_TIMEOUT_S;
}

/** Whether headless execution can work here, and if not, what is missing. */
export function jupyterStatus(root: string): { ok: boolean; why?: string } {
  if (!existsSync(SYSTEM_PYTHON)) return { ok: false, why: `${SYSTEM_PYTHON} not found (Debian python3)` };
  const r = spawnSync(SYSTEM_PYTHON, ["-c", "import nbclient, nbformat, jupyter_client"], { encoding: "utf8" });
  if (r.status !== 0) return { ok: false, why: `Debian Jupyter packages missing (python3-nbclient, jupyter-nbformat, jupyter-client): ${r.stderr.trim().split("\n").pop()}` };
  if (!existsSync(join(root, "jupyter", "kernels", "tslab", "kernel.json"))) return { ok: false, why: "jupyter/kernels/tslab/kernel.json missing" };
  if (!existsSync(join(root, "node_modules", ".bin", "tslab"))) return { ok: false, why: "node_modules/.bin/tslab missing: run npm ci" };
  return { ok: true };
}

/** Environment for the kernel: our kernelspec, runtime files inside the repo, smoke flag. */
export function kernelEnv(root: string, smoke: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(root, "jupyter"),
    JUPYTER_RUNTIME_DIR: join(root, "jupyter", "runtime"),
    PYDEVD_DISABLE_FILE_VALIDATION: "1",
  };
  if (smoke) env.MEDVLTHINKER_SMOKE = "1";
  else delete env.MEDVLTHINKER_SMOKE;
  return env;
}

export async function runNotebook(input: string, opts: RunOptions): Promise<NotebookResult> {
  const name = notebookName(input);
  mkdirSync(opts.outDir, { recursive: true });
  const output = resolve(opts.outDir, `${name}.ipynb`);
  const work = mkdtempSync(join(tmpdir(), "nbrun-"));
  const report = join(work, "report.json");
  const timeoutS = notebookTimeout(input, opts.smoke, opts.timeoutS);
  const started = Date.now();
  const args = [
    join(opts.root, "scripts", "nbexec.py"),
    resolve(input),
    output,
    report,
    "--timeout",
    String(timeoutS),
    "--notebook-timeout",
    String(timeoutS),
    "--cwd",
    opts.root,
  ];
  // Own process group, so the backstop can stop the driver; it shuts its kernel down on SIGTERM.
  const child = spawn(SYSTEM_PYTHON, args, { cwd: opts.root, env: kernelEnv(opts.root, opts.smoke), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let driverOutput = "";
  let pending = "";
  child.stdout.on("data", (d) => {
    // the driver prints "cell N done in S s" per cell: pass those on as they come
    pending += d;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) (opts.onLine ?? ((x: string) => console.log(`  ${x}`)))(l);
  });
  child.stderr.on("data", (d) => (driverOutput += d));
  const backstop = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      /* already gone */
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 15_000).unref();
  }, (timeoutS + 30) * 1000);
  await new Promise<void>((done) => child.on("close", () => done()));
  clearTimeout(backstop);

  const seconds = (Date.now() - started) / 1000;
  let result: NotebookResult;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, "utf8")) as { ok: boolean; cells: number; failure: CellFailure | null };
    result = { name, input, output, ok: r.ok, seconds, codeCells: r.cells, failure: r.failure ?? undefined };
  } else {
    // The driver itself died (bad Python, killed): show what it printed.
    result = { name, input, output, ok: false, seconds, codeCells: 0, failure: { index: -1, kind: "driver", source: "", error: driverOutput.trim() || "the notebook driver exited without a report" } };
  }
  rmSync(work, { recursive: true, force: true });
  if (existsSync(output)) {
    sign(output);
    if (opts.html) result.html = toHtml(output, opts.outDir);
  }
  return result;
}

/** Executed headlessly, a notebook is untrusted and its chart scripts would not run: sign it. */
function sign(path: string): void {
  spawnSync(SYSTEM_PYTHON, ["-m", "nbformat.sign", path], { stdio: "ignore" });
}

function toHtml(path: string, outDir: string): string | undefined {
  const r = spawnSync(SYSTEM_JUPYTER, ["nbconvert", "--to", "html", "--output-dir", outDir, path], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`nbconvert --to html failed for ${path}:\n${r.stderr}`);
    return undefined;
  }
  return path.replace(/\.ipynb$/, ".html");
}

/** Stack frames from tslab and node:vm say nothing about the notebook: drop them. */
export function trimKernelFrames(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^\s+at .*(node:vm|[\\/]tslab[\\/]dist[\\/]|sigintHandlersWrap|node:internal\/timers)/.test(l))
    .join("\n");
}

/** Human-readable failure: which cell, its source, and the error text tslab printed. */
export function describeFailure(r: NotebookResult): string {
  const f = r.failure;
  if (!f) return "";
  const where = f.index >= 0 ? `cell ${f.index} (0-based, counting markdown cells)` : "before any cell ran";
  const lines = [`${r.name}: ${f.kind} in ${where}`];
  if (f.source) lines.push("--- cell source ---", f.source.trimEnd());
  lines.push("--- error ---", trimKernelFrames(f.error).trimEnd() || "(no error text)");
  if (/^\d+:\d+ - /m.test(f.error) && /\bimport\b/.test(f.source)) {
    lines.push("(a type error may come from a file the cell imports, compiled by tslab's TypeScript 5.0.4; `npx tsx scripts/check-tslab.ts` names the file)");
  }
  lines.push(`--- executed copy: ${r.output} ---`);
  return lines.join("\n");
}

/**
 * npm run notebooks [-- options] [NB.ipynb ...]: execute notebooks headlessly with the repo's
 * tslab kernel and fail (exit 1) on any failing cell, printing its index, source and error text.
 */
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { dirtyCells, listNotebooks, readNotebook } from "./lib/notebook-files";
import { describeFailure, jupyterStatus, runNotebook, type NotebookResult } from "./lib/run-notebook";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = `usage: npm run notebooks -- [options] [NOTEBOOK.ipynb ...]

Executes notebooks (default: notebooks/*.ipynb) headlessly with the tslab kernel in
jupyter/kernels. Executed copies go to out/notebooks/ (signed, so their charts render).

options:
  --smoke          tiny sizes: sets MEDVLTHINKER_SMOKE=1 for the kernel; copies go to out/notebooks-smoke/
  --out DIR        where executed copies go
  --timeout S      seconds per notebook (default: notebook metadata medvlthinker.timeout_s /
                   smoke_timeout_s, else 3600, or 900 with --smoke)
  --html           also write an HTML copy next to each executed notebook
  --fail-fast      stop at the first failing notebook
  --check-clean    only check that the notebooks carry no outputs (as they must be committed)
  -h, --help`;

/** Paths under the working folder relative, others absolute. */
function rel(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith("..") ? r : p;
}

function checkClean(paths: string[]): number {
  let bad = 0;
  for (const p of paths) {
    const problems = dirtyCells(readNotebook(p));
    if (problems.length === 0) continue;
    bad++;
    console.error(`${rel(p)} is not clean:\n  ${problems.join("\n  ")}`);
  }
  if (bad > 0) {
    console.error(`\n${bad} notebook(s) have outputs; clear them with: npx tsx scripts/clear-notebooks.ts`);
    return 1;
  }
  console.log(`${paths.length} notebook(s) clean`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      smoke: { type: "boolean", default: false },
      out: { type: "string" },
      timeout: { type: "string" },
      html: { type: "boolean", default: false },
      "fail-fast": { type: "boolean", default: false },
      "check-clean": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const paths = positionals.length > 0 ? positionals.map((p) => resolve(p)) : listNotebooks(join(ROOT, "notebooks"));
  for (const p of paths) {
    if (!existsSync(p)) {
      console.error(`no such notebook: ${p}`);
      return 2;
    }
  }
  if (values["check-clean"]) return checkClean(paths);

  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS > 0)) {
    console.error(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
    return 2;
  }
  const status = jupyterStatus(ROOT);
  if (!status.ok) {
    console.error(`cannot run notebooks: ${status.why}\ninstall what is missing with: bash scripts/setup.sh`);
    return 1;
  }
  if (paths.length === 0) {
    console.log("no notebooks to run");
    return 0;
  }
  const outDir = resolve(values.out ?? join(ROOT, "out", values.smoke ? "notebooks-smoke" : "notebooks"));
  const results: NotebookResult[] = [];
  for (const p of paths) {
    console.log(`▶ ${rel(p)}${values.smoke ? " (smoke)" : ""}`);
    const r = await runNotebook(p, { root: ROOT, outDir, smoke: values.smoke, timeoutS, html: values.html });
    results.push(r);
    if (r.ok) console.log(`✔ ${r.name}: ${r.codeCells} code cells in ${r.seconds.toFixed(1)} s -> ${rel(r.output)}${r.html ? `, ${rel(r.html)}` : ""}`);
    else console.error(`✘ ${describeFailure(r)}`);
    if (!r.ok && values["fail-fast"]) break;
  }
  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length}/${paths.length} notebook(s) passed${failed.length ? `; failed: ${failed.map((r) => r.name).join(", ")}` : ""}`);
  return failed.length === 0 && results.length === paths.length ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

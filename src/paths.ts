/** Where things live. The real data sits beside the checkout in ../shared/data (never copied in). */
import { existsSync } from "node:fs";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * Repository root. No `import.meta` here: tslab compiles src to CommonJS, where it is an error.
 * bin/medvlthinker.js sets MEDVLTHINKER_ROOT; notebooks and tests run with cwd inside the repo.
 */
function findRoot(): string {
  if (process.env.MEDVLTHINKER_ROOT) return resolve(process.env.MEDVLTHINKER_ROOT);
  for (let d = process.cwd(); ; d = dirname(d)) {
    try {
      if (JSON.parse(readFileSync(join(d, "package.json"), "utf8")).name === "medvlthinker-ts") return d;
    } catch {
      /* no package.json here: keep walking up */
    }
    if (dirname(d) === d) return process.cwd();
  }
}
export const REPO_ROOT = findRoot();

/** Folder holding the shared datasets: $MEDVLTHINKER_DATA, else ../shared/data beside the checkout. */
export function dataRoot(): string {
  const env = process.env.MEDVLTHINKER_DATA;
  if (env) return resolve(env);
  return resolve(REPO_ROOT, "..", "shared", "data");
}

/** Folder holding the paper's published results: ../shared/reference beside the checkout. */
export function referenceRoot(): string {
  return process.env.MEDVLTHINKER_REFERENCE ? resolve(process.env.MEDVLTHINKER_REFERENCE) : resolve(REPO_ROOT, "..", "shared", "reference");
}

export function hasSharedData(): boolean {
  return existsSync(dataRoot());
}

/** Where things live. The real data sits beside the checkout in ../shared/data (never copied in). */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "./errors";

/**
 * Repository root. No `import.meta` here: tslab compiles src to CommonJS, where it is an error.
 * bin/medvlthinker.js sets MEDVLTHINKER_ROOT in a checkout; notebooks and tests run with cwd inside
 * the repo. An installed package (no checkout above cwd) uses the current folder: runs/ go there.
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

/**
 * Why the datasets cannot be found, in one line that says how to point at them; null when the
 * folder exists. `root`: an explicit folder (--data-root, a config's data root).
 */
export function dataRootProblem(root?: string): string | null {
  const dir = resolve(root ?? dataRoot());
  if (existsSync(dir)) return null;
  const how = "set MEDVLTHINKER_DATA to the folder holding the datasets (medqa/, slake/, vqa-rad/, ...) or pass --data-root DIR";
  if (root !== undefined) return `datasets not found: data root ${dir} does not exist`;
  if (process.env.MEDVLTHINKER_DATA) return `datasets not found: MEDVLTHINKER_DATA=${process.env.MEDVLTHINKER_DATA} does not exist; ${how}`;
  return `datasets not found: MEDVLTHINKER_DATA is not set and there is no ${dir}; ${how}`;
}

/** The data folder (`root` or the default), or a ConfigError with dataRootProblem's line. */
export function requireDataRoot(root?: string): string {
  const problem = dataRootProblem(root);
  if (problem) throw new ConfigError(problem);
  return resolve(root ?? dataRoot());
}

/**
 * A file shipped with the package, by its path under src/ ("cluster/verl_reward.py"): src/ in a
 * checkout, dist/ when installed. No import.meta (tslab compiles src/ to CommonJS), so an installed
 * package is found from the running bin, then from the current folder's node_modules. A
 * ConfigError naming every place looked in when it is in none.
 */
export function packagedFile(path: string, what = path): string {
  const parts = path.split("/");
  const candidates = [join(REPO_ROOT, "src", ...parts)];
  if (process.argv[1]) {
    try {
      candidates.push(join(dirname(realpathSync(process.argv[1])), "..", "dist", ...parts));
    } catch {
      /* not a file (a REPL, node -e): try the next place */
    }
  }
  try {
    const pkg = createRequire(join(process.cwd(), "noop.js")).resolve("medvlthinker-ts/package.json");
    candidates.push(join(dirname(pkg), "dist", ...parts));
  } catch {
    /* not installed under the current folder */
  }
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new ConfigError(`${what} was not found (looked in ${candidates.join(", ")})`);
  return found;
}

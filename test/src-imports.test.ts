// The import graph of src/: no cycles, and layers import one way (src/README.md):
//   data -> prompt/reward/grade -> model -> policy -> train -> curate/eval/stages/cluster -> viz/cli
// Every relative import counts, `import type` and dynamic `import()` included (TypeScript's own
// preProcessFile lists them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const SRC = resolve(import.meta.dirname, "..", "src");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith(".ts") ? [p] : [];
  });
}

/** file (relative to src/) -> the src files it imports. */
export function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const deps: string[] = [];
    for (const f of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      if (!f.fileName.startsWith(".")) continue;
      const base = resolve(dirname(file), f.fileName);
      const hit = [`${base}.ts`, join(base, "index.ts")].find(existsSync);
      assert.ok(hit, `${relative(SRC, file)}: import '${f.fileName}' resolves to no file`);
      deps.push(relative(SRC, hit));
    }
    g.set(relative(SRC, file), deps);
  }
  return g;
}

/** Strongly connected components with more than one file (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** Layer of a src file; files outside the table (atomic.ts, errors.ts, paths.ts, ...) are shared utilities below every layer. */
const LAYERS: Record<string, number> = {
  data: 1,
  "prompt.ts": 2,
  "reward.ts": 2,
  "grade.ts": 2,
  model: 3,
  policy: 4,
  train: 5,
  curate: 6,
  eval: 6,
  stages: 6,
  cluster: 6,
  viz: 7,
  cli: 7,
  "cli.ts": 7,
};
// Progress bars (and the rich-output channel they write to) serve long work at every layer:
// utilities, though they sit in viz/.
const UTILITIES = new Set(["viz/progress.ts", "viz/display.ts"]);

function layer(file: string): number {
  if (UTILITIES.has(file)) return 0;
  return LAYERS[file.split("/")[0]] ?? 0;
}

/**
 * Upward imports that remain, each named: notebook display helpers that live beside their stage
 * (*-view.ts, histogram.ts, eval/notebook.ts draw with viz/plotly), and the benchmark list that
 * training reads to leave evaluation items out. A new upward import fails this test.
 */
const KNOWN_UPWARD = new Set([
  "data/summary.ts -> prompt.ts",
  "curate/histogram.ts -> viz/plotly.ts",
  "eval/notebook.ts -> viz/plotly.ts",
  "train/grpo-view.ts -> viz/plotly.ts",
  "train/sft-view.ts -> viz/plotly.ts",
  "train/config.ts -> eval/benchmarks.ts",
  "train/grpo-config.ts -> eval/benchmarks.ts",
  "train/grpo-data.ts -> eval/benchmarks.ts",
  "train/sft-data.ts -> eval/benchmarks.ts",
]);

test("src/ has no import cycle", () => {
  assert.deepEqual(cycles(importGraph()), []);
});

test("the cycle finder finds a cycle (self-check)", () => {
  const g = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["a.ts"]],
  ]);
  assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts"]]);
});

test("model/ never imports train/ (or any layer above it)", () => {
  const bad: string[] = [];
  for (const [file, deps] of importGraph()) {
    if (!file.startsWith("model/")) continue;
    for (const d of deps) if (layer(d) > layer(file)) bad.push(`${file} -> ${d}`);
  }
  assert.deepEqual(bad, []);
});

test("layers import one way (no upward import beyond the named ones)", () => {
  const up: string[] = [];
  for (const [file, deps] of importGraph()) for (const d of deps) if (layer(d) > layer(file)) up.push(`${file} -> ${d}`);
  assert.deepEqual(up.filter((e) => !KNOWN_UPWARD.has(e)).sort(), []);
  // The named exceptions are still real (remove an entry once its import is gone).
  assert.deepEqual([...KNOWN_UPWARD].filter((e) => !up.includes(e)), []);
});

/**
 * npm run build: the installable package in dist/ (ESM JavaScript + bundled .d.ts), made from the
 * same src/ that notebooks (tslab) and tests (tsx) run directly.
 *
 * Why not plain `tsc`: src imports relative modules WITHOUT extensions (tslab compiles it to
 * CommonJS with TypeScript 5.0, where `./x.js` specifiers do not resolve), and Node's ESM loader
 * needs full specifiers; tsc copies specifiers as written. So:
 *   - JavaScript: esbuild, one output file per source module (dist/ mirrors src/), each relative
 *     import rewritten to the emitted file (`./x` -> `./x.js`, `./dir` -> `./dir/index.js`). One file
 *     per module, not a bundle: evaluation order and module instances stay exactly as under tsx
 *     (src/model/jax.ts relies on ./worker-setup being evaluated before @jax-js/jax, which an
 *     esbuild bundle would hoist above it). Only modules reachable from the entries are emitted.
 *   - Declarations: tsc emits .d.ts per file, then rollup-plugin-dts bundles them per entry (next to
 *     its .js), so the published types carry no extensionless relative imports, which
 *     `moduleResolution: node16/nodenext` consumers could not follow.
 * tsup (esbuild + rollup-plugin-dts in one tool) bundles; its current major also needs Node 22.
 *
 * Entries: package.json `exports` ("./dist/data/index.js" <- src/data/index.ts) and src/cli.ts
 * (bin/medvlthinker.js runs it). Subcommands are reached through src/cli.ts's literal import()s.
 */
import { build, type Plugin } from "esbuild";
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const TYPES_TMP = join(ROOT, ".cache", "dts");

interface Pkg {
  exports: Record<string, string | { types: string; default: string }>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Entry ("data/index") -> its source file ("src/data/index.ts"), from package.json exports plus the CLI. */
export function entries(pkg: Pkg): Record<string, string> {
  const out: Record<string, string> = { cli: "src/cli.ts" };
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (key === "./package.json") continue;
    const js = typeof target === "string" ? target : target.default;
    const m = /^\.\/dist\/([\w/-]+)\.js$/.exec(js);
    if (!m) throw new Error(`build: exports["${key}"] = ${js}: expected ./dist/<path>.js`);
    if (typeof target !== "string" && target.types !== `./dist/${m[1]}.d.ts`) throw new Error(`build: exports["${key}"].types must be ./dist/${m[1]}.d.ts`);
    const src = `src/${m[1]}.ts`;
    if (!existsSync(join(ROOT, src))) throw new Error(`build: exports["${key}"]: ${src} does not exist`);
    out[m[1]] = src;
  }
  return out;
}

/** The source file a relative specifier names, as tsx and tslab resolve it. */
function sourceFile(fromDir: string, spec: string): string {
  const p = resolve(fromDir, spec);
  for (const f of [p, `${p}.ts`, join(p, "index.ts")]) if (existsSync(f) && statSync(f).isFile()) return f;
  throw new Error(`build: cannot resolve '${spec}' from ${relative(ROOT, fromDir)}`);
}

/** Every import left as an import: packages as written, relative ones pointing at the emitted .js. */
const perFile: Plugin = {
  name: "one-file-per-module",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      if (!args.path.startsWith(".")) return { path: args.path, external: true };
      const target = sourceFile(args.resolveDir, args.path).replace(/\.ts$/, ".js");
      let rel = relative(dirname(args.importer), target).split(sep).join("/");
      if (!rel.startsWith(".")) rel = `./${rel}`;
      return { path: rel, external: true };
    });
  },
};

async function main(): Promise<void> {
  const t0 = Date.now();
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Pkg;
  const entryPoints = entries(pkg);
  rmSync(DIST, { recursive: true, force: true });
  rmSync(TYPES_TMP, { recursive: true, force: true });

  // 1. Which modules the entries reach (static and dynamic imports), and which packages they import.
  const graph = await build({ absWorkingDir: ROOT, entryPoints: Object.values(entryPoints), bundle: true, write: false, outdir: DIST, format: "esm", platform: "node", packages: "external", metafile: true, logLevel: "warning" });
  const modules = Object.keys(graph.metafile.inputs).filter((f) => f.startsWith("src/") && f.endsWith(".ts"));
  const runtime = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
  const missing = new Set<string>();
  for (const input of Object.values(graph.metafile.inputs)) {
    for (const imp of input.imports) {
      if (!imp.external || imp.path.startsWith("node:") || imp.path.startsWith(".")) continue;
      const name = imp.path.startsWith("@") ? imp.path.split("/").slice(0, 2).join("/") : imp.path.split("/")[0];
      if (!runtime.has(name)) missing.add(name);
    }
  }
  // Every package the JavaScript imports must be one an installed package gets.
  if (missing.size) throw new Error(`build: dist imports ${[...missing].join(", ")}, not in dependencies or optionalDependencies`);

  // 2. One ESM file per module.
  await build({ absWorkingDir: ROOT, entryPoints: modules, outdir: DIST, outbase: "src", bundle: true, format: "esm", platform: "node", target: "node20.19", plugins: [perFile], logLevel: "warning" });

  // Declarations: tsc per file (tsconfig.build.json), then one bundled .d.ts per entry.
  const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", TYPES_TMP], { cwd: ROOT, stdio: "inherit" });
  if (tsc.status !== 0) throw new Error("build: tsc (declarations) failed");
  const input: Record<string, string> = {};
  for (const [name, src] of Object.entries(entryPoints)) if (name !== "cli") input[name] = join(TYPES_TMP, src.replace(/^src\//, "").replace(/\.ts$/, ".d.ts"));
  const bundle = await rollup({ input, plugins: [dts()], onwarn: (w) => console.warn(`build (dts): ${w.message}`) });
  await bundle.write({ dir: DIST, format: "es", entryFileNames: "[name].d.ts", chunkFileNames: "types/[name]-[hash].d.ts" });
  await bundle.close();
  rmSync(TYPES_TMP, { recursive: true, force: true });

  // Files the compiled code reads at run time (not modules): the verl reward plug-in.
  for (const asset of ["cluster/verl_reward.py"]) copyFileSync(join(ROOT, "src", asset), join(DIST, asset));
  writeFileSync(join(DIST, "README.md"), "Built by `npm run build` from src/ (scripts/build.ts); do not edit.\n");
  console.log(`build: dist/: ${modules.length} modules, entries ${Object.keys(entryPoints).join(", ")}, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}

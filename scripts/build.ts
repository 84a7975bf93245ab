/**
 * npm run build: the installable package in dist/ (ESM JavaScript + bundled .d.ts), made from the
 * same src/ that notebooks (tslab) and tests (tsx) run directly.
 *
 * Why a bundler and not plain `tsc`: src imports relative modules WITHOUT extensions (tslab compiles
 * it to CommonJS with TypeScript 5.0, where `./x.js` specifiers would not resolve), and Node's ESM
 * loader needs full specifiers; tsc copies specifiers as written. So:
 *   - JavaScript: esbuild bundles each public entry (ESM, code-split into shared chunks, every npm
 *     package left external). It also follows `import()` calls, including the template
 *     `import(\`./cli/${cmd}.ts\`)` in src/cli.ts (esbuild's glob imports): every src/cli/<name>.ts
 *     becomes a chunk, so a new subcommand needs no build change.
 *   - Declarations: tsc emits .d.ts per file, then rollup-plugin-dts bundles them per entry, so the
 *     published .d.ts files carry no extensionless relative imports (which `moduleResolution:
 *     node16/nodenext` consumers could not follow).
 * tsup (esbuild + rollup-plugin-dts in one tool) would do the same, but its current major needs
 * Node 22 and the previous one brings a second esbuild; this script is its configuration and no more.
 *
 * The entries are package.json's `exports`: "./x" -> src/x.ts or src/x/index.ts.
 */
import { build } from "esbuild";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const TYPES_TMP = join(ROOT, ".cache", "dts");

interface Pkg {
  exports: Record<string, string | { types: string; import: string }>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Entry name ("index", "data", "cli") -> its source file, from package.json exports plus the CLI. */
export function entries(pkg: Pkg): Record<string, string> {
  const out: Record<string, string> = { cli: "src/cli.ts" };
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (key === "./package.json") continue;
    const js = typeof target === "string" ? target : target.import;
    const m = /^\.\/dist\/([\w-]+)\.js$/.exec(js);
    if (!m) throw new Error(`build: exports["${key}"] = ${js}: expected ./dist/<name>.js`);
    const name = m[1];
    const base = name === "index" ? "src/index" : `src/${name}`;
    const src = [`${base}.ts`, `${base}/index.ts`].find((f) => existsSync(join(ROOT, f)));
    if (!src) throw new Error(`build: exports["${key}"]: neither ${base}.ts nor ${base}/index.ts exists`);
    out[name] = src;
  }
  return out;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Pkg;
  const entryPoints = entries(pkg);
  rmSync(DIST, { recursive: true, force: true });
  rmSync(TYPES_TMP, { recursive: true, force: true });

  const js = await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20.19",
    packages: "external",
    chunkNames: "chunks/[name]-[hash]",
    metafile: true,
    logLevel: "warning",
  });

  // Every package the JavaScript imports must be one an installed package gets.
  const runtime = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
  const missing = new Set<string>();
  for (const out of Object.values(js.metafile.outputs)) {
    for (const imp of out.imports) {
      if (!imp.external || imp.path.startsWith("node:") || imp.path.startsWith(".")) continue;
      const name = imp.path.startsWith("@") ? imp.path.split("/").slice(0, 2).join("/") : imp.path.split("/")[0];
      if (!runtime.has(name)) missing.add(name);
    }
  }
  if (missing.size) throw new Error(`build: dist imports ${[...missing].join(", ")}, not in dependencies or optionalDependencies`);

  // Declarations: tsc per file (tsconfig.build.json), then one bundled .d.ts per entry.
  const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", TYPES_TMP], { cwd: ROOT, stdio: "inherit" });
  if (tsc.status !== 0) throw new Error("build: tsc (declarations) failed");
  const input: Record<string, string> = {};
  for (const [name, src] of Object.entries(entryPoints)) input[name] = join(TYPES_TMP, src.replace(/^src\//, "").replace(/\.ts$/, ".d.ts"));
  const bundle = await rollup({ input, plugins: [dts()], onwarn: (w) => console.warn(`build (dts): ${w.message}`) });
  await bundle.write({ dir: DIST, format: "es", entryFileNames: "[name].d.ts", chunkFileNames: "chunks/[name]-[hash].d.ts" });
  await bundle.close();
  rmSync(TYPES_TMP, { recursive: true, force: true });

  mkdirSync(DIST, { recursive: true });
  writeFileSync(join(DIST, "README.md"), "Built by `npm run build` from src/ (scripts/build.ts); do not edit.\n");
  const names = Object.keys(entryPoints).join(", ");
  console.log(`build: dist/ (${names}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}

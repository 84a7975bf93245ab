/**
 * npx tsx scripts/check-tslab.ts [FILE.ts ...]: type-check src/ the way the notebook kernel does,
 * with tslab's own TypeScript (5.0.4) and its compiler options (ESNext modules, node10 resolution,
 * declarations on). `npm run typecheck` uses TypeScript 5.9 and misses what only 5.0 rejects; in a
 * notebook those errors arrive without a file name ("25:5 - ..."). Here they carry one.
 */
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

type TS = typeof import("typescript");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

/** Diagnostics, one "file:line:col - message" string each, for the given files under tslab's options. */
export function checkWithTslabTypeScript(files: string[]): { version: string; errors: string[] } {
  const req = createRequire(join(ROOT, "node_modules", "tslab", "package.json"));
  const ts = req("@tslab/typescript-for-tslab") as TS;
  const options: import("typescript").CompilerOptions = {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    declaration: true,
    experimentalDecorators: true,
    resolveJsonModule: true,
    skipLibCheck: true,
    noEmit: true,
    typeRoots: [join(ROOT, "node_modules", "@types")],
  };
  const program = ts.createProgram(files, options);
  const diags = [...ts.getPreEmitDiagnostics(program), ...files.flatMap((f) => program.getDeclarationDiagnostics(program.getSourceFile(f)))];
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const d of diags) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    let where = "";
    if (d.file && d.start !== undefined) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      where = `${relative(ROOT, d.file.fileName)}:${line + 1}:${character + 1} - `;
    }
    const text = `${where}TS${d.code}: ${msg}`;
    if (!seen.has(text)) errors.push(text), seen.add(text);
  }
  return { version: ts.version, errors };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const files = args.length > 0 ? args.map((a) => resolve(a)) : tsFiles(join(ROOT, "src"));
  const { version, errors } = checkWithTslabTypeScript(files);
  for (const e of errors) console.error(e);
  console.log(`${files.length} file(s) checked with tslab's TypeScript ${version}: ${errors.length} error(s)`);
  process.exit(errors.length > 0 ? 1 : 0);
}

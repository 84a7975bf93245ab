/**
 * npx tsx scripts/clear-notebooks.ts [NB.ipynb ...]: strip outputs, execution counts and timing
 * metadata (default: notebooks/*.ipynb), so notebooks are committed clean (`--check-clean`).
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { clearNotebook, dirtyCells, listNotebooks, readNotebook, writeNotebook } from "./lib/notebook-files";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const paths = args.length > 0 ? args.map((p) => resolve(p)) : listNotebooks(join(ROOT, "notebooks"));
let cleared = 0;
for (const p of paths) {
  const nb = readNotebook(p);
  if (dirtyCells(nb).length === 0) continue;
  writeNotebook(p, clearNotebook(nb));
  cleared++;
  console.log(`cleared ${relative(process.cwd(), p)}`);
}
console.log(`${cleared} of ${paths.length} notebook(s) needed clearing`);

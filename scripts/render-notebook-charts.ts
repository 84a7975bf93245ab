/**
 * npx tsx scripts/render-notebook-charts.ts EXECUTED.ipynb [...] [--out DIR]: write every plotly
 * chart in executed notebooks to PNG (DIR/NAME-cellN-K.png, default out/charts) with headless
 * Chromium, so charts can be looked at without opening Jupyter.
 */
import { mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { notebookName, readNotebook } from "./lib/notebook-files";
import { PLOTLY_MIME, savePlotPng, type Figure } from "../src/viz/plotly";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The plotly figures in a notebook, with the cell index and their order within the cell. */
export function notebookFigures(path: string): { cell: number; k: number; fig: Figure }[] {
  const found: { cell: number; k: number; fig: Figure }[] = [];
  readNotebook(path).cells.forEach((c, cell) => {
    let k = 0;
    for (const o of (c.outputs ?? []) as { data?: Record<string, unknown> }[]) {
      const fig = o.data?.[PLOTLY_MIME] as Figure | undefined;
      if (fig && Array.isArray(fig.data)) found.push({ cell, k: k++, fig });
    }
  });
  return found;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help || positionals.length === 0) {
    console.log("usage: npx tsx scripts/render-notebook-charts.ts EXECUTED.ipynb [...] [--out DIR]\n(run notebooks first: npm run notebooks; executed copies are in out/notebooks/)");
    return values.help ? 0 : 2;
  }
  const outDir = resolve(values.out ?? join(ROOT, "out", "charts"));
  mkdirSync(outDir, { recursive: true });
  let n = 0;
  for (const nb of positionals) {
    const figures = notebookFigures(nb);
    if (figures.length === 0) console.log(`${nb}: no plotly charts (is it an executed copy?)`);
    for (const { cell, k, fig } of figures) {
      const width = typeof fig.layout?.width === "number" ? fig.layout.width : 900;
      const height = typeof fig.layout?.height === "number" ? fig.layout.height : 500;
      const png = join(outDir, `${notebookName(nb)}-cell${cell}-${k}.png`);
      await savePlotPng(fig, png, { width, height });
      console.log(relative(process.cwd(), png));
      n++;
    }
  }
  console.log(`${n} chart(s) written to ${relative(process.cwd(), outDir) || "."}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}

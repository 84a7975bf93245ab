/**
 * Plotly charts in notebooks and on disk. `plotBundle` is pure (testable anywhere); `showPlot`
 * sends it under tslab; `savePlotPng` renders a figure with headless Chromium so developers and
 * tests can look at charts without a browser.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "../paths";
import { escapeHtml, newDisplayId, scriptJson, showBundle, type MimeBundle } from "./display";

/** One plotly trace ({ type: "bar", x, y, ... }); plotly.js ships no types we can rely on. */
export type Trace = Record<string, unknown>;
export type Layout = Record<string, unknown>;
export interface Figure {
  data: Trace[];
  layout?: Layout;
  config?: Record<string, unknown>;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

let plotlyJsCache: string | undefined;
/** plotly.min.js from plotly.js-dist-min (~4.8 MB). It sets window.Plotly itself (no AMD define). */
export function plotlyJs(): string {
  if (plotlyJsCache === undefined) {
    const path = createRequire(join(REPO_ROOT, "package.json")).resolve("plotly.js-dist-min/plotly.min.js");
    plotlyJsCache = readFileSync(path, "utf8");
  }
  return plotlyJsCache;
}

/** A short description for text/plain, also what the CLI and tests print. */
export function describeFigure(fig: Figure): string {
  const types = fig.data.map((t) => String(t.type ?? "scatter"));
  const title = fig.layout?.title;
  const titleText = typeof title === "string" ? title : title && typeof title === "object" ? (title as { text?: unknown }).text : undefined;
  return `<Figure: ${fig.data.length} trace(s) [${types.join(", ")}]${titleText ? ` '${String(titleText)}'` : ""}>`;
}

/**
 * The script that draws `fig` into the div `id`. It waits for window.Plotly, because plotly.js is
 * inlined only in the first chart of a kernel session and a later chart's script may run first
 * when the saved notebook is reopened.
 */
function drawScript(id: string, fig: Figure): string {
  const args = `${scriptJson(fig.data)}, ${scriptJson(fig.layout ?? {})}, ${scriptJson({ responsive: true, ...(fig.config ?? {}) })}`;
  return `(function(){var n=0;function draw(){var el=document.getElementById(${scriptJson(id)});if(!el)return;if(window.Plotly){window.Plotly.newPlot(el, ${args});}else if(n++<600){setTimeout(draw,50);}}draw();})();`;
}

/**
 * The mime bundle Jupyter front-ends understand, as plotly.py sends it: the plotly JSON (VS Code,
 * JupyterLab with its extension), HTML with a div and a Plotly.newPlot script (classic notebook,
 * nbconvert HTML) and text/plain. `includePlotlyJs` inlines plotly.min.js into the HTML.
 */
export function plotBundle(data: Trace[], layout: Layout = {}, opts: { config?: Record<string, unknown>; includePlotlyJs?: boolean; divId?: string } = {}): MimeBundle {
  const fig: Figure = { data, layout, config: opts.config };
  const id = opts.divId ?? `plot-${newDisplayId()}`;
  const height = typeof layout.height === "number" ? `${layout.height}px` : "450px";
  const lib = opts.includePlotlyJs ? `<script type="text/javascript">${plotlyJs()}</script>\n` : "";
  const html = `${lib}<div id="${escapeHtml(id)}" class="plotly-graph-div" style="height:${height}; width:100%;"></div>\n<script type="text/javascript">${drawScript(id, fig)}</script>`;
  return {
    [PLOTLY_MIME]: { data, layout, config: opts.config ?? {} },
    "text/html": html,
    "text/plain": describeFigure(fig),
  };
}

// Once per kernel process: the notebook keeps the first chart's output, which defines window.Plotly.
const INLINED = Symbol.for("medvlthinker.viz.plotlyInlined");
type GlobalFlag = { [INLINED]?: boolean };

/** Show a chart in the notebook (one display_data with all three mime types); text elsewhere. */
export function showPlot(data: Trace[], layout: Layout = {}, config?: Record<string, unknown>): void {
  const g = globalThis as GlobalFlag;
  const includePlotlyJs = g[INLINED] !== true;
  showBundle(plotBundle(data, layout, { config, includePlotlyJs }));
  g[INLINED] = true;
}

/** Force the next chart to inline plotly.js again (after clearing the cell that held it). */
export function resetPlotlyInline(): void {
  (globalThis as GlobalFlag)[INLINED] = false;
}

/** A standalone HTML page drawing the figure, plotly.js inlined (works offline). */
export function figureHtml(fig: Figure, size: { width: number; height: number } = { width: 900, height: 500 }): string {
  const layout = { width: size.width, height: size.height, ...(fig.layout ?? {}) };
  const id = "figure";
  const config = { staticPlot: true, responsive: false, ...(fig.config ?? {}) };
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><style>html,body{margin:0;background:#fff}</style>
<script type="text/javascript">${plotlyJs()}</script></head><body>
<div id="${id}" style="width:${size.width}px;height:${size.height}px"></div>
<script type="text/javascript">${drawScript(id, { data: fig.data, layout, config })}</script>
</body></html>`;
}

export function chromiumPath(): string | undefined {
  for (const p of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Render a figure to a PNG file with headless Chromium (Debian `chromium`; $CHROMIUM overrides).
 * Writes atomically: a temp file renamed over `path`.
 */
export async function savePlotPng(fig: Figure, path: string, size: { width: number; height: number } = { width: 900, height: 500 }): Promise<void> {
  const chromium = chromiumPath();
  if (!chromium) throw new Error("savePlotPng: no Chromium found (apt-get install chromium, or set CHROMIUM=/path/to/chrome)");
  const work = mkdtempSync(join(tmpdir(), "plotpng-"));
  const target = resolve(path);
  const tmpPng = join(dirname(target), `.${process.pid}-${newDisplayId()}.png`);
  try {
    const page = join(work, "figure.html");
    writeFileSync(page, figureHtml(fig, size));
    const args = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--hide-scrollbars",
      `--user-data-dir=${join(work, "profile")}`,
      `--window-size=${size.width},${size.height}`,
      // virtual time lets plotly finish drawing before the shot, without a fixed sleep
      "--virtual-time-budget=10000",
      `--screenshot=${tmpPng}`,
      pathToFileURL(page).href,
    ];
    await new Promise<void>((done, fail) =>
      execFile(chromium, args, { timeout: 120_000 }, (err, _stdout, stderr) => {
        if (err && !existsSync(tmpPng)) fail(new Error(`savePlotPng: chromium failed: ${err.message}\n${stderr}`));
        else done();
      }),
    );
    if (!existsSync(tmpPng)) throw new Error("savePlotPng: chromium wrote no screenshot");
    renameSync(tmpPng, target);
  } finally {
    rmSync(tmpPng, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * src/viz: mime bundles (pure), display under a stand-in tslab kernel module, progress in each
 * mode with a fake clock, and a real PNG rendered by headless Chromium.
 */
import { createRequire, Module } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import sharp from "sharp";
import { isTslab, scriptJson, type MimeBundle } from "../src/viz/display";
import { chromiumPath, describeFigure, plotBundle, PLOTLY_MIME, resetPlotlyInline, savePlotPng, showPlot } from "../src/viz/plotly";
import { showHtml, showTable, tableBundle } from "../src/viz/table";
import { createProgress, formatDuration, progressStats, progressText } from "../src/viz/progress";
import { imageGridBundle } from "../src/viz/grid";

const tmp = mkdtempSync(join(tmpdir(), "viz-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Sent = { data: MimeBundle; transient: { display_id?: string }; update: boolean };

/**
 * Put a stand-in for tslab/dist/jupyter.js into Node's module cache, as a running kernel has it,
 * and collect what the helpers send through its lastWriteDisplayData.
 */
function withFakeTslab(fn: (sent: Sent[]) => void): Sent[] {
  const cache = createRequire(join(process.cwd(), "noop.js")).cache;
  const key = join(tmp, "node_modules", "tslab", "dist", "jupyter.js");
  const sent: Sent[] = [];
  const m = new Module(key);
  m.exports = { lastWriteDisplayData: (msg: { data: MimeBundle; transient: { display_id?: string } }, update: boolean) => sent.push({ ...msg, update }) };
  m.loaded = true;
  cache[key] = m;
  try {
    fn(sent);
  } finally {
    delete cache[key];
  }
  return sent;
}

describe("display", () => {
  test("isTslab is false outside a kernel and true when tslab's jupyter module is loaded", () => {
    assert.equal(isTslab(), false);
    withFakeTslab(() => assert.equal(isTslab(), true));
    assert.equal(isTslab(), false);
  });

  test("scriptJson cannot close a script element", () => {
    const s = scriptJson({ name: "</script><script>alert(1)</script>", sep: "a\u2028b" });
    assert.doesNotMatch(s, /<\/script/i);
    assert.deepEqual(JSON.parse(s), { name: "</script><script>alert(1)</script>", sep: "a\u2028b" });
  });
});

describe("plotly", () => {
  const data = [{ type: "bar", x: ["A", "B"], y: [3, 1], name: "</script>" }];

  test("plotBundle carries plotly JSON, HTML with a div and a newPlot script, and text", () => {
    const b = plotBundle(data, { title: { text: "answers" }, height: 300 }, { divId: "d1" });
    assert.deepEqual(Object.keys(b).sort(), [PLOTLY_MIME, "text/html", "text/plain"]);
    assert.deepEqual((b[PLOTLY_MIME] as { data: unknown }).data, data);
    const html = b["text/html"] as string;
    assert.match(html, /<div id="d1" class="plotly-graph-div" style="height:300px; width:100%;"><\/div>/);
    assert.match(html, /Plotly\.newPlot\(el, \[\{"type":"bar"/);
    assert.equal(html.match(/<\/script>/g)!.length, 1, "the trace name cannot end the script early");
    assert.doesNotMatch(html, /window\.Plotly = Plotly/, "plotly.js not inlined unless asked");
    assert.equal(b["text/plain"], "<Figure: 1 trace(s) [bar] 'answers'>");
    const withLib = plotBundle(data, {}, { includePlotlyJs: true })["text/html"] as string;
    assert.ok(withLib.length > 4_000_000, "plotly.min.js inlined");
    assert.match(withLib, /window\.Plotly = Plotly/);
  });

  test("describeFigure defaults the trace type to scatter and accepts a string title", () => {
    assert.equal(describeFigure({ data: [{ y: [1] }, { type: "bar" }], layout: { title: "t" } }), "<Figure: 2 trace(s) [scatter, bar] 't'>");
  });

  test("showPlot sends one display_data per chart with all three types, plotly.js only in the first", () => {
    resetPlotlyInline();
    const sent = withFakeTslab(() => {
      showPlot(data);
      showPlot(data, { title: { text: "second" } });
    });
    assert.equal(sent.length, 2);
    for (const s of sent) {
      assert.equal(s.update, false);
      assert.deepEqual(Object.keys(s.data).sort(), [PLOTLY_MIME, "text/html", "text/plain"]);
    }
    assert.match(sent[0].data["text/html"] as string, /window\.Plotly = Plotly/);
    assert.doesNotMatch(sent[1].data["text/html"] as string, /window\.Plotly = Plotly/);
  });

  test("savePlotPng renders the chart to a PNG of the asked size, with the bars drawn", { skip: chromiumPath() ? false : "no Chromium (apt-get install chromium)" }, async () => {
    const png = join(tmp, "bars.png");
    await savePlotPng({ data: [{ type: "bar", x: ["a", "b", "c"], y: [3, 1, 2], marker: { color: "#ff0000" } }], layout: { title: { text: "bars" } } }, png, { width: 600, height: 400 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 600);
    assert.equal(info.height, 400);
    let red = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i] > 230 && data[i + 1] < 30 && data[i + 2] < 30) red++;
    // three bars (heights 3, 1, 2 over a ~250 px axis, ~130 px wide): tens of thousands of red pixels
    assert.ok(red > 20_000 && red < 0.5 * info.width * info.height, `red pixels: ${red}`);
  });
});

describe("table", () => {
  const rows = [
    { name: "<b>x</b>", score: 0.123456789 },
    { name: "y", score: 2 },
    { name: "z", score: 3 },
  ];

  test("tableBundle shows HTML (escaped, caption with counts) and Markdown text, from rows or an arquero table", () => {
    const b = tableBundle(rows, { limit: 2, caption: "scores" });
    const html = b["text/html"] as string;
    assert.match(html, /<caption[^>]*>scores \(2 of 3 rows\)<\/caption>/);
    assert.match(html, /&lt;b&gt;x&lt;\/b&gt;/);
    assert.doesNotMatch(html, />z</, "the limit leaves row 3 out");
    assert.match(html, /0\.1235/, "four fractional digits by default");
    const text = b["text/plain"] as string;
    assert.match(text, /^scores \(2 of 3 rows\)\n\|name\|score\|/);
    assert.deepEqual(tableBundle(aq.from(rows)), tableBundle(rows));
  });

  test("showTable and showHtml print plain text outside a kernel and send HTML inside", () => {
    const logged: string[] = [];
    const orig = console.log;
    console.log = (s: string) => logged.push(s);
    try {
      showTable(rows, { columns: ["name"] });
      showHtml("<i>hi</i>");
    } finally {
      console.log = orig;
    }
    assert.match(logged[0], /^3 rows\n\|name\|\n/);
    assert.equal(logged[1], "hi");
    const sent = withFakeTslab(() => showHtml("<i>hi</i>", "hi!"));
    assert.deepEqual(sent[0].data, { "text/html": "<i>hi</i>", "text/plain": "hi!" });
  });
});

describe("progress", () => {
  test("stats, durations and the text line", () => {
    assert.deepEqual(progressStats({ label: "x", total: 100, count: 25, elapsedS: 5 }), { fraction: 0.25, rate: 5, etaS: 15 });
    assert.ok(Number.isNaN(progressStats({ label: "x", total: 10, count: 0, elapsedS: 0 }).etaS));
    assert.equal(formatDuration(75), "1:15");
    assert.equal(formatDuration(3725), "1:02:05");
    assert.equal(formatDuration(NaN), "?");
    assert.equal(progressText({ label: "eval", total: 100, count: 25, elapsedS: 5, info: "acc 0.5" }), "eval: 25/100 (25%) 5.0/s, 0:15 left, acc 0.5");
  });

  test("log mode prints a line every tenth and one at the end", () => {
    let t = 0;
    const lines: string[] = [];
    const p = createProgress({ total: 50, label: "items", mode: "log", now: () => t, log: (l) => lines.push(l) });
    for (let i = 0; i < 50; i++) {
      t += 200;
      p.tick();
    }
    p.done();
    p.done();
    assert.equal(lines.length, 10);
    assert.equal(lines[0], "items: 5/50 (10%) 5.0/s, 0:09 left");
    assert.equal(lines[9], "items: 50/50 (100%) 5.0/s, done in 0:10");
  });

  test("notebook mode updates one display in place, throttled, and always shows the final state", () => {
    let t = 0;
    const sent = withFakeTslab(() => {
      const p = createProgress({ total: 20, label: "steps", now: () => t });
      for (let i = 0; i < 20; i++) {
        t += 100;
        p.tick(1, `step ${i + 1}`);
      }
      p.done();
    });
    const ids = new Set(sent.map((s) => s.transient.display_id));
    assert.equal(ids.size, 1, "one display id");
    assert.deepEqual(
      sent.map((s) => s.update),
      [false, ...Array(sent.length - 1).fill(true)],
    );
    // 2 s of ticks with a 250 ms throttle: the first display, ~7 throttled updates, the final one
    assert.ok(sent.length >= 8 && sent.length <= 10, `sent ${sent.length}`);
    const last = sent[sent.length - 1].data;
    assert.match(last["text/html"] as string, /<progress value="20" max="20"/);
    assert.equal(last["text/plain"], "steps: 20/20 (100%) 10.0/s, done in 0:02, step 20");
  });

  test("silent mode prints nothing", () => {
    const lines: string[] = [];
    const p = createProgress({ total: 3, label: "q", mode: "silent", log: (l) => lines.push(l) });
    p.tick(3);
    p.done();
    assert.deepEqual(lines, []);
  });
});

describe("image grid", () => {
  test("imageGridBundle embeds each PNG as a data URL with its escaped caption", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const b = imageGridBundle([
      { png, caption: "CT <axial>" },
      { png, caption: "MRI" },
    ], { columns: 2, width: 100 });
    const html = b["text/html"] as string;
    assert.equal(html.match(/<img /g)!.length, 2);
    assert.ok(html.includes(`data:image/png;base64,${Buffer.from(png).toString("base64")}`));
    assert.match(html, /grid-template-columns:repeat\(2, 100px\)/);
    assert.match(html, /CT &lt;axial&gt;/);
    assert.equal(b["text/plain"], "<2 image(s): CT <axial> | MRI>");
  });
});

// Figures for notebook 01: traces and values built from small tables with known contents.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as aq from "arquero";
import type { ImageSizeRow } from "../src/data/image-sizes";
import { answerLetterFigure, imageSizeFigure, itemsPerSourceFigure, lengthFigure, optionCountsFigure } from "../src/viz/data-charts";

test("items per source: closed and open stacked, one bar per dataset", () => {
  const fig = itemsPerSourceFigure(aq.from([{ dataset: "a", closed: 3, open: 0 }, { dataset: "b", closed: 1, open: 2 }]));
  assert.equal(fig.data.length, 2);
  assert.deepEqual(fig.data.map((t) => t.x), [[3, 1], [0, 2]]);
  assert.deepEqual(fig.data[1].text, ["", "2"]);
  assert.equal(fig.layout?.barmode, "stack");
});

test("option counts: one trace per count, zeros where a dataset lacks it, 0 named open", () => {
  const fig = optionCountsFigure(aq.from([{ dataset: "a", options: 4, items: 5 }, { dataset: "b", options: 0, items: 2 }, { dataset: "b", options: 2, items: 7 }]));
  assert.deepEqual(fig.data.map((t) => t.name), ["open (no options)", "2 options", "4 options"]);
  assert.deepEqual(fig.data.map((t) => t.x), [[0, 2], [0, 7], [5, 0]]);
});

test("lengths: one box per dataset with its own values, log axis", () => {
  const fig = lengthFigure(aq.table({ dataset: ["a", "b", "a"], question_chars: [10, 20, 30], prompt_chars: [1, 2, 3] }), "prompt_chars");
  assert.deepEqual(fig.data.map((t) => [t.name, t.x]), [["a", [1, 3]], ["b", [2]]]);
  assert.equal((fig.layout?.xaxis as { type: string }).type, "log");
});

test("letter heatmap: ratio as colour, share as text, blank where a dataset has no such letter", () => {
  const fig = answerLetterFigure(aq.from([
    { dataset: "a", letter: "A", share: 0.75, ratio: 1.5 },
    { dataset: "a", letter: "B", share: 0.25, ratio: 0.5 },
    { dataset: "b", letter: "C", share: 1, ratio: 3 },
  ]));
  const [t] = fig.data;
  assert.deepEqual(t.x, ["A", "B", "C"]);
  assert.deepEqual(t.z, [[1.5, 0.5, null], [null, null, 3]]);
  assert.deepEqual(t.text, [["75.0%", "25.0%", ""], ["", "", "100.0%"]]);
  assert.equal(t.zmid, 1);
});

test("image sizes: one marker per distinct size, bigger for more images, larger groups drawn first", () => {
  const row = (dataset: string, width: number, height: number, organ: string): ImageSizeRow => ({ dataset, image: "x", format: "png", width, height, model_width: width, model_height: height, resized: 0, modality: "(not recorded)", organ });
  const rows = [row("S", 512, 512, "LUNG"), row("V", 512, 512, "HEAD"), row("V", 512, 512, "HEAD"), row("V", 300, 200, "HEAD")];
  const fig = imageSizeFigure(rows, "organ");
  assert.deepEqual(fig.data.map((t) => t.name), ["V · HEAD", "S · LUNG"]);
  assert.deepEqual([fig.data[0].x, fig.data[0].y, fig.data[0].text], [[512, 300], [512, 200], ["2 images", "1 image"]]);
  const sizes = (fig.data[0].marker as { size: number[] }).size;
  assert.ok(sizes[0] > sizes[1]);
  assert.equal((fig.layout?.shapes as unknown[]).length, 2);
});

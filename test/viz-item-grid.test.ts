// The VQA item grid: deterministic picks with distinct images, captions, and real PNG thumbnails.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { itemCaption, itemGridEntries, modelViewEntries, pickGridItems } from "../src/viz/item-grid";

const tmp = mkdtempSync(join(tmpdir(), "item-grid-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const closed = (i: number, img: string): Item => ({ images: [{ bytes: null, path: join(tmp, img) }], question: `closed ${i}?`, options: { A: "Yes", B: "No" }, answer_label: "B", answer: "No", reasoning: null, dataset_name: "V", dataset_index: i, misc: { answer_type: "closed", organ: "CHEST" } });
const open = (i: number, img: string): Item => ({ images: [{ bytes: null, path: join(tmp, img) }], question: `open ${i}?`, options: {}, answer_label: "", answer: "lung", reasoning: null, dataset_name: "V", dataset_index: i, misc: { answer_type: "open" } });

test("pickGridItems alternates closed / open, never repeats an image, and returns the same items each time", () => {
  // Images shared by consecutive questions, as in SLAKE (several questions per image).
  const items = [closed(0, "a.png"), open(1, "a.png"), closed(2, "a.png"), open(3, "b.png"), closed(4, "b.png"), open(5, "c.png"), closed(6, "d.png"), open(7, "d.png")];
  const picked = pickGridItems(items, 4);
  assert.deepEqual(picked.map((it) => it.dataset_index), pickGridItems(items, 4).map((it) => it.dataset_index));
  assert.equal(picked.length, 4);
  const images = picked.map((it) => it.images![0].path);
  assert.equal(new Set(images).size, 4);
  assert.deepEqual(picked.map((it) => it.misc?.answer_type), ["closed", "open", "closed", "open"]);
  // Asking for more than there are distinct images stops at the number of images.
  assert.equal(pickGridItems(items, 10).length, 4);
  assert.deepEqual(pickGridItems([{ ...closed(0, "a.png"), images: null }], 3), []);
});

test("captions name the source, closed / open, question, key and options", () => {
  assert.equal(itemCaption(closed(3, "a.png")), "V #3 (CHEST), closed. Q: closed 3? A: B. No  [A. Yes / B. No]");
  assert.equal(itemCaption(open(4, "a.png")), "V #4, open. Q: open 4? A: lung");
  assert.match(itemCaption({ ...open(5, "a.png"), question: "x".repeat(300) }, 20), /Q: x{19}… A: lung$/);
});

test("itemGridEntries makes PNG thumbnails of the requested width", async () => {
  await sharp({ create: { width: 800, height: 400, channels: 3, background: "#888" } }).jpeg().toFile(join(tmp, "big.jpg"));
  const [e] = await itemGridEntries([closed(0, "big.jpg")], { width: 100, scale: 2 });
  const meta = await sharp(e.png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 200, 100]);
  assert.match(e.caption, /^V #0/);
});

test("modelViewEntries shows the original beside the picture the patch encoder reads, enlarged with its pixels kept", async () => {
  // left half black, right half white: the model's 4x4 view keeps two flat halves
  const w = 400;
  const raw = Buffer.alloc(w * 200 * 3);
  for (let y = 0; y < 200; y++) for (let x = w / 2; x < w; x++) raw.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  await sharp(raw, { raw: { width: w, height: 200, channels: 3 } }).png().toFile(join(tmp, "halves.png"));
  const entries = await modelViewEntries([closed(0, "halves.png")], { imageSize: 4, patchSize: 2 }, { width: 40 });
  assert.equal(entries.length, 2);
  assert.match(entries[0].caption, /the original, 400x200 px/);
  assert.match(entries[1].caption, /what the model reads, 4x4 px in 4 patches of 2x2/);
  const view = await sharp(entries[1].png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(view.info.width, 40);
  assert.equal(view.info.height, 40, "stretched to a square, as src/model/vision.ts does");
  const px = (x: number, y: number) => view.data[(y * 40 + x) * view.info.channels];
  assert.equal(px(2, 2), 0, "left: black");
  assert.equal(px(37, 2), 255, "right: white (nearest-neighbour keeps the model's pixels flat)");
});

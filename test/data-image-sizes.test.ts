// Image sizes: generated images of known sizes (each counted once), the resize rule, and the real VQA images.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { imageSizeRows, imageSizeStats } from "../src/data/image-sizes";
import type { Item } from "../src/data/item";
import { loadDataset } from "../src/data/registry";
import { hasSharedData } from "../src/paths";

const tmp = mkdtempSync(join(tmpdir(), "image-sizes-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function png(name: string, width: number, height: number): Promise<string> {
  const path = join(tmp, name);
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toFile(path);
  return path;
}
const item = (i: number, path: string | null, misc: Record<string, unknown>, bytes: Uint8Array | null = null): Item => ({
  images: path || bytes ? [{ bytes, path }] : null, question: `q${i}`, options: { A: "Yes", B: "No" }, answer_label: "A", answer: "Yes", reasoning: null, dataset_name: "toy", dataset_index: i, misc,
});

test("one row per distinct image, with the paper's resize rule", async () => {
  const big = await png("big.png", 2048, 512);
  const small = await png("small.png", 20, 40);
  const ok = await png("ok.png", 300, 200);
  const inline = new Uint8Array(await sharp({ create: { width: 64, height: 32, channels: 3, background: "#000" } }).jpeg().toBuffer());
  const items = [
    item(0, big, { modality: "CT", organ: "Lung" }),
    item(1, big, { modality: "CT", organ: "Lung" }), // same image again: not counted twice
    item(2, small, { organ: "abd" }),
    item(3, ok, { modality: " MRI ", organ: "" }),
    item(4, null, {}, inline),
    item(5, null, {}),
  ];
  const rows = await imageSizeRows(items);
  assert.equal(rows.length, 4);
  assert.deepEqual(rows.map((r) => [r.image, r.format, r.width, r.height, r.model_width, r.model_height, r.resized]), [
    ["big.png", "png", 2048, 512, 1024, 256, 1],
    ["small.png", "png", 20, 40, 28, 56, 1],
    ["ok.png", "png", 300, 200, 300, 200, 0],
    ["4#0", "jpeg", 64, 32, 64, 32, 0],
  ]);
  assert.deepEqual(rows.map((r) => [r.modality, r.organ]), [["CT", "LUNG"], ["(not recorded)", "ABD"], ["MRI", "(not recorded)"], ["(not recorded)", "(not recorded)"]]);

  const st = imageSizeStats(rows, "modality").objects() as Record<string, unknown>[];
  const notRecorded = st.find((r) => r.modality === "(not recorded)")!;
  assert.equal(notRecorded.images, 2);
  assert.equal(notRecorded.resized, 1);
  assert.equal(notRecorded.max_width, 64);
  assert.equal(imageSizeStats([], "organ").numRows(), 0);
});

test("a missing image file is a DataError naming the item", async () => {
  await assert.rejects(imageSizeRows([item(9, join(tmp, "nope.png"), {})]), /toy item 9.*image file not found|nope\.png/);
});

describe("real images", { skip: !hasSharedData() && "no shared data" }, () => {
  test("VQA-RAD: 314 images used, organs HEAD / CHEST / ABD; SLAKE English: 96 images with a modality", async () => {
    const rad = await imageSizeRows((await loadDataset("vqa-rad")).items);
    assert.equal(rad.length, 314);
    assert.deepEqual([...new Set(rad.map((r) => r.organ))].sort(), ["ABD", "CHEST", "HEAD"]);
    assert.ok(rad.every((r) => r.modality === "(not recorded)"));
    const slake = await imageSizeRows((await loadDataset("slake")).items);
    assert.equal(slake.length, 96);
    assert.deepEqual([...new Set(slake.map((r) => r.modality))].sort(), ["CT", "MRI", "X-Ray"]);
  });
});

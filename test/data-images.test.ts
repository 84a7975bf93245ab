// Images: the paper's resize rule (pure), decoding real VQA-RAD / SLAKE files, clear errors.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { DataError } from "../src/data/item";
import { imageToDataUrl, loadImage, resizeDims, resizeForModel } from "../src/data/images";
import { loadDataset } from "../src/data/registry";
import { hasSharedData } from "../src/paths";

const dir = mkdtempSync(join(tmpdir(), "mvt-images-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("resize rule (short side >= 28, long side <= 1024, aspect kept, truncated)", () => {
  test("worked examples", () => {
    assert.deepEqual(resizeDims(500, 400), { width: 500, height: 400 });
    assert.deepEqual(resizeDims(20, 100), { width: 28, height: 140 });
    assert.deepEqual(resizeDims(100, 10), { width: 280, height: 28 });
    assert.deepEqual(resizeDims(2048, 1000), { width: 1024, height: 500 });
    assert.deepEqual(resizeDims(1000, 3000), { width: 341, height: 1024 });
    assert.deepEqual(resizeDims(28, 1024), { width: 28, height: 1024 });
    // Upstream checks the short side first: a 10 x 4000 strip is scaled up, not down.
    assert.deepEqual(resizeDims(10, 4000), { width: 28, height: 11200 });
  });
});

describe("decoding", () => {
  test("a real VQA-RAD and SLAKE image decode to RGB", { skip: !hasSharedData() && "no shared data" }, async () => {
    for (const name of ["vqa-rad", "slake"] as const) {
      const it = (await loadDataset(name, { split: "test" })).items[0];
      const img = await loadImage(it.images![0], it);
      assert.ok(img.width > 28 && img.height > 28);
      assert.equal(img.data.length, img.width * img.height * 3);
      assert.match(await imageToDataUrl(it.images![0], it), /^data:image\/(jpeg|png);base64,/);
    }
  });

  test("decodeImages fills the bytes from the files", { skip: !hasSharedData() && "no shared data" }, async () => {
    const r = await loadDataset("slake", { decodeImages: true });
    assert.ok(r.items.every((it) => it.images![0].bytes!.length > 1000));
  });

  test("resize applies to decoding and to re-encoding", async () => {
    const big = new Uint8Array(await sharp({ create: { width: 2000, height: 500, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } } }).png().toBuffer());
    const img = await loadImage({ bytes: big, path: null }, "test item", { resize: true });
    assert.deepEqual([img.width, img.height], [1024, 256]);
    assert.deepEqual([...img.data.slice(0, 3)], [10, 20, 30]);
    const small = await resizeForModel({ bytes: new Uint8Array(await sharp({ create: { width: 10, height: 40, channels: 3, background: "#fff" } }).png().toBuffer()), path: null }, "small");
    const meta = await sharp(small.bytes!).metadata();
    assert.deepEqual([meta.width, meta.height], [28, 112]);
  });

  test("a corrupt or missing image names the item and the file", async () => {
    const bad = join(dir, "corrupt.jpg");
    writeFileSync(bad, "not an image at all");
    const ctx = { dataset_name: "VQA-RAD", dataset_index: 17 };
    await assert.rejects(loadImage({ bytes: null, path: bad }, ctx), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.file, bad);
      assert.equal(e.record, "VQA-RAD item 17");
      assert.match(e.detail, /cannot decode/);
      return true;
    });
    const missing = join(dir, "gone.png");
    await assert.rejects(loadImage({ bytes: null, path: missing }, ctx), (e: unknown) => e instanceof DataError && e.file === missing && /not found/.test(e.detail));
  });
});

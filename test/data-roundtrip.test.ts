// Parquet round trip: exact for text and image items, and itemDifferences sees every changed field.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { itemDifferences, parquetRoundTrip } from "../src/data/roundtrip";

const tmp = mkdtempSync(join(tmpdir(), "roundtrip-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const base: Item = { images: null, question: "Which?", options: { A: "x", B: "y" }, answer_label: "B", answer: "y", reasoning: "r", dataset_name: "toy", dataset_index: 3, hash: "abc", misc: { split: "test", n: 1 } };

test("text and image items come back field for field, image bytes included", async () => {
  const img = join(tmp, "a.png");
  writeFileSync(img, await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } }).png().toBuffer());
  const items: Item[] = [base, { ...base, dataset_index: 4, images: [{ bytes: null, path: img }], reasoning: null, misc: undefined, hash: undefined }];
  const r = await parquetRoundTrip(items, join(tmp, "x.parquet"));
  assert.deepEqual([r.written, r.read, r.differences], [2, 2, []]);
  assert.ok(r.bytes > 100);
});

test("itemDifferences names each changed field", () => {
  assert.deepEqual(itemDifferences(base, { ...base }), []);
  assert.deepEqual(itemDifferences(base, { ...base, question: "Who?", options: { A: "x", B: "z" }, misc: { split: "test" } }), ["question", "options", "misc"]);
  const a = { ...base, images: [{ bytes: new Uint8Array([1, 2]), path: "p" }] };
  assert.deepEqual(itemDifferences(a, { ...base, images: [{ bytes: new Uint8Array([1, 3]), path: "p" }] }), ["images[0].bytes"]);
  assert.deepEqual(itemDifferences(a, { ...base, images: [{ bytes: new Uint8Array([1, 2]), path: "q" }] }), ["images[0].path"]);
  assert.deepEqual(itemDifferences(a, base), ["images"]);
});

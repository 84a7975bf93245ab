// HF parquet in the interchange schema: round trip with image bytes, and bounded memory on a large file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { readItemsJsonl, writeItemsJsonl } from "../src/data/jsonl";
import { parquetFileMetadata, readParquetAll, readParquetItems, writeParquetItems } from "../src/data/parquet";
import { loadPath } from "../src/data/registry";

const dir = mkdtempSync(join(tmpdir(), "mvt-parquet-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function png(w: number, h: number, seed: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + seed * 7) & 255;
  return new Uint8Array(await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

function item(i: number, images: Item["images"]): Item {
  return {
    images,
    question: `Question ${i}: what is shown? ünïcode ✓`,
    options: { A: "Yes", B: "No", C: `Option ${i}` },
    answer_label: "C",
    answer: `Option ${i}`,
    reasoning: i % 2 ? `think ${i}` : null,
    dataset_name: i % 3 ? "PMC-VQA" : "medqa",
    dataset_index: i,
    hash: `h${i}`,
    misc: { split: "test", answer_type: "closed", n: i },
  };
}

describe("parquet round trip", () => {
  test("items with image bytes survive write -> read unchanged, one chunk per row group", async () => {
    const items: Item[] = [];
    for (let i = 0; i < 25; i++) {
      const images = i % 5 === 0 ? null : i % 5 === 1 ? [] : [{ bytes: await png(8 + i, 5, i), path: `img_${i}.png` }, ...(i % 5 === 4 ? [{ bytes: await png(3, 3, 1), path: null }] : [])];
      items.push(item(i, images));
    }
    const f = join(dir, "rt.parquet");
    assert.equal(await writeParquetItems(f, items, { rowGroupSize: 10 }), 25);
    const md = await parquetFileMetadata(f);
    assert.deepEqual(md.row_groups.map((r) => Number(r.num_rows)), [10, 10, 5]);
    const chunks: number[] = [];
    for await (const c of readParquetItems(f)) chunks.push(c.length);
    assert.deepEqual(chunks, [10, 10, 5]);
    const back = await readParquetAll(f);
    // An empty image list reads back as an empty list; null stays null.
    assert.deepEqual(back, items);
    const sniffed = await loadPath(f);
    assert.equal(sniffed.items.length, 25);
  });

  test("the schema is the HF layout: images list<struct<bytes, path>>, options and misc JSON strings", async () => {
    const f = join(dir, "schema.parquet");
    await writeParquetItems(f, [item(1, [{ bytes: await png(4, 4, 0), path: "a.png" }])]);
    const md = await parquetFileMetadata(f);
    const names = md.schema.map((s) => s.name);
    assert.deepEqual(names, ["root", "images", "list", "element", "bytes", "path", "question", "options", "answer_label", "answer", "reasoning", "dataset_name", "dataset_index", "hash", "misc"]);
    const { parquetReadObjects } = await import("hyparquet");
    const { readFileSync } = await import("node:fs");
    const buf = readFileSync(f);
    const rows = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer });
    assert.equal(typeof rows[0].options, "string");
    assert.deepEqual(JSON.parse(rows[0].options), { A: "Yes", B: "No", C: "Option 1" });
    assert.deepEqual(JSON.parse(rows[0].misc), { split: "test", answer_type: "closed", n: 1 });
  });

  test("interchange jsonl round trip keeps inline image bytes (base64)", async () => {
    const items = [item(1, [{ bytes: await png(5, 6, 2), path: null }]), item(2, null)];
    const f = join(dir, "rt.jsonl");
    writeItemsJsonl(f, items);
    assert.deepEqual(readItemsJsonl(f).items, items);
  });

  test("a bad row names the file, the row and the field; skipBad reports it", async () => {
    const bad = { ...item(3, null), answer: "not an option" };
    const f = join(dir, "bad.parquet");
    await writeParquetItems(f, [item(1, null), bad as Item, item(2, null)]);
    await assert.rejects(readParquetAll(f), /bad\.parquet: record row 1: field 'answer'/);
    const skipped: { record: string | number }[] = [];
    const ok = await readParquetAll(f, { skipBad: true, skipped: skipped as never });
    assert.equal(ok.length, 2);
    assert.deepEqual(skipped.map((s) => s.record), ["row 1"]);
  });
});

test("a foreign HF-style file: extra columns ignored, no misc / hash columns, 'A. x' option text", async () => {
  const { parquetWriteBuffer } = await import("hyparquet-writer");
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "question", data: ["Which?", "Is it?"], type: "STRING" },
      { name: "options", data: ['{"A": "x", "B": "y"}', "A. Yes\nB. No"], type: "STRING" },
      { name: "answer_label", data: ["B", "A"], type: "STRING" },
      { name: "answer", data: ["y", "Yes"], type: "STRING" },
      { name: "dataset_name", data: ["m23k", "m23k"], type: "STRING" },
      { name: "dataset_index", data: [BigInt(5), BigInt(6)], type: "INT64" },
      { name: "input_ids", data: ["1 2 3", "4 5"], type: "STRING" },
    ],
  });
  const f = join(dir, "foreign.parquet");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(f, new Uint8Array(buf));
  const items = await readParquetAll(f);
  assert.deepEqual(items.map((i) => [i.options, i.answer_label, i.images, i.reasoning, i.dataset_index]), [
    [{ A: "x", B: "y" }, "B", null, null, 5],
    [{ A: "Yes", B: "No" }, "A", null, null, 6],
  ]);
});

describe("bounded memory", () => {
  test("reading a large file holds about one row group, not the file", async () => {
    setFlagsFromString("--expose-gc");
    const gcOnce = runInNewContext("gc") as () => void;
    // V8 frees ArrayBuffer backing stores on a background sweeper after a GC; under load that can
    // lag behind the next memoryUsage() call (a CI run once saw 58 MB here, 10 MB otherwise). A
    // second GC finishes the previous sweep first.
    const gc = () => {
      gcOnce();
      gcOnce();
    };
    const groups = 40;
    const perGroup = 10; // ~2 MB of image bytes per row group, ~80 MB file
    async function* gen(): AsyncGenerator<Item> {
      for (let i = 0; i < groups * perGroup; i++) {
        const b = new Uint8Array(randomBytes(200_000)); // incompressible, so the file is really large
        yield item(i, [{ bytes: b, path: `big_${i}.bin` }]);
      }
    }
    const f = join(dir, "big.parquet");
    await writeParquetItems(f, gen(), { rowGroupSize: perGroup });
    const size = statSync(f).size;
    assert.ok(size > 60e6, `file is ${size} bytes`);
    gc();
    let peak = 0;
    let rows = 0;
    for await (const chunk of readParquetItems(f)) {
      rows += chunk.length;
      assert.equal(chunk[0].images![0].bytes!.length, 200_000);
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers);
      gc();
    }
    assert.equal(rows, groups * perGroup);
    // One row group is ~2 MB; allow generous slack for decode buffers, far below the ~80 MB file.
    console.log(`# parquet read: peak ArrayBuffer memory ${(peak / 1e6).toFixed(1)} MB over ${rows} rows in ${groups} row groups, file ${(size / 1e6).toFixed(1)} MB`);
    assert.ok(peak < size / 4, `peak ${(peak / 1e6).toFixed(1)} MB for a ${(size / 1e6).toFixed(1)} MB file`);
  });
});

test("an HF download folder (data/*.parquet shards) loads every shard in order", async () => {
  const hf = join(dir, "MedVLThinker-Eval");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(hf, "data"), { recursive: true });
  await writeParquetItems(join(hf, "data", "test-00000-of-00002.parquet"), [item(0, null), item(1, null)]);
  await writeParquetItems(join(hf, "data", "test-00001-of-00002.parquet"), [item(2, null)]);
  const r = await loadPath(hf);
  assert.deepEqual(r.items.map((i) => i.dataset_index), [0, 1, 2]);
  assert.ok(r.warnings.some((w) => w.includes("2 parquet shards")));
});

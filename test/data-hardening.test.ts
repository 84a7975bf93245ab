// Issue 16: bad and foreign input. Image paths confined to the dataset's folder and verified as
// images; parquet from other writers (codecs, row groups, dictionaries, null image lists) in every
// reader; invalid UTF-8, reused dataset_index, empty files and over-long lines rejected.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { loadCurationSources } from "../src/curate/curate";
import { parseCurateConfig } from "../src/curate/config";
import type { Item } from "../src/data/item";
import { readItemsJsonl } from "../src/data/jsonl";
import { parquetFileMetadata } from "../src/data/parquet";
import { loadAny, loadPath } from "../src/data/registry";
import { readEvalParquet } from "../src/eval/benchmarks";
import { REPO_ROOT } from "../src/paths";
import { writeForeignParquet, type ForeignCodec } from "./helpers/parquet-codecs";

const dir = mkdtempSync(join(tmpdir(), "mvt-harden-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(REPO_ROOT, "bin", "medvlthinker.js");

function cli(args: string[], env: Record<string, string> = {}, cwd = REPO_ROOT): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd, env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function png(w: number, h: number, seed: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + seed * 7) & 255;
  return new Uint8Array(await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

function row(i: number, images: { bytes?: string | null; path: string | null }[] | null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    images: images?.map((im) => ({ bytes: im.bytes ?? null, path: im.path })) ?? null,
    question: `Question ${i}?`,
    options: { A: "yes", B: "no" },
    answer_label: "A",
    answer: "yes",
    reasoning: null,
    dataset_name: "toy",
    dataset_index: i,
    ...extra,
  });
}

function item(i: number, images: Item["images"]): Item {
  return {
    images,
    question: `Question ${i}: what is shown?`,
    options: { A: "Yes", B: "No", C: `Option ${i}` },
    answer_label: "C",
    answer: `Option ${i}`,
    reasoning: i % 2 ? `think ${i}` : null,
    dataset_name: i % 3 ? "PMC-VQA" : "VQA-RAD",
    dataset_index: i,
    misc: { split: "test", answer_type: "closed" },
  };
}

describe("1. image paths stay inside the dataset's folder and must be images", () => {
  const ds = join(dir, "ds");
  const outside = join(dir, "outside");
  mkdirSync(ds, { recursive: true });
  mkdirSync(outside, { recursive: true });

  test("a relative path resolves against the dataset file's folder, not the working directory", async () => {
    writeFileSync(join(ds, "a.png"), await png(30, 30, 1));
    const f = join(ds, "rel.jsonl");
    writeFileSync(f, row(0, [{ path: "a.png" }]) + "\n");
    const r = await loadPath(f);
    assert.equal(r.items[0].images![0].path, join(ds, "a.png"));
  });

  for (const [name, path] of [
    ["parent escape", "../../../../../../../../etc/passwd"],
    ["absolute path", "/etc/passwd"],
    ["symlink out of the folder", "link.png"],
  ] as const) {
    test(`refused: ${name}`, async () => {
      if (name.startsWith("symlink") && !existsSync(join(ds, "link.png"))) {
        writeFileSync(join(outside, "secret.png"), await png(30, 30, 2));
        symlinkSync(join(outside, "secret.png"), join(ds, "link.png"));
      }
      const f = join(ds, `bad-${name.replace(/\W/g, "")}.jsonl`);
      writeFileSync(f, row(0, [{ path }]) + "\n");
      await assert.rejects(loadPath(f), (e: Error) => e.name === "DataError" && e.message.includes(f) && /record line 1: field 'images\[0\]\.path'.*outside the dataset's folder/.test(e.message));
    });
  }

  test("data convert decodes every image before writing: a text file named .png writes nothing", async () => {
    writeFileSync(join(ds, "notes.png"), "root:x:0:0:root:/root:/bin/bash\n");
    const f = join(ds, "text-as-image.jsonl");
    writeFileSync(f, row(0, [{ path: "a.png" }]) + "\n" + row(1, [{ path: "notes.png" }]) + "\n");
    const out = join(dir, "converted.parquet");
    const r = cli(["data", "convert", f, "--out", out], {}, tmpdir());
    assert.equal(r.code, 1, r.out);
    assert.match(r.err, /notes\.png.*not a readable image/);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
    assert.ok(!existsSync(out), "no output written");
  });

  test("data stats reports missing and corrupt images (and exits 1)", async () => {
    writeFileSync(join(ds, "broken.png"), (await png(30, 30, 3)).slice(0, 60));
    const f = join(ds, "mixed.jsonl");
    writeFileSync(f, [row(0, [{ path: "a.png" }]), row(1, [{ path: "gone.png" }]), row(2, [{ path: "broken.png" }]), row(3, null)].join("\n") + "\n");
    const r = cli(["data", "stats", f, "--json"]);
    assert.equal(r.code, 1, r.err);
    const s = JSON.parse(r.out)[0];
    assert.equal(s.images.checked, 3);
    assert.equal(s.images.missing, 1);
    assert.equal(s.images.corrupt, 1);
    assert.match(s.images.problems.join("\n"), /gone\.png.*not found/);
    assert.match(r.err, /2 images are missing or cannot be decoded/);
  });
});

describe("2. parquet from other writers, in every reader", () => {
  const codecs: ForeignCodec[] = ["ZSTD", "GZIP", "BROTLI", "LZ4_RAW", "SNAPPY", "UNCOMPRESSED"];
  let items: Item[] = [];
  test("fixtures", async () => {
    const img = await png(12, 9, 4);
    // Row 1 a null image list, row 4 an empty one; the rest hold bytes.
    items = Array.from({ length: 8 }, (_, i) => item(i, i === 1 ? null : i === 4 ? [] : [{ bytes: img, path: `img_${i}.png` }]));
  });
  for (const codec of codecs) {
    test(`${codec}: several row groups, dictionary strings, null image lists`, async () => {
      const f = join(dir, `foreign-${codec}.parquet`);
      writeForeignParquet(f, items, codec, 3);
      const meta = await parquetFileMetadata(f);
      assert.equal(meta.row_groups.length, 3);
      const chunk = meta.row_groups[0].columns.find((c) => c.meta_data?.path_in_schema.join(".") === "dataset_name")!;
      assert.equal(chunk.meta_data!.codec, codec);
      assert.ok(chunk.meta_data!.encodings.includes("RLE_DICTIONARY"), `encodings ${chunk.meta_data!.encodings}`);
      // data stats / convert / grade --items read through loadAny; eval --eval-parquet through readEvalParquet; curate through loadCurationSources.
      const got = (await loadAny(f)).items;
      assert.equal(got.length, 8);
      assert.equal(got[1].images, null);
      assert.deepEqual(got[4].images, []);
      assert.deepEqual(got[7].images![0].bytes, items[7].images![0].bytes);
      assert.deepEqual(got.map((x) => x.question), items.map((x) => x.question));
      const { groups } = await readEvalParquet(f);
      assert.equal(groups.get("vqa-rad")!.length, 3);
      const { sources } = await loadCurationSources(parseCurateConfig({ data: [f] }));
      assert.equal(sources[0].items.length, 8);
    });
  }
  test("data stats on a ZSTD file from the CLI", () => {
    const r = cli(["data", "stats", join(dir, "foreign-ZSTD.parquet"), "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).reduce((a: number, s: { items: number }) => a + s.items, 0), 8);
  });
});

describe("5. bad input is rejected, not accepted silently", () => {
  test("invalid UTF-8 names the file and line", () => {
    const f = join(dir, "latin1.jsonl");
    writeFileSync(f, Buffer.concat([Buffer.from(row(0, null) + "\n"), Buffer.from(row(1, null).replace("Question", "Qu\xe9stion"), "latin1"), Buffer.from("\n")]));
    assert.throws(() => readItemsJsonl(f), (e: Error) => e.name === "DataError" && /latin1\.jsonl: record line 2: field '\(text\)': not valid UTF-8/.test(e.message));
  });

  test("a dataset_index reused for another question is an error naming both lines", () => {
    const f = join(dir, "reused.jsonl");
    writeFileSync(f, [row(0, null), row(1, null), row(0, null, { question: "Another question?" })].join("\n") + "\n");
    assert.throws(() => readItemsJsonl(f), /reused\.jsonl: record line 3: field 'dataset_index': 0 of 'toy' is already used by line 1/);
  });

  test("an empty file is an error, for the loaders and for grade", async () => {
    const f = join(dir, "empty.jsonl");
    writeFileSync(f, "");
    await assert.rejects(loadPath(f), /empty\.jsonl: the file is empty/);
    const g = cli(["grade", f]);
    assert.equal(g.code, 1);
    assert.match(g.err, /^error: .*empty\.jsonl: the file is empty/);
  });

  test("a line over the limit is refused without being held; the lines after it still read", async () => {
    const f = join(dir, "long.jsonl");
    const long = row(1, null, { reasoning: "x".repeat(3 << 20) });
    writeFileSync(f, [row(0, null), long, row(2, null)].join("\n") + "\n");
    const { jsonlLines } = await import("../src/data/source");
    const lines = [...jsonlLines(f, 1 << 20)];
    assert.equal(lines.length, 3);
    assert.match(lines[1].error!.message, /record line 2: field '\(line\)': longer than 1048576 bytes/);
    assert.equal((lines[2].value as { dataset_index: number }).dataset_index, 2);
    const r = cli(["data", "stats", f], { MEDVLTHINKER_MAX_LINE_BYTES: String(1 << 20) });
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: .*long\.jsonl: record line 2: field '\(line\)': longer than 1048576 bytes.*MEDVLTHINKER_MAX_LINE_BYTES/);
  });
});

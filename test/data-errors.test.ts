// Bad input: errors name the file, the record and the field; skipBad collects instead of throwing.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DataError, validateItem } from "../src/data/item";
import { loadPath, sniffFormat } from "../src/data/registry";

const dir = mkdtempSync(join(tmpdir(), "mvt-data-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const good = { realidx: 0, question: "Q?", options: { A: "x", B: "y" }, answer_idx: "B", answer: "y" };

function medagents(lines: string[]): string {
  const d = join(dir, `medqa-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const f = join(d, "test.jsonl");
  writeFileSync(f, lines.join("\n") + "\n");
  return f;
}

async function rejectsWith(p: Promise<unknown>, check: (e: DataError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    check(e);
    return true;
  });
}

describe("malformed records", () => {
  test("a malformed JSONL line names the file and the line", async () => {
    const f = medagents([JSON.stringify(good), "{not json", JSON.stringify(good)]);
    await rejectsWith(loadPath(f), (e) => {
      assert.equal(e.file, f);
      assert.equal(e.record, "line 2");
      assert.equal(e.field, "(json)");
      assert.match(e.message, /test\.jsonl: record line 2: field '\(json\)'/);
    });
  });

  test("a missing field is named", async () => {
    const { answer_idx: _drop, ...noLabel } = good;
    const f = medagents([JSON.stringify(good), JSON.stringify(noLabel)]);
    await rejectsWith(loadPath(f), (e) => {
      assert.equal(e.record, "line 2");
      assert.equal(e.field, "answer_idx");
    });
  });

  test("an answer that is not among the options is refused", async () => {
    const f = medagents([JSON.stringify({ ...good, answer_idx: "E" })]);
    await rejectsWith(loadPath(f), (e) => assert.equal(e.field, "answer_label"));
    const g = medagents([JSON.stringify({ ...good, answer: "z" })]);
    await rejectsWith(loadPath(g), (e) => assert.equal(e.field, "answer"));
  });

  test("skipBad reports how many and which records were skipped; the rest load", async () => {
    const f = medagents([JSON.stringify(good), "{oops", JSON.stringify({ ...good, answer_idx: "Q" }), JSON.stringify({ ...good, question: "" }), JSON.stringify(good)]);
    const r = await loadPath(f, { skipBad: true });
    assert.equal(r.items.length, 2);
    assert.deepEqual(
      r.skipped.map((s) => [s.record, s.field]),
      [
        ["line 2", "(json)"],
        ["line 3", "answer_label"],
        ["line 4", "question"],
      ],
    );
    assert.ok(r.warnings.some((w) => w.startsWith("3 records skipped")));
  });

  test("validateItem names the failing field", () => {
    assert.throws(() => validateItem({ question: "q" }, "f.jsonl", 7), (e: unknown) => e instanceof DataError && e.record === 7 && e.field === "images");
  });

  test("open questions: accepted only with the open mark", () => {
    const base = { images: null, question: "What is shown?", options: {}, answer_label: "", answer: "a lung", reasoning: null, dataset_name: "x", dataset_index: 0 };
    assert.ok(validateItem({ ...base, misc: { answer_type: "open" } }, "f", 0));
    assert.throws(() => validateItem(base, "f", 0), /answer_label|options/);
  });
});

describe("images and layouts", () => {
  function vqaRad(records: unknown[], withImage = true): string {
    const d = mkdtempSync(join(dir, "vqarad-"));
    mkdirSync(join(d, "images"));
    if (withImage) writeFileSync(join(d, "images", "a.jpg"), "x");
    const f = join(d, "VQA_RAD Dataset Public.json");
    writeFileSync(f, JSON.stringify(records));
    return f;
  }
  const rec = { qid: 5, phrase_type: "test_freeform", image_name: "a.jpg", image_organ: "CHEST", question: "Is it normal?", answer: "yes", answer_type: "CLOSED " };

  test("an image path that escapes the dataset folder is refused", async () => {
    const f = vqaRad([{ ...rec, image_name: "../../etc/passwd" }]);
    await rejectsWith(loadPath(f), (e) => {
      assert.equal(e.field, "image_name");
      assert.match(e.detail, /escapes the dataset folder/);
      assert.match(String(e.record), /qid 5/);
    });
  });

  test("a missing image file names the record and the file", async () => {
    const f = vqaRad([{ ...rec, image_name: "missing.jpg" }]);
    await rejectsWith(loadPath(f), (e) => {
      assert.equal(e.field, "image_name");
      assert.match(e.detail, /missing\.jpg/);
    });
  });

  test("a VQA-RAD record with a trailing-space answer_type and an int answer loads", async () => {
    const f = vqaRad([rec, { ...rec, qid: "6", answer: 3, answer_type: "OPEN", question: "How many?" }]);
    const r = await loadPath(f);
    assert.equal(r.items.length, 2);
    assert.deepEqual(r.items[0].options, { A: "Yes", B: "No" });
    assert.equal(r.items[1].answer, "3");
    assert.equal(r.items[1].misc?.answer_type, "open");
  });

  test("an unknown layout is an error, not a guess", () => {
    const f = join(dir, "weird.jsonl");
    writeFileSync(f, JSON.stringify({ foo: 1 }) + "\n");
    assert.throws(() => sniffFormat(f), (e: unknown) => e instanceof DataError && e.record === "line 1");
  });
});

describe("MedXpertQA-MM with its images present (a full download)", () => {
  test("images beside the file are referenced and no warning is given", async () => {
    const d = mkdtempSync(join(dir, "mxqa-"));
    mkdirSync(join(d, "images"));
    writeFileSync(join(d, "images", "MM-0-a.jpeg"), "x");
    const rec = { id: "MM-0", question: "Q?\nAnswer Choices: (A) a (B) b", options: [{ letter: "A", content: "a" }, { letter: "B", content: "b" }], label: ["B"], images: [{ image_path: "MM-0-a.jpeg" }], medical_task: "Diagnosis", body_system: "Skeletal", question_type: "Reasoning" };
    const f = join(d, "medxpertqa_mm_input.jsonl");
    writeFileSync(f, JSON.stringify(rec) + "\n" + JSON.stringify({ ...rec, id: "MM-1", images: [{ image_path: "MM-1-a.jpeg" }] }) + "\n");
    const r = await loadPath(f);
    assert.equal(r.items[0].images![0].path, join(d, "images", "MM-0-a.jpeg"));
    assert.equal(r.items[0].question, "Q?");
    assert.equal(r.items[1].images, null);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /images not found for 1 questions/);
  });
});

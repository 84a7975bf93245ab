import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { dataRoot } from "../src/paths";
import { buildPrompt, imageDataUrl, INSTRUCTION, sftTarget, sniffImageMime, toOpenAIMessages, toVerlMessages } from "../src/prompt";

const item: Item = {
  images: null,
  question: "Which side of the lung is abnormal?",
  options: { A: "Left", B: "Right" },
  answer_label: "B",
  answer: "Right",
  reasoning: null,
  dataset_name: "slake",
  dataset_index: 7,
};

// Written out by hand from upstream eval/run_offline_inference_v2.py (INSTRUCTION_PROMPT is r"...").
const EXPECTED =
  "You will solve a problem/request. You should provide your thoughts within <think> </think> tags before providing the answer." +
  "\\" + // a literal backslash...
  "n" + // ...followed by the letter n, not a newline
  "Write your final answer within <answer> </answer> tags.\n\nQuestion: Which side of the lung is abnormal?\n\nOptions:\n\nA. Left\n\nB. Right";

describe("buildPrompt", () => {
  test("byte for byte, with upstream's literal backslash-n", () => {
    const p = buildPrompt(item);
    assert.equal(p, EXPECTED);
    // sha256 and length of the string upstream's build_messages() returns for this item (run in Python 3.11)
    assert.equal(Buffer.byteLength(p), 257);
    assert.equal(createHash("sha256").update(p).digest("hex"), "bdd6d9228485b798675fce45df257dd84f8229755b21fd3fb1c82f056bdc760f");
    assert.equal(p.split("\n").length, 9);
    assert.ok(INSTRUCTION.includes("answer.\\nWrite"));
  });

  test("real newline as a named option", () => {
    const p = buildPrompt(item, { realNewline: true });
    assert.equal(p, EXPECTED.replace("\\n", "\n"));
    assert.ok(!p.includes("\\"));
  });

  test("custom instruction, unicode and punctuation kept verbatim, 26 options in order", () => {
    const options: Record<string, string> = {};
    for (let i = 0; i < 26; i++) options[String.fromCharCode(65 + i)] = `ménière, "q${i}".`;
    const p = buildPrompt({ question: "Q?\nline 2", options }, { instruction: "Go." });
    assert.ok(p.startsWith("Go.\n\nQuestion: Q?\nline 2\n\nOptions:\n\nA. ménière, \"q0\".\n\nB. "));
    assert.ok(p.endsWith("\n\nZ. ménière, \"q25\"."));
  });

  test("real MedQA item", () => {
    const first = JSON.parse(readFileSync(join(dataRoot(), "medqa/test.jsonl"), "utf8").split("\n")[0]);
    const p = buildPrompt({ question: first.question, options: first.options });
    assert.ok(p.includes(`\n\nQuestion: ${first.question}\n\nOptions:\n\nA. ${first.options.A}\n\nB. ${first.options.B}\n\nC. ${first.options.C}\n\nD. ${first.options.D}`));
    assert.ok(p.endsWith(first.options.D));
  });
});

describe("verl messages", () => {
  test("one <image> per image at the start, no separator", () => {
    const withImages = { ...item, images: [{ bytes: null, path: "a.png" }, { bytes: null, path: "b.png" }] };
    assert.deepEqual(toVerlMessages(withImages), [{ role: "user", content: "<image><image>" + EXPECTED }]);
    assert.deepEqual(toVerlMessages(item), [{ role: "user", content: EXPECTED }]);
  });
});

describe("OpenAI messages", () => {
  test("text only: one user message, one text part, no system message", async () => {
    assert.deepEqual(await toOpenAIMessages(item), [{ role: "user", content: [{ type: "text", text: EXPECTED }] }]);
  });

  test("images first as data URLs, from bytes and from a path", async () => {
    const png = new Uint8Array(await sharp({ create: { width: 4, height: 3, channels: 3, background: "#f00" } }).png().toBuffer());
    const dir = mkdtempSync(join(tmpdir(), "prompt-"));
    const jpgPath = join(dir, "x.jpg");
    writeFileSync(jpgPath, await sharp({ create: { width: 2, height: 2, channels: 3, background: "#00f" } }).jpeg().toBuffer());
    const msgs = await toOpenAIMessages({ ...item, images: [{ bytes: png, path: null }, { bytes: null, path: jpgPath }] });
    assert.equal(msgs.length, 1);
    const content = msgs[0].content as { type: string; image_url?: { url: string }; text?: string }[];
    assert.deepEqual(content.map((c) => c.type), ["image_url", "image_url", "text"]);
    assert.equal(content[0].image_url!.url, `data:image/png;base64,${Buffer.from(png).toString("base64")}`);
    assert.ok(content[1].image_url!.url.startsWith("data:image/jpeg;base64,/9j/"));
    assert.equal(content[2].text, EXPECTED);
    const meta = await sharp(Buffer.from(content[0].image_url!.url.split(",")[1], "base64")).metadata();
    assert.deepEqual([meta.width, meta.height], [4, 3]);
  });

  test("a real SLAKE image by path", async () => {
    const dir = join(dataRoot(), "slake/imgs", readdirSync(join(dataRoot(), "slake/imgs")).sort()[0]);
    const file = readdirSync(dir).find((f) => /\.(jpe?g|png)$/i.test(f))!;
    const url = await imageDataUrl({ bytes: null, path: join(dir, file) });
    assert.match(url, /^data:image\/(jpeg|png);base64,/);
  });

  test("custom imageUrl and ignoreImages", async () => {
    const it = { ...item, images: [{ bytes: null, path: "/srv/a.png" }] };
    const msgs = await toOpenAIMessages(it, { imageUrl: async (r) => `https://x/${r.path}`, realNewline: true });
    const content = msgs[0].content as { type: string; image_url?: { url: string }; text?: string }[];
    assert.equal(content[0].image_url!.url, "https://x//srv/a.png");
    assert.equal(content[1].text, EXPECTED.replace("\\n", "\n"));
    assert.equal(((await toOpenAIMessages(it, { ignoreImages: true }))[0].content as unknown[]).length, 1);
  });

  test("unreadable or unknown images throw DataError naming the item and the image", async () => {
    await assert.rejects(toOpenAIMessages({ ...item, images: [{ bytes: new Uint8Array([1, 2, 3]), path: null }] }), (e: Error) => e.name === "DataError" && /slake: record 7: field 'images\[0\]'/.test(e.message));
    await assert.rejects(toOpenAIMessages({ ...item, images: [{ bytes: null, path: "/nonexistent.png" }] }), /cannot read/);
    await assert.rejects(toOpenAIMessages({ ...item, images: [{ bytes: null, path: null }] }), /neither bytes nor a path/);
  });

  test("sniffImageMime", () => {
    assert.equal(sniffImageMime(new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61])), "image/gif");
    assert.equal(sniffImageMime(new Uint8Array([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50])), "image/webp");
    assert.equal(sniffImageMime(new Uint8Array([0x42, 0x4d, 0])), "image/bmp");
    assert.equal(sniffImageMime(new Uint8Array([])), null);
  });
});

describe("sftTarget", () => {
  test("as upstream convert_trl_format.py", () => {
    assert.equal(sftTarget("  The lesion is on the right.\n", " B "), "<think> The lesion is on the right. </think>\n<answer> B </answer>");
  });
});

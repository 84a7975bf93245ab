/**
 * Requests exact to the paper: every sampling field sent, the server profile's neutral extension
 * fields, images prepared as qwen-vl-utils and sent as PNG before the text, and prompts too long
 * for the server's context recorded per item (both vLLM error shapes), never retried.
 * Checked on the request bodies a loopback server receives, field by field.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { createHash } from "node:crypto";
import { pilResizeBicubic, prepareQwenVlImage, pyRound, smartResize } from "../src/data/qwen-vl-image";
import { OpenAIPolicy } from "../src/policy/openai";
import { PROMPT_TOO_LONG } from "../src/policy/policy";
import { serverProfile } from "../src/policy/profiles";
import { buildPrompt } from "../src/prompt";
import { startFakeServer, TOO_LONG_MM_MESSAGE, TOO_LONG_TEXT_MESSAGE, type FakeServer } from "./helpers/fake-openai-server";

const FAST = { maxRetries: 4, baseDelayMs: 1, maxDelayMs: 5 };
const PAPER = { n: 1, temperature: 0, top_p: 1, max_tokens: 4096, seed: 42 };

function item(i: number, images: Item["images"] = null): Item {
  return { images, question: `question ${i}`, options: { A: "yes", B: "no" }, answer_label: "A", answer: "yes", reasoning: null, dataset_name: "t", dataset_index: i };
}

async function withServer<T>(opts: Parameters<typeof startFakeServer>[0], f: (s: FakeServer, bodies: any[]) => Promise<T>): Promise<T> {
  const bodies: any[] = [];
  const fault = opts.fault;
  const s = await startFakeServer({ ...opts, fault: (info) => (bodies.push(info.body), fault ? fault(info) : null) });
  try {
    return await f(s, bodies);
  } finally {
    await s.close();
  }
}

const sansMessages = (b: any) => Object.fromEntries(Object.entries(b).filter(([k]) => k !== "messages"));

test("smart_resize gives qwen-vl-utils' sizes (Python's half-to-even rounding), and refuses >200:1", () => {
  // Expected values from qwen_vl_utils.smart_resize run in Python.
  const cases: [number, number, number, number][] = [
    [10, 10, 56, 56],
    [70, 700, 56, 700], // 2.5 rounds to 2 in Python (Math.round would give 84)
    [42, 98, 56, 112],
    [512, 512, 504, 504],
    [480, 640, 476, 644],
    [10000, 10000, 3556, 3556],
    [5000, 3000, 4620, 2772],
    [30, 40, 56, 84],
    [1, 150, 28, 140],
    [566, 426, 560, 420],
  ];
  for (const [h, w, eh, ew] of cases) assert.deepEqual(smartResize(h, w), { height: eh, width: ew }, `${h}x${w}`);
  assert.equal(pyRound(2.5), 2);
  assert.equal(pyRound(3.5), 4);
  assert.equal(pyRound(0.5), 0);
  assert.equal(pyRound(2.6), 3);
  assert.throws(() => smartResize(1, 300), /aspect ratio/);
});

test("the resize is Pillow's bicubic, bit for bit (up, down, one side only)", () => {
  // sha256 of PIL 9.4 `Image.fromarray(src).resize((ow, oh))` on the same synthetic image (its
  // resampler is unchanged since Pillow 7). When this was written, the first 15 VQA-RAD and 15 SLAKE
  // images also matched PIL's open / convert("RGB") / smart_resize / resize pixel for pixel.
  const src = (w: number, h: number) => {
    const a = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) a[(y * w + x) * 3 + c] = (x * 37 + y * 91 + c * 53 + ((x * y) % 17) * 11) % 256;
    return a;
  };
  const cases: [number, number, number, number, string, number[]][] = [
    [37, 23, 84, 56, "39fef36a6429acfc879084b8705e34aa260d8ac2d566c599bce17a057c4d1627", [0, 40, 93, 0, 48, 101]],
    [300, 200, 100, 70, "d230bfc30c03b3696872c846eeb7440d697ced861f40d861de9151b76d1e1fb9", [116, 134, 138, 134, 133, 133]],
    [64, 40, 64, 90, "837bbc92047b64bbdc7fcf6896c0fa0713739e1288cd4e8856c6b2aa111bb2c2", [0, 44, 97, 27, 80, 133]],
    [129, 77, 120, 77, "7d75c633b6cd6bd251241da0ecdd74cdc24535df4820d9e8073e248c7772217b", [2, 55, 108, 41, 94, 147]],
  ];
  for (const [w, h, ow, oh, sha, head] of cases) {
    const out = pilResizeBicubic(src(w, h), w, h, ow, oh);
    assert.equal(out.length, ow * oh * 3);
    assert.deepEqual(Array.from(out.subarray(0, 6)), head, `${w}x${h} -> ${ow}x${oh}`);
    assert.equal(createHash("sha256").update(out).digest("hex"), sha, `${w}x${h} -> ${ow}x${oh}`);
  }
  assert.deepEqual(smartResize(23, 37), { height: 56, width: 84 });
});

test("vllm (default) and sglang: every sampling field and top_k -1, repetition_penalty 1, min_p 0 in every request", { timeout: 10_000 }, async () => {
  for (const name of [undefined, "sglang"] as const) {
    await withServer({ answer: () => "<answer>A</answer>" }, async (s, bodies) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST, profile: name });
      await p.sample([item(0)], PAPER);
      await p.sample([item(1)], { ...PAPER, n: 4, temperature: 1, seed: 7, logprobs: true });
      assert.equal(bodies.length, 2);
      assert.deepEqual(sansMessages(bodies[0]), { model: "fake-model", temperature: 0, top_p: 1, max_tokens: 4096, n: 1, seed: 42, top_k: -1, repetition_penalty: 1, min_p: 0 });
      assert.deepEqual(sansMessages(bodies[1]), { model: "fake-model", temperature: 1, top_p: 1, max_tokens: 4096, n: 4, seed: 7, top_k: -1, repetition_penalty: 1, min_p: 0, logprobs: true });
      assert.deepEqual(bodies[0].messages, [{ role: "user", content: [{ type: "text", text: buildPrompt(item(0)) }] }]);
    });
  }
});

test("llama.cpp: its own field names, one choice per request (n requests, seeds seed..seed+n-1)", { timeout: 10_000 }, async () => {
  await withServer({ answer: (info) => `s${info.body.seed}` }, async (s, bodies) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST, profile: "llama.cpp" });
    const [out] = await p.sample([item(0)], { ...PAPER, n: 3, temperature: 1 });
    assert.deepEqual(out.map((c) => c.text), ["s42", "s43", "s44"]);
    assert.deepEqual(
      bodies.map(sansMessages),
      [42, 43, 44].map((seed) => ({ model: "fake-model", temperature: 1, top_p: 1, max_tokens: 4096, n: 1, seed, top_k: 0, repeat_penalty: 1, min_p: 0 })),
    );
  });
});

test("ollama and openai: only the standard fields", { timeout: 10_000 }, async () => {
  for (const name of ["ollama", "openai"] as const) {
    await withServer({ answer: () => "x" }, async (s, bodies) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST, profile: name });
      await p.sample([item(0)], { ...PAPER, n: 2, temperature: 1 });
      const want = (n: number, seed: number) => ({ model: "fake-model", temperature: 1, top_p: 1, max_tokens: 4096, n, seed });
      // Ollama has no `n`: two requests; OpenAI: one with n = 2.
      assert.deepEqual(bodies.map(sansMessages), name === "ollama" ? [want(1, 42), want(1, 43)] : [want(2, 42)]);
    });
  }
  assert.throws(() => serverProfile("tgi"), /unknown server profile 'tgi'; known: vllm, sglang, llama.cpp, ollama, openai/);
  assert.equal(serverProfile("llamacpp").name, "llama.cpp");
});

test("images: RGB PNG at the smart_resize size, before the text; 'as-stored' sends the bytes unchanged", { timeout: 20_000 }, async () => {
  // 150x70 RGBA PNG: not a multiple of 28, with alpha.
  const raw = Buffer.alloc(150 * 70 * 4);
  for (let i = 0; i < 150 * 70; i++) raw.set([(i * 7) % 256, (i * 3) % 256, 90, i % 2 ? 255 : 40], i * 4);
  const png = new Uint8Array(await sharp(raw, { raw: { width: 150, height: 70, channels: 4 } }).png().toBuffer());
  const jpeg = new Uint8Array(await sharp(raw, { raw: { width: 150, height: 70, channels: 4 } }).removeAlpha().jpeg().toBuffer());
  const it = item(0, [{ bytes: png, path: null }, { bytes: jpeg, path: null }]);
  await withServer({ answer: () => "x" }, async (s, bodies) => {
    await new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST }).sample([it], PAPER);
    await new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST, images: "as-stored" }).sample([it], PAPER);
    const [paper, stored] = bodies.map((b) => b.messages[0].content as any[]);
    assert.deepEqual(paper.map((p) => p.type), ["image_url", "image_url", "text"]);
    assert.equal(paper[2].text, buildPrompt(it));
    const expect = smartResize(70, 150);
    for (const part of paper.slice(0, 2)) {
      const m = /^data:image\/png;base64,(.+)$/.exec(part.image_url.url);
      assert.ok(m, part.image_url.url.slice(0, 40));
      const meta = await sharp(Buffer.from(m[1], "base64")).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height, meta.channels, meta.hasAlpha], ["png", expect.width, expect.height, 3, false]);
    }
    const prepared = await prepareQwenVlImage({ bytes: png, path: null });
    assert.equal(paper[0].image_url.url, `data:image/png;base64,${Buffer.from(prepared.png).toString("base64")}`);
    assert.equal(stored[0].image_url.url, `data:image/png;base64,${Buffer.from(png).toString("base64")}`);
    assert.equal(stored[1].image_url.url, `data:image/jpeg;base64,${Buffer.from(jpeg).toString("base64")}`);
  });
});

test("a prompt too long for the context (both vLLM error shapes) comes back for that item with its reason, not retried", { timeout: 10_000 }, async () => {
  await withServer(
    {
      answer: () => "<answer>A</answer>",
      fault: (info) => (info.prompt.includes("question 1") ? "too-long-text" : info.prompt.includes("question 2") ? "too-long-mm" : null),
    },
    async (s) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", retry: FAST });
      const out = await p.sample([item(0), item(1), item(2), item(3)], { ...PAPER, n: 2 });
      assert.deepEqual(out[0].map((c) => c.text), ["<answer>A</answer>", "<answer>A</answer>"]);
      assert.deepEqual(out[1], [0, 1].map(() => ({ text: "", finish_reason: PROMPT_TOO_LONG, error: TOO_LONG_TEXT_MESSAGE })));
      assert.deepEqual(out[2], [0, 1].map(() => ({ text: "", finish_reason: PROMPT_TOO_LONG, error: TOO_LONG_MM_MESSAGE })));
      assert.equal(out[3][0].text, "<answer>A</answer>");
      assert.equal(s.stats.requests, 4); // one each: no retry
      assert.equal(p.stats.retries, 0);
      assert.equal(p.stats.tooLong, 2);
    },
  );
});

test("other 400s in vLLM's older error shape keep their message (not 'no body')", { timeout: 10_000 }, async () => {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const text = JSON.stringify({ object: "error", message: "temperature must be non-negative, got -1.", type: "BadRequestError", param: null, code: 400 });
      res.writeHead(400, { "content-type": "application/json", "content-length": String(text.length) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as import("node:net").AddressInfo).port;
  try {
    for (const transport of ["node-http", "fetch"] as const) {
      const p = new OpenAIPolicy({ baseURL: `http://127.0.0.1:${port}/v1`, model: "m", apiKey: "k", retry: FAST, transport });
      await assert.rejects(p.sample([item(0)], PAPER), (e: Error) => e.name === "ConfigError" && /HTTP 400.*temperature must be non-negative/.test(e.message) && !/no body/.test(e.message));
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

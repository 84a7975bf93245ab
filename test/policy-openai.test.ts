import { test } from "node:test";
import assert from "node:assert/strict";
import type { Item } from "../src/data/item";
import { OpenAIPolicy, backoffDelay, classifyFailure, apiKeyFromEnv } from "../src/policy/openai";
import { redact } from "../src/policy/secrets";
import { startFakeServer, type FakeServer } from "./helpers/fake-openai-server";

const FAST = { maxRetries: 6, baseDelayMs: 1, maxDelayMs: 20 };

function item(i: number, images = false): Item {
  return {
    images: images ? [{ bytes: new Uint8Array([0xff, 0xd8, 0xff]), path: null }] : null,
    question: `question ${i}`,
    options: { A: "yes", B: "no" },
    answer_label: "A",
    answer: "yes",
    reasoning: null,
    dataset_name: "t",
    dataset_index: i,
  };
}

// Our own builder: keeps this test independent of src/prompt.ts.
const build = async (it: Item) => [
  {
    role: "user" as const,
    content: [
      ...(it.images ?? []).map(() => ({ type: "image_url" as const, image_url: { url: "data:image/jpeg;base64,/9j/" } })),
      { type: "text" as const, text: it.question },
    ],
  },
];

async function withServer<T>(opts: Parameters<typeof startFakeServer>[0], f: (s: FakeServer) => Promise<T>): Promise<T> {
  const s = await startFakeServer(opts);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

const params = { n: 1, temperature: 0, top_p: 1, max_tokens: 16, seed: 42 };

test("answers come back in item order, one per item", { timeout: 10_000 }, async () => {
  await withServer({ answer: (info) => `echo ${info.prompt}` }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
    const out = await p.sample([item(0), item(1), item(2)], params);
    assert.deepEqual(
      out.map((c) => c.map((x) => x.text)),
      [["echo question 0"], ["echo question 1"], ["echo question 2"]],
    );
    assert.equal(out[0][0].finish_reason, "stop");
    assert.equal(s.stats.requests, 3);
  });
});

test("retries 500, 429, dropped connections, cut bodies, malformed JSON and non-completions until answered", { timeout: 20_000 }, async () => {
  const faults = ["500", "429", "drop", "drop-mid-body", "malformed", "not-completion"] as const;
  await withServer(
    {
      answer: (info) => `ok ${info.prompt}`,
      // Item i fails (i % 6)-th kind on its first two tries, then succeeds.
      fault: (info) => {
        const i = Number(info.prompt.split(" ")[1]);
        return info.seen < 2 ? faults[i % faults.length] : null;
      },
    },
    async (s) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
      const items = Array.from({ length: 12 }, (_, i) => item(i));
      const out = await p.sample(items, params);
      assert.deepEqual(
        out.map((c) => c[0].text),
        items.map((it) => `ok ${it.question}`),
      );
      assert.equal(p.stats.retries, 24);
      assert.equal(s.stats.answered, 12);
      assert.ok(p.stats.failures["rate-limit"] === 4 && p.stats.failures.server === 4 && p.stats.failures.malformed >= 4, JSON.stringify(p.stats.failures));
    },
  );
});

test("a slow answer past the timeout is retried", { timeout: 15_000 }, async () => {
  await withServer({ answer: () => "fine", slowMs: 1500, fault: (info) => (info.seen === 0 ? "slow" : null) }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST, timeoutMs: 200 });
    const out = await p.sample([item(0)], params);
    assert.equal(out[0][0].text, "fine");
    assert.equal(p.stats.failures.timeout, 1);
  });
});

test("gives up after maxRetries with an error naming the failure", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "never", fault: () => "500" }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "sk-secret-value-123", buildMessages: build, retry: { ...FAST, maxRetries: 3 } });
    await assert.rejects(p.sample([item(0)], params), (e: Error) => e.name === "RequestFailedError" && /after 4 tries \(server\)/.test(e.message));
    assert.equal(s.stats.requests, 4);
  });
});

test("a wrong model name fails fast and lists the served models", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "x", models: ["qwen2.5-vl-3b"] }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "qwen-typo", apiKey: "k", buildMessages: build, retry: FAST });
    await assert.rejects(p.sample([item(0)], params), (e: Error) => e.name === "ConfigError" && /unknown model name.*qwen2\.5-vl-3b/.test(e.message));
    assert.equal(s.stats.requests, 1);
  });
});

test("a wrong base URL (missing /v1) fails fast with a hint", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "x" }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url.replace(/\/v1$/, ""), model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
    await assert.rejects(p.sample([item(0)], params), (e: Error) => e.name === "ConfigError" && /404.*wrong base URL/.test(e.message));
  });
  assert.throws(() => new OpenAIPolicy({ baseURL: "localhost:8000", model: "m" }), /not an http\(s\) URL/);
});

test("an unreachable server is retried, then reported", { timeout: 10_000 }, async () => {
  const s = await startFakeServer({ answer: () => "x" });
  const url = s.url;
  await s.close();
  const p = new OpenAIPolicy({ baseURL: url, model: "fake-model", apiKey: "k", buildMessages: build, retry: { ...FAST, maxRetries: 2 } });
  await assert.rejects(p.sample([item(0)], params), (e: Error) => /after 3 tries \(connection\)/.test(e.message) && e.message.includes(url));
});

test("images to a text-only model give a clear error", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "x", rejectImages: true }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
    await assert.rejects(p.sample([item(0, true)], params), (e: Error) => e.name === "ConfigError" && /does not accept images/.test(e.message));
    assert.equal((await p.sample([item(1)], params))[0][0].text, "x");
  });
});

test("n > 1 uses the n parameter, and falls back to n requests when rejected or ignored", { timeout: 10_000 }, async () => {
  for (const nMode of ["support", "reject", "ignore"] as const) {
    await withServer({ answer: (info, c) => `c${c} seed${info.body.seed}`, nMode }, async (s) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
      const out = await p.sample([item(0), item(1)], { ...params, n: 4, temperature: 1 });
      assert.equal(out.length, 2);
      for (const c of out) assert.equal(c.length, 4, nMode);
      if (nMode === "support") {
        assert.deepEqual(s.stats.nSeen, [4, 4]);
        assert.equal(p.stats.nUnsupported, false);
      } else {
        assert.equal(p.stats.nUnsupported, true, nMode);
        // Separate requests get distinct seeds so that sampled completions differ.
        assert.equal(new Set(out[1].map((c) => c.text)).size, 4, nMode);
      }
    });
  }
});

test("logprobs are returned where the server gives them", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "a b c", logprobs: true }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
    const [[c]] = await p.sample([item(0)], { ...params, logprobs: true });
    assert.deepEqual(c.logprobs, [-0.1, -0.2, -0.30000000000000004]);
  });
});

test("at most `concurrency` requests are in flight", { timeout: 10_000 }, async () => {
  let inFlight = 0;
  let peak = 0;
  await withServer(
    {
      answer: () => "x",
      latencyMs: 20,
      fault: () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        setTimeout(() => inFlight--, 20);
        return null;
      },
    },
    async (s) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST, concurrency: 3 });
      await p.sample(Array.from({ length: 12 }, (_, i) => item(i)), params);
      assert.ok(peak <= 3 && peak >= 2, `peak ${peak}`);
    },
  );
});

test("an abort stops waiting and retrying", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "x", fault: () => "500" }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: { maxRetries: 100, baseDelayMs: 50, maxDelayMs: 50 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    await assert.rejects(p.sample([item(0)], params, ac.signal), (e: Error) => e.name === "AbortError");
    assert.ok(s.stats.requests < 10);
  });
});

test("the API key is read from the environment, sent, and kept out of error messages", { timeout: 10_000 }, async () => {
  assert.equal(apiKeyFromEnv({ OPENAI_API_KEY: "a" }), "a");
  assert.equal(apiKeyFromEnv({ OPENAI_API_KEY: "a", MEDVLTHINKER_API_KEY: "b" }), "b");
  assert.equal(apiKeyFromEnv({}), undefined);
  const secret = "sk-test-SECRET-0123456789";
  const old = process.env.MEDVLTHINKER_API_KEY;
  process.env.MEDVLTHINKER_API_KEY = secret;
  try {
    // A hostile server that echoes the key back in its error.
    await withServer({ answer: () => "x", models: [`m-${secret}`] }, async (s) => {
      const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", buildMessages: build, retry: FAST });
      await assert.rejects(p.sample([item(0)], params), (e: Error) => !e.message.includes(secret) && /\*\*\*/.test(e.message));
      assert.ok(s.stats.authHeaders.has(`Bearer ${secret}`));
    });
  } finally {
    if (old === undefined) delete process.env.MEDVLTHINKER_API_KEY;
    else process.env.MEDVLTHINKER_API_KEY = old;
  }
  assert.equal(redact(`Bearer ${secret} and ${secret}`, secret), "Bearer *** and ***");
});

test("failures are classified and backoff grows then caps, honouring Retry-After", () => {
  assert.equal(classifyFailure(new SyntaxError("Unexpected end of JSON")), "malformed");
  assert.equal(classifyFailure(new TypeError("terminated")), "connection");
  assert.equal(classifyFailure(new Error("boom")), "permanent");
  const o = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(0, o, undefined, () => 1), 100);
  assert.equal(backoffDelay(3, o, undefined, () => 1), 800);
  assert.equal(backoffDelay(10, o, undefined, () => 1), 1000);
  assert.equal(backoffDelay(0, o, undefined, () => 0), 50);
  assert.equal(backoffDelay(0, o, 700, () => 0), 700);
});

test("the built-in fetch transport works too, through faults", { timeout: 10_000 }, async () => {
  await withServer({ answer: (info) => `ok ${info.prompt}`, fault: (info) => (info.seen === 0 ? (["500", "drop", "malformed"] as const)[info.count % 3] : null) }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST, transport: "fetch" });
    const out = await p.sample([item(0), item(1), item(2)], params);
    assert.deepEqual(out.map((c) => c[0].text), ["ok question 0", "ok question 1", "ok question 2"]);
    assert.equal(p.stats.retries, 3);
  });
});

test("a long-lived signal does not collect one abort listener per request", { timeout: 10_000 }, async () => {
  const { EventEmitter } = await import("node:events");
  await withServer({ answer: () => "x" }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST, concurrency: 4 });
    const ac = new AbortController();
    await p.sample(Array.from({ length: 40 }, (_, i) => item(i)), params, ac.signal);
    assert.equal(EventEmitter.getEventListeners(ac.signal, "abort").length, 0);
  });
});

test("a separate reasoning_content is put back in <think> tags, as upstream", { timeout: 10_000 }, async () => {
  await withServer({ answer: () => "<answer>A</answer>", reasoning: (info) => (info.prompt.endsWith("0") ? "because" : undefined) }, async (s) => {
    const p = new OpenAIPolicy({ baseURL: s.url, model: "fake-model", apiKey: "k", buildMessages: build, retry: FAST });
    const out = await p.sample([item(0), item(1)], params);
    assert.deepEqual(out.map((c) => c[0].text), ["<think>because</think><answer>A</answer>", "<answer>A</answer>"]);
  });
});

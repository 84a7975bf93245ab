/**
 * An OpenAI-compatible chat server on loopback for tests: answers are decided by the test
 * (e.g. correct for a known subset of items), and faults are injected on chosen requests
 * (HTTP 500, 429, slow answers, dropped connections, malformed JSON).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Item } from "../../src/data/item";
import { itemHash } from "../../src/data/item";

export type Fault = "500" | "429" | "drop" | "drop-mid-body" | "malformed" | "slow" | "not-completion";

export interface FakeRequestInfo {
  /** 1-based count of chat requests received so far. */
  count: number;
  /** Text of the user message (all text parts joined). */
  prompt: string;
  /** How many times this exact prompt was seen before (0 on the first). */
  seen: number;
  body: any;
}

export interface FakeServerOptions {
  /** The assistant's text for a request; `choice` numbers the n choices. */
  answer: (info: FakeRequestInfo, choice: number) => string;
  /** A fault to inject for this request, or null to answer. */
  fault?: (info: FakeRequestInfo) => Fault | null;
  /** Served model names (default ["fake-model"]); another name gets a 404 like vLLM's. */
  models?: string[];
  /** How `n` > 1 is handled: "support" (default), "reject" (HTTP 400) or "ignore" (one choice, as llama.cpp). */
  nMode?: "support" | "reject" | "ignore";
  /** Answer 400 to any request with an image part (a text-only model). */
  rejectImages?: boolean;
  /** Delay of a "slow" fault, ms (default 2000). */
  slowMs?: number;
  /** Latency added to every answer, ms. */
  latencyMs?: number;
  /** A separate reasoning_content (as vLLM's reasoning parser sends), or none. */
  reasoning?: (info: FakeRequestInfo) => string | undefined;
  /** Give logprobs when asked. */
  logprobs?: boolean;
}

export interface FakeServer {
  /** Base URL ending in /v1. */
  url: string;
  stats: {
    requests: number;
    answered: number;
    faults: Record<string, number>;
    /** Successful answers per prompt. */
    answeredByPrompt: Map<string, number>;
    authHeaders: Set<string>;
    nSeen: number[];
  };
  close(): Promise<void>;
}

function promptText(body: any): string {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const parts: string[] = [];
  for (const m of msgs) {
    if (m.role !== "user") continue;
    if (typeof m.content === "string") parts.push(m.content);
    else if (Array.isArray(m.content)) for (const p of m.content) if (p.type === "text") parts.push(p.text);
  }
  return parts.join("\n");
}

function hasImage(body: any): boolean {
  return (body?.messages ?? []).some((m: any) => Array.isArray(m.content) && m.content.some((p: any) => p.type === "image_url"));
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export async function startFakeServer(opts: FakeServerOptions): Promise<FakeServer> {
  const models = opts.models ?? ["fake-model"];
  const seenCount = new Map<string, number>();
  const stats: FakeServer["stats"] = { requests: 0, answered: 0, faults: {}, answeredByPrompt: new Map(), authHeaders: new Set(), nSeen: [] };
  const sockets = new Set<import("node:net").Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      f();
    }, ms);
    timers.add(t);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    if (req.headers.authorization) stats.authHeaders.add(req.headers.authorization);
    const path = (req.url ?? "").replace(/\?.*$/, "");
    if (req.method === "GET" && path === "/v1/models") {
      return json(res, 200, { object: "list", data: models.map((id) => ({ id, object: "model", created: 0, owned_by: "test" })) });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return json(res, 404, { error: { message: `no route ${req.method} ${path}`, type: "not_found" } });
    }
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      return json(res, 400, { error: { message: "body is not JSON" } });
    }
    stats.requests++;
    if (!models.includes(body.model)) {
      return json(res, 404, { error: { message: `The model \`${body.model}\` does not exist.`, type: "NotFoundError", code: 404 } });
    }
    if (opts.rejectImages && hasImage(body)) {
      return json(res, 400, { error: { message: "image input is not supported by this model", type: "BadRequestError" } });
    }
    const n = body.n ?? 1;
    stats.nSeen.push(n);
    if (n > 1 && opts.nMode === "reject") return json(res, 400, { error: { message: "n > 1 is not supported", param: "n" } });
    const prompt = promptText(body);
    const seen = seenCount.get(prompt) ?? 0;
    seenCount.set(prompt, seen + 1);
    const info: FakeRequestInfo = { count: stats.requests, prompt, seen, body };
    const fault = opts.fault?.(info) ?? null;
    if (fault) stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
    const answerNow = () => {
      const k = n > 1 && opts.nMode === "ignore" ? 1 : n;
      const choices = Array.from({ length: k }, (_, i) => {
        const content = opts.answer(info, i);
        const choice: any = { index: i, message: { role: "assistant", content, reasoning_content: opts.reasoning?.(info) }, finish_reason: "stop" };
        if (body.logprobs && opts.logprobs) choice.logprobs = { content: content.split(" ").map((t, j) => ({ token: t, logprob: -0.1 * (j + 1), bytes: null, top_logprobs: [] })) };
        return choice;
      });
      stats.answered++;
      stats.answeredByPrompt.set(prompt, (stats.answeredByPrompt.get(prompt) ?? 0) + 1);
      json(res, 200, { id: `cmpl-${stats.requests}`, object: "chat.completion", created: 0, model: body.model, choices, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    };
    switch (fault) {
      case "500":
        return json(res, 500, { error: { message: "internal error (injected)" } });
      case "429":
        return json(res, 429, { error: { message: "rate limited (injected)" } }, { "retry-after-ms": "5" });
      case "drop":
        return req.socket.destroy();
      case "drop-mid-body":
        res.writeHead(200, { "content-type": "application/json", "content-length": "500" });
        res.write('{"id":"x","choices":[{"ind');
        return later(5, () => req.socket.destroy());
      case "malformed": {
        const text = '{"id": "x", "choices": [ {"index": 0, "message": {"content": "tr';
        res.writeHead(200, { "content-type": "application/json", "content-length": String(text.length) });
        return res.end(text);
      }
      case "not-completion":
        return json(res, 200, { hello: "world" });
      case "slow":
        return later(opts.slowMs ?? 2000, () => {
          if (!res.destroyed) answerNow();
        });
      default:
        if (opts.latencyMs) return later(opts.latencyMs, answerNow);
        return answerNow();
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- synthetic benchmarks with known answers

export const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]);

/** Synthetic benchmarks: a token in each question lets the server find the item. */
export function makeDatasets(sizes: Record<string, number>): Record<string, Item[]> {
  const out: Record<string, Item[]> = {};
  for (const [name, size] of Object.entries(sizes)) {
    out[name] = Array.from({ length: size }, (_, i) => {
      const options = { A: `alpha ${i}`, B: `beta ${i}`, C: `gamma ${i}`, D: `delta ${i}` };
      const label = "ABCD"[(i * 7) % 4];
      return {
        images: name === "img" ? [{ bytes: JPEG, path: null }] : null,
        question: `[q:${name}:${i}] Which one is right for case ${i}?`,
        options,
        answer_label: label,
        answer: options[label as keyof typeof options],
        reasoning: null,
        dataset_name: name,
        dataset_index: i,
      };
    });
  }
  return out;
}

/** The server's rule: right iff the item's hash starts with 0-7 (about half). */
export const isRight = (it: Item) => parseInt(itemHash(it)[0], 16) < 8;

export function answerer(datasets: Record<string, Item[]>, rightFor: (it: Item) => boolean = isRight): FakeServerOptions["answer"] {
  const byToken = new Map<string, Item>();
  for (const [name, items] of Object.entries(datasets)) items.forEach((it, i) => byToken.set(`[q:${name}:${i}]`, it));
  return (info) => {
    const token = info.prompt.match(/\[q:[^\]]+\]/)?.[0] ?? "";
    const it = byToken.get(token);
    if (!it) return "no idea";
    const wrong = it.answer_label === "A" ? "B" : "A";
    return `<think>thinking about ${token}</think>\n<answer>${rightFor(it) ? it.answer_label : wrong}</answer>`;
  };
}

export function expectedAccuracy(items: Item[], rightFor: (it: Item) => boolean = isRight): number {
  return 100 * (items.filter(rightFor).length / items.length); // the same rounding as the report
}


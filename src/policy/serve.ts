/**
 * The embedded model behind an OpenAI-compatible HTTP API (`medvlthinker serve`), so that any
 * OpenAI client, the eval harness's HTTP path and `reproduce` can use the checkpoints the
 * notebooks trained, exactly as they use vLLM:
 *
 *   GET  /v1/models             the served name
 *   POST /v1/chat/completions   one user message (text, images as data URLs); n, temperature,
 *                               top_p, seed, max_tokens / max_completion_tokens, logprobs
 *   GET  /health                200 once loaded (as vLLM)
 *
 * A chat request becomes the same PromptInput the in-process EmbeddedPolicy builds for an item
 * (the user text, the images' bytes), sampled by the same EmbeddedPolicy.samplePrompts, so an
 * item gets the same answer over HTTP as in-process. Bad requests get OpenAI-style 400s
 * (checked with zod) naming the field; vLLM's neutral extension fields (top_k -1, repetition_penalty
 * 1, min_p 0) are accepted, other values refused rather than silently ignored. One generation at a
 * time (the model is one object); requests queue. Binds to 127.0.0.1 unless told otherwise.
 * Written on node:http because the surface is four routes and JSON bodies; a framework would add
 * a dependency for nothing the tests do not already cover.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import pLimit from "p-limit";
import { z } from "zod";
import type { ImageRef } from "../data/item";
import { promptIds } from "../model/chat";
import type { PromptInput } from "../model/model";
import { sniffImageMime } from "../prompt";
import type { EmbeddedPolicy } from "./embedded";

export interface PolicyServerOptions {
  /** The embedded model to serve. */
  policy: EmbeddedPolicy;
  /** The model name clients send (and /v1/models lists). */
  modelName: string;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8000 (as vLLM); 0 picks a free port. */
  port?: number;
  /** Largest request body (default 64 MiB: images travel inside). */
  maxBodyBytes?: number;
  /** Largest `n` (default 64). */
  maxN?: number;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface PolicyServer {
  /** Base URL ending in /v1, for OpenAI clients. */
  url: string;
  host: string;
  port: number;
  stats: { requests: number; completions: number; errors: number };
  close(): Promise<void>;
}

/** An OpenAI-style error: `{ "error": { message, type, param, code } }` with an HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type = status === 404 ? "NotFoundError" : status >= 500 ? "InternalServerError" : "invalid_request_error",
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const neutral = <T extends z.ZodTypeAny>(schema: T, ok: (v: z.infer<T>) => boolean, what: string) =>
  schema.optional().nullable().refine((v) => v === undefined || v === null || ok(v), { message: `not supported by the embedded model: only ${what}` });

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({ type: z.literal("image_url"), image_url: z.object({ url: z.string().min(1), detail: z.string().optional() }) });
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, imagePart])).min(1)]),
});

/** The request fields the embedded model implements; unknown fields are ignored, as vLLM does. */
export const chatRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  n: z.number().int().min(1).optional().nullable(),
  temperature: z.number().min(0).max(2).optional().nullable(),
  top_p: z.number().gt(0).max(1).optional().nullable(),
  seed: z.number().int().optional().nullable(),
  max_tokens: z.number().int().min(1).optional().nullable(),
  max_completion_tokens: z.number().int().min(1).optional().nullable(),
  logprobs: z.boolean().optional().nullable(),
  top_logprobs: neutral(z.number().int(), (v) => v === 0, "0 (the sampled token's logprob is given)"),
  stream: neutral(z.boolean(), (v) => v === false, "false"),
  stop: neutral(z.union([z.string(), z.array(z.string())]), (v) => (Array.isArray(v) ? v.length === 0 : v === ""), "none"),
  top_k: neutral(z.number().int(), (v) => v === -1 || v === 0, "-1 or 0 (no top-k)"),
  min_p: neutral(z.number(), (v) => v === 0, "0"),
  repetition_penalty: neutral(z.number(), (v) => v === 1, "1"),
  repeat_penalty: neutral(z.number(), (v) => v === 1, "1"),
  frequency_penalty: neutral(z.number(), (v) => v === 0, "0"),
  presence_penalty: neutral(z.number(), (v) => v === 0, "0"),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Bytes of a `data:image/...;base64,` URL, checked to be an image; anything else is a 400. */
export function imageFromDataUrl(url: string, index: number): ImageRef {
  const param = `messages.content[${index}].image_url.url`;
  const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
  if (!m) throw new HttpError(400, `image ${index}: only data: URLs are accepted (this server fetches nothing); got '${url.slice(0, 40)}'`, param);
  if (!m[2]) throw new HttpError(400, `image ${index}: the data URL must be base64-encoded`, param);
  const bytes = new Uint8Array(Buffer.from(m[3], "base64"));
  if (!sniffImageMime(bytes)) throw new HttpError(400, `image ${index}: the data URL does not hold a PNG, JPEG, GIF, WebP, BMP or TIFF image`, param);
  return { bytes, path: null };
}

/** The prompt of a chat request: the one user message's text parts (joined by newlines) and its images, in order. */
export function promptFromMessages(messages: ChatRequest["messages"]): PromptInput {
  const users = messages.filter((m) => m.role === "user");
  const other = messages.find((m) => m.role !== "user");
  if (other) throw new HttpError(400, `'${other.role}' messages are not supported: the embedded model's chat format has one user turn (as the MedVLThinker prompt)`, "messages");
  if (users.length !== 1) throw new HttpError(400, `expected one user message, got ${users.length}`, "messages");
  const content = users[0].content;
  if (typeof content === "string") return { text: content, images: null };
  const texts: string[] = [];
  const images: ImageRef[] = [];
  content.forEach((p, i) => {
    if (p.type === "text") texts.push(p.text);
    else images.push(imageFromDataUrl(p.image_url.url, i));
  });
  return { text: texts.join("\n"), images: images.length ? images : null };
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}

function sendError(res: ServerResponse, e: HttpError): void {
  send(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code ?? e.status } });
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, `request body over ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Start serving; resolves once listening. */
export async function startPolicyServer(o: PolicyServerOptions): Promise<PolicyServer> {
  const host = o.host ?? "127.0.0.1";
  const model = o.policy.model;
  const tok = model.tokenizer;
  const limit = pLimit(1); // one generation at a time: the model is a single object
  const stats = { requests: 0, completions: 0, errors: 0 };
  const created = Math.floor(Date.now() / 1000);
  const log = o.log ?? (() => {});

  const complete = async (body: unknown, signal: AbortSignal): Promise<unknown> => {
    const parsed = chatRequestSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = issue.path.join(".") || null;
      throw new HttpError(400, `${param ?? "request"}: ${issue.message}`, param);
    }
    const r = parsed.data;
    if (r.model !== o.modelName) throw new HttpError(404, `The model \`${r.model}\` does not exist.`, "model", "NotFoundError", "model_not_found");
    const n = r.n ?? 1;
    if (n > (o.maxN ?? 64)) throw new HttpError(400, `n: at most ${o.maxN ?? 64}`, "n");
    const prompt = promptFromMessages(r.messages);
    const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? model.config.maxSeq;
    const params = {
      n,
      temperature: r.temperature ?? 1,
      top_p: r.top_p ?? 1,
      max_tokens: maxTokens,
      // No seed: a fresh one, as OpenAI (a seed makes sampled answers repeatable).
      seed: r.seed ?? randomBytes(4).readUInt32BE() >>> 1,
      logprobs: r.logprobs ?? false,
    };
    const [completions] = await limit(() => o.policy.samplePrompts([prompt], params, signal));
    const reserve = Math.min(maxTokens, Math.floor(model.config.maxSeq / 2));
    const promptTokens = promptIds(tok, prompt.text, prompt.images?.length ?? 0, model.config, reserve).ids.length;
    stats.completions += completions.length;
    const choices = completions.map((c, index) => ({
      index,
      message: { role: "assistant", content: c.text },
      finish_reason: c.finish_reason,
      logprobs:
        params.logprobs && c.logprobs
          ? { content: c.logprobs.map((lp, j) => ({ token: tok.decode([c.token_ids![j]]), logprob: lp, bytes: null, top_logprobs: [] })) }
          : null,
    }));
    const completionTokens = completions.reduce((a, c) => a + (c.token_ids?.length ?? 0), 0);
    return {
      id: `chatcmpl-${randomBytes(12).toString("hex")}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: o.modelName,
      choices,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const path = (req.url ?? "/").replace(/\?.*$/, "");
    const t0 = Date.now();
    let status = 200;
    try {
      if (path === "/health" && req.method === "GET") return send(res, 200, {});
      if (path === "/v1/models" && req.method === "GET") {
        return send(res, 200, { object: "list", data: [{ id: o.modelName, object: "model", created, owned_by: "medvlthinker", max_model_len: model.config.maxSeq }] });
      }
      if (path === "/v1/chat/completions") {
        if (req.method !== "POST") throw new HttpError(405, `use POST for ${path}`);
        const raw = await readBody(req, o.maxBodyBytes ?? 64 * 1024 * 1024);
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch (e) {
          throw new HttpError(400, `the body is not JSON: ${(e as Error).message}`);
        }
        const ac = new AbortController();
        res.on("close", () => {
          if (!res.writableFinished) ac.abort();
        });
        return send(res, 200, await complete(body, ac.signal));
      }
      throw new HttpError(404, `no route ${req.method} ${path} (this server has /v1/models and /v1/chat/completions)`);
    } catch (e) {
      stats.errors++;
      const he = e instanceof HttpError ? e : new HttpError(500, `internal error: ${(e as Error)?.message ?? e}`);
      status = he.status;
      if (!res.headersSent && !res.destroyed) sendError(res, he);
    } finally {
      log(`${req.method} ${path} ${status} ${Date.now() - t0} ms`);
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 8000, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/v1`,
    host,
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

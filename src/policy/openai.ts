/**
 * The OpenAI-compatible HTTP policy: vLLM, SGLang, llama.cpp's server, Ollama, OpenAI itself.
 *
 * One chat completion per item (images as data URLs, built by src/prompt.ts), at most
 * `concurrency` requests in flight, our own retries with backoff (the client's are off so that
 * the count and the delays are ours and testable). Permanent mistakes (wrong URL, model, key,
 * images to a text-only model) fail fast with a message that says what to fix. The API key comes
 * from the environment and is scrubbed from every error message.
 */
// Not `from "openai"`: tslab resolves a bare specifier against the importing file's folder first,
// so inside src/policy/openai.ts "openai" would be this very file (endless recursion in notebooks).
import { OpenAI } from "openai/client";
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai/core/error";
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import pLimit from "p-limit";
import type { Item } from "../data/item";
import { toOpenAIMessages, type OpenAIMessageOptions } from "../prompt";
import type { Completion, Policy, SamplingParams } from "./policy";
import { redact } from "./secrets";
import { ConfigError } from "../errors";

// ---------------------------------------------------------------- retries

export interface RetryOptions {
  /** Tries after the first one. */
  maxRetries: number;
  /** First backoff delay; doubles on every retry, with 50-100% jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxRetries: 8, baseDelayMs: 500, maxDelayMs: 30_000 };

export type FailureKind = "rate-limit" | "server" | "timeout" | "connection" | "malformed" | "permanent" | "abort";

/** Classify an error from the openai client or our own response checks: worth retrying or not. */
export function classifyFailure(err: unknown): FailureKind {
  const name = (err as Error)?.name;
  if (err instanceof APIUserAbortError || name === "AbortError") return "abort";
  if (err instanceof APIConnectionTimeoutError) return "timeout";
  if (err instanceof APIConnectionError) return "connection";
  if (err instanceof APIError) {
    const s = err.status ?? 0;
    if (s === 429) return "rate-limit";
    if (s === 408) return "timeout";
    if (s >= 500 || s === 409) return "server";
    return "permanent";
  }
  // Body not JSON (SyntaxError) or not a chat completion (our check); body cut mid-way: undici's TypeError.
  if (err instanceof SyntaxError || name === "MalformedResponseError") return "malformed";
  if (err instanceof TypeError && /terminated|fetch failed|socket|ECONNRESET|other side closed/i.test(err.message)) return "connection";
  return "permanent";
}

export function isTransient(kind: FailureKind): boolean {
  return kind !== "permanent" && kind !== "abort";
}

/** Delay before retry `attempt` (0-based): base * 2^attempt capped, jittered; a server's Retry-After wins if longer. */
export function backoffDelay(attempt: number, opts: RetryOptions, retryAfter?: number, rand: () => number = Math.random): number {
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  const jittered = exp * (0.5 + 0.5 * rand());
  return retryAfter !== undefined ? Math.min(opts.maxDelayMs, Math.max(jittered, retryAfter)) : jittered;
}

/** Retry-After (seconds or HTTP date) or retry-after-ms, in ms, when the error carries headers. */
export function retryAfterMs(err: unknown): number | undefined {
  const h = err instanceof APIError ? (err.headers as Headers | undefined) : undefined;
  if (!h || typeof h.get !== "function") return undefined;
  const ms = h.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Number(ms);
  const ra = h.get("retry-after");
  if (!ra) return undefined;
  if (Number.isFinite(Number(ra))) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const e = new Error(reason instanceof Error ? reason.message : "aborted");
  e.name = "AbortError";
  return e;
}

/** Sleep that rejects as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------- transport

/**
 * A `fetch` over node:http with a keep-alive agent, for the openai client. On loopback it carries
 * ~4x the requests per second of Node 20's built-in fetch (undici), which caps a zero-latency
 * server at ~1,300/s on two cores. The whole body is read before the Response resolves, so a
 * connection dropped mid-body is a connection error (retried), not a half-read JSON.
 */
export function createNodeFetch(maxSockets: number): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets }) };
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason ?? Object.assign(new Error("aborted"), { name: "AbortError" }));
      const headers: Record<string, string> = {};
      new Headers(init.headers ?? {}).forEach((v, k) => (headers[k] = v));
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
        return reject(new TypeError("createNodeFetch: only string or bytes bodies are supported"));
      }
      const https = url.protocol === "https:";
      const req = (https ? httpsRequest : httpRequest)(url, { method: init.method ?? "GET", headers, agent: https ? agents.https : agents.http }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => reject(new TypeError(`terminated: ${e.message}`)));
        res.on("aborted", () => reject(new TypeError("terminated: connection closed mid-body")));
        res.on("end", () => {
          if (!res.complete) return reject(new TypeError("terminated: connection closed mid-body"));
          const h = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 0;
          const noBody = status === 204 || status === 304 || (init.method ?? "GET") === "HEAD";
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: h }));
        });
      });
      const onAbort = () => req.destroy(Object.assign(new Error("aborted"), { name: "AbortError" }));
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      req.on("error", (e) => reject(signal?.aborted ? (signal.reason ?? e) : new TypeError(`fetch failed: ${e.message}`)));
      req.end(body ?? undefined);
    });
}

// ---------------------------------------------------------------- errors and secrets

/** The API key from the environment: MEDVLTHINKER_API_KEY, else OPENAI_API_KEY, else undefined. */
export function apiKeyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.MEDVLTHINKER_API_KEY || env.OPENAI_API_KEY || undefined;
}

/** Old name of the one ConfigError (src/errors.ts), kept for callers of this module. */
export { ConfigError as PolicyConfigError };

/** A request that kept failing after every retry. */
export class RequestFailedError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    readonly attempts: number,
  ) {
    super(message);
    this.name = "RequestFailedError";
  }
}

class MalformedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedResponseError";
  }
}

// ---------------------------------------------------------------- the policy

export type MessageBuilder = (item: Item) => Promise<ChatCompletionMessageParam[]>;

export interface OpenAIPolicyOptions {
  /** e.g. http://127.0.0.1:8000/v1 (vLLM, SGLang, llama.cpp), http://127.0.0.1:11434/v1 (Ollama). */
  baseURL: string;
  /** The model name the server serves (vLLM: --served-model-name or the HF path). */
  model: string;
  /** Defaults to MEDVLTHINKER_API_KEY / OPENAI_API_KEY; local servers accept any ("EMPTY"). */
  apiKey?: string;
  /** Requests in flight at most (default 64). */
  concurrency?: number;
  retry?: Partial<RetryOptions>;
  /** Per-request timeout in ms (default 10 min: 4096 tokens of reasoning take a while). */
  timeoutMs?: number;
  /** Item -> chat messages. Default: src/prompt.ts toOpenAIMessages with `promptOptions`. */
  buildMessages?: MessageBuilder;
  promptOptions?: OpenAIMessageOptions;
  /** Extra body fields for the server (e.g. vLLM's `top_k`, `repetition_penalty`). */
  extraBody?: Record<string, unknown>;
  /** "node-http" (default: fast keep-alive transport) or "fetch" (Node's built-in fetch). */
  transport?: "node-http" | "fetch";
  /** Called on every retry (for logs); never given the key. */
  onRetry?: (info: { kind: FailureKind; attempt: number; delayMs: number; message: string }) => void;
}

/** Counters, for logs and tests. */
export interface OpenAIPolicyStats {
  requests: number;
  retries: number;
  failures: Record<FailureKind, number>;
  /** True once the server was seen to refuse or ignore `n` > 1 (then n separate requests are sent). */
  nUnsupported: boolean;
}

export class OpenAIPolicy implements Policy {
  readonly name: string;
  readonly baseURL: string;
  readonly stats: OpenAIPolicyStats = {
    requests: 0,
    retries: 0,
    failures: { "rate-limit": 0, server: 0, timeout: 0, connection: 0, malformed: 0, permanent: 0, abort: 0 },
    nUnsupported: false,
  };
  private readonly client: OpenAI;
  private readonly apiKey: string | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly retry: RetryOptions;
  private readonly opts: OpenAIPolicyOptions;
  private readonly builder: MessageBuilder;

  constructor(opts: OpenAIPolicyOptions) {
    if (!opts.baseURL) throw new ConfigError("OpenAIPolicy: baseURL is required (e.g. http://127.0.0.1:8000/v1)");
    if (!opts.model) throw new ConfigError("OpenAIPolicy: model is required (the name the server serves)");
    let protocol = "";
    try {
      protocol = new URL(opts.baseURL).protocol;
    } catch {
      /* reported below */
    }
    if (protocol !== "http:" && protocol !== "https:") {
      throw new ConfigError(`OpenAIPolicy: baseURL '${opts.baseURL}' is not an http(s) URL (expected e.g. http://127.0.0.1:8000/v1)`);
    }
    this.opts = opts;
    this.name = opts.model;
    this.baseURL = opts.baseURL.replace(/\/+$/, "");
    this.apiKey = opts.apiKey ?? apiKeyFromEnv();
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.limit = pLimit(Math.max(1, opts.concurrency ?? 64));
    const po = opts.promptOptions ?? {};
    this.builder = opts.buildMessages ?? ((item) => toOpenAIMessages(item, po));
    this.client = new OpenAI({
      baseURL: this.baseURL,
      apiKey: this.apiKey ?? "EMPTY",
      maxRetries: 0,
      timeout: opts.timeoutMs ?? 600_000,
      ...(opts.transport === "fetch" ? {} : { fetch: createNodeFetch(Math.max(1, opts.concurrency ?? 64)) }),
    });
  }

  async sample(items: Item[], params: SamplingParams, signal?: AbortSignal): Promise<Completion[][]> {
    return Promise.all(items.map((item) => this.sampleItem(item, params, signal)));
  }

  /** n completions for one item: one request with `n`, or n requests when the server cannot do `n`. */
  async sampleItem(item: Item, params: SamplingParams, signal?: AbortSignal): Promise<Completion[]> {
    const messages = await this.builder(item);
    const hasImages = (item.images?.length ?? 0) > 0;
    const out: Completion[] = [];
    if (params.n > 1 && !this.stats.nUnsupported) {
      try {
        out.push(...(await this.request(messages, params, params.n, params.seed, hasImages, signal)));
      } catch (e) {
        if (!(e instanceof NRejectedError)) throw e;
        this.stats.nUnsupported = true;
      }
      if (out.length < params.n && out.length > 0) this.stats.nUnsupported = true; // llama.cpp ignores n
    }
    // The rest one by one; distinct seeds so that sampled completions differ.
    for (let k = out.length; k < params.n; k++) {
      const seed = params.seed === undefined ? undefined : params.seed + k;
      out.push(...(await this.request(messages, params, 1, seed, hasImages, signal)).slice(0, 1));
    }
    return out.slice(0, params.n);
  }

  async close(): Promise<void> {
    /* the client keeps no sockets we must end */
  }

  /** One HTTP request (with retries) asking for `n` choices. */
  private async request(
    messages: ChatCompletionMessageParam[],
    params: SamplingParams,
    n: number,
    seed: number | undefined,
    hasImages: boolean,
    signal?: AbortSignal,
  ): Promise<Completion[]> {
    const body: ChatCompletionCreateParamsNonStreaming & Record<string, unknown> = {
      ...(this.opts.extraBody ?? {}),
      model: this.opts.model,
      messages,
      temperature: params.temperature,
      top_p: params.top_p,
      max_tokens: params.max_tokens,
    };
    if (n > 1) body.n = n;
    if (seed !== undefined) body.seed = seed;
    if (params.logprobs) body.logprobs = true;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw abortError(signal);
      let err: unknown;
      try {
        const res = await this.limit(() => {
          this.stats.requests++;
          return this.create(body, signal);
        });
        return parseCompletion(res, n);
      } catch (e) {
        err = e;
      }
      const kind = classifyFailure(err);
      this.stats.failures[kind]++;
      if (kind === "abort") throw signal?.aborted ? abortError(signal) : err;
      if (kind === "permanent") throw await this.explain(err, n, hasImages);
      if (attempt >= this.retry.maxRetries) {
        const msg = redact(`${this.baseURL}: request failed after ${attempt + 1} tries (${kind}): ${(err as Error)?.message ?? err}`, this.apiKey);
        throw new RequestFailedError(msg, kind, attempt + 1);
      }
      const delayMs = backoffDelay(attempt, this.retry, retryAfterMs(err));
      this.stats.retries++;
      this.opts.onRetry?.({ kind, attempt: attempt + 1, delayMs, message: redact(String((err as Error)?.message ?? err), this.apiKey) });
      await sleep(delayMs, signal);
    }
  }

  /**
   * One create call under a per-request signal. The openai client adds an abort listener to the
   * signal it is given and never removes it: given the run's long-lived signal, 100k requests
   * would leave 100k listeners (memory, and O(n) work per add). This child signal is dropped after.
   */
  private async create(body: ChatCompletionCreateParamsNonStreaming, signal?: AbortSignal): Promise<ChatCompletion> {
    if (!signal) return this.client.chat.completions.create(body);
    const child = new AbortController();
    const onAbort = () => child.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await this.client.chat.completions.create(body, { signal: child.signal });
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Turn a permanent HTTP failure into a message that says what to fix. Never includes the key. */
  private async explain(err: unknown, n: number, hasImages: boolean): Promise<Error> {
    const status = err instanceof APIError ? err.status : undefined;
    const detail = redact(String((err as Error)?.message ?? err), this.apiKey);
    const where = `${this.baseURL} (model '${this.opts.model}')`;
    if (status === 400 || status === 422) {
      if (n > 1 && /\bn\b|multiple (choices|completions)|n must|only supports n|'n'/i.test(detail)) return new NRejectedError(detail);
      if (hasImages && /image|vision|multimodal|multi-modal|modalit/i.test(detail)) {
        return this.configError(`${where} does not accept images: ${detail}. Serve a vision-language model (e.g. Qwen2.5-VL) or evaluate text benchmarks only.`);
      }
      return this.configError(`${where} rejected the request (HTTP ${status}): ${detail}`);
    }
    if (status === 401 || status === 403) {
      return this.configError(`${where} refused the API key (HTTP ${status}): set MEDVLTHINKER_API_KEY or OPENAI_API_KEY. ${detail}`);
    }
    if (status === 404) {
      const served = await this.servedModels();
      const hint = served
        ? served.includes(this.opts.model)
          ? "the model is served, so the path is wrong"
          : `unknown model name; the server serves: ${served.join(", ") || "(none)"}`
        : "wrong base URL (it usually ends in /v1) or unknown model name";
      return this.configError(`${where}: HTTP 404: ${hint}. ${detail}`);
    }
    return this.configError(`${where}: ${detail}`);
  }

  /** The server may echo anything back (even the key): scrub before the error (and its stack) exists. */
  private configError(message: string): ConfigError {
    return new ConfigError(redact(message, this.apiKey));
  }

  /** Model ids from GET /models, or undefined when the server has no such route. */
  private async servedModels(): Promise<string[] | undefined> {
    try {
      const page = await this.client.models.list({ timeout: 5000 });
      return page.data.map((m) => m.id);
    } catch {
      return undefined;
    }
  }
}

/** The server refused `n` > 1: fall back to separate requests. */
class NRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NRejectedError";
  }
}

/** Check the body really is a chat completion; a garbled one is a transient failure. */
function parseCompletion(res: ChatCompletion, n: number): Completion[] {
  if (!res || typeof res !== "object" || !Array.isArray(res.choices) || res.choices.length === 0) {
    throw new MalformedResponseError(`response is not a chat completion: ${JSON.stringify(res)?.slice(0, 200)}`);
  }
  const choices = [...res.choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).slice(0, n);
  return choices.map((c) => {
    if (!c.message || typeof c.message !== "object") throw new MalformedResponseError(`choice ${c.index} has no message`);
    // Some servers send content null with an empty answer (e.g. length stop inside reasoning).
    let text = typeof c.message.content === "string" ? c.message.content : "";
    // A server with a reasoning parser (vLLM, SGLang) splits the thinking off; put it back in
    // <think> tags as upstream run_api_inference.py does, so the response reads as the model wrote it.
    const m = c.message as unknown as { reasoning_content?: unknown; reasoning?: unknown };
    const reasoning = typeof m.reasoning_content === "string" ? m.reasoning_content : typeof m.reasoning === "string" ? m.reasoning : "";
    if (reasoning) text = `<think>${reasoning}</think>${text}`;
    const comp: Completion = { text, finish_reason: c.finish_reason ?? "unknown" };
    const lp = c.logprobs?.content;
    if (Array.isArray(lp)) comp.logprobs = lp.map((t) => t.logprob);
    return comp;
  });
}

/**
 * Server profiles: which request fields an OpenAI-compatible server accepts beyond the standard
 * ones, and the values that make it sample as the paper's offline vLLM run did.
 *
 * The paper's `SamplingParams(n, temperature, top_p, max_tokens)` left everything else at vLLM's
 * neutral defaults (top_k -1, repetition_penalty 1.0, min_p 0). A server does not: `vllm serve`
 * fills every unset field from the model's generation_config.json (Qwen's is not neutral: a
 * repetition penalty changes even greedy answers), SGLang does the same, llama.cpp has its own
 * defaults (top_k 40, min_p 0.05). So every sampling field is sent, always, and each profile adds
 * the neutral values of the extension fields its server documents:
 *
 *   vllm      top_k -1, repetition_penalty 1, min_p 0   (vllm/entrypoints/openai/protocol.py)
 *   sglang    top_k -1, repetition_penalty 1, min_p 0   (sglang ChatCompletionRequest extras)
 *   llama.cpp top_k 0 (off), repeat_penalty 1, min_p 0  (tools/server README); one choice per request
 *   ollama    none: its /v1 endpoint takes only the standard fields (set top_k/repeat_penalty in a
 *             Modelfile to match); `n` is not supported, so n requests are sent
 *   openai    none
 */
import { ConfigError } from "../errors";
import type { SamplingParams } from "./policy";

export const PROFILE_NAMES = ["vllm", "sglang", "llama.cpp", "ollama", "openai"] as const;
export type ServerProfileName = (typeof PROFILE_NAMES)[number];

export interface ServerProfile {
  name: ServerProfileName;
  /** Extension fields sent with every request (neutral values: sample as the paper's offline run). */
  extraBody: Record<string, unknown>;
  /** Whether the server returns `n` choices for one request; if not, n requests with seeds seed..seed+n-1. */
  nChoices: boolean;
}

export const SERVER_PROFILES: Record<ServerProfileName, ServerProfile> = {
  vllm: { name: "vllm", extraBody: { top_k: -1, repetition_penalty: 1.0, min_p: 0.0 }, nChoices: true },
  sglang: { name: "sglang", extraBody: { top_k: -1, repetition_penalty: 1.0, min_p: 0.0 }, nChoices: true },
  "llama.cpp": { name: "llama.cpp", extraBody: { top_k: 0, repeat_penalty: 1.0, min_p: 0.0 }, nChoices: false },
  ollama: { name: "ollama", extraBody: {}, nChoices: false },
  openai: { name: "openai", extraBody: {}, nChoices: true },
};

/** A profile by name ("vllm" when none is given); an unknown name is a ConfigError listing the known ones. */
export function serverProfile(name: string | undefined | null): ServerProfile {
  const key = (name ?? "vllm").trim().toLowerCase().replace(/^llamacpp$|^llama-cpp$/, "llama.cpp");
  const p = SERVER_PROFILES[key as ServerProfileName];
  if (!p) throw new ConfigError(`unknown server profile '${name}'; known: ${PROFILE_NAMES.join(", ")}`);
  return p;
}

/**
 * The JSON body of one chat completion request: the profile's extension fields, then any extra
 * fields the caller gives, then the sampling fields the paper fixed (always sent, never left to
 * the server): temperature, top_p, max_tokens, n, seed. `logprobs` only when asked.
 */
export function chatRequestBody(
  o: { model: string; messages: unknown[]; params: Pick<SamplingParams, "temperature" | "top_p" | "max_tokens" | "logprobs">; n: number; seed?: number },
  profile: ServerProfile,
  extraBody: Record<string, unknown> = {},
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...profile.extraBody,
    ...extraBody,
    model: o.model,
    messages: o.messages,
    temperature: o.params.temperature,
    top_p: o.params.top_p,
    max_tokens: o.params.max_tokens,
    n: o.n,
  };
  if (o.seed !== undefined) body.seed = o.seed;
  if (o.params.logprobs) body.logprobs = true;
  return body;
}

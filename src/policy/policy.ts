/**
 * Anything that samples: the embedded model or an OpenAI-compatible HTTP server.
 * Curation, evaluation and GRPO talk to this interface only.
 */
import type { Item } from "../data/item";

export interface SamplingParams {
  /** Completions per item. */
  n: number;
  /** 0 means greedy. */
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed?: number;
  /** Ask for per-token log-probabilities where the backend can give them. */
  logprobs?: boolean;
}

export interface Completion {
  text: string;
  /** "stop" (end token / stop string), "length" (hit max_tokens) or a backend's own reason. */
  finish_reason: string;
  /** Token ids of the completion, where the backend gives them (the embedded model does). */
  token_ids?: number[];
  /** Log-probability of each sampled token under the sampling distribution, where given. */
  logprobs?: number[];
  /** Why there is no text, when the server refused this item (e.g. PROMPT_TOO_LONG: its message). */
  error?: string;
}

/**
 * finish_reason of an item whose prompt the server refused as longer than its context (vLLM's
 * HTTP 400): recorded for that item with the server's message and graded wrong, as the paper's
 * offline truncation would be; never retried within a run, never fatal to it.
 */
export const PROMPT_TOO_LONG = "prompt_too_long";

export interface Policy {
  /** A short name for logs and run folders (model name, checkpoint name). */
  readonly name: string;
  /** n completions for each item, in item order. */
  sample(items: Item[], params: SamplingParams, signal?: AbortSignal): Promise<Completion[][]>;
  /** Free resources (workers, sockets). */
  close?(): Promise<void>;
}

/**
 * The embedded model behind the Policy interface, so curation, evaluation and GRPO use it like
 * any server. The prompt is the official one (buildPrompt); the chat wrapping is the model's own
 * (model/chat.ts). Completions carry token ids and per-token log-probs under the model.
 */
import type { Item } from "../data/item";
import { buildPrompt, type PromptOptions } from "../prompt";
import type { Completion, Policy, SamplingParams } from "./policy";
import { EmbeddedModel } from "../model/model";

export interface EmbeddedPolicyOptions {
  /** Rows per compiled generation batch (default 8). */
  batchSize?: number;
  prompt?: PromptOptions;
  /** Send no images (a blind baseline), as OpenAIPolicy's ignoreImages. */
  ignoreImages?: boolean;
  name?: string;
}

export class EmbeddedPolicy implements Policy {
  readonly name: string;

  constructor(readonly model: EmbeddedModel, private readonly opts: EmbeddedPolicyOptions = {}) {
    this.name = opts.name ?? `embedded-${model.info.stage ?? "model"}-d${model.config.dModel}`;
  }

  static async fromCheckpoint(dir: string, opts: EmbeddedPolicyOptions = {}): Promise<EmbeddedPolicy> {
    return new EmbeddedPolicy(await EmbeddedModel.load(dir), { name: opts.name ?? `embedded:${dir}`, ...opts });
  }

  async sample(items: Item[], params: SamplingParams, signal?: AbortSignal): Promise<Completion[][]> {
    const prompts = items.flatMap((it) => Array.from({ length: params.n }, () => ({ text: buildPrompt(it, this.opts.prompt), images: this.opts.ignoreImages ? null : it.images })));
    const bs = this.opts.batchSize ?? 8;
    const out: Completion[] = [];
    for (let i = 0; i < prompts.length; i += bs) {
      signal?.throwIfAborted();
      const gens = await this.model.generate(prompts.slice(i, i + bs), {
        maxNewTokens: params.max_tokens,
        temperature: params.temperature,
        topP: params.top_p,
        seed: (params.seed ?? 0) * 1_000_003 + i,
        batchSize: bs,
      });
      for (const g of gens) {
        const c: Completion = { text: g.text, finish_reason: g.finishReason, token_ids: g.ids };
        if (params.logprobs) c.logprobs = g.logprobs;
        out.push(c);
      }
    }
    return items.map((_, k) => out.slice(k * params.n, (k + 1) * params.n));
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}

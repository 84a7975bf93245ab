/**
 * Batched generation on the chosen engine (lm-engine.ts): prompts left-padded to a bucket length
 * (a multiple of 16), each distinct prompt prefilled once, then one decoding step per token; a
 * row stops at the end token or at maxNewTokens. Returns the sampled ids and their log-probs
 * under the model (temperature 1, before truncation: what scoring the same text gives). Token
 * choice, positions and masks (sampling.ts) are the same on both engines, so they sample the same
 * tokens up to float rounding (test/ort-sample.test.ts).
 */
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import type { Sequence } from "./batch";
import { chooseNext, planGeneration, type GenerateOptions, type Generation } from "./sampling";
import { LazyEngine } from "./engines";

export type { GenerateOptions, Generation };

export class Sampler {
  private readonly engine: LazyEngine;

  constructor(readonly config: ModelConfig) {
    this.engine = new LazyEngine(config);
  }

  /**
   * Generate for each prompt (token ids incl. chat markers and image tokens). Does not consume
   * `params`. Prompts longer than maxSeq - 1 throw: truncate them first (chat.ts does).
   */
  async generate(params: Params, prompts: Sequence[], o: GenerateOptions): Promise<Generation[]> {
    if (prompts.length === 0) return [];
    const plan = planGeneration(this.config, prompts, o);
    const engine = o.engine === "jax" || o.jit === false ? await this.engine.jax() : await this.engine.get();
    const session = await engine.prefill(params, plan, o);
    try {
      let logits = session.logits;
      for (let i = 0; i < plan.maxNew; i++) {
        const next = chooseNext(logits, this.config.vocabSize, plan, o);
        const pos = plan.P + i;
        if (plan.done.every(Boolean) || i === plan.maxNew - 1 || pos >= this.config.maxSeq) break;
        logits = await session.step(next, pos);
      }
    } finally {
      session.dispose();
    }
    return plan.out;
  }

  dispose(): void {
    this.engine.dispose();
  }
}

/**
 * Scoring given completions: per-token log-probs of each completion under the current weights
 * (for SFT checks, GRPO's old/new policies and the reference model). One batched, right-padded
 * pass per chunk on the chosen engine (lm-engine.ts).
 */
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { buildHostBatch, type Sequence } from "./batch";
import { LazyEngine } from "./engines";
import type { EngineName } from "./lm-engine";

export interface ScoreItem extends Sequence {
  /** Index of the first completion token in `ids`. */
  promptLength: number;
}

export class Scorer {
  private readonly engine: LazyEngine;

  constructor(readonly config: ModelConfig, private readonly ids: { padId: number; imageTokenId: number }) {
    this.engine = new LazyEngine(config);
  }

  /** Log-prob of every completion token, per item. Does not consume params. "jax" forces jax-js. */
  async score(params: Params, items: ScoreItem[], batchSize = 8, engine?: EngineName | "auto"): Promise<number[][]> {
    const e = engine === "jax" ? await this.engine.jax() : await this.engine.get();
    const out: number[][] = [];
    for (let i = 0; i < items.length; i += batchSize) {
      const chunk = items.slice(i, i + batchSize);
      const T = Math.ceil(Math.max(...chunk.map((s) => s.ids.length)) / 16) * 16;
      if (T > this.config.maxSeq) throw new RangeError(`sequence of ${T} tokens exceeds the context ${this.config.maxSeq}`);
      const b = buildHostBatch(chunk, this.config, { pad: "right", length: T, padId: this.ids.padId, imageTokenId: this.ids.imageTokenId });
      const { logp } = await e.logprobs(params, b);
      chunk.forEach((s, r) => {
        const row: number[] = [];
        for (let t = s.promptLength; t < s.ids.length; t++) row.push(logp[r * T + t - 1]);
        out.push(row);
      });
    }
    return out;
  }

  dispose(): void {
    this.engine.dispose();
  }
}

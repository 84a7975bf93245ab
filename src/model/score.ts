/**
 * Scoring given completions: per-token log-probs of each completion under the current weights
 * (for SFT checks, GRPO's old/new policies and the reference model). One batched, right-padded
 * forward pass per chunk: onnxruntime when ort/runtime.ts chooses it, else jax-js jit-compiled per
 * padded length.
 */
import { jit, numpy as np, tree } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { buildBatch, type Sequence } from "./batch";
import { tokenLogprobs, type ModelInputs } from "./transformer";
import type { EngineName } from "./ort/runtime";
import { LazyOrtLm, readInputs, readTargets } from "./ort/lm";

export interface ScoreItem extends Sequence {
  /** Index of the first completion token in `ids`. */
  promptLength: number;
}

export class Scorer {
  private fn: ((p: Params, inp: ModelInputs, targets: np.Array) => np.Array) & { dispose(): void };
  private readonly ort: LazyOrtLm;

  constructor(readonly config: ModelConfig, private readonly ids: { padId: number; imageTokenId: number }) {
    this.fn = jit((p: Params, inp: ModelInputs, targets: np.Array) => tokenLogprobs(p, inp, targets, config)) as never;
    this.ort = new LazyOrtLm(config);
  }

  /** Log-prob of every completion token, per item. Does not consume params. "jax" forces jax-js. */
  async score(params: Params, items: ScoreItem[], batchSize = 8, engine?: EngineName | "auto"): Promise<number[][]> {
    const lm = engine === "jax" ? null : await this.ort.get();
    const pf = lm ? await lm.paramFeeds(params) : null;
    const out: number[][] = [];
    for (let i = 0; i < items.length; i += batchSize) {
      const chunk = items.slice(i, i + batchSize);
      const T = Math.ceil(Math.max(...chunk.map((s) => s.ids.length)) / 16) * 16;
      if (T > this.config.maxSeq) throw new RangeError(`sequence of ${T} tokens exceeds the context ${this.config.maxSeq}`);
      const b = buildBatch(chunk, this.config, { pad: "right", length: T, padId: this.ids.padId, imageTokenId: this.ids.imageTokenId });
      const lp = lm && pf ? await lm.logprobs(pf, await readInputs(b.inputs), await readTargets(b.targets)) : ((await this.fn(tree.ref(params), b.inputs, b.targets).data()) as Float32Array);
      chunk.forEach((s, r) => {
        const row: number[] = [];
        for (let t = s.promptLength; t < s.ids.length; t++) row.push(lp[r * T + t - 1]);
        out.push(row);
      });
    }
    return out;
  }

  dispose(): void {
    this.fn.dispose();
    this.ort.dispose();
  }
}

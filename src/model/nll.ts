/**
 * The language-modelling / SFT loss and its gradient, on the chosen engine (lm-engine.ts):
 *
 *   loss = -scale * sum_t mask_t * log p(target_t)
 *
 * linear in the log-probs, so one weighted backward pass (weights -scale * mask) gives it on
 * either engine. Pretraining uses scale = 1 / sum(mask) (the masked mean); SFT uses 1 / (scored
 * tokens of the whole step), so that summed micro-batch gradients equal one big batch's.
 */
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import type { HostBatch } from "./batch";
import { LazyEngine } from "./engines";

/** 1 / max(1, sum(mask)): the scale of the masked mean. */
function meanScale(mask: Float32Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return 1 / Math.max(n, 1);
}

export class NllGradients {
  readonly engine: LazyEngine;

  constructor(readonly config: ModelConfig) {
    this.engine = new LazyEngine(config);
  }

  /**
   * Loss value and gradient tree at `params` (not consumed). `mask` [B * T]: 1 where the target
   * is scored. `scale` "mean" is 1 / max(1, sum(mask)): the masked mean over this batch. The
   * caller owns the returned tree.
   */
  async valueAndGrad(params: Params, b: HostBatch, mask: Float32Array, scale: number | "mean"): Promise<[number, Params]> {
    const s = scale === "mean" ? meanScale(mask) : scale;
    const w = new Float32Array(mask.length);
    for (let i = 0; i < mask.length; i++) w[i] = -mask[i] * s;
    const r = await (await this.engine.get()).weightedGrad(params, b, w);
    return [r.value, r.grads];
  }

  /** Target NLL at `params` (not consumed), summed over the mask ("sum") or its masked mean ("mean"). */
  async nll(params: Params, b: HostBatch, mask: Float32Array, reduce: "sum" | "mean" = "sum"): Promise<number> {
    const { logp } = await (await this.engine.get()).logprobs(params, b);
    let s = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) s -= mask[i] * logp[i];
    return reduce === "mean" ? s * meanScale(mask) : s;
  }

  dispose(): void {
    this.engine.dispose();
  }
}

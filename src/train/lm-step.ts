/**
 * One optimisation step of masked next-token NLL, for pretraining, SFT and the format warm-ups:
 * value and gradient of each micro-batch on the chosen engine (model/nll.ts), gradients summed,
 * then AdamW with global-norm clipping (optim.ts Optimizer).
 *
 * Each micro-batch's loss is its summed target NLL times `scale`. "mean" (one batch) is its masked
 * mean; SFT passes 1 / (target tokens of the WHOLE step), so the summed gradients are exactly those
 * of the token-mean loss over the global batch however it is split (a micro-batch of short
 * answers does not weigh as much as one of long traces).
 */
import type { ModelConfig } from "../model/config";
import type { Params } from "../model/params";
import type { HostBatch } from "../model/batch";
import { NllGradients } from "../model/nll";
import { Optimizer, type AdamWConfig } from "./optim";

/** A batch and its loss mask [B * T] (1 where the target is scored), as host arrays. */
export interface MicroBatch {
  batch: HostBatch;
  mask: Float32Array;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

export class LmTrainer {
  readonly nll: NllGradients;
  readonly optimizer: Optimizer;

  constructor(params: Params, readonly config: ModelConfig, optim: Partial<AdamWConfig>) {
    this.optimizer = new Optimizer(params, config, optim);
    this.nll = new NllGradients(config);
  }

  get params(): Params {
    return this.optimizer.params;
  }

  set params(p: Params) {
    this.optimizer.params = p;
  }

  /** One optimizer step over the micro-batches at `lr` (module comment for `scale`). */
  async step(micros: MicroBatch | MicroBatch[], lr: number, scale: number | "mean" = "mean"): Promise<StepResult> {
    const ms = Array.isArray(micros) ? micros : [micros];
    if (ms.length === 0) throw new RangeError("a step needs at least one micro-batch");
    if (scale === "mean" && ms.length > 1) throw new RangeError('scale "mean" is the mean of one batch; give a number for several micro-batches');
    let loss = 0;
    for (const m of ms) {
      const [l, grads] = await this.nll.valueAndGrad(this.params, m.batch, m.mask, scale);
      loss += l;
      this.optimizer.accumulate(grads);
    }
    return { loss, gradNorm: await this.optimizer.step(lr) };
  }

  /** Masked mean NLL of a batch under the current params. */
  evalLoss(m: MicroBatch): Promise<number> {
    return this.nll.nll(this.params, m.batch, m.mask, "mean");
  }

  /** Summed target NLL of a batch under the current params. */
  nllSum(m: MicroBatch): Promise<number> {
    return this.nll.nll(this.params, m.batch, m.mask, "sum");
  }

  /** Frees the optimizer state and the engine (not `params`). */
  dispose(): void {
    this.nll.dispose();
    this.optimizer.dispose();
  }
}

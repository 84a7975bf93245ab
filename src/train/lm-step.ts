/**
 * One optimisation step of masked next-token NLL (the masked mean over the batch): value and
 * gradient from model/nll.ts (onnxruntime when present, else jax-js jit), then AdamW with
 * global-norm clipping. Pretraining uses it; SFT's stepper (train/sft-step.ts) adds accumulation.
 */
import { numpy as np, tree } from "../model/jax";
import type { ModelConfig } from "../model/config";
import type { Params } from "../model/params";
import type { ModelInputs } from "../model/transformer";
import { NllGradients } from "../model/nll";
import { adamw, initAdamW, type AdamW, type AdamWConfig, type AdamWState } from "./optim";

export interface StepResult {
  loss: number;
  gradNorm: number;
}

export class LmTrainer {
  readonly opt: AdamW;
  state: AdamWState<Params>;
  readonly nll: NllGradients;

  constructor(public params: Params, readonly config: ModelConfig, optim: Partial<AdamWConfig>) {
    this.opt = adamw(optim);
    this.state = initAdamW(params);
    this.nll = new NllGradients(config);
  }

  /** Consumes the batch arrays; updates params and state in place. */
  async step(inp: ModelInputs, targets: np.Array, mask: np.Array, lr: number): Promise<StepResult> {
    const [loss, grads] = await this.nll.valueAndGrad(this.params, inp, targets, mask, "mean");
    const r = this.opt.step(this.params, grads, this.state, lr);
    this.params = r.params;
    this.state = r.state;
    return { loss, gradNorm: (await r.gradNorm.data())[0] };
  }

  /** Masked mean NLL of a batch (consumed) under the current params. */
  async evalLoss(inp: ModelInputs, targets: np.Array, mask: np.Array): Promise<number> {
    return this.nll.nll(this.params, inp, targets, mask, "mean");
  }

  dispose(): void {
    this.nll.dispose();
    this.opt.dispose();
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
  }
}

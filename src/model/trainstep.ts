/**
 * One optimisation step of masked next-token NLL: value-and-grad under jit, then AdamW (with
 * global-norm clipping). Trainers (pretraining here; SFT later) share it.
 */
import { jit, numpy as np, tree } from "./jax";
import { makeValueAndGrad, type ValueAndGrad } from "./grad";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { maskedNll, type ModelInputs } from "./transformer";
import { adamw, initAdamW, type AdamW, type AdamWConfig, type AdamWState } from "../train/optim";

export interface StepResult {
  loss: number;
  gradNorm: number;
}

export class LmTrainer {
  readonly opt: AdamW;
  state: AdamWState<Params>;
  private vg: ValueAndGrad<[np.Array, np.Array]>;
  private evalFn: ((p: Params, inp: ModelInputs, targets: np.Array, mask: np.Array) => np.Array) & { dispose(): void };

  constructor(public params: Params, readonly config: ModelConfig, optim: Partial<AdamWConfig>) {
    this.opt = adamw(optim);
    this.state = initAdamW(params);
    const loss = (p: Params, inp: ModelInputs, targets: np.Array, mask: np.Array) => maskedNll(p, inp, targets, mask, config);
    this.vg = makeValueAndGrad(loss);
    this.evalFn = jit(loss) as never;
  }

  /** Consumes the batch arrays; updates params and state in place. */
  async step(inp: ModelInputs, targets: np.Array, mask: np.Array, lr: number): Promise<StepResult> {
    const [loss, grads] = await this.vg(this.params, inp, targets, mask);
    const r = this.opt.step(this.params, grads, this.state, lr);
    this.params = r.params;
    this.state = r.state;
    const l = (await loss.data())[0];
    const g = (await r.gradNorm.data())[0];
    return { loss: l, gradNorm: g };
  }

  async evalLoss(inp: ModelInputs, targets: np.Array, mask: np.Array): Promise<number> {
    return (await this.evalFn(tree.ref(this.params), inp, targets, mask).data())[0];
  }

  dispose(): void {
    this.vg.dispose();
    this.evalFn.dispose();
    this.opt.dispose();
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
  }
}

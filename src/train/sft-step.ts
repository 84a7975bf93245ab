/**
 * One SFT optimizer step with gradient accumulation: value-and-grad of each micro-batch
 * (model/nll.ts: onnxruntime when present, else jax-js jit, as LmTrainer), gradients summed, then
 * AdamW with global-norm clipping (src/train/optim.ts).
 *
 * Each micro-batch's loss is its summed target NLL divided by the target tokens of the WHOLE step,
 * so the summed gradients are exactly those of the token-mean loss over the global batch, however
 * it is split (a micro-batch of short answers does not weigh as much as one of long traces).
 * With one micro-batch this is LmTrainer.step's computation (maskedNll + AdamW).
 */
import { numpy as np, tree } from "../model/jax";
import { NllGradients } from "../model/nll";
import type { ModelConfig } from "../model/config";
import { namedParams, paramsFromNamed, type Params } from "../model/params";
import type { Tensor } from "../model/safetensors";
import type { ModelInputs } from "../model/transformer";
import { GradSum, adamw, initAdamW, stateFromNamed, stateToNamed, type AdamW, type AdamWConfig, type AdamWState, type Tree } from "./optim";

export interface MicroBatch {
  inputs: ModelInputs;
  targets: np.Array;
  /** [B, T] float32, 1 where the target is scored. */
  mask: np.Array;
}

export interface SftStepResult {
  loss: number;
  gradNorm: number;
}

export class SftStepper {
  readonly opt: AdamW;
  state: AdamWState<Params>;
  readonly nll: NllGradients;
  private gradSum = new GradSum<Params>();

  constructor(public params: Params, readonly config: ModelConfig, optim: Partial<AdamWConfig>) {
    this.opt = adamw(optim);
    this.state = initAdamW(params);
    this.nll = new NllGradients(config);
  }

  /** Consumes the micro-batches; updates params and optimizer state. `tokens`: scored tokens of the step. */
  async step(micros: MicroBatch[], tokens: number, lr: number): Promise<SftStepResult> {
    if (micros.length === 0) throw new RangeError("a step needs at least one micro-batch");
    const scale = 1 / Math.max(1, tokens);
    let loss = 0;
    for (const m of micros) {
      const [l, grads] = await this.gradients(m, scale);
      loss += l;
      this.gradSum.push(grads);
    }
    const r = this.opt.step(this.params, this.gradSum.take(), this.state, lr);
    this.params = r.params;
    this.state = r.state;
    const gradNorm = (await r.gradNorm.data())[0];
    return { loss, gradNorm };
  }

  /**
   * Loss and gradient tree of one micro-batch (consumed) at the current params: the loss is the
   * micro-batch's summed target NLL times `scale`. The caller owns both results.
   */
  gradients(m: MicroBatch, scale: number): Promise<[number, Params]> {
    return this.nll.valueAndGrad(this.params, m.inputs, m.targets, m.mask, scale);
  }

  /** Summed target NLL of a micro-batch (consumed) under the current params. */
  nllSum(m: MicroBatch): Promise<number> {
    return this.nll.nll(this.params, m.inputs, m.targets, m.mask);
  }

  /** Optimizer moments as named arrays ("m.<param>", "v.<param>", "step") for a checkpoint; nothing consumed except the step scalar's. */
  optimizerArrays(): Record<string, np.Array> {
    return stateToNamed(this.state as unknown as AdamWState<Tree>, (t) => namedParams(t as unknown as Params));
  }

  /** Replace the optimizer state with one read from a checkpoint (optim.ts stateFromNamed). */
  restoreOptimizer(tensors: Record<string, Tensor>, step: number): void {
    const named: Record<string, np.Array> = {};
    for (const [k, t] of Object.entries(tensors)) named[k] = np.array(t.data).reshape(t.shape);
    const restored = stateFromNamed(named, (leaves) => paramsFromNamed(this.config, leaves));
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
    this.state = { ...restored, step };
  }

  dispose(): void {
    this.nll.dispose();
    this.gradSum.dispose();
    this.opt.dispose();
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
  }
}

/**
 * The gradient of the language-modelling / SFT loss, on whichever engine does it fastest here:
 * onnxruntime (ort/, native SIMD matmuls) when chosen by ort/runtime.ts, else jax-js (jit
 * value-and-grad, grad.ts). Both compute the same function, checked in test/ort-lm.test.ts:
 *
 *   loss = -scale * sum_t mask_t * log p(target_t)
 *
 * Pretraining uses scale = 1 / sum(mask) (the masked mean); SFT uses 1 / (scored tokens of the
 * whole step), so that summed micro-batch gradients equal one big batch's.
 */
import { jit, numpy as np, tree } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import { makeValueAndGrad, type ValueAndGrad } from "./grad";
import { tokenLogprobs, type ModelInputs } from "./transformer";
import { LazyOrtLm, readInputs, readTargets } from "./ort/lm";

/** -scale * sum(mask * logp): the scaled summed NLL (jax-js). */
export function scaledNll(p: Params, inp: ModelInputs, targets: np.Array, mask: np.Array, scale: np.Array, c: ModelConfig): np.Array {
  const lp = tokenLogprobs(p, inp, targets, c);
  return lp.mul(mask).sum().mul(scale.reshape([])).neg();
}

/** 1 / max(1, sum(mask)): the scale of the masked mean. */
function meanScale(mask: Float32Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return 1 / Math.max(n, 1);
}

type JaxLoss = ((p: Params, inp: ModelInputs, targets: np.Array, mask: np.Array, scale: np.Array) => np.Array) & { dispose(): void };

export class NllGradients {
  private readonly ort: LazyOrtLm;
  private vg: ValueAndGrad<[np.Array, np.Array, np.Array]> | null = null;
  private lossFn: JaxLoss | null = null;

  constructor(readonly config: ModelConfig) {
    this.ort = new LazyOrtLm(config);
  }

  /**
   * Loss value and gradient tree at `params` (not consumed); consumes inp, targets and mask.
   * `scale` "mean" is 1 / max(1, sum(mask)): the masked mean over this batch. The caller owns the
   * returned tree.
   */
  async valueAndGrad(params: Params, inp: ModelInputs, targets: np.Array, mask: np.Array, scale: number | "mean"): Promise<[number, Params]> {
    const lm = await this.ort.get();
    if (!lm) {
      const s = scale === "mean" ? meanScale((await mask.ref.data()) as Float32Array) : scale;
      if (!this.vg) this.vg = makeValueAndGrad((p: Params, i: ModelInputs, tg: np.Array, m: np.Array, sc: np.Array) => scaledNll(p, i, tg, m, sc, this.config));
      const [v, g] = await this.vg(params, inp, targets, mask, np.array([s]));
      return [(await v.data())[0], g];
    }
    const pf = await lm.paramFeeds(params);
    const x = await readInputs(inp);
    const tg = await readTargets(targets);
    const m = (await mask.data()) as Float32Array;
    const s = scale === "mean" ? meanScale(m) : scale;
    const w = new Float32Array(m.length);
    for (let i = 0; i < m.length; i++) w[i] = -m[i] * s;
    const r = await lm.vjp(pf, x, tg, w);
    let loss = 0;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) loss += w[i] * r.logp[i];
    return [loss, lm.gradTree(r.grads)];
  }

  /**
   * Target NLL at `params` (not consumed), summed over the mask ("sum") or its masked mean
   * ("mean"); consumes the rest.
   */
  async nll(params: Params, inp: ModelInputs, targets: np.Array, mask: np.Array, reduce: "sum" | "mean" = "sum"): Promise<number> {
    const lm = await this.ort.get();
    if (!lm) {
      const s = reduce === "mean" ? meanScale((await mask.ref.data()) as Float32Array) : 1;
      if (!this.lossFn) this.lossFn = jit((p: Params, i: ModelInputs, tg: np.Array, m: np.Array, sc: np.Array) => scaledNll(p, i, tg, m, sc, this.config)) as never;
      return (await this.lossFn!(tree.ref(params), inp, targets, mask, np.array([s])).data())[0];
    }
    const pf = await lm.paramFeeds(params);
    const x = await readInputs(inp);
    const tg = await readTargets(targets);
    const m = (await mask.data()) as Float32Array;
    const lp = await lm.logprobs(pf, x, tg);
    let s = 0;
    for (let i = 0; i < m.length; i++) if (m[i] !== 0) s -= m[i] * lp[i];
    return reduce === "mean" ? s * meanScale(m) : s;
  }

  dispose(): void {
    this.vg?.dispose();
    this.lossFn?.dispose();
    this.vg = null;
    this.lossFn = null;
    this.ort.dispose();
  }
}

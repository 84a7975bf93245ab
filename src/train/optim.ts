/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter; as torch.optim.AdamW) and gradient clipping
 * by global norm (as torch.nn.utils.clip_grad_norm_). Parameters, gradients and moments are trees
 * of jax-js arrays; the update is one jit-compiled function per tree structure. The state is a
 * plain tree plus a step count, so it can be checkpointed (see stateToNamed / stateFromNamed).
 */
import { jit, numpy as np, tree } from "../model/jax";
import type { ModelConfig } from "../model/config";
import { namedParams, paramsFromNamed, type Params } from "../model/params";
import type { Tensor } from "../model/safetensors";

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this before the update (0 or undefined: no clipping). */
  maxGradNorm?: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1.0 };

export type Tree = np.Array | Tree[] | { [k: string]: Tree };

export interface AdamWState<T> {
  step: number;
  m: T;
  v: T;
}

export function initAdamW<T extends Tree>(params: T): AdamWState<T> {
  const zeros = (a: np.Array) => np.zerosLike(a.ref);
  return { step: 0, m: tree.map(zeros, params as never) as T, v: tree.map(zeros, params as never) as T };
}

/** Global L2 norm of a gradient tree (does not consume it). */
export function globalNorm(grads: Tree): np.Array {
  const leaves = tree.leaves(grads as never) as np.Array[];
  let s = np.square(leaves[0].ref).sum();
  for (let i = 1; i < leaves.length; i++) s = s.add(np.square(leaves[i].ref).sum());
  return np.sqrt(s);
}

/**
 * One step's math on flat leaf lists, jit-compiled. Inputs: params, grads, m, v (consumed) and a
 * scalar vector [lr, bc1, bc2, clipScale]; outputs new params, m, v and the pre-clip grad norm.
 */
function updateLeaves(cfg: AdamWConfig) {
  return (ps: np.Array[], gs: np.Array[], ms: np.Array[], vs: np.Array[], scal: np.Array) => {
    const lr = scal.ref.slice(0);
    const bc1 = scal.ref.slice(1);
    const bc2 = scal.ref.slice(2);
    // Global norm and clip factor min(1, max / (norm + 1e-6)), computed inside the graph.
    let sq = np.square(gs[0].ref).sum();
    for (let i = 1; i < gs.length; i++) sq = sq.add(np.square(gs[i].ref).sum());
    const norm = np.sqrt(sq);
    const clip = cfg.maxGradNorm && cfg.maxGradNorm > 0 ? np.minimum(1, np.divide(cfg.maxGradNorm, norm.ref.add(1e-6))) : np.ones([]);
    scal.dispose();
    const newP: np.Array[] = [];
    const newM: np.Array[] = [];
    const newV: np.Array[] = [];
    for (let i = 0; i < ps.length; i++) {
      const g = gs[i].mul(clip.ref);
      const m = ms[i].mul(cfg.beta1).add(g.ref.mul(1 - cfg.beta1));
      const v = vs[i].mul(cfg.beta2).add(np.square(g).mul(1 - cfg.beta2));
      const mhat = m.ref.div(bc1.ref);
      const vhat = v.ref.div(bc2.ref);
      const p = ps[i];
      // Decoupled weight decay: p <- p - lr * (mhat / (sqrt(vhat) + eps) + wd * p)
      const upd = mhat.div(np.sqrt(vhat).add(cfg.eps)).add(p.ref.mul(cfg.weightDecay));
      newP.push(p.sub(upd.mul(lr.ref)));
      newM.push(m);
      newV.push(v);
    }
    lr.dispose();
    bc1.dispose();
    bc2.dispose();
    clip.dispose();
    return { p: newP, m: newM, v: newV, norm };
  };
}

export interface AdamW {
  readonly config: AdamWConfig;
  /**
   * Apply one update. Consumes params, grads and the state's moments; returns the new params and
   * state, and the global gradient norm before clipping. `lr` overrides config.lr (schedules).
   */
  step<T extends Tree>(params: T, grads: T, state: AdamWState<T>, lr?: number): { params: T; state: AdamWState<T>; gradNorm: np.Array };
  dispose(): void;
}

export function adamw(config: Partial<AdamWConfig> = {}): AdamW {
  const cfg: AdamWConfig = { ...ADAMW_DEFAULTS, ...config };
  const update = jit(updateLeaves(cfg));
  return {
    config: cfg,
    step<T extends Tree>(params: T, grads: T, state: AdamWState<T>, lr = cfg.lr) {
      const [ps, def] = tree.flatten(params as never) as [np.Array[], unknown];
      const [gs] = tree.flatten(grads as never) as [np.Array[], unknown];
      const [ms] = tree.flatten(state.m as never) as [np.Array[], unknown];
      const [vs] = tree.flatten(state.v as never) as [np.Array[], unknown];
      const t = state.step + 1;
      const scal = np.array([lr, 1 - Math.pow(cfg.beta1, t), 1 - Math.pow(cfg.beta2, t)]);
      const out = update(ps, gs, ms, vs, scal) as { p: np.Array[]; m: np.Array[]; v: np.Array[]; norm: np.Array };
      const un = (xs: np.Array[]) => tree.unflatten(def as never, xs) as unknown as T;
      return { params: un(out.p), state: { step: t, m: un(out.m), v: un(out.v) }, gradNorm: out.norm };
    },
    dispose() {
      update.dispose();
    },
  };
}

/** Optimizer state as named arrays (for a safetensors file); refs are taken, nothing consumed. */
export function stateToNamed(state: AdamWState<Tree>, names: (t: Tree) => Record<string, np.Array>): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  for (const [k, a] of Object.entries(names(state.m))) out[`m.${k}`] = a;
  for (const [k, a] of Object.entries(names(state.v))) out[`v.${k}`] = a;
  out.step = np.array([state.step]);
  return out;
}

/** Inverse of stateToNamed: rebuild moments from named arrays (e.g. read from a checkpoint). */
export function stateFromNamed<T extends Tree>(named: Record<string, np.Array>, build: (leaves: Record<string, np.Array>) => T): AdamWState<T> {
  const m: Record<string, np.Array> = {};
  const v: Record<string, np.Array> = {};
  let step = 0;
  for (const [k, a] of Object.entries(named)) {
    if (k === "step") {
      step = Number(a.dataSync()[0]);
    } else if (k.startsWith("m.")) m[k.slice(2)] = a;
    else if (k.startsWith("v.")) v[k.slice(2)] = a;
    else throw new RangeError(`optimizer state: unexpected tensor '${k}'`);
  }
  return { step, m: build(m), v: build(v) };
}

/**
 * Sum of gradient trees, leaf by leaf (gradient accumulation over micro-batches); the addition is
 * one jit-compiled function per tree structure. `push` consumes a tree, `take` hands the sum over
 * (owned by the caller) and starts again.
 */
export class GradSum<T extends Tree> {
  private acc: np.Array[] | null = null;
  private def: unknown = null;
  private readonly add = jit((a: np.Array[], b: np.Array[]) => a.map((x, i) => x.add(b[i])));

  push(grads: T): void {
    const [leaves, def] = tree.flatten(grads as never) as [np.Array[], unknown];
    this.def = def;
    this.acc = this.acc === null ? leaves : (this.add(this.acc, leaves) as np.Array[]);
  }

  take(): T {
    if (this.acc === null) throw new RangeError("GradSum.take: no gradients were pushed");
    const out = tree.unflatten(this.def as never, this.acc) as unknown as T;
    this.acc = null;
    return out;
  }

  dispose(): void {
    if (this.acc) for (const a of this.acc) a.dispose();
    this.acc = null;
    this.add.dispose();
  }
}

/**
 * The one optimizer state of every trainer (pretraining, SFT, GRPO, the warm-ups): the weights,
 * AdamW's moments and step, gradient accumulation over micro-batches, and the moments as named
 * arrays for a checkpoint and back. `params` is replaced (never changed in place) by each step.
 */
export class Optimizer {
  readonly opt: AdamW;
  state: AdamWState<Params>;
  private readonly sum = new GradSum<Params>();

  constructor(public params: Params, readonly model: ModelConfig, optim: Partial<AdamWConfig>) {
    this.opt = adamw(optim);
    this.state = initAdamW(params);
  }

  /** Add one micro-batch's gradient tree (consumed) to the step's sum. */
  accumulate(grads: Params): void {
    this.sum.push(grads);
  }

  /** One AdamW step at `lr` over the accumulated gradients; returns the global gradient norm before clipping. */
  async step(lr: number): Promise<number> {
    const r = this.opt.step(this.params, this.sum.take(), this.state, lr);
    this.params = r.params;
    this.state = r.state;
    return (await r.gradNorm.data())[0];
  }

  /** The moments as named arrays ("m.<param>", "v.<param>", "step") for a checkpoint; the caller disposes `step`. */
  arrays(): Record<string, np.Array> {
    return stateToNamed(this.state as unknown as AdamWState<Tree>, (t) => namedParams(t as unknown as Params));
  }

  /** Replace the moments with those read from a checkpoint (stateFromNamed), at optimizer step `step`. */
  restore(tensors: Record<string, Tensor>, step: number): void {
    const named: Record<string, np.Array> = {};
    for (const [k, t] of Object.entries(tensors)) named[k] = np.array(t.data).reshape(t.shape);
    const restored = stateFromNamed(named, (leaves) => paramsFromNamed(this.model, leaves));
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
    this.state = { ...restored, step };
  }

  /** Frees the moments and compiled functions (not `params`, which the caller keeps). */
  dispose(): void {
    this.sum.dispose();
    this.opt.dispose();
    tree.dispose(this.state.m);
    tree.dispose(this.state.v);
  }
}

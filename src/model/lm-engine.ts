/**
 * The one interface of the heavy passes, implemented by jax-js (jax-lm.ts) and by onnxruntime
 * (ort/engine.ts): per-token log-probs, the value and gradient of a loss over them, prefill and a
 * decoding step. Batches come in as host arrays (batch.ts HostBatch) and each engine converts them
 * itself. The engine is chosen once per component, at first use, by MEDVLTHINKER_ENGINE
 * (engines.ts, ort/runtime.ts): the sampler, scorer, NLL gradients and the GRPO actor call this interface
 * and hold no engine branches of their own.
 */
import { numpy as np } from "./jax";
import type { ModelConfig } from "./config";
import type { Params } from "./params";
import type { HostBatch } from "./batch";
import type { GenerateOptions, GenerationPlan } from "./sampling";
import type { EngineName } from "./ort/runtime";

export type { EngineName };

/**
 * A loss over per-token log-probs and entropies ([B, T] arrays) and further arrays (`rest`),
 * returning the scalar and aux metrics. Consumes its arguments. `usesEntropy`: the loss
 * depends on the entropy too (an entropy bonus), not only on logp.
 */
export interface LogpLoss<A> {
  fn: (logp: np.Array, entropy: np.Array, ...rest: np.Array[]) => [np.Array, A];
  usesEntropy: boolean;
}

/** A decoding run: the first logits after the prompt, then one step per chosen token. */
export interface DecodeSession {
  /** [B * V] logits of the next position. */
  logits: Float32Array;
  /** Feed each row's token at position `pos`; returns the logits [B * V] of the next position. */
  step(tokens: Int32Array, pos: number): Promise<Float32Array>;
  dispose(): void;
}

export interface LmEngine {
  readonly name: EngineName;
  readonly config: ModelConfig;
  /** Log-prob of each target [B * T] (position t predicts targets[t]), and the entropy of each position when asked. `params` not consumed. */
  logprobs(params: Params, b: HostBatch, o?: { entropy?: boolean }): Promise<{ logp: Float32Array; entropy: Float32Array | null }>;
  /**
   * The value of sum(weights * logp) and its gradient tree (the caller owns it): the losses that
   * are linear in logp (masked NLL, any scale), in one pass.
   */
  weightedGrad(params: Params, b: HostBatch, weights: Float32Array): Promise<{ value: number; grads: Params }>;
  /** Value, aux and gradient tree of `loss` at `params` (not consumed); `rest` ([B, T] or scalars) consumed. */
  valueAndGrad<A>(params: Params, b: HostBatch, loss: LogpLoss<A>, rest: np.Array[]): Promise<{ value: np.Array; aux: A; grads: Params }>;
  /** Prefill the plan's distinct prompts and lay the rows out (plan.which); `params` not consumed. */
  prefill(params: Params, plan: GenerationPlan, o: Pick<GenerateOptions, "imageTokenId" | "padId" | "jit">): Promise<DecodeSession>;
  dispose(): void;
}

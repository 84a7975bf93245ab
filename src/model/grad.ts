/**
 * Value and gradient of a loss over the model, jit-compiled, with the token-embedding gather done
 * outside the differentiated function. Why: under jit, jax-js 0.1.25 cannot compile the scatter
 * that take()'s gradient needs ("routine primitive scatter input is not imm"), and a one-hot
 * matmul instead costs as much as the output head. So the embeddings are gathered by a jitted
 * take(), the loss is differentiated with respect to (params, embeddings), and the embeddings'
 * gradient rows are added into the embedding matrix's gradient on the host (a scatter-add).
 */
import { jit, numpy as np, tree, valueAndGrad } from "./jax";
import type { Params } from "./params";
import type { ModelInputs } from "./transformer";

/**
 * into[ids[i]] += rows[i] for every row i (rows of width d), in index order, so the sum is the
 * same on every run. The embedding gradient's scatter for both engines. Returns `into`.
 */
export function scatterAddRows(into: Float32Array, rows: Float32Array, ids: Int32Array, d: number): Float32Array {
  for (let i = 0; i < ids.length; i++) {
    const o = ids[i] * d;
    const r = i * d;
    for (let j = 0; j < d; j++) into[o + j] += rows[r + j];
  }
  return into;
}

/** A loss over params and model inputs (plus any extra arrays), returning a scalar. Consumes all. */
export type LossFn<R extends np.Array[]> = (p: Params, inp: ModelInputs, ...rest: R) => np.Array;

export type ValueAndGrad<R extends np.Array[]> = ((params: Params, inp: ModelInputs, ...rest: R) => Promise<[np.Array, Params]>) & { dispose(): void };

/**
 * Wrap a loss for training. The returned function does NOT consume `params` (it takes refs);
 * it consumes `inp` and `rest`. Returns [loss (scalar array), gradient tree].
 */
export function makeValueAndGrad<R extends np.Array[]>(loss: LossFn<R>): ValueAndGrad<R> {
  const gather = jit((embed: np.Array, tokens: np.Array) => np.take(embed, tokens, 0));
  const vg = jit(
    valueAndGrad(
      // Cast: tslab's TypeScript 5.0 cannot relate the mapped-tree parameter types to its own.
      ((p: Params, tokEmb: np.Array, inp: ModelInputs, ...rest: R) => loss(p, { ...inp, tokEmb }, ...rest)) as (...args: any[]) => np.Array,
      { argnums: [0, 1] },
    ),
  );
  const fn = async (params: Params, inp: ModelInputs, ...rest: R): Promise<[np.Array, Params]> => {
    const [B, T] = inp.tokens.shape;
    const ids = (await inp.tokens.ref.data()) as Int32Array;
    const tokEmb = gather(params.embed.ref, inp.tokens.ref);
    const [value, [g, gEmb]] = (vg as unknown as (...a: unknown[]) => [np.Array, [Params, np.Array]])(tree.ref(params), tokEmb, inp, ...rest);
    const [V, d] = params.embed.shape;
    const acc = scatterAddRows(new Float32Array(V * d), (await gEmb.data()) as Float32Array, ids.subarray(0, B * T), d);
    g.embed = g.embed.add(np.array(acc).reshape([V, d]));
    return [value, g];
  };
  return Object.assign(fn, {
    dispose() {
      gather.dispose();
      vg.dispose();
    },
  });
}

type AnyFn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

export type ValueAndGradAux<A> = ((params: Params, inp: ModelInputs, ...rest: np.Array[]) => Promise<[np.Array, A, Params]>) & { dispose(): void };

/**
 * makeValueAndGrad for a loss that also returns aux outputs (metrics): [loss, aux]. Does not
 * consume `params`; consumes `inp` and `rest`. Returns [loss, aux, gradient tree].
 */
export function makeValueAndGradAux<A>(loss: (p: Params, inp: ModelInputs, ...rest: np.Array[]) => [np.Array, A]): ValueAndGradAux<A> {
  const gather = jit((embed: np.Array, tokens: np.Array) => np.take(embed, tokens, 0));
  const inner = (p: Params, tokEmb: np.Array, inp: ModelInputs, ...rest: np.Array[]) => loss(p, { ...inp, tokEmb }, ...rest);
  // Casts: tslab's TypeScript 5.0 cannot infer these generic signatures.
  const vg = jit(valueAndGrad(inner as AnyFn, { argnums: [0, 1], hasAux: true } as never) as unknown as AnyFn) as unknown as AnyFn & { dispose(): void };
  const fn = async (params: Params, inp: ModelInputs, ...rest: np.Array[]): Promise<[np.Array, A, Params]> => {
    const [B, T] = inp.tokens.shape;
    const ids = (await inp.tokens.ref.data()) as Int32Array;
    const tokEmb = gather(params.embed.ref, inp.tokens.ref);
    const [[value, aux], [g, gEmb]] = vg(tree.ref(params), tokEmb, inp, ...rest) as [[np.Array, A], [Params, np.Array]];
    const [V, d] = params.embed.shape;
    const acc = scatterAddRows(new Float32Array(V * d), (await gEmb.data()) as Float32Array, ids.subarray(0, B * T), d);
    g.embed = g.embed.add(np.array(acc).reshape([V, d]));
    return [value, aux, g];
  };
  return Object.assign(fn, {
    dispose() {
      gather.dispose();
      vg.dispose();
    },
  });
}

/**
 * Parameters as a plain tree of arrays (jax style), created from a seeded JS generator so that
 * initialisation is reproducible and independent of the engine.
 */
import { numpy as np } from "./jax";
import { imageTokens, patchDim, type ModelConfig } from "./config";

export type LayerParams = {
  attnNorm: np.Array; // [d]
  wqkv: np.Array; // [d, 3d]
  wo: np.Array; // [d, d]
  mlpNorm: np.Array; // [d]
  wGateUp: np.Array; // [d, 2f]  (SwiGLU gate and up, fused: one matmul)
  wDown: np.Array; // [f, d]
};

export type Params = {
  embed: np.Array; // [V, d], tied with the output head
  patchW: np.Array; // [patchDim, d]
  patchB: np.Array; // [d]
  patchPos: np.Array; // [imageTokens, d]  learned positions within an image
  layers: LayerParams[];
  finalNorm: np.Array; // [d]
};

/** Deterministic PRNG (mulberry32) with Box-Muller normals. */
export function makeRng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => {
      const u = Math.max(uniform(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
    },
  };
}

function normalArray(rng: ReturnType<typeof makeRng>, shape: number[], std: number): np.Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const buf = new Float32Array(n);
  for (let i = 0; i < n; i++) buf[i] = rng.normal() * std;
  return np.array(buf).reshape(shape);
}

/** GPT-2 style init: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * layers). */
export function initParams(c: ModelConfig, seed = 0): Params {
  const rng = makeRng(seed);
  const d = c.dModel;
  const std = 0.02;
  const resid = std / Math.sqrt(2 * c.nLayers);
  const layers: LayerParams[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    layers.push({
      attnNorm: np.ones([d]),
      wqkv: normalArray(rng, [d, 3 * d], std),
      wo: normalArray(rng, [d, d], resid),
      mlpNorm: np.ones([d]),
      wGateUp: normalArray(rng, [d, 2 * c.dMlp], std),
      wDown: normalArray(rng, [c.dMlp, d], resid),
    });
  }
  return {
    embed: normalArray(rng, [c.vocabSize, d], std),
    patchW: normalArray(rng, [patchDim(c), d], std),
    patchB: np.zeros([d]),
    patchPos: normalArray(rng, [imageTokens(c), d], std),
    layers,
    finalNorm: np.ones([d]),
  };
}

/** Expected shape of every named parameter (names as in the checkpoint: dotted paths). */
export function paramShapes(c: ModelConfig): Record<string, number[]> {
  const d = c.dModel;
  const out: Record<string, number[]> = {
    embed: [c.vocabSize, d],
    patchW: [patchDim(c), d],
    patchB: [d],
    patchPos: [imageTokens(c), d],
    finalNorm: [d],
  };
  for (let l = 0; l < c.nLayers; l++) {
    out[`layers.${l}.attnNorm`] = [d];
    out[`layers.${l}.wqkv`] = [d, 3 * d];
    out[`layers.${l}.wo`] = [d, d];
    out[`layers.${l}.mlpNorm`] = [d];
    out[`layers.${l}.wGateUp`] = [d, 2 * c.dMlp];
    out[`layers.${l}.wDown`] = [c.dMlp, d];
  }
  return out;
}

export function countParams(c: ModelConfig): number {
  return Object.values(paramShapes(c)).reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
}

/** Flatten to dotted names (the checkpoint layout) without consuming the arrays' references. */
export function namedParams(p: Params): Record<string, np.Array> {
  const out: Record<string, np.Array> = {
    embed: p.embed,
    patchW: p.patchW,
    patchB: p.patchB,
    patchPos: p.patchPos,
    finalNorm: p.finalNorm,
  };
  p.layers.forEach((L, l) => {
    for (const [k, v] of Object.entries(L)) out[`layers.${l}.${k}`] = v;
  });
  return out;
}

/** Inverse of namedParams. */
export function paramsFromNamed(c: ModelConfig, named: Record<string, np.Array>): Params {
  const layers: LayerParams[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const g = (k: string) => named[`layers.${l}.${k}`];
    layers.push({ attnNorm: g("attnNorm"), wqkv: g("wqkv"), wo: g("wo"), mlpNorm: g("mlpNorm"), wGateUp: g("wGateUp"), wDown: g("wDown") });
  }
  return { embed: named.embed, patchW: named.patchW, patchB: named.patchB, patchPos: named.patchPos, layers, finalNorm: named.finalNorm };
}

/**
 * Model configs by name. `tiny` is for tests (seconds), `workshop` for the notebooks (the whole
 * recipe in minutes on 2 cores), `small` for people with time, `reference` is the model
 * platform.md measured engines on (vocab 4096, d 256, 4 layers, 4 heads, MLP 1024, context 256).
 */
import { ConfigError } from "../errors";

export interface ModelConfig {
  /** Tokenizer vocabulary (set from the tokenizer when it differs). */
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** SwiGLU hidden width. */
  dMlp: number;
  /** Context length in positions (image tokens included). */
  maxSeq: number;
  /** Images are resized to imageSize x imageSize RGB and cut into patchSize^2 patches. */
  imageSize: number;
  patchSize: number;
  /** Images used per item (the first ones); each gives (imageSize/patchSize)^2 tokens. */
  maxImages: number;
  ropeBase: number;
  normEps: number;
}

export type SizeName = "tiny" | "workshop" | "small" | "reference";

const BASE = { imageSize: 64, patchSize: 16, maxImages: 1, ropeBase: 10000, normEps: 1e-5 };

export const SIZES: Record<SizeName, ModelConfig> = {
  tiny: { ...BASE, vocabSize: 512, dModel: 32, nLayers: 2, nHeads: 2, dMlp: 64, maxSeq: 64, imageSize: 32 },
  // Context 512: a MedQA prompt is ~300 of these tokens, plus room for a short reasoning trace.
  workshop: { ...BASE, vocabSize: 2048, dModel: 128, nLayers: 4, nHeads: 4, dMlp: 384, maxSeq: 512 },
  small: { ...BASE, vocabSize: 4096, dModel: 256, nLayers: 6, nHeads: 8, dMlp: 768, maxSeq: 1024, imageSize: 96 },
  reference: { ...BASE, vocabSize: 4096, dModel: 256, nLayers: 4, nHeads: 4, dMlp: 1024, maxSeq: 256 },
};

export function sizeConfig(name: string, overrides: Partial<ModelConfig> = {}): ModelConfig {
  if (!(name in SIZES)) {
    throw new ConfigError(`unknown model size '${name}'; known: ${Object.keys(SIZES).join(", ")}`);
  }
  const cfg = { ...SIZES[name as SizeName], ...overrides };
  validateConfig(cfg);
  return cfg;
}

export function validateConfig(c: ModelConfig): void {
  const bad = (field: string, why: string) => {
    throw new ConfigError(`model config: field '${field}': ${why}`);
  };
  if (c.dModel % c.nHeads !== 0) bad("nHeads", `dModel ${c.dModel} is not divisible by nHeads ${c.nHeads}`);
  if ((c.dModel / c.nHeads) % 2 !== 0) bad("nHeads", "head size must be even for rotary positions");
  if (c.imageSize % c.patchSize !== 0) bad("patchSize", `imageSize ${c.imageSize} is not divisible by patchSize ${c.patchSize}`);
  if (imageTokens(c) * c.maxImages >= c.maxSeq) bad("maxSeq", "image tokens leave no room for text");
}

/** Tokens one image becomes. */
export function imageTokens(c: ModelConfig): number {
  return (c.imageSize / c.patchSize) ** 2;
}

/** Floats in one patch (RGB). */
export function patchDim(c: ModelConfig): number {
  return c.patchSize * c.patchSize * 3;
}

/**
 * The embedded model as one object: config, parameters, tokenizer, and the compiled sampler and
 * scorer. What notebooks, the CLI and EmbeddedPolicy use.
 */
import { tree } from "./jax";
import { sizeConfig, type ModelConfig } from "./config";
import { initParams, type Params } from "./params";
import { TextTokenizer } from "./tokenizer";
import { Sampler, type Generation } from "./sampler";
import { Scorer } from "./score";
import { chatIds, promptIds } from "./chat";
import { imagePatches } from "./vision";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint";
import { initEngine } from "./engine";
import type { ImageRef } from "../data/item";

export interface PromptInput {
  text: string;
  images?: ImageRef[] | null;
}

export interface GenerateParams {
  maxNewTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  /** Rows per compiled batch (default 8). */
  batchSize?: number;
}

export interface GenerationOut extends Generation {
  text: string;
  promptTruncated: boolean;
}

export class EmbeddedModel {
  private sampler: Sampler;
  private scorer: Scorer;
  info: Record<string, unknown> = {};

  constructor(public params: Params, readonly config: ModelConfig, readonly tokenizer: TextTokenizer) {
    if (tokenizer.vocabSize !== config.vocabSize) throw new RangeError(`tokenizer has ${tokenizer.vocabSize} tokens, config ${config.vocabSize}`);
    this.sampler = new Sampler(config);
    this.scorer = new Scorer(config, { padId: tokenizer.ids.pad, imageTokenId: tokenizer.ids.image });
  }

  /** A freshly initialised model of a named size, its vocabulary taken from the tokenizer. */
  static async create(size: string, tokenizer: TextTokenizer, seed = 0, overrides: Partial<ModelConfig> = {}): Promise<EmbeddedModel> {
    await initEngine();
    const config = sizeConfig(size, { ...overrides, vocabSize: tokenizer.vocabSize });
    return new EmbeddedModel(initParams(config, seed), config, tokenizer);
  }

  static async load(dir: string): Promise<EmbeddedModel> {
    await initEngine();
    const ck = loadCheckpoint(dir);
    const m = new EmbeddedModel(ck.params, ck.config, ck.tokenizer);
    m.info = ck.info;
    return m;
  }

  async save(dir: string, info: Record<string, unknown> = {}): Promise<void> {
    this.info = { ...this.info, ...info };
    await saveCheckpoint(dir, this.params, this.config, this.tokenizer, { info: this.info });
  }

  private async patches(images: ImageRef[] | null | undefined): Promise<Float32Array[]> {
    const use = (images ?? []).slice(0, this.config.maxImages);
    return Promise.all(use.map((im) => imagePatches(im, this.config)));
  }

  /** Generate one completion per prompt. */
  async generate(prompts: PromptInput[], g: GenerateParams): Promise<GenerationOut[]> {
    const t = this.tokenizer;
    const bs = g.batchSize ?? 8;
    const out: GenerationOut[] = [];
    const reserve = Math.min(g.maxNewTokens, Math.floor(this.config.maxSeq / 2));
    for (let i = 0; i < prompts.length; i += bs) {
      const chunk = prompts.slice(i, i + bs);
      const seqs = await Promise.all(
        chunk.map(async (p) => {
          const images = await this.patches(p.images);
          const { ids, truncated } = promptIds(t, p.text, images.length, this.config, reserve);
          return { ids, images, truncated };
        }),
      );
      // Pad the batch to a fixed row count so one compiled decode step serves every chunk.
      const padded = [...seqs];
      while (padded.length < bs && prompts.length > 1) padded.push(seqs[seqs.length - 1]);
      const gens = await this.sampler.generate(this.params, padded, {
        maxNewTokens: g.maxNewTokens,
        temperature: g.temperature,
        topP: g.topP,
        seed: (g.seed ?? 0) + i,
        stopIds: [t.ids.end],
        padId: t.ids.pad,
        imageTokenId: t.ids.image,
        bannedIds: [t.ids.pad, t.ids.image, t.ids.user, t.ids.assistant],
      });
      gens.slice(0, chunk.length).forEach((gen, r) => {
        const ids = gen.finishReason === "stop" ? gen.ids.slice(0, -1) : gen.ids;
        out.push({ ...gen, text: t.decode(ids), promptTruncated: seqs[r].truncated });
      });
    }
    return out;
  }

  /** Per-token log-probs of each completion (end token included) under the current weights. */
  async score(items: { prompt: PromptInput; completion: string }[], batchSize = 8): Promise<number[][]> {
    const seqs = await Promise.all(
      items.map(async (it) => {
        const images = await this.patches(it.prompt.images);
        const c = chatIds(this.tokenizer, it.prompt.text, it.completion, images.length, this.config);
        return { ids: c.ids, promptLength: c.promptLength, images };
      }),
    );
    return this.scorer.score(this.params, seqs, batchSize);
  }

  dispose(): void {
    this.sampler.dispose();
    this.scorer.dispose();
    tree.dispose(this.params);
  }
}

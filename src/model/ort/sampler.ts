/**
 * Batched generation on onnxruntime, with the same contract as the jax-js Sampler (../sampler.ts):
 * prompts left-padded to a multiple of 16, the same rotary positions, the same token choice
 * (../sampling.ts) from the same seeded generator, so both engines sample the same tokens up to
 * float rounding. The KV cache is a host array [B, H, S, hd] per layer: the prefill graph fills
 * positions 0..P-1, each decoding step returns its token's key/value, written at its position here.
 * The prompt bucket, masks, distinct prompts and token choice come from sampling.ts planGeneration,
 * as for the jax-js sampler.
 */
import type { ModelConfig } from "../config";
import type { Params } from "../params";
import { buildBatch } from "../batch";
import { ropeTables } from "../transformer";
import { chooseNext, type GenerateOptions, type Generation, type GenerationPlan } from "../sampling";
import { OrtLm, readInputs } from "./lm";

export async function ortGenerate(lm: OrtLm, params: Params, plan: GenerationPlan, o: GenerateOptions): Promise<Generation[]> {
  const c: ModelConfig = lm.config;
  const S = c.maxSeq;
  const B = plan.which.length;
  const H = c.nHeads;
  const hd = c.dModel / H;
  const V = c.vocabSize;
  const { P, maxNew, uniq, which } = plan;
  const pastMask = plan.keyMask;
  const pf = await lm.paramFeeds(params);

  // Prefill each distinct prompt once (GRPO groups repeat one prompt), then lay rows out.
  const b = buildBatch(uniq, c, { pad: "left", length: P, imageTokenId: o.imageTokenId, padId: o.padId });
  b.targets.dispose();
  const pre = await lm.prefill(pf, await readInputs(b.inputs));
  const K = Array.from({ length: c.nLayers }, () => new Float32Array(B * H * S * hd));
  const Vc = Array.from({ length: c.nLayers }, () => new Float32Array(B * H * S * hd));
  let logits: Float32Array = new Float32Array(B * V);
  which.forEach((u, row) => {
    for (let l = 0; l < c.nLayers; l++)
      for (let h = 0; h < H; h++) {
        const src = (u * H + h) * P * hd;
        const dst = (row * H + h) * S * hd;
        K[l].set(pre.k[l].subarray(src, src + P * hd), dst);
        Vc[l].set(pre.v[l].subarray(src, src + P * hd), dst);
      }
    logits.set(pre.logits.subarray(u * V, (u + 1) * V), row * V);
  });

  for (let i = 0; i < maxNew; i++) {
    const next = chooseNext(logits, V, plan, o);
    const pos = P + i;
    if (plan.done.every(Boolean) || i === maxNew - 1 || pos >= S) break;
    const rt = ropeTables(c, [pos]);
    const step = await lm.decode(pf, next, rt.cos, rt.sin, K, Vc, pastMask);
    logits = step.logits;
    // The token's key/value join the cache at its position, attended to from the next step on.
    for (let l = 0; l < c.nLayers; l++)
      for (let r = 0; r < B * H; r++) {
        K[l].set(step.k[l].subarray(r * hd, (r + 1) * hd), (r * S + pos) * hd);
        Vc[l].set(step.v[l].subarray(r * hd, (r + 1) * hd), (r * S + pos) * hd);
      }
    for (let r = 0; r < B; r++) pastMask[r * S + pos] = 1;
  }
  return plan.out;
}

/**
 * GRPO rollout and reward, at the token level: each prompt is encoded once (the official prompt in
 * the model's chat format), sampled n times by the embedded model's jit sampler, and every
 * response keeps the exact token ids it was sampled as (never re-tokenized from text) and their
 * log-probs, so the update scores exactly what was sampled. Rewards are the published rule
 * (src/reward.ts) on the decoded text.
 */
import type { Item } from "../data/item";
import { promptIds } from "../model/chat";
import type { ModelConfig } from "../model/config";
import type { Params } from "../model/params";
import type { Sampler } from "../model/sampler";
import type { TextTokenizer } from "../model/tokenizer";
import { imagePatches } from "../model/vision";
import { buildPrompt } from "../prompt";
import { computeReward, type RewardOptions, type RewardResult } from "../reward";
import { computeGrpoOutcomeAdvantage, type GrpoAdvantageOptions } from "./core";

export interface EncodedPrompt {
  /** Group id (verl's uid): the prompt's index in the step. */
  uid: number;
  item: Item;
  ids: number[];
  images: Float32Array[];
  truncated: boolean;
}

export interface RolloutSample {
  uid: number;
  /** Index of this sample within its group. */
  k: number;
  promptIds: number[];
  images: Float32Array[];
  /** Sampled ids, the end token included when the response stopped. */
  responseIds: number[];
  /** Log-prob of each sampled id under the sampling weights (temperature 1, before top-p). */
  samplerLogprobs: number[];
  finishReason: "stop" | "length";
  text: string;
}

export interface ScoredSample extends RolloutSample {
  reward: RewardResult;
}

/**
 * One row of a GRPO step, as a row of verl's DataProto: filled stage by stage (rollout: prompt,
 * response, sampler log-probs; reward; advantage; the actor's old and reference log-probs) and
 * passed whole from stage to stage, instead of parallel arrays matched by index.
 */
export interface RolloutRow extends ScoredSample {
  advantage: number;
  /** Old-policy and reference log-probs of each response token (the actor's scoreRows). */
  oldLogProb?: Float32Array;
  refLogProb?: Float32Array;
}

/** The rows of a step with their group-normalised advantages (core.ts computeGrpoOutcomeAdvantage). */
export function withAdvantages(samples: ScoredSample[], o: GrpoAdvantageOptions): RolloutRow[] {
  const adv = computeGrpoOutcomeAdvantage(
    samples.map((s) => s.reward.reward),
    samples.map((s) => s.uid),
    o,
  );
  return samples.map((s, i) => ({ ...s, advantage: adv[i] }));
}

export interface RolloutParams {
  n: number;
  temperature: number;
  topP: number;
  maxResponseTokens: number;
  maxPromptTokens: number;
  /** Rows per compiled generation batch (the last batch is padded to it). */
  batchRows: number;
  seed: number;
  realNewline?: boolean;
}

/** Prompt ids for an item: images first, then the official prompt, cut to fit maxPromptTokens and the response. */
export async function encodePrompt(item: Item, uid: number, tok: TextTokenizer, mc: ModelConfig, p: Pick<RolloutParams, "maxResponseTokens" | "maxPromptTokens" | "realNewline">): Promise<EncodedPrompt> {
  const images = await Promise.all((item.images ?? []).slice(0, mc.maxImages).map((im) => imagePatches(im, mc)));
  // promptIds keeps `reserve` positions free: the response, and whatever exceeds maxPromptTokens.
  const reserve = Math.max(Math.min(p.maxResponseTokens, mc.maxSeq - 16), mc.maxSeq - 1 - p.maxPromptTokens);
  const { ids, truncated } = promptIds(tok, buildPrompt(item, { realNewline: p.realNewline }), images.length, mc, reserve);
  return { uid, item, ids, images, truncated };
}

/**
 * n samples for each prompt, in prompt order (group members adjacent). Deterministic given the
 * params and the seed. Does not consume params.
 */
export async function sampleGroups(sampler: Sampler, params: Params, prompts: EncodedPrompt[], tok: TextTokenizer, p: RolloutParams): Promise<RolloutSample[]> {
  const rows = prompts.flatMap((pr) => Array.from({ length: p.n }, (_, k) => ({ pr, k })));
  const out: RolloutSample[] = [];
  for (let i = 0; i < rows.length; i += p.batchRows) {
    const chunk = rows.slice(i, i + p.batchRows);
    const seqs = chunk.map((r) => ({ ids: r.pr.ids, images: r.pr.images }));
    while (seqs.length < p.batchRows) seqs.push(seqs[seqs.length - 1]); // one compiled shape for every chunk
    const gens = await sampler.generate(params, seqs, {
      maxNewTokens: p.maxResponseTokens,
      temperature: p.temperature,
      topP: p.topP,
      seed: p.seed * 7919 + i,
      stopIds: [tok.ids.end],
      padId: tok.ids.pad,
      imageTokenId: tok.ids.image,
      bannedIds: [tok.ids.pad, tok.ids.image, tok.ids.user, tok.ids.assistant],
    });
    chunk.forEach((r, j) => {
      const g = gens[j];
      const visible = g.finishReason === "stop" ? g.ids.slice(0, -1) : g.ids;
      out.push({
        uid: r.pr.uid,
        k: r.k,
        promptIds: r.pr.ids,
        images: r.pr.images,
        responseIds: g.ids,
        samplerLogprobs: g.logprobs,
        finishReason: g.finishReason,
        text: visible.length ? tok.decode(visible) : "", // the HF decoder throws on an empty list
      });
    });
  }
  return out;
}

/** The published reward (or a configured variant) of every sample against its prompt's item. */
export function scoreSamples(samples: RolloutSample[], prompts: EncodedPrompt[], opts: RewardOptions = {}): ScoredSample[] {
  const byUid = new Map(prompts.map((p) => [p.uid, p.item]));
  return samples.map((s) => ({ ...s, reward: computeReward(s.text, byUid.get(s.uid)!, opts) }));
}

export interface RolloutStats {
  reward_mean: number;
  /** Share of samples whose answer is correct (format gate passed or not checked). */
  accuracy: number;
  /** Share of samples failing the format regex. */
  format_failure_rate: number;
  response_length_mean: number;
  response_length_max: number;
  /** Share of samples cut at maxResponseTokens. */
  truncated_rate: number;
  /** Share of groups whose rewards are all equal (zero advantage: no learning signal). */
  zero_signal_groups: number;
  prompts_truncated: number;
}

export function rolloutStats(samples: ScoredSample[], prompts: EncodedPrompt[]): RolloutStats {
  const n = Math.max(1, samples.length);
  const groups = new Map<number, number[]>();
  for (const s of samples) {
    const g = groups.get(s.uid);
    if (g) g.push(s.reward.reward);
    else groups.set(s.uid, [s.reward.reward]);
  }
  let flat = 0;
  for (const g of groups.values()) if (g.every((r) => r === g[0])) flat++;
  const lengths = samples.map((s) => s.responseIds.length);
  return {
    reward_mean: samples.reduce((a, s) => a + s.reward.reward, 0) / n,
    accuracy: samples.filter((s) => s.reward.reason === "correct").length / n,
    format_failure_rate: samples.filter((s) => !s.reward.format).length / n,
    response_length_mean: lengths.reduce((a, b) => a + b, 0) / n,
    response_length_max: lengths.length ? Math.max(...lengths) : 0,
    truncated_rate: samples.filter((s) => s.finishReason === "length").length / n,
    zero_signal_groups: groups.size ? flat / groups.size : 0,
    prompts_truncated: prompts.filter((p) => p.truncated).length,
  };
}

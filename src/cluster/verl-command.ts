/**
 * The project's typed GRPO config as `python3 -m verl.trainer.main_ppo` Hydra overrides, key for key
 * with MedVLThinker's train/train-qwen2_5_vl_{3b,7b}-m23k.sh (scaleout.md section 2), for the verl
 * commit the paper pins and, as an option, current verl.
 *
 * What the config decides (the algorithm) comes from GrpoConfig; what the hardware decides (GPUs,
 * tensor parallelism, per-GPU micro-batches, offloading) comes from VerlResources, whose defaults
 * are the paper's 8-GPU node. Settings verl has no key for (format warm-up, the looser reward
 * variants, sampler log-probs, Adam betas/eps other than torch's) are refused, not dropped.
 */
import { ConfigError } from "../errors";
import type { GrpoConfig } from "../train/grpo-config";
import type { VerlTarget } from "./verl-data";

export interface VerlResources {
  /** actor_rollout_ref.model.path: a Hugging Face id or a path every node sees. */
  model: string;
  nGpusPerNode: number;
  nnodes: number;
  /** actor_rollout_ref.rollout.tensor_model_parallel_size. */
  tensorParallel: number;
  /** actor.ppo_micro_batch_size_per_gpu (also rollout/ref log_prob_micro_batch_size_per_gpu). */
  microBatchPerGpu: number;
  gpuMemoryUtilization: number;
  /** ref.fsdp_config.param_offload (the paper: true). */
  refParamOffload: boolean;
  /** actor.fsdp_config.param_offload / optimizer_offload (the paper: false). */
  actorOffload: boolean;
  /** trainer.logger. */
  logger: string[];
  project: string;
  experiment: string;
  /** trainer.save_freq / test_freq (-1: never). */
  saveFreq: number;
  testFreq: number;
  /** trainer.default_local_dir: on multi-node runs an absolute path on storage every node shares. */
  checkpointDir?: string;
}

/** The paper's node: 8 GPUs, TP 2, micro-batch 32 per GPU, vLLM at 60% memory (7B script). */
export const PAPER_RESOURCES: VerlResources = {
  model: "Qwen/Qwen2.5-VL-3B-Instruct",
  nGpusPerNode: 8,
  nnodes: 1,
  tensorParallel: 2,
  microBatchPerGpu: 32,
  gpuMemoryUtilization: 0.6,
  refParamOffload: true,
  actorOffload: false,
  logger: ["console"],
  project: "med-vlrm",
  experiment: "train-qwen2_5_vl_3b-m23k",
  saveFreq: 50,
  testFreq: 50,
};

export interface VerlData {
  trainFiles: string[];
  valFiles: string[];
  /** Relative to the job's working directory. */
  rewardPath: string;
}

export type Override = [key: string, value: string];

const bool = (b: boolean) => (b ? "True" : "False");
// What Hydra receives from the paper's unquoted ['console','wandb'] after the shell removed the quotes.
const list = (xs: string[]) => `[${xs.join(",")}]`;
const files = (xs: string[]) => (xs.length === 1 ? xs[0] : list(xs));
const num = (x: number) => String(x);

/** Settings of the embedded trainer that verl has no key for: refused with the reason. */
export function unsupportedByVerl(c: GrpoConfig): string[] {
  const out: string[] = [];
  if (c.warmup.formatSteps > 0) out.push(`warmup.formatSteps ${c.warmup.formatSteps}: verl has no format warm-up (start from an instruct model; the paper's preset has 0)`);
  if (c.reward.format !== "gate" || c.reward.extraction !== "published") out.push("reward: only the published reward (format gate, published extraction) is exported as verl's compute_score");
  if (c.actor.oldLogProb !== "recompute") out.push("actor.oldLogProb 'sampler': verl always recomputes old log-probs with the actor");
  if (c.actor.betas[0] !== 0.9 || c.actor.betas[1] !== 0.999 || c.actor.eps !== 1e-8) out.push("actor.betas / actor.eps: verl's actor uses torch AdamW's defaults (0.9, 0.999), 1e-8");
  if (c.data.realNewline) out.push("data.realNewline: the prompt is rendered into the parquet at export; export with the same option instead");
  return out;
}

/**
 * Overrides in the order of the paper's script. `target` "head" renames what current verl renamed,
 * drops what it removed, and asks verl to filter over-long prompts (its agent loop no longer stops
 * on them); "pinned" keeps data.filter_overlong_prompts=False because the export already left them out.
 */
export function grpoOverrides(c: GrpoConfig, r: VerlResources, d: VerlData, target: VerlTarget, extra: Override[] = []): Override[] {
  const bad = unsupportedByVerl(c);
  if (bad.length) throw new ConfigError(`this GRPO config cannot run on verl:\n  ${bad.join("\n  ")}`);
  // verl divides a mini-batch's rows (prompts x n) over the GPUs and asserts the micro-batch divides them.
  const perGpu = (c.actor.miniBatchPrompts * c.rollout.n) / (r.nGpusPerNode * r.nnodes);
  if (!Number.isInteger(perGpu) || perGpu % r.microBatchPerGpu !== 0) {
    throw new ConfigError(`a mini-batch of ${c.actor.miniBatchPrompts} prompts x ${c.rollout.n} samples over ${r.nGpusPerNode * r.nnodes} GPUs is ${perGpu} rows per GPU, which micro-batches of ${r.microBatchPerGpu} do not divide`);
  }
  const ar = "actor_rollout_ref";
  const o: Override[] = [
    ["algorithm.adv_estimator", "grpo"],
    ["data.train_files", files(d.trainFiles)],
    ["data.val_files", files(d.valFiles)],
    ["data.shuffle", "True"],
    ["data.train_batch_size", num(c.rollout.promptsPerStep)],
    ["data.max_prompt_length", num(c.rollout.maxPromptTokens)],
    ["data.filter_overlong_prompts", bool(target === "head")],
    ["data.max_response_length", num(c.rollout.maxResponseTokens)],
    ["data.truncation", "error"],
    ["data.image_key", "images"],
    [`${ar}.model.path`, r.model],
    [`${ar}.actor.optim.lr`, num(c.actor.lr)],
    [`${ar}.model.use_remove_padding`, "True"],
    [`${ar}.actor.ppo_mini_batch_size`, num(c.actor.miniBatchPrompts)],
    [`${ar}.actor.ppo_micro_batch_size_per_gpu`, num(r.microBatchPerGpu)],
    [`${ar}.actor.use_kl_loss`, bool(c.actor.klLossCoef > 0)],
    [`${ar}.actor.kl_loss_coef`, num(c.actor.klLossCoef)],
    [`${ar}.actor.kl_loss_type`, c.actor.klLossType],
    [`${ar}.actor.entropy_coeff`, num(c.actor.entropyCoeff)],
    [`${ar}.model.enable_gradient_checkpointing`, "True"],
    [`${ar}.actor.fsdp_config.param_offload`, bool(r.actorOffload)],
    [`${ar}.actor.fsdp_config.optimizer_offload`, bool(r.actorOffload)],
    [`${ar}.rollout.log_prob_micro_batch_size_per_gpu`, num(r.microBatchPerGpu)],
    [`${ar}.rollout.tensor_model_parallel_size`, num(r.tensorParallel)],
    [`${ar}.rollout.name`, "vllm"],
    [`${ar}.rollout.gpu_memory_utilization`, num(r.gpuMemoryUtilization)],
    [`${ar}.rollout.enable_chunked_prefill`, "False"],
    [`${ar}.rollout.enforce_eager`, "False"],
    [`${ar}.rollout.free_cache_engine`, "False"],
    [`${ar}.rollout.n`, num(c.rollout.n)],
    [`${ar}.ref.log_prob_micro_batch_size_per_gpu`, num(r.microBatchPerGpu)],
    [`${ar}.ref.fsdp_config.param_offload`, bool(r.refParamOffload)],
    ["algorithm.use_kl_in_reward", "False"],
    ["trainer.critic_warmup", "0"],
    ["trainer.logger", list(r.logger)],
    ["trainer.project_name", r.project],
    ["trainer.experiment_name", r.experiment],
    ["trainer.n_gpus_per_node", num(r.nGpusPerNode)],
    ["trainer.nnodes", num(r.nnodes)],
    ["trainer.save_freq", num(r.saveFreq)],
    ["trainer.test_freq", num(r.testFreq)],
    ["trainer.total_epochs", num(c.train.epochs)],
    ["custom_reward_function.path", d.rewardPath],
    // Not in the paper's script: verl's defaults, which equal the published preset; written out so a
    // changed config reaches verl instead of being silently replaced by the default.
    [`${ar}.rollout.temperature`, num(c.rollout.temperature)],
    [`${ar}.rollout.top_p`, num(c.rollout.topP)],
    [`${ar}.actor.optim.weight_decay`, num(c.actor.weightDecay)],
    [`${ar}.actor.grad_clip`, num(c.actor.maxGradNorm)],
    [`${ar}.actor.ppo_epochs`, num(c.actor.ppoEpochs)],
    [`${ar}.actor.clip_ratio_low`, num(c.actor.clipRatioLow)],
    [`${ar}.actor.clip_ratio_high`, num(c.actor.clipRatioHigh)],
    [`${ar}.actor.clip_ratio_c`, num(c.actor.clipRatioC)],
    [`${ar}.actor.loss_agg_mode`, c.actor.lossAggMode],
    ["algorithm.norm_adv_by_std_in_grpo", bool(c.actor.normAdvByStd)],
    ["custom_reward_function.name", "compute_score"],
    ["trainer.max_actor_ckpt_to_keep", num(c.train.keepLast)],
  ];
  if (c.train.maxSteps !== null) o.push(["trainer.total_training_steps", num(c.train.maxSteps)]);
  if (r.testFreq < 0) o.push(["trainer.val_before_train", "False"]);
  if (r.checkpointDir) o.push(["trainer.default_local_dir", r.checkpointDir]);
  const all = [...o, ...extra];
  return target === "head" ? toHead(all) : all;
}

/**
 * Keys current verl renamed or removed since the pinned commit (scaleout.md "Keys at HEAD"). A
 * removed key given explicitly is an error: dropping it would change the run without saying so.
 */
export const HEAD_RENAMES: Record<string, string | null> = {
  "ray_init.num_cpus": "ray_kwargs.ray_init.num_cpus",
  "actor_rollout_ref.actor.checkpoint.contents": "actor_rollout_ref.actor.checkpoint.save_contents",
  "actor_rollout_ref.actor.optim.warmup_style": "actor_rollout_ref.actor.optim.lr_scheduler_type",
  "actor_rollout_ref.rollout.chat_scheduler": null,
  "actor_rollout_ref.rollout.use_fire_sampling": null,
  "actor_rollout_ref.rollout.engine_kwargs.vllm.swap_space": null,
  "actor_rollout_ref.rollout.engine_kwargs.sglang.attention_backend": null,
  "actor_rollout_ref.rollout.multi_turn.max_turns": null,
};

export function toHead(overrides: Override[]): Override[] {
  const out: Override[] = [];
  for (const [k, v] of overrides) {
    const bare = k.replace(/^\+{1,2}/, "");
    if (bare === "actor_rollout_ref.rollout.mode" && v === "sync") throw new ConfigError("actor_rollout_ref.rollout.mode=sync was removed from current verl (rollout is always async)");
    if (bare in HEAD_RENAMES) {
      const to = HEAD_RENAMES[bare];
      if (to === null) throw new ConfigError(`${bare} no longer exists in current verl (${HEAD_COMMIT_NOTE}); remove it or target the pinned commit`);
      out.push([k.slice(0, k.length - bare.length) + to, v]);
      // checkpoint.contents became two keys: what is saved and what is loaded.
      if (bare === "actor_rollout_ref.actor.checkpoint.contents") out.push([k.slice(0, k.length - bare.length) + "actor_rollout_ref.actor.checkpoint.load_contents", v]);
    } else out.push([k, v]);
  }
  return out;
}

const HEAD_COMMIT_NOTE = "verl b178a3c";

/** Quote one shell word (single quotes unless it is plainly safe). */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=,+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `python3 -m verl.trainer.main_ppo k=v ...` as one line (what the Ray job runs). */
export function mainPpoEntrypoint(overrides: Override[]): string {
  return ["python3", "-m", "verl.trainer.main_ppo", ...overrides.map(([k, v]) => shellWord(`${k}=${v}`))].join(" ");
}

/** The same command as a readable script, one override per line. */
export function mainPpoScript(overrides: Override[], header: string[] = []): string {
  const lines = overrides.map(([k, v]) => `  ${shellWord(`${k}=${v}`)}`);
  return ["#!/usr/bin/env bash", ...header.map((h) => `# ${h}`), "set -euo pipefail", 'cd "$(dirname "$0")"', "python3 -m verl.trainer.main_ppo \\", lines.join(" \\\n") + ' "$@"', ""].join("\n");
}

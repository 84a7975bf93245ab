/**
 * GRPO (RLVR, the paper's second paradigm) as one resumable run, in verl's pieces:
 *
 *   prompts of the step -> rollout (n samples per prompt, token ids + log-probs)
 *   -> reward (the published rule) -> advantage (per-group normalised, core.ts)
 *   -> old log-probs (recomputed, or the sampler's) and reference log-probs (frozen initial model)
 *   -> mini-batches x PPO epochs of clipped policy loss + KL (core.ts computeActorLoss) -> AdamW
 *   -> metrics.jsonl per step, samples.jsonl, checkpoints.
 *
 * Determinism: the prompt order comes from one seeded Rng per epoch and each step's sampling seed
 * from (seed, step); a checkpoint stores the weights, the optimizer moments and step, and the Rng
 * state at the start of the epoch with the position in it, so `resume` repeats exactly the steps an
 * uninterrupted run would take. The reference model is saved once in <run>/reference.
 * The CLI (`medvlthinker train grpo`) and notebook 04 both call trainGrpo.
 */
import { withRunLock } from "../run-lock";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint";
import type { ModelConfig } from "../model/config";
import { initEngine } from "../model/engine";
import { EmbeddedModel } from "../model/model";
import type { Params } from "../model/params";
import { Sampler } from "../model/sampler";
import type { TextTokenizer } from "../model/tokenizer";
import { createProgress } from "../viz/progress";
import { MEDVLTHINKER_GRPO_LOSS } from "./core";
import { checkGrpoConfigFiles, parseGrpoConfig, type GrpoConfig, type GrpoConfigInput } from "./grpo-config";
import { loadGrpoItems, type GrpoDataReport } from "./grpo-data";
import { GrpoActor, planMiniBatches, type UpdateMetrics } from "./grpo-step";
import { formatWarmup } from "./grpo-warmup";
import { checkStageModels, stageModel, type StageModels } from "./init-model";
import { encodePrompt, rolloutStats, sampleGroups, scoreSamples, withAdvantages, type EncodedPrompt, type RolloutRow, type RolloutStats, type ScoredSample } from "./rollout";
import { resumePoint, runLoop, saveTrainerCheckpoint, type LoopEnd, type LoopPosition } from "./loop";
import {
  ConfigError,
  hashSeed,
  latestCheckpoint,
  MetricsWriter,
  openRun,
  readMetrics,
  Rng,
  truncateMetrics,
  writeJsonAtomic,
} from "./runs";

export const REFERENCE_DIR = "reference";
export const SAMPLES_FILE = "samples.jsonl";

/** One line of metrics.jsonl. */
export interface GrpoStepMetrics extends RolloutStats, UpdateMetrics {
  step: number;
  epoch: number;
  lr: number;
  adv_mean: number;
  adv_std: number;
  adv_min: number;
  adv_max: number;
  /** Seconds spent sampling, scoring (rewards, old and reference log-probs) and updating. */
  sample_s: number;
  score_s: number;
  update_s: number;
  step_s: number;
  /** Response tokens sampled per second of sampling. */
  sample_tokens_per_s: number;
}

export interface GrpoTrainerState {
  step: number;
  epoch: number;
  stepInEpoch: number;
  epochRngState: number;
  optimizerStep: number;
}

export interface TrainGrpoOptions {
  /** Continue the run in config.out from its latest checkpoint. */
  resume?: boolean;
  /** Replace an existing run in config.out. */
  overwrite?: boolean;
  /** Progress bar (default true). */
  progress?: boolean;
  /** Stop after the current step, writing a checkpoint (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  /** Tests: stop after this global step as if killed (no checkpoint). */
  haltAfterStep?: number;
  /** Called after every step with its metrics and the scored samples. */
  onStep?: (m: GrpoStepMetrics, samples: ScoredSample[]) => void;
  /** Notes (data report, warm-up, checkpoints); default console.error. */
  log?: (message: string) => void;
  /** When another process holds the run folder: wait for it (true, or at most ms) instead of failing. */
  wait?: boolean | number;
  /** Makes `model.init` "base" / "instruct" (src/stages/models.ts stageModels); not needed for a checkpoint folder. */
  models?: StageModels;
}

export interface GrpoResult {
  dir: string;
  config: GrpoConfig;
  /** The trained policy (caller disposes). */
  model: EmbeddedModel;
  /** Every step's metrics of the run (earlier sessions included). */
  metrics: GrpoStepMetrics[];
  data: GrpoDataReport;
  steps: number;
  totalSteps: number;
  finished: boolean;
  finalCheckpoint: string | null;
  /** The frozen reference (= initial policy, after any format warm-up): a checkpoint folder. */
  referenceDir: string;
}

/** Steps per epoch (verl drops the last partial batch) and in total. */
export function grpoStepCounts(nItems: number, c: GrpoConfig): { perEpoch: number; total: number } {
  const perEpoch = Math.floor(nItems / c.rollout.promptsPerStep);
  const total = perEpoch * c.train.epochs;
  return { perEpoch, total: c.train.maxSteps !== null ? Math.min(total, c.train.maxSteps) : total };
}

/** Mean, (population) std, min and max. */
function stats(xs: number[]): { mean: number; std: number; min: number; max: number } {
  const n = Math.max(1, xs.length);
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { mean, std, min: xs.length ? Math.min(...xs) : 0, max: xs.length ? Math.max(...xs) : 0 };
}

async function initialPolicy(cfg: GrpoConfig, log: (m: string) => void, models: StageModels | undefined): Promise<{ params: Params; mc: ModelConfig; tok: TextTokenizer }> {
  if (cfg.model.init === "instruct") {
    const m = await stageModel(models, "instruct", { size: cfg.model.size, smoke: cfg.preset === "smoke", progress: false, log });
    log(`starting from the ${m.config.dModel}-wide instruct model (base + instruction tuning)`);
    return { params: m.params, mc: m.config, tok: m.tokenizer };
  }
  if (cfg.model.init === "base") {
    const m = await stageModel(models, "base", { size: cfg.model.size, smoke: cfg.preset === "smoke" });
    log(`starting from the ${m.config.dModel}-wide base model`);
    return { params: m.params, mc: m.config, tok: m.tokenizer };
  }
  const ck = loadCheckpoint(cfg.model.init);
  log(`starting from ${cfg.model.init}`);
  return { params: ck.params, mc: ck.config, tok: ck.tokenizer };
}

/** One step's metrics line: rollout statistics, the update's means, advantages and timings (t0..t3: start, sampled, scored, updated). */
function grpoMetrics(step: number, epoch: number, lr: number, rows: RolloutRow[], prompts: EncodedPrompt[], acc: Omit<UpdateMetrics, "updates">[], [t0, t1, t2, t3]: number[]): GrpoStepMetrics {
  const avg = (k: keyof Omit<UpdateMetrics, "updates">) => acc.reduce((s, x) => s + x[k], 0) / acc.length;
  const adv = stats(rows.map((r) => r.advantage));
  const responseTokens = rows.reduce((s, x) => s + x.responseIds.length, 0);
  return {
    step,
    epoch,
    lr,
    ...rolloutStats(rows, prompts),
    pg_loss: avg("pg_loss"),
    pg_clipfrac: avg("pg_clipfrac"),
    pg_clipfrac_lower: avg("pg_clipfrac_lower"),
    ppo_kl: avg("ppo_kl"),
    kl_loss: avg("kl_loss"),
    entropy: avg("entropy"),
    grad_norm: avg("grad_norm"),
    updates: acc.length,
    adv_mean: adv.mean,
    adv_std: adv.std,
    adv_min: adv.min,
    adv_max: adv.max,
    sample_s: (t1 - t0) / 1000,
    score_s: (t2 - t1) / 1000,
    update_s: (t3 - t2) / 1000,
    step_s: (t3 - t0) / 1000,
    sample_tokens_per_s: responseTokens / Math.max(1e-9, (t1 - t0) / 1000),
  };
}

/** Train (or resume) one GRPO run. The same call from the CLI and notebooks. */
export async function trainGrpo(input: GrpoConfigInput | GrpoConfig, opts: TrainGrpoOptions = {}): Promise<GrpoResult> {
  const cfg = parseGrpoConfig(input);
  checkGrpoConfigFiles(cfg);
  checkStageModels(cfg.model.init, opts.models);
  // One process at a time in a run folder (src/run-lock.ts).
  return withRunLock(cfg.out, { wait: opts.wait, log: opts.log }, () => trainGrpoLocked(cfg, opts));
}

async function trainGrpoLocked(input: GrpoConfigInput | GrpoConfig, opts: TrainGrpoOptions): Promise<GrpoResult> {
  // 1. Everything that can be wrong with the config fails here, before any work.
  const cfg = parseGrpoConfig(input);
  checkGrpoConfigFiles(cfg);
  checkStageModels(cfg.model.init, opts.models);
  const log = opts.log ?? ((m: string) => console.error(m));
  const { items, report } = await loadGrpoItems(cfg.data);
  const { perEpoch, total } = grpoStepCounts(items.length, cfg);
  if (perEpoch === 0) throw new ConfigError(`GRPO config: ${items.length} usable items from ${cfg.data.sources.join(", ")}, fewer than rollout.promptsPerStep (${cfg.rollout.promptsPerStep})`);
  const run = openRun(cfg.out, cfg, { resume: opts.resume, overwrite: opts.overwrite });
  await initEngine();
  for (const w of report.warnings) log(`data: ${w}`);
  writeJsonAtomic(join(run.dir, "data-report.json"), report);
  const refDir = join(run.dir, REFERENCE_DIR);
  const samplesPath = join(run.dir, SAMPLES_FILE);

  // 2. The policy and the frozen reference: from the latest checkpoint, else the initial model
  // (after the format warm-up), saved once as the reference.
  // A run resumes only once its reference is saved (it is written before the first step).
  const resume = existsSync(join(refDir, "config.json")) ? resumePoint<GrpoTrainerState>(run, log) : null;
  let params: Params;
  let mc: ModelConfig;
  let tok: TextTokenizer;
  const state = resume?.state ?? null;
  if (resume) {
    ({ params, config: mc, tokenizer: tok } = resume.checkpoint);
  } else {
    ({ params, mc, tok } = await initialPolicy(cfg, log, opts.models));
    if (cfg.warmup.formatSteps > 0) {
      const bar = opts.progress === false ? null : createProgress({ total: cfg.warmup.formatSteps, label: "format warm-up" });
      const w = await formatWarmup(params, mc, tok, items, {
        steps: cfg.warmup.formatSteps,
        lr: cfg.warmup.lr,
        batchRows: cfg.warmup.batchRows,
        seed: cfg.train.seed,
        maxResponseTokens: cfg.rollout.maxResponseTokens,
        maxPromptTokens: cfg.rollout.maxPromptTokens,
        realNewline: cfg.data.realNewline,
        padMultiple: cfg.actor.padMultiple,
        onStep: (_s, loss) => bar?.tick(1, `loss ${loss.toFixed(3)}`),
      });
      bar?.done();
      params = w.params;
      log(`format warm-up: ${cfg.warmup.formatSteps} steps, loss ${w.losses[0]?.toFixed(3)} -> ${w.losses[w.losses.length - 1]?.toFixed(3)}`);
    }
    await saveCheckpoint(refDir, params, mc, tok, { info: { stage: "grpo-reference", run: run.dir } });
    if (run.resumed) {
      truncateMetrics(run.metricsPath, 0);
      truncateMetrics(samplesPath, 0);
    }
  }
  const a = cfg.actor;
  const useRef = a.klLossCoef !== 0;
  const ref = useRef ? loadCheckpoint(refDir).params : null;
  const miniRows = a.miniBatchPrompts * cfg.rollout.n;
  const microRows = Math.min(a.microBatchRows, miniRows);
  const actor = new GrpoActor(
    params,
    ref,
    mc,
    tok,
    { lr: a.lr, beta1: a.betas[0], beta2: a.betas[1], eps: a.eps, weightDecay: a.weightDecay, maxGradNorm: a.maxGradNorm },
    { clipRatioLow: a.clipRatioLow, clipRatioHigh: a.clipRatioHigh, clipRatioC: a.clipRatioC, lossAggMode: a.lossAggMode, klLossType: a.klLossType, klLossCoef: a.klLossCoef, entropyCoeff: a.entropyCoeff },
    microRows,
  );
  let at: LoopPosition = { step: 0, epoch: 0, stepInEpoch: 0, epochRngState: new Rng(cfg.train.seed).state };
  if (state) {
    actor.optimizer.restore(resume!.checkpoint.optimizer!, state.optimizerStep);
    at = { step: state.step, epoch: state.epoch, stepInEpoch: state.stepInEpoch, epochRngState: state.epochRngState };
    truncateMetrics(run.metricsPath, at.step);
    truncateMetrics(samplesPath, at.step);
  }
  const samplesOut = new MetricsWriter(samplesPath, false);
  const sampler = new Sampler(mc);
  let lastRows: RolloutRow[] = [];
  let lastPrompts: EncodedPrompt[] = [];

  // 3. The loop (train/loop.ts); each step is the algorithm: rollout, reward, advantage, old and
  // reference log-probs, update.
  const P = cfg.rollout.promptsPerStep;
  let order: number[] = [];
  let end: LoopEnd;
  try {
    end = await runLoop<GrpoStepMetrics>(at, state !== null, {
      total,
      saveEvery: cfg.train.saveEvery,
      planEpoch: (rng) => {
        order = rng.shuffle(items.map((_, i) => i));
        return perEpoch;
      },
      step: async (p) => {
        const t0 = performance.now();
        const stepItems = order.slice(p.stepInEpoch * P, (p.stepInEpoch + 1) * P).map((i) => items[i]);
        const prompts = await Promise.all(stepItems.map((it, uid) => encodePrompt(it, uid, tok, mc, { ...cfg.rollout, realNewline: cfg.data.realNewline })));
        // Rollout: n samples per prompt, as token ids with their log-probs.
        const sampled = await sampleGroups(sampler, actor.params, prompts, tok, { ...cfg.rollout, seed: hashSeed(cfg.train.seed * 100_003 + p.step), realNewline: cfg.data.realNewline });
        const t1 = performance.now();
        // Reward: the published rule on each response.
        const scored = scoreSamples(sampled, prompts, cfg.reward);
        // Advantage: normalised within each prompt's group.
        const rows = withAdvantages(scored, { epsilon: MEDVLTHINKER_GRPO_LOSS.advantageEpsilon, normAdvByStdInGrpo: a.normAdvByStd });
        // Old-policy and reference log-probs, by the actor, into the same rows.
        const plan = planMiniBatches(rows, miniRows, microRows, a.padMultiple, mc.maxSeq);
        await actor.scoreRows(rows, plan, a.oldLogProb);
        const t2 = performance.now();
        // Update: PPO epochs of clipped policy loss + KL over the mini-batches (constant lr).
        const acc: Omit<UpdateMetrics, "updates">[] = [];
        for (let e = 0; e < a.ppoEpochs; e++) {
          for (let mi = 0; mi < plan.length; mi++) acc.push(await actor.updateMiniBatch(rows, plan[mi], a.lr));
        }
        const t3 = performance.now();
        const m = grpoMetrics(p.step + 1, p.epoch + (p.stepInEpoch + 1) / perEpoch, a.lr, rows, prompts, acc, [t0, t1, t2, t3]);
        lastRows = rows;
        lastPrompts = prompts;
        return { metrics: m, note: `reward ${m.reward_mean.toFixed(3)} acc ${m.accuracy.toFixed(3)} kl ${m.kl_loss.toFixed(4)}` };
      },
      afterStep: (m) => {
        for (const s of lastRows.filter((x) => x.k === 0).slice(0, cfg.train.logSamples)) {
          const it = lastPrompts[s.uid].item;
          samplesOut.append({ step: m.step, dataset_name: it.dataset_name, dataset_index: it.dataset_index, answer_label: it.answer_label, response: s.text, reward: s.reward.reward, reason: s.reward.reason });
        }
        opts.onStep?.(m, lastRows);
      },
      checkpoint: async (step, next) => {
        const s: GrpoTrainerState = { step, epoch: next.epoch, stepInEpoch: next.stepInEpoch, epochRngState: next.epochRngState, optimizerStep: actor.optimizer.state.step };
        await saveTrainerCheckpoint(run, step, actor.optimizer, mc, tok, { stage: "grpo", step, run: run.dir }, s, { keepLast: cfg.train.keepLast });
      },
    }, { metricsPath: run.metricsPath, progress: opts.progress === false ? null : "GRPO", signal: opts.signal, haltAfterStep: opts.haltAfterStep, log });
  } finally {
    samplesOut.close();
    sampler.dispose();
  }
  const { halted, lastSaved } = end;
  const step = end.at.step;
  const finished = step >= total && !halted;
  const finalCheckpoint = lastSaved === step ? (latestCheckpoint(run.checkpointsDir)?.dir ?? null) : null;
  const all = readMetrics<GrpoStepMetrics>(run.metricsPath).records;
  if (finished) {
    const last = all[all.length - 1];
    writeJsonAtomic(join(run.dir, "summary.json"), { steps: step, finalCheckpoint, reference: refDir, items: items.length, final: last ?? null });
  }
  const model = new EmbeddedModel(actor.params, mc, tok);
  model.info = { stage: "grpo", step, run: run.dir };
  actor.dispose(); // moments, compiled functions and the reference; the weights now belong to `model`
  return { dir: run.dir, config: cfg, model, metrics: all, data: report, steps: step, totalSteps: total, finished, finalCheckpoint, referenceDir: refDir };
}

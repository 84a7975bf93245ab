/**
 * Supervised fine-tuning on reasoning traces (the paper's first paradigm), as one resumable run:
 *
 *   config (validated, saved) -> items (traces, minus eval overlap and disagreeing traces)
 *   -> chat sequences, loss on the target only -> epochs of bucketed steps (gradient accumulation,
 *   AdamW, cosine with warm-up, clipping) -> metrics.jsonl per step, held-out loss every N steps,
 *   checkpoints every N steps / at epoch ends / at the end.
 *
 * Determinism: the data order comes from one seeded Rng; a checkpoint stores the weights, the
 * optimizer moments and step, the Rng state at the start of the current epoch and the position in
 * it, so `resume` replays exactly the steps an uninterrupted run would take.
 * The CLI (`medvlthinker train sft`) and notebook 03 both call runSft.
 */
import { join } from "node:path";
import { numpy as np } from "../model/jax";
import { buildHostBatch, lossMask, type Sequence } from "../model/batch";
import { checkStageModels, stageModel, type StageModels } from "./init-model";
import { loadCheckpoint, diffShapes } from "../model/checkpoint";
import type { ModelConfig } from "../model/config";
import { initEngine } from "../model/engine";
import { EmbeddedModel } from "../model/model";
import { paramShapes, type Params } from "../model/params";
import type { TextTokenizer } from "../model/tokenizer";
import { imagePatches } from "../model/vision";
import { checkConfigFiles, parseSftConfig, type SftConfig, type SftConfigInput } from "./config";
import { cosineWithWarmup, warmupSteps } from "./schedule";
import { loadSftItems, planEpoch, planFixed, splitHeldOut, targetTokens, tokenizeItems, type PlannedStep, type SftDataReport, type SftExample, type TokenizeReport } from "./sft-data";
import { LmTrainer, type MicroBatch } from "./lm-step";
import { resumePoint, runLoop, saveTrainerCheckpoint, type LoopPosition } from "./loop";
import {
  ConfigError,
  listCheckpoints,
  openRun,
  readCheckpointState,
  readMetrics,
  Rng,
  truncateMetrics,
  writeJsonAtomic,
  type RunFolder,
} from "./runs";

export interface SftMetrics {
  step: number;
  /** Fractional epoch at the end of this step. */
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  /** Scored (target) tokens in the step. */
  target_tokens: number;
  /** Non-padding tokens processed (prompt + target). */
  tokens: number;
  step_ms: number;
  tokens_per_s: number;
  held_out_loss?: number;
}

/** What a checkpoint's trainer-state.json holds besides the model and optimizer files. */
export interface SftTrainerState {
  step: number;
  /** The epoch the next step belongs to, and its index in that epoch's plan. */
  epoch: number;
  stepInEpoch: number;
  /** Rng state at the start of `epoch` (the plan is rebuilt from it) and after planning it. */
  epochRngState: number;
  rngState: number;
  optimizerStep: number;
  /** Set on the checkpoint written when an epoch ended. */
  epochEnd: number | null;
  heldOutLoss: number | null;
}

export interface SftRunOptions {
  /** Continue the run in config.out from its latest checkpoint. */
  resume?: boolean;
  /** Replace an existing run in config.out. */
  overwrite?: boolean;
  /** Progress bar (default true). */
  progress?: boolean;
  /** Stop after the current step, writing a checkpoint (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  /** Tests: stop after this global step as if killed (no checkpoint, no summary). */
  haltAfterStep?: number;
  /** Called after each step's metrics are written (awaited; not part of the step's timing). */
  onStep?: (m: SftMetrics) => void | Promise<void>;
  /** Notes (data report lines, checkpoints); default console.error. */
  log?: (message: string) => void;
  /** Makes `model.init: "base"` (src/stages/models.ts stageModels); not needed for a checkpoint folder. */
  models?: StageModels;
}

export interface SftResult {
  dir: string;
  config: SftConfig;
  /** The trained model (caller disposes). */
  model: EmbeddedModel;
  metrics: SftMetrics[];
  data: SftDataReport;
  tokenized: { train: TokenizeReport["counts"]; heldOut: TokenizeReport["counts"]; dropped: number; trainExamples: number; heldOutExamples: number };
  steps: number;
  totalSteps: number;
  /** Complete (all steps done) or stopped early (signal / halt). */
  finished: boolean;
  finalCheckpoint: string | null;
  /** The checkpoint of config.train.reportEpoch (the published run reports epoch 3), when made. */
  reportCheckpoint: string | null;
  heldOutLoss: number | null;
  /** Non-padding tokens per second over this call's steps (data building included). */
  tokensPerSecond: number;
}

interface Prepared {
  train: SftExample[];
  heldOut: SftExample[];
  report: SftDataReport;
  tokenized: SftResult["tokenized"];
}

/** Items -> tokenized train / held-out examples for a model's tokenizer and context. */
export async function prepareSftData(cfg: SftConfig, tok: TextTokenizer, mc: ModelConfig): Promise<Prepared> {
  const { items, report } = await loadSftItems(cfg.data);
  if (items.length === 0) throw new ConfigError(`no SFT items left from ${cfg.data.sources.join(", ")} (loaded ${report.loaded}, ${report.noReasoning} without reasoning, ${report.overlap.excluded.length} in evaluation sets, ${report.disagreeing.length} disagreeing)`);
  const split = splitHeldOut(items, cfg.data.heldOutFraction, cfg.train.seed);
  const o = { overlong: cfg.data.overlong, maxLength: cfg.data.maxLength, realNewline: cfg.data.realNewline };
  const tr = tokenizeItems(split.train, tok, mc, o);
  const ho = tokenizeItems(split.heldOut, tok, mc, o);
  if (tr.examples.length === 0) throw new ConfigError(`every training item was dropped as longer than the context (${mc.maxSeq}); use data.overlong "cut" or "truncate-reasoning"`);
  return {
    train: tr.examples,
    heldOut: ho.examples,
    report,
    tokenized: { train: tr.counts, heldOut: ho.counts, dropped: tr.dropped.length + ho.dropped.length, trainExamples: tr.examples.length, heldOutExamples: ho.examples.length },
  };
}

/** Right-padded micro-batch of `rows` (padded with empty rows up to `batchRows`), target-only mask. */
export async function buildMicroBatch(examples: SftExample[], rows: number[], length: number, batchRows: number, mc: ModelConfig, tok: TextTokenizer): Promise<{ micro: MicroBatch; tokens: number }> {
  const seqs: (Sequence & { promptLength: number })[] = [];
  let tokens = 0;
  for (const r of rows) {
    const e = examples[r];
    const images = e.images.length ? await Promise.all(e.images.map((im) => imagePatches(im, mc))) : undefined;
    seqs.push({ ids: e.ids, images, promptLength: e.promptLength });
    tokens += Math.min(e.ids.length, length);
  }
  while (seqs.length < batchRows) seqs.push({ ids: [tok.ids.pad], promptLength: 1 });
  const batch = buildHostBatch(seqs, mc, { pad: "right", length, imageTokenId: tok.ids.image, padId: tok.ids.pad });
  return { micro: { batch, mask: lossMask(seqs, length, seqs.map((s) => s.promptLength)) }, tokens };
}

/** Token-mean NLL of the held-out examples. */
async function heldOutLoss(stepper: LmTrainer, ex: SftExample[], cfg: SftConfig, mc: ModelConfig, tok: TextTokenizer): Promise<number | null> {
  if (ex.length === 0) return null;
  const plan = planFixed(
    ex.map((e) => e.ids.length),
    cfg.train.microBatch,
    cfg.train.padMultiple,
    mc.maxSeq,
  );
  let sum = 0;
  let n = 0;
  for (const m of plan) {
    const { micro } = await buildMicroBatch(ex, m.rows, m.length, cfg.train.microBatch, mc, tok);
    sum += await stepper.nllSum(micro);
    n += m.rows.reduce((s, r) => s + targetTokens(ex[r], m.length), 0);
  }
  return sum / Math.max(1, n);
}

/** Steps per epoch and in total (maxSteps caps the total). */
export function sftStepCounts(nTrain: number, t: SftConfig["train"]): { perEpoch: number; total: number } {
  const perEpoch = Math.ceil(nTrain / (t.microBatch * t.gradAccum));
  const total = perEpoch * t.epochs;
  return { perEpoch, total: t.maxSteps !== null ? Math.min(total, t.maxSteps) : total };
}

/** Largest cosine similarity between the embedding rows of two different answer-format tags. */
export async function tagEmbeddingSimilarity(params: Params, tok: TextTokenizer): Promise<number> {
  const E = (await params.embed.ref.data()) as Float32Array;
  const d = params.embed.shape[1];
  const tags = [tok.ids.thinkOpen, tok.ids.thinkClose, tok.ids.answerOpen, tok.ids.answerClose];
  const row = (i: number) => E.subarray(i * d, (i + 1) * d);
  let worst = -1;
  for (let a = 0; a < tags.length; a++) {
    for (let b = a + 1; b < tags.length; b++) {
      const x = row(tags[a]);
      const y = row(tags[b]);
      let xy = 0;
      let xx = 0;
      let yy = 0;
      for (let k = 0; k < d; k++) {
        xy += x[k] * y[k];
        xx += x[k] * x[k];
        yy += y[k] * y[k];
      }
      worst = Math.max(worst, xy / Math.sqrt(xx * yy || 1));
    }
  }
  return worst;
}

/**
 * Fresh, distinct embedding rows for the four answer-format tags when they are near-duplicates
 * (max pairwise cosine > `threshold`). The embedded base model never sees the tags in
 * pretraining, so their (tied) rows only receive the softmax's push-down gradient and drift to
 * almost the same vector (cosine 0.98 measured in the workshop base): as inputs `<think>` and
 * `</answer>` then look alike, SFT teaches "</answer> -> end" and the model ends right after
 * `<think>`. Rows are seeded Gaussian at the mean row norm of the table, like a newly added
 * token. Consumes `params.embed` only when it replaces it.
 */
export async function distinctTagEmbeddings(params: Params, tok: TextTokenizer, seed: number, threshold = 0.9): Promise<{ params: Params; similarity: number; replaced: boolean }> {
  const similarity = await tagEmbeddingSimilarity(params, tok);
  if (similarity <= threshold) return { params, similarity, replaced: false };
  const [V, d] = params.embed.shape;
  const E = new Float32Array((await params.embed.ref.data()) as Float32Array);
  let norms = 0;
  for (let i = 0; i < V; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += E[i * d + k] ** 2;
    norms += Math.sqrt(s);
  }
  const target = norms / V;
  const rng = new Rng(seed ^ 0x7a95);
  for (const id of [tok.ids.thinkOpen, tok.ids.thinkClose, tok.ids.answerOpen, tok.ids.answerClose]) {
    const v = Array.from({ length: d }, () => {
      const u = Math.max(rng.uniform(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.uniform());
    });
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
    v.forEach((x, k) => (E[id * d + k] = (x * target) / n));
  }
  params.embed.dispose();
  return { params: { ...params, embed: np.array(E).reshape([V, d]) }, similarity, replaced: true };
}

async function initialModel(cfg: SftConfig, log: (m: string) => void, models: StageModels | undefined): Promise<{ params: Params; config: ModelConfig; tok: TextTokenizer; from: string }> {
  if (cfg.model.init === "base") {
    const m = await stageModel(models, "base", { size: cfg.model.size, smoke: cfg.preset === "smoke" });
    log(`starting from the ${m.config.dModel}-wide base model (${m.info.stage ?? "checkpoint"})`);
    const t = await distinctTagEmbeddings(m.params, m.tokenizer, cfg.train.seed);
    if (t.replaced) log(`answer-format tags had near-duplicate embeddings (cosine ${t.similarity.toFixed(3)}): given fresh distinct rows`);
    return { params: t.params, config: m.config, tok: m.tokenizer, from: "base" };
  }
  const ck = loadCheckpoint(cfg.model.init);
  return { params: ck.params, config: ck.config, tok: ck.tokenizer, from: cfg.model.init };
}

/** Train (or resume) one SFT run. Same call from the CLI and notebooks. */
export async function runSft(input: SftConfigInput | SftConfig, opts: SftRunOptions = {}): Promise<SftResult> {
  // 1. Everything that can be wrong with the config fails here, before any work.
  const cfg = parseSftConfig(input);
  checkConfigFiles(cfg);
  checkStageModels(cfg.model.init, opts.models);
  const log = opts.log ?? ((m: string) => console.error(m));
  const run: RunFolder = openRun(cfg.out, cfg, { resume: opts.resume, overwrite: opts.overwrite });
  await initEngine();

  // 2. The starting point: the latest checkpoint of this run, else the configured initial model.
  const resume = resumePoint<SftTrainerState>(run, log);
  let params: Params;
  let mc: ModelConfig;
  let tok: TextTokenizer;
  const state = resume?.state ?? null;
  if (resume) {
    ({ params, config: mc, tokenizer: tok } = resume.checkpoint);
  } else {
    ({ params, config: mc, tok } = await initialModel(cfg, log, opts.models));
  }

  // 3. Data.
  const data = await prepareSftData(cfg, tok, mc);
  for (const w of data.report.warnings) log(`data: ${w}`);
  writeJsonAtomic(join(run.dir, "data-report.json"), { ...data.report, tokenized: data.tokenized });
  const train = data.train;
  const lengths = train.map((e) => e.ids.length);
  const targetCounts = train.map((e) => targetTokens(e));
  const t = cfg.train;
  const { perEpoch, total } = sftStepCounts(train.length, t);
  const sched = { peak: t.lr, warmupSteps: warmupSteps(t.warmupRatio, total), totalSteps: total, minRatio: t.minLrRatio };

  // 4. Trainer, restored when resuming; metrics past the checkpoint are dropped (they are redone).
  const stepper = new LmTrainer(params, mc, { lr: t.lr, beta1: t.betas[0], beta2: t.betas[1], eps: t.eps, weightDecay: t.weightDecay, maxGradNorm: t.maxGradNorm });
  let at: LoopPosition = { step: 0, epoch: 0, stepInEpoch: 0, epochRngState: new Rng(t.seed).state };
  let lastHeld: number | null = null;
  if (state) {
    const optimizer = resume!.checkpoint.optimizer!;
    const problems = diffShapes(
      Object.fromEntries(Object.entries(optimizer).filter(([k]) => k.startsWith("m.")).map(([k, v]) => [k.slice(2), v])),
      paramShapes(mc),
    );
    if (problems.length) throw new ConfigError(`checkpoint ${resume!.dir}: optimizer state does not match the model:\n  ${problems.join("\n  ")}`);
    stepper.optimizer.restore(optimizer, state.optimizerStep);
    at = { step: state.step, epoch: state.epoch, stepInEpoch: state.stepInEpoch, epochRngState: state.epochRngState };
    lastHeld = state.heldOutLoss;
    truncateMetrics(run.metricsPath, at.step);
  } else if (run.resumed) {
    truncateMetrics(run.metricsPath, 0);
  }
  const epochCheckpoints = () => new Set(listCheckpoints(run.checkpointsDir).filter((c) => readCheckpointState<SftTrainerState>(c.dir).epochEnd !== null).map((c) => c.step));

  // 5. The loop (train/loop.ts): this trainer's epoch plan, step and checkpoint.
  let plan: PlannedStep[] = [];
  let sessionTokens = 0;
  const sessionStart = performance.now();
  const end = await runLoop<SftMetrics>(at, state !== null, {
    total,
    saveEvery: t.saveEvery,
    saveAlso: (_step, epochDone) => epochDone && t.saveEpochs,
    planEpoch: (rng) => {
      const order = rng.shuffle(train.map((_, i) => i));
      plan = planEpoch(lengths, targetCounts, order, t, mc.maxSeq, rng);
      return plan.length;
    },
    step: async (p) => {
      const ps = plan[p.stepInEpoch];
      const t0 = performance.now();
      let tokens = 0;
      const micros: MicroBatch[] = [];
      for (const m of ps.micro) {
        const b = await buildMicroBatch(train, m.rows, m.length, t.microBatch, mc, tok);
        micros.push(b.micro);
        tokens += b.tokens;
      }
      const lr = cosineWithWarmup(p.step, sched);
      const r = await stepper.step(micros, lr, 1 / Math.max(1, ps.tokens));
      const step = p.step + 1;
      const ms = performance.now() - t0;
      sessionTokens += tokens;
      const m: SftMetrics = { step, epoch: p.epoch + (p.stepInEpoch + 1) / plan.length, loss: r.loss, lr, grad_norm: r.gradNorm, target_tokens: ps.tokens, tokens, step_ms: ms, tokens_per_s: tokens / (ms / 1000) };
      if ((t.evalEvery > 0 && step % t.evalEvery === 0) || step === total) {
        lastHeld = await heldOutLoss(stepper, data.heldOut, cfg, mc, tok);
        if (lastHeld !== null) m.held_out_loss = lastHeld;
      }
      return { metrics: m, note: `loss ${r.loss.toFixed(3)}${m.held_out_loss !== undefined ? ` held-out ${m.held_out_loss.toFixed(3)}` : ""}` };
    },
    afterStep: (m) => opts.onStep?.(m),
    checkpoint: async (step, next, epochDone, rngState) => {
      const epochEnd = epochDone ? next.epoch : null;
      const s: SftTrainerState = { step, epoch: next.epoch, stepInEpoch: next.stepInEpoch, epochRngState: next.epochRngState, rngState, optimizerStep: stepper.optimizer.state.step, epochEnd, heldOutLoss: lastHeld };
      const info = { stage: "sft", step, epoch: epochEnd ?? next.epoch + next.stepInEpoch / perEpoch, run: run.dir };
      await saveTrainerCheckpoint(run, step, stepper.optimizer, mc, tok, info, s, { keepLast: t.keepLast, keep: epochCheckpoints() });
    },
  }, { metricsPath: run.metricsPath, progress: opts.progress === false ? null : "SFT", signal: opts.signal, haltAfterStep: opts.haltAfterStep, log });
  const { halted, lastSaved } = end;
  const step = end.at.step;
  const finished = step >= total;
  const secs = (performance.now() - sessionStart) / 1000;
  const ckpts = listCheckpoints(run.checkpointsDir);
  const finalCheckpoint = lastSaved === step ? (ckpts.find((c) => c.step === step)?.dir ?? null) : null;
  const wantEpoch = t.reportEpoch ?? t.epochs;
  const reportCheckpoint = ckpts.find((c) => readCheckpointState<SftTrainerState>(c.dir).epochEnd === wantEpoch)?.dir ?? null;
  const all = readMetrics<SftMetrics>(run.metricsPath).records;
  if (finished && !halted) {
    writeJsonAtomic(join(run.dir, "summary.json"), {
      steps: step,
      epochs: t.epochs,
      finalCheckpoint,
      reportEpoch: wantEpoch,
      reportCheckpoint,
      heldOutLoss: lastHeld,
      finalLoss: all.length ? all[all.length - 1].loss : null,
      data: { train: train.length, heldOut: data.heldOut.length, disagreeing: data.report.disagreeing.length, overlapExcluded: data.report.overlap.excluded.length },
    });
  }
  const model = new EmbeddedModel(stepper.params, mc, tok);
  model.info = { stage: "sft", step, run: run.dir };
  // The optimizer's moments are freed; the weights now belong to `model`.
  stepper.dispose();
  return {
    dir: run.dir,
    config: cfg,
    model,
    metrics: all,
    data: data.report,
    tokenized: data.tokenized,
    steps: step,
    totalSteps: total,
    finished: finished && !halted,
    finalCheckpoint,
    reportCheckpoint,
    heldOutLoss: lastHeld,
    tokensPerSecond: secs > 0 ? sessionTokens / secs : 0,
  };
}

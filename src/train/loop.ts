/**
 * The skeleton every trainer runs (SFT and GRPO plug a step into it): where a run resumes, its
 * checkpoints (weights, optimizer moments, trainer state; pruned), and the loop: epochs of steps in an order drawn
 * from one seeded Rng per epoch, one metrics line per step (appended and flushed), a checkpoint at
 * the end, on Ctrl-C (the signal stops after the current step), every `saveEvery` steps and when
 * the trainer asks, and the tests' halt that stops as if killed (no checkpoint).
 *
 * Exact resume: the position (step, epoch, step in the epoch, the epoch's Rng state) is what a
 * checkpoint stores; starting from it repeats exactly the steps an uninterrupted run would take,
 * because each epoch's order is drawn again from its Rng state.
 */
import { ConfigError } from "../errors";
import { loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from "../model/checkpoint";
import type { ModelConfig } from "../model/config";
import type { TextTokenizer } from "../model/tokenizer";
import { createProgress } from "../viz/progress";
import type { Optimizer } from "./optim";
import { latestCheckpoint, MetricsWriter, pruneCheckpoints, readCheckpointState, Rng, writeCheckpoint, type RunFolder } from "./runs";

export interface LoopPosition {
  step: number;
  epoch: number;
  /** Steps done in the current epoch. */
  stepInEpoch: number;
  /** The Rng state at the start of the current epoch. */
  epochRngState: number;
}

export interface Trainer<M> {
  /** Steps of the whole run. */
  total: number;
  /** Plans an epoch from `rng` (its state is the epoch's start) and returns its number of steps. */
  planEpoch(rng: Rng): number;
  /** Runs the step at `at` (before it: at.step steps done); returns its metrics line and a progress note. */
  step(at: LoopPosition, stepsInEpoch: number): Promise<{ metrics: M; note: string }>;
  /** After the metrics line is written: sample logs, callbacks. */
  afterStep?(metrics: M): void | Promise<void>;
  /** Checkpoint every this many steps (0: only at the end and on a stop). */
  saveEvery: number;
  /** Further steps to checkpoint (e.g. SFT's epoch ends). */
  saveAlso?(step: number, epochDone: boolean): boolean;
  /** Writes the checkpoint of `step`, from which a resume continues at `next` (`rngState`: the Rng now); prunes old ones. */
  checkpoint(step: number, next: LoopPosition, epochDone: boolean, rngState: number): Promise<void>;
}

export interface LoopOptions {
  metricsPath: string;
  /** Progress bar label; null for no bar. */
  progress: string | null;
  signal?: AbortSignal;
  /** Tests: stop after this global step as if killed (no checkpoint). */
  haltAfterStep?: number;
  log: (message: string) => void;
}

export interface LoopEnd {
  at: LoopPosition;
  /** Stopped early (signal or halt). */
  halted: boolean;
  /** The step of the newest checkpoint written (or resumed from); -1 for none. */
  lastSaved: number;
}

/** Runs (or continues, from `start`) the trainer's epochs; `resumed` says `start` is a checkpoint's position. */
export async function runLoop<M>(start: LoopPosition, resumed: boolean, trainer: Trainer<M>, o: LoopOptions): Promise<LoopEnd> {
  let { step, epoch, stepInEpoch, epochRngState } = start;
  const rng = new Rng(0, epochRngState);
  const metricsOut = new MetricsWriter(o.metricsPath);
  const bar = o.progress === null ? null : createProgress({ total: trainer.total - step, label: o.progress });
  let lastSaved = resumed ? step : -1;
  let halted = false;
  try {
    while (step < trainer.total && !halted) {
      rng.state = epochRngState;
      const stepsInEpoch = trainer.planEpoch(rng);
      for (; stepInEpoch < stepsInEpoch && step < trainer.total; ) {
        const { metrics, note } = await trainer.step({ step, epoch, stepInEpoch, epochRngState }, stepsInEpoch);
        step++;
        stepInEpoch++;
        metricsOut.append(metrics as unknown as Record<string, unknown>);
        await trainer.afterStep?.(metrics);
        bar?.tick(1, note);
        if (o.haltAfterStep !== undefined && step >= o.haltAfterStep) {
          halted = true;
          break;
        }
        const epochDone = stepInEpoch === stepsInEpoch;
        const next = epochDone ? { step, epoch: epoch + 1, stepInEpoch: 0, epochRngState: rng.state } : { step, epoch, stepInEpoch, epochRngState };
        const stopping = o.signal?.aborted === true;
        if (step === trainer.total || stopping || (trainer.saveEvery > 0 && step % trainer.saveEvery === 0) || trainer.saveAlso?.(step, epochDone)) {
          await trainer.checkpoint(step, next, epochDone, rng.state);
          lastSaved = step;
        }
        if (stopping) {
          halted = true;
          o.log(`stopped at step ${step}; resume with the same config to continue`);
          break;
        }
      }
      if (!halted && stepInEpoch >= stepsInEpoch) {
        epoch++;
        stepInEpoch = 0;
        epochRngState = rng.state;
      }
    }
  } finally {
    metricsOut.close();
    bar?.done();
  }
  return { at: { step, epoch, stepInEpoch, epochRngState }, halted, lastSaved };
}

/** Where a reopened run continues: its newest complete checkpoint (weights, tokenizer, optimizer arrays) and trainer state. */
export interface ResumePoint<S> {
  dir: string;
  checkpoint: LoadedCheckpoint;
  state: S;
}

/**
 * The resume point of a run folder, or null for a new run (or a reopened one that saved no
 * checkpoint yet). A checkpoint without optimizer state cannot resume exactly: a ConfigError.
 */
export function resumePoint<S>(run: RunFolder, log: (message: string) => void): ResumePoint<S> | null {
  const from = run.resumed ? latestCheckpoint(run.checkpointsDir) : null;
  if (!from) return null;
  const checkpoint = loadCheckpoint(from.dir);
  const state = readCheckpointState<S>(from.dir);
  if (!checkpoint.optimizer) throw new ConfigError(`checkpoint ${from.dir} has no optimizer state; cannot resume exactly`);
  log(`resuming ${run.dir} from ${from.dir} (step ${(state as { step?: number }).step})`);
  return { dir: from.dir, checkpoint, state };
}

/**
 * A trainer checkpoint of `step`: the weights and tokenizer, the optimizer's moments, `info` and
 * the trainer `state`, written atomically (runs.ts writeCheckpoint); then older ones are pruned
 * (the newest `keepLast` and the steps in `keep` stay).
 */
export async function saveTrainerCheckpoint(run: RunFolder, step: number, optimizer: Optimizer, mc: ModelConfig, tok: TextTokenizer, info: Record<string, unknown>, state: unknown, prune: { keepLast: number; keep?: Iterable<number> }): Promise<string> {
  const arrays = optimizer.arrays();
  let dir: string;
  try {
    dir = await writeCheckpoint(run.checkpointsDir, step, (tmp) => saveCheckpoint(tmp, optimizer.params, mc, tok, { info, optimizer: arrays }), state);
  } finally {
    arrays.step.dispose();
  }
  pruneCheckpoints(run.checkpointsDir, prune.keepLast, prune.keep);
  return dir;
}

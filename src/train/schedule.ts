/**
 * Learning-rate schedules as pure functions of the step (0-based). Cosine with linear warm-up is
 * TRL's / transformers' `get_cosine_schedule_with_warmup`: lr rises linearly over warmup steps,
 * then follows half a cosine from the peak down to `minRatio * peak` at totalSteps.
 */
export interface CosineSchedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor as a fraction of the peak (0 = decay to zero, as transformers does). */
  minRatio?: number;
}

export function cosineWithWarmup(step: number, s: CosineSchedule): number {
  const minRatio = s.minRatio ?? 0;
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.peak * step) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  const cos = 0.5 * (1 + Math.cos(Math.PI * progress));
  return s.peak * (minRatio + (1 - minRatio) * cos);
}

/** Warm-up steps from a ratio, as TRL's warmup_ratio: ceil(ratio * total). */
export function warmupSteps(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}

export function constantLr(_step: number, lr: number): number {
  return lr;
}

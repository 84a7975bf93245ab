/**
 * verl's console logger in a Ray job log -> the per-step metrics record the embedded GRPO writes
 * (src/train/grpo.ts GrpoStepMetrics), so notebook 04's curves draw a cluster run.
 *
 * A step line (verl utils/logger/aggregate_logger.py concat_dict_to_str) reaches the driver log
 * through Ray's worker-log forwarding with the actor's prefix, maybe coloured:
 *   `(TaskRunner pid=87031, ip=10.0.0.2) step:83 - critic/score/mean:0.906 - actor/kl_loss:0.024 - ...`
 * values with 3 decimals at the pinned commit, full precision (pprint) at current verl. The log
 * is read whole on every poll (Ray replays it from the start; a poll may end mid-line), so the
 * reader keeps an offset, consumes complete lines only, and records each step once.
 */

/** A GRPO step as metrics.jsonl holds it; fields verl does not log are absent. */
export interface VerlStepRecord {
  step: number;
  source: "verl";
  epoch?: number;
  lr?: number;
  reward_mean?: number;
  accuracy?: number;
  response_length_mean?: number;
  response_length_max?: number;
  truncated_rate?: number;
  pg_loss?: number;
  pg_clipfrac?: number;
  pg_clipfrac_lower?: number;
  ppo_kl?: number;
  kl_loss?: number;
  entropy?: number;
  grad_norm?: number;
  adv_mean?: number;
  adv_min?: number;
  adv_max?: number;
  sample_s?: number;
  score_s?: number;
  update_s?: number;
  step_s?: number;
  /** Every metric of the line, under verl's names (validation ones included). */
  verl: Record<string, number>;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const STEP = /(?:^|[\s)])step:(\d+)(?: - (.*))?$/;

/** A value as verl prints it: plain numbers, and numpy reprs such as `np.float64(0.5)`. */
function parseValue(v: string): number | null {
  const t = v.trim();
  const m = /^(?:np\.)?(?:float|int)\d*\((.*)\)$/.exec(t);
  const s = m ? m[1] : t;
  if (s === "nan") return NaN;
  if (s === "inf") return Infinity;
  if (s === "-inf") return -Infinity;
  const x = Number(s);
  return s !== "" && !Number.isNaN(x) ? x : null;
}

/** Parse one log line; null when it is not a verl step line. */
export function parseStepLine(line: string): { step: number; metrics: Record<string, number> } | null {
  const clean = line.replace(ANSI, "").replace(/\r$/, "");
  const m = STEP.exec(clean);
  if (!m) return null;
  const metrics: Record<string, number> = {};
  for (const part of (m[2] ?? "").split(" - ")) {
    const i = part.lastIndexOf(":");
    if (i <= 0) continue;
    const v = parseValue(part.slice(i + 1));
    if (v !== null) metrics[part.slice(0, i).trim()] = v;
  }
  return { step: Number(m[1]), metrics };
}

/** verl's metric names -> the embedded trainer's (GRPO's score is the 0/1 reward, so accuracy = mean score). */
export function toStepRecord(step: number, v: Record<string, number>): VerlStepRecord {
  const r: VerlStepRecord = { step, source: "verl", verl: v };
  const set = (k: keyof VerlStepRecord, name: string) => {
    if (name in v) (r as unknown as Record<string, number>)[k] = v[name];
  };
  set("epoch", "training/epoch");
  set("lr", "actor/lr");
  set("reward_mean", "critic/score/mean");
  set("accuracy", "critic/score/mean");
  set("response_length_mean", "response_length/mean");
  set("response_length_max", "response_length/max");
  set("truncated_rate", "response_length/clip_ratio");
  set("pg_loss", "actor/pg_loss");
  set("pg_clipfrac", "actor/pg_clipfrac");
  set("pg_clipfrac_lower", "actor/pg_clipfrac_lower");
  set("ppo_kl", "actor/ppo_kl");
  set("kl_loss", "actor/kl_loss");
  set("entropy", "actor/entropy_loss"); // the pinned commit's name
  set("entropy", "actor/entropy"); // current verl's
  set("grad_norm", "actor/grad_norm");
  set("adv_mean", "critic/advantages/mean");
  set("adv_min", "critic/advantages/min");
  set("adv_max", "critic/advantages/max");
  set("sample_s", "timing_s/gen");
  set("update_s", "timing_s/update_actor");
  set("step_s", "timing_s/step");
  const scoring = ["timing_s/reward", "timing_s/old_log_prob", "timing_s/ref", "timing_s/adv"].filter((k) => k in v);
  if (scoring.length) r.score_s = scoring.reduce((a, k) => a + v[k], 0);
  return r;
}

/**
 * Incremental reader of a log that is handed over whole each time (a poll) or in pieces. Only
 * complete lines are parsed; a step already seen (a replay, a reconnect) is not reported again.
 */
export class VerlLogReader {
  private text = "";
  private offset = 0;
  private lastStep: number;
  /** Non-step lines seen, for a progress display (bounded). */
  readonly recent: string[] = [];

  constructor(lastRecordedStep = -1) {
    this.lastStep = lastRecordedStep;
  }

  /** The whole log so far: new complete lines after what was already read are parsed. */
  feedWhole(log: string): VerlStepRecord[] {
    // A log that no longer starts with what was read (Ray truncated its head): read it all again;
    // steps already recorded are skipped by number.
    if (!log.startsWith(this.text.slice(0, this.offset))) this.offset = 0;
    this.text = log;
    return this.consume(false);
  }

  /** Append a chunk (a WebSocket frame, a file tail). */
  feedChunk(chunk: string): VerlStepRecord[] {
    this.text += chunk;
    return this.consume(false);
  }

  /** The job ended: parse a last line without its newline too. */
  finish(): VerlStepRecord[] {
    return this.consume(true);
  }

  private consume(all: boolean): VerlStepRecord[] {
    const end = all ? this.text.length : this.text.lastIndexOf("\n") + 1;
    if (end <= this.offset) return [];
    const out: VerlStepRecord[] = [];
    for (const line of this.text.slice(this.offset, end).split("\n")) {
      if (!line) continue;
      const p = parseStepLine(line);
      if (p && p.step > this.lastStep) {
        this.lastStep = p.step;
        out.push(toStepRecord(p.step, p.metrics));
      } else if (!p) {
        this.recent.push(line.replace(ANSI, ""));
        if (this.recent.length > 50) this.recent.shift();
      }
    }
    this.offset = end;
    return out;
  }
}

/**
 * Progress with rate and time left, wherever the code runs: an in-place HTML <progress> in a
 * notebook, a cli-progress bar on a terminal, and a line every ~10% in logs (CI, pipes).
 */
import cliProgress from "cli-progress";
import { escapeHtml, isTslab, newDisplayId, sendBundle } from "./display";

export interface Progress {
  tick(n?: number, info?: string): void;
  done(): void;
}

export type ProgressMode = "auto" | "notebook" | "terminal" | "log" | "silent";

export interface ProgressOptions {
  total: number;
  label: string;
  /** auto: notebook under tslab, terminal when stderr is a TTY, else log. */
  mode?: ProgressMode;
  /** Least time between two notebook updates (default 250 ms). */
  throttleMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
}

export interface ProgressState {
  label: string;
  total: number;
  count: number;
  elapsedS: number;
  info?: string;
}

/** Fraction done, items per second, and seconds left (NaN while the rate is unknown). */
export function progressStats(s: ProgressState): { fraction: number; rate: number; etaS: number } {
  const fraction = s.total > 0 ? Math.min(1, s.count / s.total) : 1;
  const rate = s.elapsedS > 0 ? s.count / s.elapsedS : NaN;
  const etaS = rate > 0 ? Math.max(0, s.total - s.count) / rate : NaN;
  return { fraction, rate, etaS };
}

/** 75 -> "1:15", 3725 -> "1:02:05"; "?" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const t = Math.round(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return "?/s";
  return rate >= 100 ? `${rate.toFixed(0)}/s` : rate >= 1 ? `${rate.toFixed(1)}/s` : `${rate.toPrecision(2)}/s`;
}

/** "label: 30/100 (30%) 12.3/s, 0:06 left, info". */
export function progressText(s: ProgressState, finished = false): string {
  const { fraction, rate, etaS } = progressStats(s);
  const pct = `${Math.floor(fraction * 100)}%`;
  const time = finished ? `done in ${formatDuration(s.elapsedS)}` : `${formatDuration(etaS)} left`;
  return `${s.label}: ${s.count}/${s.total} (${pct}) ${formatRate(rate)}, ${time}${s.info ? `, ${s.info}` : ""}`;
}

export function progressHtml(s: ProgressState, finished = false): string {
  const max = Math.max(1, s.total);
  return `<div style="font-family:monospace"><progress value="${Math.min(s.count, max)}" max="${max}" style="width:40%"></progress> ${escapeHtml(progressText(s, finished))}</div>`;
}

function resolveMode(mode: ProgressMode): Exclude<ProgressMode, "auto"> {
  if (mode !== "auto") return mode;
  if (isTslab()) return "notebook";
  if (process.stderr.isTTY) return "terminal";
  return "log";
}

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const started = now();
  const state: ProgressState = { label: opts.label, total: opts.total, count: 0, elapsedS: 0 };
  const mode = resolveMode(opts.mode ?? "auto");
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  let finished = false;
  const refresh = () => (state.elapsedS = (now() - started) / 1000);

  if (mode === "notebook") {
    const id = newDisplayId();
    const throttle = opts.throttleMs ?? 250;
    let sent = false;
    let last = -Infinity;
    const send = (final: boolean) => {
      sendBundle({ "text/html": progressHtml(state, final), "text/plain": progressText(state, final) }, { displayId: id, update: sent });
      sent = true;
      last = now();
    };
    send(false);
    return {
      tick(n = 1, info) {
        if (finished) return;
        state.count += n;
        if (info !== undefined) state.info = info;
        refresh();
        if (now() - last >= throttle) send(false);
      },
      done() {
        if (finished) return;
        finished = true;
        refresh();
        send(true);
      },
    };
  }

  if (mode === "terminal") {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${opts.label} [{bar}] {percentage}% {value}/{total} {rate} ETA {eta_formatted} {info}`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.total, 0, { rate: "?/s", info: "" });
    return {
      tick(n = 1, info) {
        if (finished) return;
        state.count += n;
        if (info !== undefined) state.info = info;
        refresh();
        bar.update(state.count, { rate: formatRate(progressStats(state).rate), info: state.info ?? "" });
      },
      done() {
        if (finished) return;
        finished = true;
        bar.stop();
      },
    };
  }

  // log: a line each time another tenth is done, and one at the end; silent: nothing.
  let decile = 0;
  return {
    tick(n = 1, info) {
      if (finished) return;
      state.count += n;
      if (info !== undefined) state.info = info;
      const d = Math.floor(progressStats(state).fraction * 10);
      if (mode === "log" && d > decile && d < 10) {
        decile = d;
        refresh();
        log(progressText(state));
      }
    },
    done() {
      if (finished) return;
      finished = true;
      refresh();
      if (mode === "log") log(progressText(state, true));
    },
  };
}

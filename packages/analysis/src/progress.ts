/**
 * A one-line progress bar on stderr: runs done, the current run, and the time left, estimated
 * from the training steps done so far against the steps planned. Drawn only on a TTY (a log file
 * gets one line per finished run instead, through `log`).
 */
/** Where a reproduction stands, as the progress bar shows it. */
export interface ProgressState {
  /** Runs finished (of this process's share of the plan). */
  runsDone: number;
  /** Runs to do in all. */
  runsTotal: number;
  /** The id of the run in progress. */
  current: string;
  /** Training steps done, over all runs. */
  stepsDone: number;
  /** Training steps planned, over all runs. */
  stepsTotal: number;
  /** Wall-clock seconds since the reproduction started. */
  elapsedSeconds: number;
}

/** A duration for people: `1h05m`, `3m07s`, `42s`; `?` for a negative or non-finite one. */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** The bar's text for a state (pure, so it is testable). */
export function progressLine(p: ProgressState, width = 24): string {
  const frac = p.stepsTotal > 0 ? Math.min(1, p.stepsDone / p.stepsTotal) : p.runsTotal ? p.runsDone / p.runsTotal : 1;
  const filled = Math.round(frac * width);
  const eta = p.stepsDone > 0 ? (p.elapsedSeconds / p.stepsDone) * (p.stepsTotal - p.stepsDone) : NaN;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.runsDone}/${p.runsTotal} runs  ${p.current}  ${fmtDuration(p.elapsedSeconds)} elapsed, ${fmtDuration(eta)} left`;
}

/** The progress bar of `reproduce`: redrawn in place on `stream`, at most 10 times a second. */
export class ProgressBar {
  private lastDraw = 0;
  /** Draws on `stream` (stderr), only when `enabled` (by default: when stderr is a TTY). */
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly enabled = Boolean(process.stderr.isTTY)) {}

  /** Redraw the bar for `p`; `force` redraws even within 100 ms of the last draw. */
  update(p: ProgressState, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    // Redraw at most 10 times a second: a terminal write per training step would cost more than the step.
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const cols = this.stream.columns ?? 100;
    this.stream.write(`\r${progressLine(p).slice(0, cols - 1).padEnd(cols - 1)}`);
  }

  /** End the bar's line, so later output starts on a new one. */
  done(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

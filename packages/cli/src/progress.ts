/**
 * Training and evaluation progress on stderr: a one-line bar redrawn in place when stderr is a TTY
 * (steps, loss, accuracy, images/s, time left), plain lines about every 5% of the run otherwise,
 * nothing when quiet. One `Progress` follows one run: training steps or evaluation batches. Loss
 * and accuracy are averaged over the steps since the last report so the line is readable rather
 * than the noise of one batch.
 */
export interface ProgressStep {
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  loss: number;
  accuracy: number;
  batchSize: number;
}

/** `seconds` as `42s`, `3m07s` or `2h05m`; `?` when not finite or negative. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The progress display of one run (see the module comment). */
export class Progress {
  private readonly tty: boolean;
  private readonly start = performance.now();
  private firstStep = -1;
  private images = 0;
  private lossSum = 0;
  private accSum = 0;
  private count = 0;
  private lastDraw = 0;
  private lastPlainStep = 0;
  private drawn = false;

  /** Draws on `stream` (default stderr), as a bar when it is a TTY; `quiet` draws nothing. */
  constructor(
    private readonly quiet: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY) && !quiet;
  }

  /** Training progress after step `s.step`. */
  step(s: ProgressStep): void {
    if (this.quiet) return;
    if (this.firstStep < 0) this.firstStep = s.step - 1;
    this.images += s.batchSize;
    this.lossSum += s.loss;
    this.accSum += s.accuracy;
    this.count++;
    const rate = this.rate(s.step - this.firstStep, s.totalSteps - s.step);
    const stats = `loss ${(this.lossSum / this.count).toFixed(4)} acc ${((100 * this.accSum) / this.count).toFixed(1)}% ${rate}`;
    const shown = this.tty
      ? this.drawBar(`epoch ${s.epoch + 1}/${s.epochs} `, s.step / s.totalSteps, ` ${s.step}/${s.totalSteps} ${stats}`, s.step === s.totalSteps)
      : this.plainLine(s.step, s.totalSteps, `step ${s.step}/${s.totalSteps} epoch ${s.epoch + 1}/${s.epochs} ${stats}`);
    if (shown) this.resetWindow();
  }

  /** Evaluation progress: `batch` of `batches` done, of `batchSize` images. */
  evalStep(batch: number, batches: number, batchSize: number): void {
    if (this.quiet) return;
    if (this.firstStep < 0) this.firstStep = batch - 1;
    this.images += batchSize;
    const rate = this.rate(batch - this.firstStep, batches - batch);
    if (this.tty) this.drawBar('eval ', batch / batches, ` ${batch}/${batches} batches ${rate}`, batch === batches);
    else this.plainLine(batch, batches, `eval batch ${batch}/${batches} ${this.images} images ${rate}`);
  }

  /** Images per second and time left, after `done` units of work with `left` to go. */
  private rate(done: number, left: number): string {
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * left : NaN;
    const ips = elapsed > 0 ? this.images / elapsed : 0;
    return `${ips.toFixed(0)} img/s ETA ${formatDuration(eta)}`;
  }

  /** Redraw the bar in place (at most every 100 ms, and always at the end); whether it drew. */
  private drawBar(head: string, fraction: number, tail: string, last: boolean): boolean {
    const now = performance.now();
    if (now - this.lastDraw < 100 && !last) return false;
    this.lastDraw = now;
    const cols = this.stream.columns ?? 120;
    // The bar takes what the text leaves of the terminal's width (the text is never cut).
    const width = Math.max(5, Math.min(30, cols - 1 - head.length - tail.length));
    const filled = Math.round(width * fraction);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    this.stream.write(`\r${(head + bar + tail).slice(0, Math.max(cols - 1, 20))}\x1b[K`);
    this.drawn = true;
    return true;
  }

  /** A plain line about every 5% of the work and at its end; whether it wrote one. */
  private plainLine(done: number, total: number, text: string): boolean {
    const every = Math.max(1, Math.floor(total / 20));
    if (done - this.lastPlainStep < every && done !== total) return false;
    this.lastPlainStep = done;
    this.stream.write(text + '\n');
    return true;
  }

  /** A line of its own (an evaluation result), clearing the bar first. */
  line(text: string): void {
    if (this.quiet) return;
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
    this.stream.write(text + '\n');
  }

  /** End the bar's line. */
  finish(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  private resetWindow(): void {
    this.lossSum = 0;
    this.accSum = 0;
    this.count = 0;
  }
}

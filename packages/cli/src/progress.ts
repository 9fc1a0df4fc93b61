/**
 * Training progress on stderr: a one-line bar redrawn in place when stderr is a TTY (steps, loss,
 * accuracy, images/s, time left), plain lines about every 5% of the run otherwise, nothing when
 * quiet. Loss and accuracy are averaged over the steps since the last report so the line is
 * readable rather than the noise of one batch.
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

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

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

  constructor(
    private readonly quiet: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY) && !quiet;
  }

  step(s: ProgressStep): void {
    if (this.quiet) return;
    if (this.firstStep < 0) this.firstStep = s.step - 1;
    this.images += s.batchSize;
    this.lossSum += s.loss;
    this.accSum += s.accuracy;
    this.count++;
    const now = performance.now();
    const elapsed = (now - this.start) / 1000;
    const done = s.step - this.firstStep;
    const left = s.totalSteps - s.step;
    const eta = done > 0 ? (elapsed / done) * left : NaN;
    const ips = elapsed > 0 ? this.images / elapsed : 0;
    const stats = `loss ${(this.lossSum / this.count).toFixed(4)} acc ${((100 * this.accSum) / this.count).toFixed(1)}% ${ips.toFixed(0)} img/s ETA ${formatDuration(eta)}`;
    if (this.tty) {
      if (now - this.lastDraw < 100 && s.step !== s.totalSteps) return;
      this.lastDraw = now;
      const head = `epoch ${s.epoch + 1}/${s.epochs} `;
      const tail = ` ${s.step}/${s.totalSteps} ${stats}`;
      const cols = this.stream.columns ?? 120;
      // The bar takes what the text leaves of the terminal's width (the text is never cut).
      const width = Math.max(5, Math.min(30, cols - 1 - head.length - tail.length));
      const filled = Math.round((width * s.step) / s.totalSteps);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.stream.write(`\r${(head + bar + tail).slice(0, Math.max(cols - 1, 20))}\x1b[K`);
      this.drawn = true;
      this.resetWindow();
      return;
    }
    const every = Math.max(1, Math.floor(s.totalSteps / 20));
    if (s.step - this.lastPlainStep >= every || s.step === s.totalSteps) {
      this.lastPlainStep = s.step;
      this.stream.write(`step ${s.step}/${s.totalSteps} epoch ${s.epoch + 1}/${s.epochs} ${stats}\n`);
      this.resetWindow();
    }
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

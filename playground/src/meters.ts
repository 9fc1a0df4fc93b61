/** Small running measures the page shows. */

/** Images per second of training-step time over the most recent `windowMs` of it. */
export class RateMeter {
  private readonly samples: Array<{ images: number; ms: number }> = [];
  private images = 0;
  private ms = 0;
  constructor(private readonly windowMs = 2000) {}

  add(images: number, ms: number): void {
    this.samples.push({ images, ms });
    this.images += images;
    this.ms += ms;
    // Keep the newest samples that cover the window (at least one).
    while (this.samples.length > 1 && this.ms - this.samples[0]!.ms >= this.windowMs) {
      const old = this.samples.shift()!;
      this.images -= old.images;
      this.ms -= old.ms;
    }
  }

  /** Null until something was measured. */
  rate(): number | null {
    return this.ms > 0 ? (this.images * 1000) / this.ms : null;
  }

  clear(): void {
    this.samples.length = 0;
    this.images = 0;
    this.ms = 0;
  }
}

/** Mean of the last `size` values of a series (fewer at its start). */
export function trailingMean(values: readonly number[], size: number): number | null {
  if (values.length === 0) return null;
  const from = Math.max(0, values.length - size);
  let sum = 0;
  for (let i = from; i < values.length; i++) sum += values[i]!;
  return sum / (values.length - from);
}

/** Exponential moving average of a series, for a readable loss curve (bias-corrected at the start). */
export function smooth(values: readonly number[], alpha: number): number[] {
  const out: number[] = [];
  let avg = 0;
  let weight = 0;
  for (const v of values) {
    avg = (1 - alpha) * avg + alpha * v;
    weight = (1 - alpha) * weight + alpha;
    out.push(avg / weight);
  }
  return out;
}

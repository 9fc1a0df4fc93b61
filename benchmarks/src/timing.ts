/**
 * Timing of one runner: warm-up, then repeated calls within a time budget, and their median.
 * No Node APIs here: the gpu-path benchmark runs it in a browser page too.
 */
export interface TimingOptions {
  /** Untimed calls first, so the JIT and the peers' caches are warm: at least this many... */
  warmup: number;
  /**
   * ...and until this much time was spent warming up (ms): a fast runner's code, and the worker
   * threads it wakes, are compiled only after tens of calls, so a count alone under-warms it.
   */
  warmupMs: number;
  /** Timed calls wanted. */
  reps: number;
  /** Stop adding repetitions once this much time was spent timing one runner (ms)... */
  maxTimeMs: number;
  /** ...but never take fewer samples than this. */
  minReps: number;
}

export const DEFAULT_TIMING: TimingOptions = { warmup: 2, warmupMs: 500, reps: 10, maxTimeMs: 5000, minReps: 3 };

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Time `fn`: `warmup` untimed calls, then up to `reps` timed ones (at least `minReps` while the
 * time budget lasts). A runner slower than `maxTimeMs` per call (tfjs-cpu's weight gradient
 * takes tens of seconds) is not repeated for minutes: a warm-up call that slow already counts as
 * a sample (its JIT warm-up share is negligible), and no call starts once the next one would
 * exceed three budgets.
 */
export async function timeRunner(fn: () => unknown, t: TimingOptions): Promise<number[]> {
  const samples: number[] = [];
  const warmStart = performance.now();
  for (let i = 0; i < t.warmup || performance.now() - warmStart < t.warmupMs; i++) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    if (dt > t.maxTimeMs) {
      samples.push(dt);
      break;
    }
  }
  const start = performance.now();
  while (samples.length < t.reps) {
    const spent = performance.now() - start;
    if (samples.length >= t.minReps && spent >= t.maxTimeMs) break;
    const last = samples[samples.length - 1];
    if (last !== undefined && spent + last > 3 * t.maxTimeMs) break;
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

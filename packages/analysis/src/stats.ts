/**
 * Small statistics on plain number arrays. Everything accumulates in float64 (a JS number) and
 * validates its input: an empty array or a non-finite value is an `AnalysisError`, never NaN.
 */
import { AnalysisError } from './errors.js';

export function checkFinite(op: string, xs: ArrayLike<number>, what = 'values', allowEmpty = false): void {
  if (!allowEmpty && xs.length === 0) throw new AnalysisError(op, `expected at least one of ${what}, got an empty array`);
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new AnalysisError(op, `expected finite ${what}, got ${xs[i]} at index ${i}`);
  }
}

export function mean(xs: ArrayLike<number>): number {
  checkFinite('mean', xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/**
 * Variance, two-pass. `unbiased` (n − 1, the default, as `torch.std`) is what seed spreads use;
 * a single value has variance 0 rather than NaN, so a one-seed profile still reports.
 */
export function variance(xs: ArrayLike<number>, options: { unbiased?: boolean } = {}): number {
  const m = mean(xs);
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i] - m;
    s += d * d;
  }
  const unbiased = options.unbiased ?? true;
  if (n === 1) return 0;
  return s / (unbiased ? n - 1 : n);
}

export function std(xs: ArrayLike<number>, options: { unbiased?: boolean } = {}): number {
  return Math.sqrt(variance(xs, options));
}

export function median(xs: ArrayLike<number>): number {
  checkFinite('median', xs);
  const s = Float64Array.from(xs as ArrayLike<number>).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export function min(xs: ArrayLike<number>): number {
  checkFinite('min', xs);
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] < m) m = xs[i];
  return m;
}

export function max(xs: ArrayLike<number>): number {
  checkFinite('max', xs);
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  return m;
}

/** Mean ± std (unbiased) and range of one quantity across seeds. */
export interface Summary {
  mean: number;
  std: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: ArrayLike<number>): Summary {
  return { mean: mean(xs), std: std(xs), min: min(xs), max: max(xs), n: xs.length };
}

/** `count` numbers from `lo` to `hi` spaced evenly on a log scale (both ends included). */
export function geomspace(lo: number, hi: number, count: number): number[] {
  if (!(lo > 0 && hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new AnalysisError('geomspace', `expected positive finite ends, got ${lo} and ${hi}`);
  }
  if (!Number.isInteger(count) || count < 1) throw new AnalysisError('geomspace', `expected a positive integer count, got ${count}`);
  if (count === 1) return [lo];
  const r = Math.log(hi / lo) / (count - 1);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(i === count - 1 ? hi : lo * Math.exp(r * i));
  return out;
}

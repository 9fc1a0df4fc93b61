/**
 * Periods of training (docs/architecture.md, "The analysis framework" 4): training is cut into K equal periods,
 * each metric is reduced per period, and a norm *helps* in a period when it beats the same network
 * without normalization there.
 */
import { AnalysisError } from './errors.js';
import { checkFinite } from './stats.js';

/** One period of training: steps [start, end). */
export interface Period {
  /** 0-based position of the period. */
  index: number;
  /** First step (inclusive). */
  start: number;
  /** Last step (exclusive). */
  end: number;
}

/**
 * K contiguous periods covering steps [0, nSteps): the first `nSteps mod K` periods get one extra
 * step, so lengths differ by at most one.
 */
export function periodBounds(nSteps: number, k: number): Period[] {
  if (!Number.isInteger(k) || k < 1) throw new AnalysisError('periodBounds', `expected a positive integer number of periods, got ${k}`);
  if (!Number.isInteger(nSteps) || nSteps < k) {
    throw new AnalysisError('periodBounds', `expected an integer number of steps >= the ${k} periods, got ${nSteps}`);
  }
  const base = Math.floor(nSteps / k);
  const extra = nSteps % k;
  const out: Period[] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const len = base + (i < extra ? 1 : 0);
    out.push({ index: i, start, end: start + len });
    start += len;
  }
  return out;
}

/** How `periodValues` reduces a metric within a period. */
export type PeriodReduce = 'mean' | 'max' | 'median';

/** One value per period: the mean (default), max or median of `series` within it. */
export function perPeriod(series: ArrayLike<number>, k: number, reduce: PeriodReduce = 'mean'): number[] {
  checkFinite('perPeriod', series, 'values');
  return periodBounds(series.length, k).map(({ start, end }) => {
    const xs = Array.from(series).slice(start, end);
    if (reduce === 'max') return Math.max(...xs);
    if (reduce === 'median') {
      xs.sort((a, b) => a - b);
      const h = xs.length >> 1;
      return xs.length % 2 ? xs[h] : (xs[h - 1] + xs[h]) / 2;
    }
    let s = 0;
    for (const x of xs) s += x;
    return s / xs.length;
  });
}

/**
 * Per period, whether `norm` beats `none` (the unnormalized network): strictly lower values when
 * `lowerIsBetter` (the default: loss, band width, gradient change, β-smoothness), strictly higher
 * otherwise. A relative `tolerance` (default 0) demands a margin: |norm − none| > tolerance·|none|.
 */
export function helpsPerPeriod(
  norm: readonly number[],
  none: readonly number[],
  options: { lowerIsBetter?: boolean; tolerance?: number } = {},
): boolean[] {
  if (norm.length !== none.length) {
    throw new AnalysisError('helpsPerPeriod', `norm has ${norm.length} periods but the unnormalized run has ${none.length}`);
  }
  checkFinite('helpsPerPeriod', norm, 'norm values');
  checkFinite('helpsPerPeriod', none, 'unnormalized values');
  const lower = options.lowerIsBetter ?? true;
  const tol = options.tolerance ?? 0;
  return norm.map((v, i) => {
    const margin = tol * Math.abs(none[i]);
    return lower ? v < none[i] - margin : v > none[i] + margin;
  });
}

/**
 * Majority vote of several metrics' per-period verdicts: a norm helps in a period when it beats
 * the unnormalized run on more than half of the metrics there.
 */
export function majorityPerPeriod(verdicts: ReadonlyArray<readonly boolean[]>): boolean[] {
  if (verdicts.length === 0) throw new AnalysisError('majorityPerPeriod', 'expected at least one metric, got none');
  const k = verdicts[0].length;
  for (const v of verdicts) {
    if (v.length !== k) throw new AnalysisError('majorityPerPeriod', `metrics have ${k} and ${v.length} periods; expected equal`);
  }
  const out: boolean[] = [];
  for (let i = 0; i < k; i++) {
    let yes = 0;
    for (const v of verdicts) if (v[i]) yes++;
    out.push(yes * 2 > verdicts.length);
  }
  return out;
}

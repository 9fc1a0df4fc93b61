/**
 * Small statistics on plain number arrays. Everything accumulates in float64 (a JS number) and
 * validates its input: an empty array or a non-finite value is an `AnalysisError`, never NaN.
 */
import { AnalysisError } from './errors.js';

/**
 * Throw an `AnalysisError` of `op` unless every value of `xs` is finite (and, unless `allowEmpty`,
 * there is at least one); `what` names the values in the message.
 */
export function checkFinite(op: string, xs: ArrayLike<number>, what = 'values', allowEmpty = false): void {
  if (!allowEmpty && xs.length === 0) throw new AnalysisError(op, `expected at least one of ${what}, got an empty array`);
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new AnalysisError(op, `expected finite ${what}, got ${xs[i]} at index ${i}`);
  }
}

/** Arithmetic mean. */
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

/** Standard deviation: the square root of `variance` (unbiased by default). */
export function std(xs: ArrayLike<number>, options: { unbiased?: boolean } = {}): number {
  return Math.sqrt(variance(xs, options));
}

/** Median: the middle value, or the mean of the two middle values of an even count. */
export function median(xs: ArrayLike<number>): number {
  checkFinite('median', xs);
  const s = Float64Array.from(xs as ArrayLike<number>).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Smallest value. */
export function min(xs: ArrayLike<number>): number {
  checkFinite('min', xs);
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] < m) m = xs[i];
  return m;
}

/** Largest value. */
export function max(xs: ArrayLike<number>): number {
  checkFinite('max', xs);
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  return m;
}

/** Mean ± std (unbiased) and range of one quantity across seeds. */
export interface Summary {
  /** Mean across seeds. */
  mean: number;
  /** Unbiased standard deviation across seeds (0 for one seed). */
  std: number;
  /** Smallest value. */
  min: number;
  /** Largest value. */
  max: number;
  /** Number of values (seeds). */
  n: number;
}

/** Mean, unbiased std, min, max and count of `xs` (at least one finite value). */
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

/**
 * ln Γ(x) for x > 0: Lanczos' approximation (g = 7, 9 terms), about 15 significant digits, with
 * the reflection formula below 1/2.
 */
export function logGamma(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new AnalysisError('logGamma', `expected a finite x > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let s = c[0];
  for (let i = 1; i < c.length; i++) s += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * The continued fraction of the incomplete beta function (evaluated with the modified Lentz
 * method); converges quickly for x < (a + 1) / (a + b + 2).
 */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    // Even step: m(b − m)x / ((a + 2m − 1)(a + 2m)).
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 / guard(1 + num * d);
    c = guard(1 + num / c);
    h *= d * c;
    // Odd step: −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 / guard(1 + num * d);
    c = guard(1 + num / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) return h;
  }
  throw new AnalysisError('regularizedIncompleteBeta', `continued fraction did not converge for x = ${x}, a = ${a}, b = ${b}`);
}

/** I_x(a, b) = B(x; a, b) / B(a, b), the regularized incomplete beta function, for x in [0, 1] and a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0) || !Number.isFinite(a) || !Number.isFinite(b)) {
    throw new AnalysisError('regularizedIncompleteBeta', `expected finite a, b > 0, got a = ${a}, b = ${b}`);
  }
  if (!(x >= 0 && x <= 1)) throw new AnalysisError('regularizedIncompleteBeta', `expected x in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - (logGamma(a) + logGamma(b) - logGamma(a + b));
  // The fraction converges fast on one side of the mean a / (a + b); the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) covers the other.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function checkDf(op: string, df: number): void {
  if (!(df > 0) || !Number.isFinite(df)) throw new AnalysisError(op, `expected degrees of freedom > 0, got ${df}`);
}

/** P(T > |t|) for Student's t with `df` degrees of freedom, computed directly (no 1 − p cancellation). */
function studentTTail(t: number, df: number): number {
  const a = Math.abs(t);
  if (a === Infinity) return 0;
  return 0.5 * regularizedIncompleteBeta(df / (df + a * a), df / 2, 0.5);
}

/** P(T ≤ t) for Student's t distribution with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  checkDf('studentTCdf', df);
  if (Number.isNaN(t)) throw new AnalysisError('studentTCdf', 'expected a number t, got NaN');
  const tail = studentTTail(t, df);
  return t > 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t distribution with `df` degrees of freedom (the inverse of
 * `studentTCdf`): t(0.975, 4) = 2.776445. Found by bisection on the tail probability, which is
 * computed directly, so far quantiles keep their relative precision.
 */
export function studentTQuantile(p: number, df: number): number {
  checkDf('studentTQuantile', df);
  if (!(p > 0 && p < 1)) throw new AnalysisError('studentTQuantile', `expected a probability p in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  const q = Math.min(p, 1 - p);
  // The tail decreases in t: bracket the root, then halve the bracket down to rounding.
  let lo = 0;
  let hi = 1;
  while (studentTTail(hi, df) > q) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) throw new AnalysisError('studentTQuantile', `quantile ${p} with ${df} degrees of freedom is beyond the float range`);
  }
  for (let i = 0; i < 2000 && hi - lo > 4 * Number.EPSILON * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (studentTTail(mid, df) > q) lo = mid;
    else hi = mid;
  }
  const t = 0.5 * (lo + hi);
  return p > 0.5 ? t : -t;
}

/** The mean of some values with its Student-t confidence interval. */
export interface MeanInterval {
  /** The mean. */
  mean: number;
  /** Lower end of the interval. */
  lo: number;
  /** Upper end of the interval. */
  hi: number;
  /** Number of values (seeds). */
  n: number;
  /** Two-sided confidence level, e.g. 0.95. */
  level: number;
}

/**
 * Student-t confidence interval of the mean of `xs` at `level` (two-sided):
 * mean ± t(1 − (1 − level)/2, n − 1) · s/√n, s the unbiased std. Needs at least two values.
 * On paired differences (one per seed) it is the paired t interval.
 */
export function tInterval(xs: ArrayLike<number>, level = 0.95): MeanInterval {
  checkFinite('tInterval', xs);
  if (xs.length < 2) throw new AnalysisError('tInterval', `expected at least 2 values for an interval, got ${xs.length}`);
  if (!(level > 0 && level < 1)) throw new AnalysisError('tInterval', `expected a confidence level in (0, 1), got ${level}`);
  const n = xs.length;
  const m = mean(xs);
  const half = (studentTQuantile(1 - (1 - level) / 2, n - 1) * std(xs)) / Math.sqrt(n);
  return { mean: m, lo: m - half, hi: m + half, n, level };
}

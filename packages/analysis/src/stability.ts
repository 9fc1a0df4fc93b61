/**
 * Stability metrics (docs/architecture.md, "The analysis framework" 1): across seeds, mean and std of the final
 * test accuracy (see `summarize`); within a run, the std of the training loss around its moving
 * average, the number of loss spikes, and the variance of the gradient norm.
 */
import { AnalysisError } from './errors.js';
import { checkFinite, median, variance } from './stats.js';

/** The moving-average window of docs/architecture.md ("The analysis framework" 1): 50 steps. */
export const DEFAULT_WINDOW = 50;

function checkWindow(op: string, window: number): void {
  if (!Number.isInteger(window) || window < 1) throw new AnalysisError(op, `expected a positive integer window, got ${window}`);
}

/**
 * The centered moving average of `xs` over `window` steps (2·⌊window/2⌋ + 1 values). Near the ends
 * the window shrinks symmetrically, so a linear trend is its own moving average everywhere: the
 * residual then measures only the step-to-step noise, not the descent of the loss.
 * Runs in O(n) with a prefix sum.
 */
export function movingAverage(xs: ArrayLike<number>, window = DEFAULT_WINDOW): Float64Array {
  checkFinite('movingAverage', xs, 'losses');
  checkWindow('movingAverage', window);
  const n = xs.length;
  // Prefix sums of x − x₀: shifting by a sample keeps the window differences free of the
  // cancellation a large level would cause (a constant series gives an exact zero residual).
  const shift = xs[0];
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + (xs[i] - shift);
  const half = window >> 1;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const h = Math.min(half, t, n - 1 - t);
    out[t] = shift + (prefix[t + h + 1] - prefix[t - h]) / (2 * h + 1);
  }
  return out;
}

/** Root-mean-square deviation of the loss from its centered moving average. */
export function lossStdAroundMovingAverage(losses: ArrayLike<number>, window = DEFAULT_WINDOW): number {
  const ma = movingAverage(losses, window);
  let s = 0;
  for (let t = 0; t < ma.length; t++) {
    const d = losses[t] - ma[t];
    s += d * d;
  }
  return Math.sqrt(s / ma.length);
}

/**
 * Indices of loss spikes: steps whose loss exceeds `factor` (2) times the running median of the
 * previous `window` losses. A trailing window rather than the median of the whole past: the loss
 * falls by an order of magnitude over training and the whole-past median would hide late spikes.
 */
export function lossSpikes(losses: ArrayLike<number>, options: { window?: number; factor?: number } = {}): number[] {
  const window = options.window ?? DEFAULT_WINDOW;
  const factor = options.factor ?? 2;
  checkFinite('lossSpikes', losses, 'losses');
  checkWindow('lossSpikes', window);
  if (!(factor > 0)) throw new AnalysisError('lossSpikes', `expected a positive factor, got ${factor}`);
  const out: number[] = [];
  // The sorted trailing window, maintained by binary insertion/removal: O(n·window) worst case
  // from the array shifts, with no per-step sort.
  const sorted: number[] = [];
  const insert = (v: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    sorted.splice(lo, 0, v);
  };
  const remove = (v: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    sorted.splice(lo, 1);
  };
  for (let t = 0; t < losses.length; t++) {
    if (sorted.length > 0) {
      const k = sorted.length;
      const med = k % 2 ? sorted[k >> 1] : (sorted[(k >> 1) - 1] + sorted[k >> 1]) / 2;
      if (losses[t] > factor * med) out.push(t);
    }
    insert(losses[t]);
    if (t >= window) remove(losses[t - window]);
  }
  return out;
}

/** Population variance of the gradient norm over a run's steps. */
export function gradNormVariance(gradNorms: ArrayLike<number>): number {
  checkFinite('gradNormVariance', gradNorms, 'gradient norms');
  return variance(gradNorms, { unbiased: false });
}

/** The within-run stability of one training run. Lower is more stable for every field. */
export interface RunStability {
  /** RMS deviation of the training loss from its moving average. */
  lossStd: number;
  /** Number of steps whose loss exceeded twice the running median. */
  spikes: number;
  /** Variance of the gradient norm. */
  gradNormVar: number;
  /** Median training loss over the last tenth of training (context for `lossStd`). */
  finalLoss: number;
}

/** The within-run stability of a run from its per-step losses and gradient norms (equal lengths), over moving windows of `window` steps. */
export function runStability(steps: { loss: ArrayLike<number>; gradNorm: ArrayLike<number> }, window = DEFAULT_WINDOW): RunStability {
  if (steps.loss.length !== steps.gradNorm.length) {
    throw new AnalysisError('runStability', `loss has ${steps.loss.length} steps but gradNorm has ${steps.gradNorm.length}`);
  }
  const n = steps.loss.length;
  const tail = Array.from(steps.loss).slice(Math.max(0, n - Math.max(1, Math.floor(n / 10))));
  return {
    lossStd: lossStdAroundMovingAverage(steps.loss, window),
    spikes: lossSpikes(steps.loss, { window }).length,
    gradNormVar: gradNormVariance(steps.gradNorm),
    finalLoss: median(tail),
  };
}

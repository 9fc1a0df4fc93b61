/**
 * The optimization landscape, in the two protocols of docs/architecture.md ("The analysis framework" 3).
 *
 * The paper's (Gunawan et al., as their notebooks compute it): the same model trained at several
 * learning rates; the loss landscape is the band between the lowest and highest training loss
 * across those runs at each step; gradient predictiveness is ‖g_t − g_{t−1}‖₂ of the last linear
 * layer's weight gradient between consecutive steps; the effective β-smoothness is its maximum
 * across the runs.
 *
 * Santurkar et al. 2018's: at parameters w with gradient g on one batch, for step sizes η over
 * [1/2, 4]·lr, loss variation = max − min of L(w − ηg), gradient predictiveness =
 * max ‖∇L(w) − ∇L(w − ηg)‖ and effective β-smoothness = max ‖∇L(w) − ∇L(w − ηg)‖ / ‖ηg‖.
 */
import { AnalysisError } from './errors.js';
import { checkFinite, geomspace } from './stats.js';

/** One step of the loss band. */
export interface BandPoint {
  /** The 0-based training step. */
  step: number;
  /** Lowest training loss across the runs at this step. */
  min: number;
  /** Highest training loss across the runs at this step. */
  max: number;
  /** max − min: how much the loss at this step depends on the learning rate. */
  width: number;
}

function checkRuns(op: string, runs: ReadonlyArray<ArrayLike<number>>, what: string): number {
  if (runs.length === 0) throw new AnalysisError(op, `expected at least one run of ${what}, got none`);
  const n = runs[0].length;
  for (let r = 0; r < runs.length; r++) {
    if (runs[r].length !== n) {
      throw new AnalysisError(op, `run 0 has ${n} steps but run ${r} has ${runs[r].length}; expected equal lengths`);
    }
    checkFinite(op, runs[r], what, true);
  }
  return n;
}

/** The paper's loss landscape: per step, the lowest and highest loss across runs (one per LR). */
export function lossBand(runs: ReadonlyArray<ArrayLike<number>>): BandPoint[] {
  const n = checkRuns('lossBand', runs, 'losses');
  const out: BandPoint[] = [];
  for (let t = 0; t < n; t++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const run of runs) {
      const v = run[t];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.push({ step: t, min: lo, max: hi, width: hi - lo });
  }
  return out;
}

/** ‖a − b‖₂, accumulated in float64. */
export function l2Distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new AnalysisError('l2Distance', `vectors have lengths ${a.length} and ${b.length}; expected equal`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/** ‖a‖₂, accumulated in float64. */
export function l2Norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** The paper's gradient predictiveness from a sequence of gradients: entry t−1 is ‖g_t − g_{t−1}‖₂. */
export function gradientChanges(grads: ReadonlyArray<ArrayLike<number>>): number[] {
  const out: number[] = [];
  for (let t = 1; t < grads.length; t++) out.push(l2Distance(grads[t], grads[t - 1]));
  return out;
}

/**
 * Tracks ‖g_t − g_{t−1}‖₂ during training without keeping every gradient: holds a float64 copy
 * of the previous one. `push` returns the change, or null on the first gradient.
 */
export class GradientChangeTracker {
  private prev: Float64Array | null = null;
  /** ‖g_t − g_{t−1}‖₂ for every gradient pushed after the first, in order. */
  readonly changes: number[] = [];

  /** Record the next gradient (same length as the previous one); returns its change, or null for the first. */
  push(grad: ArrayLike<number>): number | null {
    if (this.prev && this.prev.length !== grad.length) {
      throw new AnalysisError('GradientChangeTracker', `gradient has ${grad.length} elements; the previous one had ${this.prev.length}`);
    }
    let change: number | null = null;
    if (this.prev) {
      change = l2Distance(grad, this.prev);
      this.changes.push(change);
      this.prev.set(grad as ArrayLike<number>);
    } else {
      this.prev = Float64Array.from(grad as ArrayLike<number>);
    }
    return change;
  }
}

/** Per step, the maximum across runs: the paper's effective β-smoothness from the runs' gradient changes. */
export function maxAcrossRuns(runs: ReadonlyArray<ArrayLike<number>>): number[] {
  const n = checkRuns('maxAcrossRuns', runs, 'values');
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
    let hi = -Infinity;
    for (const run of runs) if (run[t] > hi) hi = run[t];
    out.push(hi);
  }
  return out;
}

/** The loss and its gradient at flat parameters `w` (on one fixed batch). */
export type LossAndGrad = (w: Float64Array) => {
  /** The loss at `w`. */
  loss: number;
  /** ∇L(w), one entry per parameter of `w`. */
  grad: ArrayLike<number>;
};

/** Santurkar et al.'s line search from one point (`santurkarProbe`). */
export interface SanturkarProbe {
  /** The step sizes tried, η = multiplier · lr. */
  etas: number[];
  /** L(w − ηg) per η. */
  losses: number[];
  /** max − min of `losses`. */
  lossVariation: number;
  /** max ‖∇L(w) − ∇L(w − ηg)‖₂ over the step sizes. */
  gradPredictiveness: number;
  /** Effective β-smoothness: max ‖∇L(w) − ∇L(w − ηg)‖₂ / ‖ηg‖₂ over the step sizes (0 for a zero gradient). */
  betaSmoothness: number;
  /** ‖g‖ at w. */
  gradNorm: number;
}

/** The step-size multipliers of Santurkar et al.: `count` values spread geometrically over [1/2, 4]. */
export function santurkarMultipliers(count = 4): number[] {
  return geomspace(0.5, 4, count);
}

/**
 * Santurkar et al.'s line search along −g from `w`. `lossAndGrad` is evaluated at w and at each
 * w − ηg. A zero gradient gives zeros throughout (no direction to probe, and a flat loss along it).
 * The loss variation is over the probed points only (max − min of L(w − ηg)), as docs/architecture.md defines it.
 */
export function santurkarProbe(
  lossAndGrad: LossAndGrad,
  w: ArrayLike<number>,
  options: { lr: number; multipliers?: number[] },
): SanturkarProbe {
  const { lr } = options;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new AnalysisError('santurkarProbe', `expected a positive finite lr, got ${lr}`);
  checkFinite('santurkarProbe', w, 'parameters');
  const multipliers = options.multipliers ?? santurkarMultipliers();
  if (multipliers.length === 0) throw new AnalysisError('santurkarProbe', 'expected at least one step-size multiplier, got none');
  const w0 = Float64Array.from(w as ArrayLike<number>);
  const base = lossAndGrad(Float64Array.from(w0));
  if (base.grad.length !== w0.length) {
    throw new AnalysisError('santurkarProbe', `lossAndGrad returned a gradient of ${base.grad.length} elements for ${w0.length} parameters`);
  }
  const g = Float64Array.from(base.grad as ArrayLike<number>);
  checkFinite('santurkarProbe', g, 'gradient');
  if (!Number.isFinite(base.loss)) throw new AnalysisError('santurkarProbe', `loss at w is ${base.loss}; expected finite`);
  const gNorm = l2Norm(g);
  const etas = multipliers.map((m) => m * lr);
  const losses: number[] = [];
  let lo = Infinity;
  let hi = -Infinity;
  let gradPred = 0;
  let beta = 0;
  const wStep = new Float64Array(w0.length);
  for (const eta of etas) {
    for (let i = 0; i < w0.length; i++) wStep[i] = w0[i] - eta * g[i];
    const r = lossAndGrad(Float64Array.from(wStep));
    if (!Number.isFinite(r.loss)) throw new AnalysisError('santurkarProbe', `loss at step size ${eta} is ${r.loss}; expected finite`);
    losses.push(r.loss);
    if (r.loss < lo) lo = r.loss;
    if (r.loss > hi) hi = r.loss;
    const d = l2Distance(g, r.grad);
    if (d > gradPred) gradPred = d;
    if (gNorm > 0) {
      const ratio = d / (eta * gNorm);
      if (ratio > beta) beta = ratio;
    }
  }
  return { etas, losses, lossVariation: hi - lo, gradPredictiveness: gradPred, betaSmoothness: beta, gradNorm: gNorm };
}

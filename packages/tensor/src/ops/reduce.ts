/**
 * Reductions. `axes` is a number, an array of numbers (negative counts from the end) or
 * `undefined` for all axes; an empty array reduces nothing (NumPy's `axis=()`).
 * Results keep the input dtype; accumulation is in float64.
 */
import { AxisError, ShapeError, TensorError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { Tensor, checkTensor, normalizeAxis } from '../tensor.js';

type Reduce = (x: Tensor, axes: readonly number[], keepDims: boolean) => Tensor;
type Moment = (x: Tensor, axes: readonly number[], unbiased: boolean, keepDims: boolean) => Tensor;

declare module '../registry.js' {
  interface KernelSignatures {
    /** `axes`: sorted, distinct, non-negative. */
    sum: Reduce;
    /** Mean over `axes`, accumulated in float64. */
    mean: Reduce;
    /** Variance over `axes`, biased unless `unbiased`. */
    variance: Moment;
    /** Standard deviation over `axes`: the square root of `variance`. */
    std: Moment;
    /** Largest value over `axes` (NaN if any is NaN). */
    max: Reduce;
    /** Smallest value over `axes` (NaN if any is NaN). */
    min: Reduce;
    /** log Σ eˣ over `axes`, computed stably (shifted by the maximum). */
    logSumExp: Reduce;
    /** `axis` non-negative, or null for the flattened tensor. Indices as float values. */
    argmax: (x: Tensor, axis: number | null, keepDims: boolean) => Tensor;
    /** `axis` non-negative. */
    softmax: (x: Tensor, axis: number) => Tensor;
    /** log softmax along non-negative `axis`, computed stably. */
    logSoftmax: (x: Tensor, axis: number) => Tensor;
    /** The Euclidean (Frobenius) norm of all elements, accumulated in float64. */
    norm: (x: Tensor) => number;
  }
}

/** Axes to reduce: one axis, several, or `undefined` for all; negative axes count from the end. */
export type Axes = number | readonly number[] | undefined;

/** Sorted, distinct, non-negative axes; throws `AxisError` naming `op` on a bad or repeated axis. */
export function normalizeAxes(op: string, axes: Axes, rank: number): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  if (!Array.isArray(list)) throw new AxisError(op, `axes must be a number, an array or undefined, got ${String(axes)}`);
  const out = list.map((a) => {
    if (typeof a !== 'number') throw new AxisError(op, `axes must be integers, got ${String(a)}`);
    return normalizeAxis(op, a, rank);
  });
  if (new Set(out).size !== out.length) throw new AxisError(op, `repeated axis in [${list.join(',')}]`);
  return out.sort((a, b) => a - b);
}

function checkKeepDims(op: string, keepDims: unknown): boolean {
  if (keepDims === undefined) return false;
  if (typeof keepDims !== 'boolean') throw new TensorError(op, `keepDims must be a boolean, got ${String(keepDims)}`);
  return keepDims;
}

function reducedCount(x: Tensor, axes: readonly number[]): number {
  let n = 1;
  for (const a of axes) n *= x.shape[a]!;
  return n;
}

/** Sum over `axes` (all by default). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkTensor('sum', 'x', x);
  return runKernel('sum', x, normalizeAxes('sum', axes, x.rank), checkKeepDims('sum', keepDims));
}

/** Mean over `axes` (NaN for an empty reduction, as torch). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkTensor('mean', 'x', x);
  return runKernel('mean', x, normalizeAxes('mean', axes, x.rank), checkKeepDims('mean', keepDims));
}

/** Options of `variance` and `std`. */
export interface MomentOptions {
  /** Divide by n - 1 instead of n (Bessel's correction). Default false (biased). */
  unbiased?: boolean;
  /** Keep each reduced axis with size 1 (default false: drop it). */
  keepDims?: boolean;
}

function momentArgs(op: string, x: Tensor, axes: Axes, options: MomentOptions): [readonly number[], boolean, boolean] {
  checkTensor(op, 'x', x);
  if (options === null || typeof options !== 'object') {
    throw new TensorError(op, `options must be an object like {unbiased, keepDims}, got ${String(options)}`);
  }
  const unbiased = options.unbiased ?? false;
  if (typeof unbiased !== 'boolean') throw new TensorError(op, `unbiased must be a boolean, got ${String(unbiased)}`);
  return [normalizeAxes(op, axes, x.rank), unbiased, checkKeepDims(op, options.keepDims)];
}

/** Variance over `axes`, biased by default; stable two-pass in float64. */
export function variance(x: Tensor, axes?: Axes, options: MomentOptions = {}): Tensor {
  return runKernel('variance', x, ...momentArgs('variance', x, axes, options));
}

/** Standard deviation over `axes` (the square root of `variance`, taken in float64). */
export function std(x: Tensor, axes?: Axes, options: MomentOptions = {}): Tensor {
  return runKernel('std', x, ...momentArgs('std', x, axes, options));
}

function extremeArgs(op: string, x: Tensor, axes: Axes, keepDims: boolean): [readonly number[], boolean] {
  checkTensor(op, 'x', x);
  const ax = normalizeAxes(op, axes, x.rank);
  if (reducedCount(x, ax) === 0) {
    throw new ShapeError(op, `cannot reduce over zero elements (shape ${fmtShape(x.shape)}, axes [${ax.join(',')}])`);
  }
  return [ax, checkKeepDims(op, keepDims)];
}

/** Maximum over `axes`; NaN propagates. Throws on an empty reduction. */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return runKernel('max', x, ...extremeArgs('max', x, axes, keepDims));
}

/** Minimum over `axes`; NaN propagates. Throws on an empty reduction. */
export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return runKernel('min', x, ...extremeArgs('min', x, axes, keepDims));
}

/**
 * Index of the maximum along `axis` (of the flattened tensor when `axis` is undefined), as float
 * values in `x`'s dtype; the first index on ties; a NaN counts as the maximum (as torch).
 */
export function argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
  checkTensor('argmax', 'x', x);
  const ax = axis === undefined ? null : normalizeAxis('argmax', axis, x.rank);
  if ((ax === null ? x.size : x.shape[ax]!) === 0) {
    throw new ShapeError('argmax', `cannot take argmax over zero elements (shape ${fmtShape(x.shape)}, axis ${axis})`);
  }
  return runKernel('argmax', x, ax, checkKeepDims('argmax', keepDims));
}

/** `log(Σ exp(x))` over `axes`, stable (the max is factored out). */
export function logSumExp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkTensor('logSumExp', 'x', x);
  return runKernel('logSumExp', x, normalizeAxes('logSumExp', axes, x.rank), checkKeepDims('logSumExp', keepDims));
}

/** `exp(x) / Σ exp(x)` along `axis`, stable (the max along `axis` is subtracted first). */
export function softmax(x: Tensor, axis = -1): Tensor {
  checkTensor('softmax', 'x', x);
  return runKernel('softmax', x, normalizeAxis('softmax', axis, x.rank));
}

/** `x - logSumExp(x)` along `axis`. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  checkTensor('logSoftmax', 'x', x);
  return runKernel('logSoftmax', x, normalizeAxis('logSoftmax', axis, x.rank));
}

/** The L2 norm of all elements, as a number. */
export function norm(x: Tensor): number {
  checkTensor('norm', 'x', x);
  return runKernel('norm', x);
}

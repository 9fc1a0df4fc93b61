/** Creating tensors: from data, filled, ranges, random (seeded). */
import { ShapeError, TensorError, fmtShape } from './errors.js';
import { Rng, defaultRng } from './rng.js';
import { type DType, type NestedArray, type TypedArray, Tensor, allocate, checkDType, checkShape, shapeSize } from './tensor.js';

/** The dtype of a created tensor. */
export interface DTypeOptions {
  /** Default `float32` (`tensor()` of a `Float64Array` defaults to `float64`). */
  dtype?: DType;
}

/**
 * Options of the random creation functions: the dtype and where the random numbers come from
 * (default: the process-wide generator `defaultRng()`, seeded by `manualSeed`).
 */
export interface RandomOptions extends DTypeOptions {
  /** Seed a fresh generator for this call. */
  seed?: number;
  /** Draw from this generator (advancing it). Takes precedence over `seed`. */
  rng?: Rng;
}

function rngOf(options: RandomOptions): Rng {
  if (options.rng) return options.rng;
  if (options.seed !== undefined) return new Rng(options.seed);
  return defaultRng();
}

/**
 * A tensor from nested arrays, a flat array or a typed array. With a flat source, `shape` gives
 * the shape (default: 1-D). Values are copied.
 */
export function tensor(data: NestedArray | ArrayLike<number>, shape?: readonly number[], options: DTypeOptions = {}): Tensor {
  const dtype = checkDType('tensor', options.dtype ?? (data instanceof Float64Array ? 'float64' : 'float32'));
  let flat: number[] | ArrayLike<number>;
  let inferred: number[];
  if (typeof data === 'number') {
    flat = [data];
    inferred = [];
  } else if (Array.isArray(data)) {
    inferred = [];
    let probe: unknown = data;
    while (Array.isArray(probe)) {
      inferred.push(probe.length);
      probe = probe[0];
    }
    flat = [];
    flattenInto(data, inferred, 0, flat as number[]);
  } else if (data && typeof (data as ArrayLike<number>).length === 'number') {
    flat = data as ArrayLike<number>;
    inferred = [flat.length];
  } else {
    throw new TensorError('tensor', `data must be a number, nested arrays or a typed array, got ${typeof data}`);
  }
  const finalShape = shape ? checkShape('tensor', shape) : inferred;
  if (shapeSize(finalShape) !== flat.length) {
    throw new ShapeError('tensor', `shape ${fmtShape(finalShape)} needs ${shapeSize(finalShape)} values, got ${flat.length}`);
  }
  const out = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number') throw new TensorError('tensor', `element ${i} is not a number: ${String(v)}`);
    out[i] = v;
  }
  return new Tensor(out, finalShape);
}

function flattenInto(a: NestedArray[], shape: number[], dim: number, out: number[]): void {
  if (a.length !== shape[dim]) {
    throw new ShapeError('tensor', `ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${a.length}`);
  }
  for (const x of a) {
    if (dim === shape.length - 1) {
      if (Array.isArray(x)) throw new ShapeError('tensor', `ragged nested array: unexpected array at depth ${dim + 1}`);
      out.push(x as number);
    } else {
      if (!Array.isArray(x)) throw new ShapeError('tensor', `ragged nested array: expected an array at depth ${dim + 1}`);
      flattenInto(x, shape, dim + 1, out);
    }
  }
}

/** Wrap a typed array without copying (its dtype follows the array). */
export function fromArray(data: TypedArray, shape: readonly number[] = [data.length]): Tensor {
  if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    throw new TensorError('fromArray', 'data must be a Float32Array or Float64Array');
  }
  const s = checkShape('fromArray', shape);
  if (shapeSize(s) !== data.length) {
    throw new ShapeError('fromArray', `shape ${fmtShape(s)} needs ${shapeSize(s)} values, got ${data.length}`);
  }
  return new Tensor(data, s);
}

/** A tensor of `shape` with every element `value` (default dtype float32). */
export function full(shape: readonly number[], value: number, options: DTypeOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const out = allocate(checkDType('full', options.dtype ?? 'float32'), shapeSize(s));
  if (value !== 0) out.fill(value);
  return new Tensor(out, s);
}

/** A tensor of `shape` filled with 0. */
export function zeros(shape: readonly number[], options: DTypeOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of `shape` filled with 1. */
export function ones(shape: readonly number[], options: DTypeOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Zeros of `t`'s shape and dtype. */
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype });
}

/** Ones of `t`'s shape and dtype. */
export function onesLike(t: Tensor): Tensor {
  return ones(t.shape, { dtype: t.dtype });
}

/** Values start, start+step, … below end (as `torch.arange`). */
export function arange(start: number, end?: number, step = 1, options: DTypeOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step) || step === 0) {
    throw new TensorError('arange', `start, end and step must be finite and step non-zero, got ${start}, ${end}, ${step}`);
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const out = allocate(checkDType('arange', options.dtype ?? 'float32'), n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return new Tensor(out, [n]);
}

/** Uniform in [low, high) (default [0, 1)). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape('rand', shape);
  const rng = rngOf(options);
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  const out = allocate(checkDType('rand', options.dtype ?? 'float32'), shapeSize(s));
  for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * rng.uniform();
  return new Tensor(out, s);
}

/** Normal with `mean` and `std` (default standard normal). */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const s = checkShape('randn', shape);
  const rng = rngOf(options);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const out = allocate(checkDType('randn', options.dtype ?? 'float32'), shapeSize(s));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal(mean, std);
  return new Tensor(out, s);
}

/** Wrap a number as a 0-d tensor of `dtype`. */
export function scalar(value: number, options: DTypeOptions = {}): Tensor {
  return full([], value, options);
}

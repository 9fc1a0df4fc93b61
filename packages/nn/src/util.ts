/** Small helpers shared by the package's files (not exported from the package). */
import { Rng, Tensor, TensorError, defaultRng, fmtShape } from '@normlab/tensor';

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Tensor) return `a Tensor of shape ${fmtShape(v.shape)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v} ${String(v)}`;
}

/** Where randomness comes from: an explicit generator, a seed for a fresh one, or the global one. */
export interface RngOptions {
  /** Draw from this generator (advancing it). Takes precedence over `seed`. */
  rng?: Rng;
  /** Seed a fresh generator. */
  seed?: number;
}

export function resolveRng(op: string, options: RngOptions = {}): Rng {
  if (options.rng !== undefined) {
    if (!(options.rng instanceof Rng)) throw new TensorError(op, `rng must be an Rng, got ${describe(options.rng)}`);
    return options.rng;
  }
  if (options.seed !== undefined) {
    if (!Number.isFinite(options.seed)) throw new TensorError(op, `seed must be a finite number, got ${String(options.seed)}`);
    return new Rng(options.seed);
  }
  return defaultRng();
}

export function checkPositiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new TensorError(op, `${name} must be a positive integer, got ${describe(v)}`);
  }
  return v;
}

export function checkNonNegInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new TensorError(op, `${name} must be a non-negative integer, got ${describe(v)}`);
  }
  return v;
}

/** A finite number in [lo, hi] (either bound optional). */
export function checkNumber(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity, loOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (loOpen && v === lo)) {
    const range = `${loOpen ? '(' : '['}${lo}, ${hi}]`;
    throw new TensorError(op, `${name} must be a finite number in ${range}, got ${describe(v)}`);
  }
  return v;
}

/** A size option that is a number or an [h, w] pair, as PyTorch's `_pair`. */
export function checkPair(op: string, name: string, v: unknown, min: number): [number, number] {
  const pair = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(pair) || pair.length !== 2 || pair.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < min)) {
    throw new TensorError(op, `${name} must be an integer >= ${min} or a pair of them, got ${describe(v)}${Array.isArray(v) ? ` [${v.join(',')}]` : ''}`);
  }
  return [pair[0] as number, pair[1] as number];
}

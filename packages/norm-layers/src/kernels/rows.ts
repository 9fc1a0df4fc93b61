/**
 * What every cpu norm kernel shares: the shifted one-read statistics (`shiftedSums`,
 * `shiftedMoments`: float64 sums of values shifted by one value of their slot, two-pass accuracy
 * at one read of the data) and the row helpers every hot loop lives in.
 */
import type { Tensor, TypedArray } from '@normlab/tensor';

export function dataOf(t: Tensor): TypedArray {
  return t.contiguous().data;
}

/**
 * Pieces per worker part (`parallelFor`'s `pieces`): the range functions below have no per-call
 * setup, so the calling thread can take over what a slow worker has not started, piece by piece.
 */
export const PIECES = 8;

/** Two results of a helper that returns a pair of sums (no object allocated per call). */
export const pair = new Float64Array(2);

/**
 * Σ (d[i] − K) and Σ (d[i] − K)² over d[start..end) in float64 into `pair` (two accumulators
 * per sum): one read of the data for both moments of values shifted by K. Eight elements a step,
 * the highest index read first (see "Row helpers" below for why).
 */
export function shiftedSums(d: TypedArray, start: number, end: number, K: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let i = start;
  for (; i + 7 < end; i += 8) {
    const d7 = d[i + 7]! - K;
    const d0 = d[i]! - K;
    const d1 = d[i + 1]! - K;
    const d2 = d[i + 2]! - K;
    const d3 = d[i + 3]! - K;
    const d4 = d[i + 4]! - K;
    const d5 = d[i + 5]! - K;
    const d6 = d[i + 6]! - K;
    a0 += d0 + d2 + (d4 + d6);
    a1 += d1 + d3 + (d5 + d7);
    b0 += d0 * d0 + d2 * d2 + (d4 * d4 + d6 * d6);
    b1 += d1 * d1 + d3 * d3 + (d5 * d5 + d7 * d7);
  }
  for (; i < end; i++) {
    const d0 = d[i]! - K;
    a0 += d0;
    b0 += d0 * d0;
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

/**
 * Mean into pair[0] and M2 = Σ (x − mean)² into pair[1] from the shifted sums T1 = Σ (x − K),
 * T2 = Σ (x − K)² of M values: mean = K + T1/M, M2 = T2 − T1²/M. With K one of the values,
 * (K − mean)² ≤ M2, so the subtraction loses at most log2(M) of float64's 53 bits (a million
 * values still leave 33, beyond float32's 24): two-pass accuracy at one read of the data. A
 * one-pass E[x²] − E[x]² without the shift would lose every digit for a large mean.
 */
export function shiftedMoments(K: number, t1: number, t2: number, M: number): void {
  const d = t1 / M;
  pair[0] = K + d;
  pair[1] = Math.max(0, t2 - t1 * d);
}

// Row helpers. Every hot loop lives in one of these small functions, called once per row or
// segment (hundreds to thousands of elements), never per element. Kept apart because V8
// optimizes a small function called many times reliably, while a large kernel whose loops are
// reached for the first time inside one long call is compiled on-stack (OSR) without type
// feedback for its later loops and deoptimizes there on every call.
//
// The main loops take eight elements a step and read the highest index first. V8 (Node 20)
// re-checks a typed-array argument's map, length and data pointer at every access and polls for
// interrupts once per iteration (seen in its optimized code); loading all eight inputs before
// the first store lets it check each array once per step instead of once per element. Measured
// over 1M float32 values: the affine output 1.5 → 1.05 ms, the gradient 1.94 → 1.57 ms. The
// elementwise results are unchanged; sums only change which partial sums are added first.

/** out[i] = (x[i] − m)·scale + shift over [start, end), `x − m` in float64. */
export function applyAffine(out: TypedArray, xd: TypedArray, start: number, end: number, m: number, scale: number, shift: number): void {
  let i = start;
  for (; i + 7 < end; i += 8) {
    const x7 = xd[i + 7]!;
    const x0 = xd[i]!;
    const x1 = xd[i + 1]!;
    const x2 = xd[i + 2]!;
    const x3 = xd[i + 3]!;
    const x4 = xd[i + 4]!;
    const x5 = xd[i + 5]!;
    const x6 = xd[i + 6]!;
    out[i] = (x0 - m) * scale + shift;
    out[i + 1] = (x1 - m) * scale + shift;
    out[i + 2] = (x2 - m) * scale + shift;
    out[i + 3] = (x3 - m) * scale + shift;
    out[i + 4] = (x4 - m) * scale + shift;
    out[i + 5] = (x5 - m) * scale + shift;
    out[i + 6] = (x6 - m) * scale + shift;
    out[i + 7] = (x7 - m) * scale + shift;
  }
  for (; i < end; i++) out[i] = (xd[i]! - m) * scale + shift;
}

/** Σ dy and Σ dy·(x − m) over [start, end), into `pair` (two accumulators per sum). */
export function dyMoments(gd: TypedArray, xd: TypedArray, start: number, end: number, m: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let i = start;
  for (; i + 7 < end; i += 8) {
    const g7 = gd[i + 7]!;
    const g0 = gd[i]!;
    const g1 = gd[i + 1]!;
    const g2 = gd[i + 2]!;
    const g3 = gd[i + 3]!;
    const g4 = gd[i + 4]!;
    const g5 = gd[i + 5]!;
    const g6 = gd[i + 6]!;
    const x7 = xd[i + 7]! - m;
    const x0 = xd[i]! - m;
    const x1 = xd[i + 1]! - m;
    const x2 = xd[i + 2]! - m;
    const x3 = xd[i + 3]! - m;
    const x4 = xd[i + 4]! - m;
    const x5 = xd[i + 5]! - m;
    const x6 = xd[i + 6]! - m;
    a0 += g0 + g2 + (g4 + g6);
    a1 += g1 + g3 + (g5 + g7);
    b0 += g0 * x0 + g2 * x2 + (g4 * x4 + g6 * x6);
    b1 += g1 * x1 + g3 * x3 + (g5 * x5 + g7 * x7);
  }
  for (; i < end; i++) {
    a0 += gd[i]!;
    b0 += gd[i]! * (xd[i]! - m);
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

/**
 * out[i] = a·dy[i] + c1·(x[i] − m) + c0 over [start, end), eight elements a step as `applyAffine`.
 * `out` may be `dy` itself (each element reads only its own dy).
 */
export function gradAffine(out: TypedArray, gd: TypedArray, xd: TypedArray, start: number, end: number, a: number, c1: number, m: number, c0: number): void {
  let i = start;
  for (; i + 7 < end; i += 8) {
    const g7 = gd[i + 7]!;
    const x7 = xd[i + 7]!;
    const g0 = gd[i]!;
    const g1 = gd[i + 1]!;
    const g2 = gd[i + 2]!;
    const g3 = gd[i + 3]!;
    const g4 = gd[i + 4]!;
    const g5 = gd[i + 5]!;
    const g6 = gd[i + 6]!;
    const x0 = xd[i]!;
    const x1 = xd[i + 1]!;
    const x2 = xd[i + 2]!;
    const x3 = xd[i + 3]!;
    const x4 = xd[i + 4]!;
    const x5 = xd[i + 5]!;
    const x6 = xd[i + 6]!;
    out[i] = a * g0 + c1 * (x0 - m) + c0;
    out[i + 1] = a * g1 + c1 * (x1 - m) + c0;
    out[i + 2] = a * g2 + c1 * (x2 - m) + c0;
    out[i + 3] = a * g3 + c1 * (x3 - m) + c0;
    out[i + 4] = a * g4 + c1 * (x4 - m) + c0;
    out[i + 5] = a * g5 + c1 * (x5 - m) + c0;
    out[i + 6] = a * g6 + c1 * (x6 - m) + c0;
    out[i + 7] = a * g7 + c1 * (x7 - m) + c0;
  }
  for (; i < end; i++) out[i] = a * gd[i]! + c1 * (xd[i]! - m) + c0;
}

/** out[i] += a·dy[i] + c1·(x[i] − m) + c0 over [start, end): dx added to a gradient (rarely taken). */
export function gradAffineAdd(out: TypedArray, gd: TypedArray, xd: TypedArray, start: number, end: number, a: number, c1: number, m: number, c0: number): void {
  for (let i = start; i < end; i++) out[i] = out[i]! + (a * gd[i]! + c1 * (xd[i]! - m) + c0);
}

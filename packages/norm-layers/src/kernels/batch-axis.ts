/**
 * The batch-axis kernels (`batchAxisMoments`, `batchAxisApply`, `batchAxisBackward`): the input
 * read as (N, P) with P = C·H·W and a statistic per position p over the batch axis alone — the
 * batch stage of the paper's GN+ when it is composed from basic kernels (orders bn-first and
 * parallel, or a backend without the GN+ kernels).
 */
import { type Tensor, allocate, fromArray } from '@normlab/tensor';
import type { Moments } from './grouped.js';
import { dataOf } from './rows.js';

/**
 * Positions are processed in chunks so that a chunk's N rows (N·CHUNK values) stay in cache
 * between the two passes, and its float64 accumulators in L1.
 */
const CHUNK = 2048;

export function batchAxisMomentsCpu(x: Tensor, N: number, P: number, correction: number): Moments {
  const xd = dataOf(x);
  const mean = new Float64Array(P);
  const variance = new Float64Array(P);
  const denom = N - correction;
  for (let p0 = 0; p0 < P; p0 += CHUNK) {
    const p1 = Math.min(P, p0 + CHUNK);
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) mean[p]! += xd[off + p]!;
    }
    for (let p = p0; p < p1; p++) mean[p] = mean[p]! / N;
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) {
        const d = xd[off + p]! - mean[p]!;
        variance[p]! += d * d;
      }
    }
    for (let p = p0; p < p1; p++) variance[p] = denom > 0 ? variance[p]! / denom : NaN;
  }
  return { mean, variance };
}

export function batchAxisApplyCpu(x: Tensor, N: number, P: number, mean: Float64Array, rstd: Float64Array): Tensor {
  const xd = dataOf(x);
  const out = allocate(x.dtype, N * P);
  for (let n = 0; n < N; n++) {
    const base = n * P;
    for (let p = 0; p < P; p++) out[base + p] = (xd[base + p]! - mean[p]!) * rstd[p]!;
  }
  return fromArray(out, [N, P]);
}

export function batchAxisBackwardCpu(
  x: Tensor,
  dy: Tensor,
  N: number,
  P: number,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array,
  accumulateInto: Tensor | null,
): Tensor {
  const xd = dataOf(x);
  const gd = dataOf(dy);
  const c0 = new Float64Array(P);
  const c1 = new Float64Array(P);
  const out = accumulateInto ? accumulateInto.data : allocate(x.dtype, N * P);
  const acc = accumulateInto !== null;
  for (let p0 = 0; p0 < P; p0 += CHUNK) {
    const p1 = Math.min(P, p0 + CHUNK);
    // Pass 1 over the chunk: Σ g and Σ g·(x − μ) per position.
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) {
        const g = gd[off + p]!;
        c0[p]! += g;
        c1[p]! += g * (xd[off + p]! - mean[p]!);
      }
    }
    // Fold the per-position constants: dx = r·g + c1·(x − μ) + c0.
    for (let p = p0; p < p1; p++) {
      const r = rstd[p]!;
      c0[p] = (-r * c0[p]!) / N;
      c1[p] = (-r * r * r * k[p]! * c1[p]!) / N;
    }
    // Pass 2 while the chunk is still in cache.
    for (let n = 0; n < N; n++) {
      const off = n * P;
      if (acc) {
        for (let p = p0; p < p1; p++) {
          const i = off + p;
          out[i] = out[i]! + (rstd[p]! * gd[i]! + c1[p]! * (xd[i]! - mean[p]!) + c0[p]!);
        }
      } else {
        for (let p = p0; p < p1; p++) {
          const i = off + p;
          out[i] = rstd[p]! * gd[i]! + c1[p]! * (xd[i]! - mean[p]!) + c0[p]!;
        }
      }
    }
  }
  return accumulateInto ?? fromArray(out, [N, P]);
}

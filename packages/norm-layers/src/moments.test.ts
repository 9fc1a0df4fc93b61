/**
 * The statistics kernels read the data once, summing values shifted by the slot's first value
 * in float64. These check that against an exact two-pass reference where a shift-free one-pass
 * formula fails: a large mean with a tiny spread, and the worst case for the shift, a first value
 * far from all the others.
 */
import { fromArray, runKernel } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import './index.js';

function twoPass(v: Float64Array): { mean: number; m2: number } {
  let mean = 0;
  for (const a of v) mean += a;
  mean /= v.length;
  let m2 = 0;
  for (const a of v) m2 += (a - mean) ** 2;
  return { mean, m2 };
}

function moments(v: Float64Array, correction = 0): { mean: number; variance: number } {
  const x = fromArray(v, [1, 1, v.length]);
  const m = runKernel('normMoments', x, { n: 1, c: 1, s: v.length, groups: 1, perSample: true }, correction);
  return { mean: m.mean[0]!, variance: m.variance[0]! };
}

describe('normMoments: one shifted read, two-pass accuracy', () => {
  const M = 100_000;
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;

  it('a mean of 1e8 with a spread of 1e-3', () => {
    const v = Float64Array.from({ length: M }, () => 1e8 + 1e-3 * rand());
    const ref = twoPass(v);
    const got = moments(v);
    expect(Math.abs(got.mean - ref.mean)).toBeLessThan(1e-14 * ref.mean); // the reference's own rounding: sums near 1e13
    expect(Math.abs(got.variance - ref.m2 / M) / (ref.m2 / M)).toBeLessThan(1e-6);
    // Without the shift, E[x²] − E[x]² in float64 has no correct digit left here.
    let s = 0;
    let s2 = 0;
    for (const a of v) {
      s += a;
      s2 += a * a;
    }
    const naive = s2 / M - (s / M) ** 2;
    expect(Math.abs(naive - ref.m2 / M) / (ref.m2 / M)).toBeGreaterThan(1);
  });

  it('a first value far from the rest (the worst case for the shift)', () => {
    const v = Float64Array.from({ length: M }, (_, i) => (i === 0 ? 1e4 + 50 : 1e4 + 0.01 * rand()));
    const ref = twoPass(v);
    const got = moments(v, 1);
    expect(Math.abs(got.mean - ref.mean)).toBeLessThan(1e-12 * ref.mean);
    expect(Math.abs(got.variance - ref.m2 / (M - 1)) / (ref.m2 / (M - 1))).toBeLessThan(1e-9);
  });

  it('constant input has variance exactly 0', () => {
    expect(moments(new Float64Array(1000).fill(12345.678))).toEqual({ mean: 12345.678, variance: 0 });
  });
});

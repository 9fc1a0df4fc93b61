/**
 * Helpers shared by this package's tests (excluded from the build by tsconfig.build.json).
 */
import { expect } from 'vitest';
import { type Shape, shapeSize } from '../tensor.js';

/** Every multi-index of `shape`, row-major. */
export function* indices(shape: Shape): Generator<number[]> {
  const n = shapeSize(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield [...idx];
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
}

/**
 * Same length, and the worst error |actual − expected| / (1 + |expected|) below `tol`. A NaN
 * error is never `<= worst`, so it becomes the worst and fails the check.
 */
export function expectWorstRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    const d = Math.abs(actual[i]! - e) / (1 + Math.abs(e));
    if (!(d <= worst)) worst = d;
  }
  expect(worst).toBeLessThan(tol);
}

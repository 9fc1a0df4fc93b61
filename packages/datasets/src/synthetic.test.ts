import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { validateDataset, type ImageDataset } from './dataset.js';
import { syntheticImages } from './synthetic.js';

/** Accuracy of the nearest class mean (fit on `train`) on `test`: proof the classes differ by pattern. */
function nearestMeanAccuracy(train: ImageDataset, test: ImageDataset): number {
  const per = train.channels * train.height * train.width;
  const K = train.numClasses;
  const means = new Float64Array(K * per);
  const counts = new Float64Array(K);
  for (let i = 0; i < train.n; i++) {
    const k = train.labels[i]!;
    counts[k]!++;
    for (let j = 0; j < per; j++) means[k * per + j]! += train.images[i * per + j]!;
  }
  for (let k = 0; k < K; k++) for (let j = 0; j < per; j++) means[k * per + j]! /= counts[k]!;
  let correct = 0;
  for (let i = 0; i < test.n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < K; k++) {
      let d = 0;
      for (let j = 0; j < per; j++) {
        const t = test.images[i * per + j]! - means[k * per + j]!;
        d += t * t;
      }
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    if (best === test.labels[i]) correct++;
  }
  return correct / test.n;
}

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('syntheticImages', () => {
  it('has the requested geometry, balanced labels and valid arrays', () => {
    const ds = syntheticImages({ n: 95, numClasses: 5, channels: 3, height: 12, width: 10, seed: 4 });
    expect([ds.n, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([95, 3, 12, 10, 5]);
    expect(ds.images).toBeInstanceOf(Uint8Array);
    expect(ds.images.length).toBe(95 * 3 * 12 * 10);
    validateDataset(ds);
    const counts = new Array(5).fill(0);
    for (const y of ds.labels) counts[y]++;
    expect(counts).toEqual([19, 19, 19, 19, 19]);
    // Shuffled, not in i mod K order.
    expect(Array.from(ds.labels.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  });

  it('is deterministic per seed and split', () => {
    const a = syntheticImages({ n: 50, seed: 7 });
    const b = syntheticImages({ n: 50, seed: 7 });
    expect(same(b.images, a.images)).toBe(true);
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    const c = syntheticImages({ n: 50, seed: 8 });
    expect(same(c.images, a.images)).toBe(false);
    const t = syntheticImages({ n: 50, seed: 7, split: 'test' });
    expect(same(t.images, a.images)).toBe(false);
    expect(t.name).toBe('synthetic-test');
  });

  it('is learnable: patterns from the train split classify the test split', () => {
    // Without shifts a nearest-class-mean classifier already separates the 10 patterns under noise.
    const train = syntheticImages({ n: 300, seed: 1, maxShift: 0, noise: 0.2 });
    const test = syntheticImages({ n: 200, seed: 1, maxShift: 0, noise: 0.2, split: 'test' });
    expect(nearestMeanAccuracy(train, test)).toBeGreaterThan(0.95);
    // Shifting breaks a pixel-mean classifier to some degree but it remains far above chance (0.1).
    const trainS = syntheticImages({ n: 300, seed: 1 });
    const testS = syntheticImages({ n: 200, seed: 1, split: 'test' });
    expect(nearestMeanAccuracy(trainS, testS)).toBeGreaterThan(0.5);
  });

  it('colour carries class information when channels > 1', () => {
    const ds = syntheticImages({ n: 20, numClasses: 2, channels: 3, height: 8, width: 8, noise: 0, maxShift: 0 });
    // With zero noise and shift, images differ only by contrast: per-channel ranges differ by amplitude.
    const per = 3 * 64;
    const range = (i: number, c: number) => {
      let lo = 255;
      let hi = 0;
      for (let j = 0; j < 64; j++) {
        const v = ds.images[i * per + c * 64 + j]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      return hi - lo;
    };
    // Class 0 has a weak first channel and strong second, class 1 the reverse.
    const i0 = ds.labels.indexOf(0);
    const i1 = ds.labels.indexOf(1);
    expect(range(i0, 1)).toBeGreaterThan(range(i0, 0) * 1.5);
    expect(range(i1, 0)).toBeGreaterThan(range(i1, 1) * 1.5);
  });

  it('validates its options', () => {
    expect(() => syntheticImages({ n: -1 })).toThrow(DatasetError);
    expect(() => syntheticImages({ numClasses: 0 })).toThrow(/numClasses must be an integer >= 1, got 0/);
    expect(() => syntheticImages({ noise: -0.1 })).toThrow(/noise must be/);
    expect(() => syntheticImages({ split: 'val' as 'test' })).toThrow(/split must be/);
  });
});

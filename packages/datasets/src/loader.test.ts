import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import type { ImageDataset } from './dataset.js';
import { DataLoader, type Batch } from './loader.js';
import { normalize, randomCrop, randomHorizontalFlip, toFloat } from './transforms.js';
import { mnist, MNIST_MEAN, MNIST_STD } from './sources.js';

/** n images of 2×3×2 whose pixels encode their index, label = index mod 4. */
function indexed(n: number): ImageDataset {
  const per = 12;
  const images = new Uint8Array(n * per);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let j = 0; j < per; j++) images[i * per + j] = (i + j) % 256;
  }
  return { images, labels, n, channels: 2, height: 3, width: 2, numClasses: 4, name: 'indexed' };
}

function all(it: Iterable<Batch>): Batch[] {
  return Array.from(it);
}

function sorted(a: Iterable<number>): number[] {
  return Array.from(a).sort((x, y) => x - y);
}

describe('DataLoader', () => {
  it('yields float32 NCHW tensors with the pixels and int32 labels of the dataset', () => {
    const ds = indexed(10);
    const loader = new DataLoader(ds, { batchSize: 4 });
    const batches = all(loader);
    expect(batches.map((b) => b.images.shape)).toEqual([[4, 2, 3, 2], [4, 2, 3, 2], [2, 2, 3, 2]]);
    const b1 = batches[1]!;
    expect(b1.images.dtype).toBe('float32');
    expect(b1.images.data).toBeInstanceOf(Float32Array);
    expect(b1.labels).toBeInstanceOf(Int32Array);
    expect(Array.from(b1.indices)).toEqual([4, 5, 6, 7]);
    expect(Array.from(b1.labels)).toEqual([0, 1, 2, 3]);
    // Without toFloat the raw pixel values come through: image 5 starts with pixel 5.
    expect(b1.images.data[12]).toBe(5);
    expect(Array.from(b1.images.data.subarray(12, 24))).toEqual(Array.from(ds.images.subarray(60, 72)));
    expect(b1.index).toBe(1);
  });

  it('length, dropLast and limit', () => {
    const ds = indexed(10);
    expect(new DataLoader(ds, { batchSize: 4 }).length).toBe(3);
    expect(new DataLoader(ds, { batchSize: 4, dropLast: true }).length).toBe(2);
    expect(all(new DataLoader(ds, { batchSize: 4, dropLast: true })).map((b) => b.labels.length)).toEqual([4, 4]);
    expect(new DataLoader(ds, { batchSize: 20, dropLast: true }).length).toBe(0);
    expect(all(new DataLoader(ds, { batchSize: 20, dropLast: true }))).toEqual([]);
    const limited = new DataLoader(ds, { batchSize: 3, limit: 7, shuffle: true, seed: 3 });
    expect(limited.size).toBe(7);
    expect(limited.length).toBe(3);
    expect(sorted(all(limited).flatMap((b) => Array.from(b.indices)))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new DataLoader(ds, { limit: 1000 }).size).toBe(10);
    expect(new DataLoader(ds, { limit: 0 }).length).toBe(0);
  });

  it('shuffles: every epoch is a permutation covering each example once', () => {
    const ds = indexed(103);
    const loader = new DataLoader(ds, { batchSize: 10, shuffle: true, seed: 42 });
    const seen: number[][] = [];
    for (let e = 0; e < 3; e++) {
      const idx = all(loader).flatMap((b) => Array.from(b.indices));
      expect(sorted(idx)).toEqual(Array.from({ length: 103 }, (_, i) => i));
      seen.push(idx);
    }
    expect(loader.epoch).toBe(3);
    expect(seen[0]).not.toEqual(seen[1]);
    expect(seen[1]).not.toEqual(seen[2]);
    expect(seen[0]).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    // Labels follow their images.
    for (const b of new DataLoader(ds, { batchSize: 10, shuffle: true, seed: 42 })) {
      for (let i = 0; i < b.labels.length; i++) expect(b.labels[i]).toBe(b.indices[i]! % 4);
    }
  });

  it('is deterministic: same seed same order, other seed other order, and epochs replay on resume', () => {
    const ds = indexed(50);
    const opts = { batchSize: 8, shuffle: true, seed: 7, transforms: [toFloat(), randomCrop(1), randomHorizontalFlip()] };
    const a = new DataLoader(ds, opts);
    const runA = [0, 1, 2].map(() => all(a));
    const b = new DataLoader(ds, opts);
    const runB = [0, 1, 2].map(() => all(b));
    for (let e = 0; e < 3; e++) {
      for (let k = 0; k < runA[e]!.length; k++) {
        expect(Array.from(runB[e]![k]!.indices)).toEqual(Array.from(runA[e]![k]!.indices));
        expect(runB[e]![k]!.images.data).toEqual(runA[e]![k]!.images.data);
      }
    }
    // Resume at epoch 2: setting the epoch replays it exactly, images (augmentation) included.
    const resumed = new DataLoader(ds, opts);
    resumed.epoch = 2;
    const r = all(resumed);
    expect(r.map((x) => Array.from(x.indices))).toEqual(runA[2]!.map((x) => Array.from(x.indices)));
    expect(r[3]!.images.data).toEqual(runA[2]![3]!.images.data);
    expect(resumed.epoch).toBe(3);
    // Random access to one batch mid-epoch.
    expect(resumed.batch(1, 4).images.data).toEqual(runA[1]![4]!.images.data);
    expect(Array.from(resumed.iterate(1)).map((x) => x.epoch)).toEqual(new Array(7).fill(1));
    // A different seed gives a different order.
    const c = new DataLoader(ds, { ...opts, seed: 8 });
    expect(Array.from(c.order(0))).not.toEqual(Array.from(a.order(0)));
    // The epoch option starts a loader at that epoch.
    expect(Array.from(new DataLoader(ds, { ...opts, epoch: 1 }).order(1))).toEqual(Array.from(a.order(1)));
  });

  it('without shuffle visits examples in order every epoch', () => {
    const loader = new DataLoader(indexed(5), { batchSize: 2 });
    for (let e = 0; e < 2; e++) expect(all(loader).flatMap((b) => Array.from(b.indices))).toEqual([0, 1, 2, 3, 4]);
  });

  it('accepts float32 datasets', () => {
    const ds: ImageDataset = {
      images: Float32Array.from({ length: 2 * 4 }, (_, i) => i / 10),
      labels: Int32Array.from([1, 0]),
      n: 2,
      channels: 1,
      height: 2,
      width: 2,
      numClasses: 2,
      name: 'f',
    };
    const [b] = all(new DataLoader(ds, { batchSize: 2, transforms: [toFloat()] }));
    // toFloat leaves float sources as they are.
    expect(Array.from(b!.images.data)).toEqual(Array.from(ds.images));
  });

  it('validates its options and the dataset', () => {
    const ds = indexed(4);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(/DataLoader: batchSize must be an integer >= 1, got 0/);
    expect(() => new DataLoader(ds, { batchSize: 1.5 })).toThrow(DatasetError);
    expect(() => new DataLoader(ds, { limit: -1 })).toThrow(/limit must be/);
    expect(() => new DataLoader(ds, { seed: NaN })).toThrow(/seed must be a finite number/);
    expect(() => new DataLoader(ds, { transforms: [{} as never] })).toThrow(/transforms must be Transform objects/);
    const loader = new DataLoader(ds);
    expect(() => {
      loader.epoch = -1;
    }).toThrow(/epoch must be an integer >= 0/);
    expect(() => loader.batch(0, 4)).toThrow(/batch index 4 is out of range: the loader has 4 batches/);
    expect(() => new DataLoader({ ...ds, n: 5 })).toThrow(/5 images of 2×3×2 need 60 values, got 48/);
    expect(() => new DataLoader({ ...ds, labels: Uint8Array.from([0, 1, 2, 9]) })).toThrow(/label 3 is 9, expected 0..3/);
  });

  it('toFloat + normalize with the MNIST constants standardizes the MNIST test set', () => {
    const loader = new DataLoader(mnist({ split: 'test' }), { batchSize: 1000, transforms: [toFloat(), normalize(MNIST_MEAN, MNIST_STD)] });
    let s = 0;
    let s2 = 0;
    let count = 0;
    for (const b of loader) {
      const d = b.images.data;
      for (let i = 0; i < d.length; i++) {
        s += d[i]!;
        s2 += d[i]! * d[i]!;
      }
      count += d.length;
    }
    expect(loader.length).toBe(10);
    // The constants come from the training set; the test set is close to standardized.
    expect(s / count).toBeCloseTo(0.0, 1);
    expect(Math.sqrt(s2 / count - (s / count) ** 2)).toBeCloseTo(1.0, 1);
  });
});

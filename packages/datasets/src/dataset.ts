import { DatasetError } from './errors.js';

/**
 * An in-memory image classification set. Images are NCHW row-major: image i occupies
 * `images[i*C*H*W .. (i+1)*C*H*W)`. Real sets keep the original uint8 pixels (a quarter of the
 * memory of float32); the DataLoader converts one batch at a time. Datasets returned by the
 * loaders are cached and shared: treat the arrays as read-only.
 */
export interface ImageDataset {
  /** n × C × H × W values, NCHW: uint8 pixels 0..255 (real sets) or float32 in the set's own units. */
  images: Float32Array | Uint8Array;
  /** One class index (0..numClasses−1) per image. */
  labels: Int32Array | Uint8Array;
  /** Number of images. */
  n: number;
  /** Channels per image (1 grey, 3 RGB). */
  channels: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** Number of classes. */
  numClasses: number;
  /** The set and split, e.g. `mnist-train`. */
  name: string;
  /** Human-readable class names, when known. */
  classNames?: string[];
}

/** Check that a dataset's arrays agree with its sizes and that every label is a valid class. */
export function validateDataset(ds: ImageDataset, op = 'validateDataset'): void {
  const { n, channels, height, width, numClasses } = ds;
  for (const [key, v] of [['n', n], ['channels', channels], ['height', height], ['width', width], ['numClasses', numClasses]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || (key !== 'n' && v === 0)) {
      throw new DatasetError(op, `dataset ${ds.name}: ${key} must be a ${key === 'n' ? 'non-negative' : 'positive'} integer, got ${v}`);
    }
  }
  if (!(ds.images instanceof Uint8Array) && !(ds.images instanceof Float32Array)) {
    throw new DatasetError(op, `dataset ${ds.name}: images must be a Uint8Array or Float32Array`);
  }
  if (!(ds.labels instanceof Uint8Array) && !(ds.labels instanceof Int32Array)) {
    throw new DatasetError(op, `dataset ${ds.name}: labels must be a Uint8Array or Int32Array`);
  }
  const per = channels * height * width;
  if (ds.images.length !== n * per) {
    throw new DatasetError(op, `dataset ${ds.name}: ${n} images of ${channels}×${height}×${width} need ${n * per} values, got ${ds.images.length}`);
  }
  if (ds.labels.length !== n) {
    throw new DatasetError(op, `dataset ${ds.name}: ${n} images but ${ds.labels.length} labels`);
  }
  const labels = ds.labels;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= numClasses) {
      throw new DatasetError(op, `dataset ${ds.name}: label ${i} is ${y}, expected 0..${numClasses - 1}`);
    }
  }
}

/**
 * Per-channel mean and (biased) standard deviation of the pixels, in [0, 1] units for uint8 sets
 * (values / 255) and in the stored units for float sets: the numbers `normalize` wants.
 * Accumulates in float64, two passes.
 */
export function channelStats(
  ds: ImageDataset,
  options: {
    /** Use only the first `limit` images (default all). */
    limit?: number;
  } = {},
): {
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel (biased, population) standard deviation. */
  std: number[];
} {
  const n = Math.min(ds.n, options.limit ?? ds.n);
  const { channels: C } = ds;
  const hw = ds.height * ds.width;
  const scale = ds.images instanceof Uint8Array ? 1 / 255 : 1;
  const x = ds.images;
  const mean: number[] = [];
  const std: number[] = [];
  const count = n * hw;
  if (count === 0) throw new DatasetError('channelStats', `dataset ${ds.name} has no pixels to average`);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * C + c) * hw;
      for (let k = 0; k < hw; k++) s += x[base + k]!;
    }
    const m = s / count;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * C + c) * hw;
      for (let k = 0; k < hw; k++) {
        const d = x[base + k]! - m;
        v += d * d;
      }
    }
    mean.push(m * scale);
    std.push(Math.sqrt(v / count) * scale);
  }
  return { mean, std };
}

/** The examples `start .. end-1` of a dataset, as views (no copy). */
export function subset(ds: ImageDataset, start: number, end = ds.n): ImageDataset {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > ds.n || start > end) {
    throw new DatasetError('subset', `range [${start}, ${end}) is not within 0..${ds.n} of dataset ${ds.name}`);
  }
  const per = ds.channels * ds.height * ds.width;
  return {
    ...ds,
    images: ds.images.subarray(start * per, end * per),
    labels: ds.labels.subarray(start, end),
    n: end - start,
  };
}

import { Rng, fromArray, type Tensor } from '@normlab/tensor';
import { DatasetError } from './errors.js';
import { validateDataset, type ImageDataset } from './dataset.js';
import type { Transform, TransformContext } from './transforms.js';

/** Options of `DataLoader`. */
export interface DataLoaderOptions {
  /** Examples per batch. Default 1 (as PyTorch). */
  batchSize?: number;
  /** Reshuffle every epoch. Default false. */
  shuffle?: boolean;
  /** Seed of the shuffling and of the random transforms. Default 0. */
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Use only the first `limit` examples of the dataset (all when larger than the dataset). */
  limit?: number;
  /** Applied in order to each batch (float32 NCHW). */
  transforms?: Transform[];
  /** The epoch the next `for…of` iterates. Default 0. */
  epoch?: number;
}

/** One batch: images (N, C, H, W) float32, their labels, and which dataset examples they are. */
export interface Batch {
  /** (N, C, H, W) float32, after the transforms. */
  images: Tensor;
  /** The N class indices. */
  labels: Int32Array;
  /** Dataset indices of the examples, in batch order. */
  indices: Int32Array;
  /** Position of the batch within its epoch. */
  index: number;
  /** The epoch (from 0) the batch belongs to. */
  epoch: number;
}

/** A 32-bit hash of a few integers, used to derive independent seeds per (seed, epoch, batch). */
function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

// Salts keep the shuffling stream and the transform stream of the same (seed, epoch) apart.
const SHUFFLE_SALT = 0x5f3759df;
const TRANSFORM_SALT = 0x2545f491;

function checkCount(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new DatasetError('DataLoader', `${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * Iterates a dataset in batches, as `torch.utils.data.DataLoader`. Each `for…of` runs one epoch
 * and advances `epoch`; the order of epoch k (with `shuffle`) and the random transforms of its
 * batch b depend only on (seed, k, b), so a run resumed at epoch k — set `loader.epoch = k`, or
 * call `iterate(k)` or `batch(k, b)` — sees exactly the batches of an uninterrupted run. Images
 * stay in the dataset's dtype and are converted to float32 one batch at a time.
 */
export class DataLoader implements Iterable<Batch> {
  /** The dataset batches are drawn from. */
  readonly dataset: ImageDataset;
  /** Examples per batch (the last may be smaller unless `dropLast`). */
  readonly batchSize: number;
  /** Whether each epoch visits the examples in a fresh order. */
  readonly shuffle: boolean;
  /** Seed of the shuffling and of the random transforms. */
  readonly seed: number;
  /** Whether a last batch smaller than `batchSize` is dropped. */
  readonly dropLast: boolean;
  /** Applied in order to each batch. */
  readonly transforms: readonly Transform[];
  /** Number of examples used per epoch (the dataset size, or `limit` if smaller). */
  readonly size: number;
  private _epoch: number;

  /** A loader over `dataset`; throws `DatasetError` for an inconsistent dataset or bad options. */
  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    validateDataset(dataset, 'DataLoader');
    this.dataset = dataset;
    this.batchSize = checkCount('batchSize', options.batchSize ?? 1, 1);
    this.shuffle = options.shuffle ?? false;
    const seed = options.seed ?? 0;
    if (!Number.isFinite(seed)) throw new DatasetError('DataLoader', `seed must be a finite number, got ${seed}`);
    this.seed = Math.trunc(seed);
    this.dropLast = options.dropLast ?? false;
    const limit = options.limit === undefined ? dataset.n : checkCount('limit', options.limit, 0);
    this.size = Math.min(limit, dataset.n);
    this.transforms = [...(options.transforms ?? [])];
    for (const t of this.transforms) {
      if (t === null || typeof t !== 'object' || typeof t.apply !== 'function') {
        throw new DatasetError('DataLoader', 'transforms must be Transform objects (toFloat(), normalize(...), ...)');
      }
    }
    this._epoch = checkCount('epoch', options.epoch ?? 0, 0);
  }

  /** The epoch the next `for…of` iterates; set it to resume a run at that epoch. */
  get epoch(): number {
    return this._epoch;
  }
  /** Set the epoch the next `for…of` iterates (a non-negative integer). */
  set epoch(e: number) {
    this._epoch = checkCount('epoch', e, 0);
  }

  /** Number of batches per epoch. */
  get length(): number {
    return this.dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
  }

  /** The order in which epoch `epoch` visits the examples (identity without `shuffle`). */
  order(epoch: number): Int32Array {
    checkCount('epoch', epoch, 0);
    if (!this.shuffle) {
      const p = new Int32Array(this.size);
      for (let i = 0; i < this.size; i++) p[i] = i;
      return p;
    }
    return new Rng(mix(this.seed, epoch, SHUFFLE_SALT)).permutation(this.size);
  }

  /** The batches of epoch `epoch`, which then advances by one. */
  [Symbol.iterator](): Iterator<Batch> {
    const e = this._epoch;
    this._epoch = e + 1;
    return this.iterate(e);
  }

  /** The batches of epoch `epoch` (does not change `epoch`). */
  *iterate(epoch: number): Generator<Batch> {
    const order = this.order(epoch);
    const nb = this.length;
    for (let b = 0; b < nb; b++) yield this.makeBatch(order, epoch, b);
  }

  /** Batch `index` of epoch `epoch`, the same as the one `iterate(epoch)` yields there. */
  batch(epoch: number, index: number): Batch {
    checkCount('index', index, 0);
    if (index >= this.length) throw new DatasetError('DataLoader', `batch index ${index} is out of range: the loader has ${this.length} batches per epoch`);
    return this.makeBatch(this.order(epoch), epoch, index);
  }

  private makeBatch(order: Int32Array, epoch: number, b: number): Batch {
    const { channels: C, height: H, width: W } = this.dataset;
    const per = C * H * W;
    const start = b * this.batchSize;
    const end = Math.min(start + this.batchSize, this.size);
    const n = end - start;
    const indices = order.slice(start, end);
    const labels = new Int32Array(n);
    const x = new Float32Array(n * per);
    const src = this.dataset.images;
    const srcLabels = this.dataset.labels;
    for (let i = 0; i < n; i++) {
      const j = indices[i]!;
      labels[i] = srcLabels[j]!;
      // A typed-array set converts uint8 to float32 natively, without a per-element call.
      x.set(src.subarray(j * per, (j + 1) * per), i * per);
    }
    if (this.transforms.length > 0) {
      const ctx: TransformContext = {
        rng: new Rng(mix(this.seed, epoch, b, TRANSFORM_SALT)),
        sourceDType: src instanceof Uint8Array ? 'uint8' : 'float32',
      };
      for (const t of this.transforms) t.apply(x, n, C, H, W, ctx);
    }
    return { images: fromArray(x, [n, C, H, W]), labels, indices, index: b, epoch };
  }
}

import { DatasetError } from './errors.js';
import type { ImageDataset } from './dataset.js';
import type { ReadOptions } from './files.js';
import { mnist, fashionMnist, cifar10, type Split } from './sources.js';
import { syntheticImages } from './synthetic.js';

/** The names `loadDataset` (and the CLI's `--dataset`) accept. */
export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
/** A dataset `loadDataset` knows by name. */
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Options of `loadDataset`. */
export interface LoadDatasetOptions extends ReadOptions {
  /** The training or test split (default `'train'`). */
  split?: Split;
  /** Folder of the files for `mnist`, `fashion-mnist` and `cifar10` (not `synthetic`). */
  dataDir?: string;
  /** `synthetic` only: the seed (default 0). */
  seed?: number;
  /** `synthetic` only: number of images (default 2000 for train, 500 for test, 1×28×28). */
  n?: number;
}

/** Load a dataset by name: the one entry point the CLI needs. */
export function loadDataset(name: string, options: LoadDatasetOptions = {}): ImageDataset {
  const split = options.split ?? 'train';
  const read: ReadOptions = options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes };
  switch (name as DatasetName) {
    case 'mnist':
      return mnist({ split, ...read, ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) });
    case 'fashion-mnist':
      return fashionMnist({ split, ...read, ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) });
    case 'cifar10':
      return cifar10({ split, ...read, ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) });
    case 'synthetic':
      return syntheticImages({ split, seed: options.seed ?? 0, n: options.n ?? (split === 'train' ? 2000 : 500) });
    default:
      throw new DatasetError('loadDataset', `unknown dataset ${JSON.stringify(name)}, expected one of ${DATASET_NAMES.join(', ')}`);
  }
}

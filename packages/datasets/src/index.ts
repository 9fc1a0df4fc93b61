export { DatasetError } from './errors.js';
export { isGzip, DEFAULT_MAX_BYTES, type ReadOptions } from './files.js';
export { readIdx, parseIdx, encodeIdx, writeIdx, type IdxArray, type IdxDType, type IdxData } from './idx.js';
export {
  readCifar10Batch,
  parseCifar10Batch,
  encodeCifar10Batch,
  writeCifar10Batch,
  CIFAR10_CHANNELS,
  CIFAR10_SIZE,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_RECORD_BYTES,
  type Cifar10Batch,
} from './cifar.js';
export { validateDataset, channelStats, subset, type ImageDataset } from './dataset.js';
export {
  mnist,
  fashionMnist,
  cifar10,
  mnistDataDir,
  clearDatasetCache,
  MNIST_CLASSES,
  FASHION_MNIST_CLASSES,
  CIFAR10_CLASSES,
  MNIST_MEAN,
  MNIST_STD,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  CIFAR10_MEAN,
  CIFAR10_STD,
  FASHION_MNIST_DEFAULT_DIR,
  CIFAR10_DEFAULT_DIR,
  type Split,
} from './sources.js';
export { syntheticImages, type SyntheticImagesOptions } from './synthetic.js';
export { loadDataset, DATASET_NAMES, type DatasetName, type LoadDatasetOptions } from './load.js';
export {
  toFloat,
  normalize,
  randomCrop,
  randomHorizontalFlip,
  gaussianNoise,
  type Transform,
  type TransformContext,
} from './transforms.js';
export { DataLoader, type DataLoaderOptions, type Batch } from './loader.js';

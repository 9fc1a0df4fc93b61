/**
 * Reads the MNIST subset that scripts/mnist-subset.mjs writes at build time (its header comment
 * has the format); the page fetches the file (subset-file.ts) and each worker decodes it.
 */
import { DatasetError, MNIST_CLASSES, type ImageDataset } from '@normlab/datasets';
import type { SubsetData } from './protocol.js';
import { SUBSET_FILE } from './subset-file.js';

const MAGIC = 'NLMS';
const VERSION = 1;
const HEADER_BYTES = 24;

/** The train and test sets in a subset file's (uncompressed) bytes. */
export function decodeSubset(bytes: Uint8Array, file = SUBSET_FILE): SubsetData {
  const fail = (why: string): never => {
    throw new DatasetError('decodeSubset', `${file}: ${why}; rebuild the playground (npm run build)`, file);
  };
  if (bytes.length < HEADER_BYTES) fail(`${bytes.length} bytes is shorter than the header`);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== MAGIC) fail(`not a subset file (magic ${JSON.stringify(magic)})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [version, trainN, testN, height, width] = [0, 1, 2, 3, 4].map((i) => view.getUint32(4 + 4 * i, true)) as [number, number, number, number, number];
  if (version !== VERSION) fail(`version ${version}, expected ${VERSION}`);
  const px = height * width;
  const want = HEADER_BYTES + (trainN + testN) * (px + 1);
  if (bytes.length !== want) fail(`${bytes.length} bytes, expected ${want} for ${trainN} + ${testN} images of ${height}×${width}`);
  let at = HEADER_BYTES;
  const take = (n: number): Uint8Array => bytes.slice(at, (at += n));
  const set = (name: string, n: number): ImageDataset => ({
    images: take(n * px),
    labels: take(n),
    n,
    channels: 1,
    height,
    width,
    numClasses: 10,
    name,
    classNames: [...MNIST_CLASSES],
  });
  const train = set('mnist-train-subset', trainN);
  const test = set('mnist-test-subset', testN);
  for (const ds of [train, test]) {
    const bad = ds.labels.findIndex((y) => y > 9);
    if (bad >= 0) fail(`${ds.name} label ${bad} is ${ds.labels[bad]}, expected 0..9`);
  }
  return { train, test };
}

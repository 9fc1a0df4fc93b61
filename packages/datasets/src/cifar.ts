import { writeFileSync } from 'node:fs';
import { DatasetError } from './errors.js';
import { readDataFile, maybeGunzip, type ReadOptions } from './files.js';

/** CIFAR-10 binary geometry: one label byte, then 3×32×32 pixels (R plane, G plane, B plane). */
export const CIFAR10_CHANNELS = 3;
/** Image height and width in pixels. */
export const CIFAR10_SIZE = 32;
/** Bytes of one image (3072). */
export const CIFAR10_IMAGE_BYTES = CIFAR10_CHANNELS * CIFAR10_SIZE * CIFAR10_SIZE;
/** Bytes of one record, label byte included (3073). */
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_IMAGE_BYTES;

/** Images (n × 3 × 32 × 32 uint8, NCHW) and labels (uint8 in 0..9) of one CIFAR-10 batch file. */
export interface Cifar10Batch {
  /** n × 3 × 32 × 32 pixels, NCHW, 0..255. */
  images: Uint8Array;
  /** One class index (0..9) per image. */
  labels: Uint8Array;
  /** Images in the batch. */
  n: number;
}

/**
 * Decode the bytes of a CIFAR-10 binary batch (`data_batch_1.bin`, …, `test_batch.bin`): a
 * sequence of 3073-byte records. The length must be a positive multiple of 3073 and every label
 * in 0..9; anything else is a wrong or corrupt file.
 */
export function parseCifar10Batch(bytes: Uint8Array, file?: string, options: ReadOptions = {}): Cifar10Batch {
  return decodeCifar10(maybeGunzip('readCifar10Batch', bytes, file, options), file);
}

function decodeCifar10(buf: Uint8Array, file: string | undefined): Cifar10Batch {
  const op = 'readCifar10Batch';
  if (buf.length === 0) throw new DatasetError(op, 'file is empty, expected 3073-byte CIFAR-10 records', file);
  if (buf.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DatasetError(
      op,
      `length ${buf.length} is not a multiple of the 3073-byte CIFAR-10 record (${Math.floor(buf.length / CIFAR10_RECORD_BYTES)} whole records and ${buf.length % CIFAR10_RECORD_BYTES} extra bytes): truncated or not a CIFAR-10 binary batch`,
      file,
    );
  }
  const n = buf.length / CIFAR10_RECORD_BYTES;
  const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * CIFAR10_RECORD_BYTES;
    const label = buf[at]!;
    if (label > 9) {
      throw new DatasetError(op, `record ${i} (byte ${at}) has label ${label}, expected 0..9: not a CIFAR-10 binary batch (CIFAR-100 records are 3074 bytes)`, file);
    }
    labels[i] = label;
    images.set(buf.subarray(at + 1, at + CIFAR10_RECORD_BYTES), i * CIFAR10_IMAGE_BYTES);
  }
  return { images, labels, n };
}

/** Read one CIFAR-10 binary batch file (raw, or gzip detected by its magic bytes). */
export function readCifar10Batch(path: string, options: ReadOptions = {}): Cifar10Batch {
  return decodeCifar10(readDataFile('readCifar10Batch', path, options), path);
}

/** Encode images (n × 3072 uint8, NCHW) and labels as CIFAR-10 binary records. */
export function encodeCifar10Batch(images: Uint8Array, labels: ArrayLike<number>): Uint8Array {
  const n = labels.length;
  if (images.length !== n * CIFAR10_IMAGE_BYTES) {
    throw new DatasetError('encodeCifar10Batch', `${n} labels need ${n * CIFAR10_IMAGE_BYTES} image bytes, got ${images.length}`);
  }
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label > 9) {
      throw new DatasetError('encodeCifar10Batch', `label ${i} is ${label}, expected an integer in 0..9`);
    }
    out[i * CIFAR10_RECORD_BYTES] = label;
    out.set(images.subarray(i * CIFAR10_IMAGE_BYTES, (i + 1) * CIFAR10_IMAGE_BYTES), i * CIFAR10_RECORD_BYTES + 1);
  }
  return out;
}

/** Write a CIFAR-10 binary batch file. */
export function writeCifar10Batch(path: string, images: Uint8Array, labels: ArrayLike<number>): void {
  writeFileSync(path, encodeCifar10Batch(images, labels));
}

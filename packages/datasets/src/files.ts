import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from './errors.js';

/** Default upper bound on the bytes one dataset file may occupy once decompressed (1 GiB). */
export const DEFAULT_MAX_BYTES = 1 << 30;

/**
 * Deflate cannot expand data by more than about 1032:1, so a gzip stream whose output would exceed
 * this multiple of its input is corrupt (or a bomb); the bound stops decompression early.
 */
const MAX_DEFLATE_RATIO = 1032;

/** Options of the dataset file readers. */
export interface ReadOptions {
  /** Reject files whose (decompressed) contents exceed this many bytes. Default 1 GiB. */
  maxBytes?: number;
}

/** True when `buf` starts with the gzip magic bytes 1f 8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

function checkMaxBytes(op: string, maxBytes: number | undefined): number {
  const m = maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(m) || m <= 0) {
    throw new DatasetError(op, `maxBytes must be a positive integer, got ${maxBytes}`);
  }
  return m;
}

/**
 * Decompress `buf` if it is gzip (detected by magic bytes, not by the file name), with the output
 * bounded by `maxBytes` and by the deflate ratio limit, so a corrupt or malicious file cannot make
 * us allocate without bound. Raw data is returned as is.
 */
export function maybeGunzip(op: string, buf: Uint8Array, file: string | undefined, options: ReadOptions = {}): Uint8Array {
  const maxBytes = checkMaxBytes(op, options.maxBytes);
  if (!isGzip(buf)) {
    if (buf.length > maxBytes) {
      throw new DatasetError(op, `file is ${buf.length} bytes, more than the limit maxBytes = ${maxBytes}`, file);
    }
    return buf;
  }
  if (buf.length < 18) {
    throw new DatasetError(op, `gzip data is truncated: ${buf.length} bytes, a gzip member needs at least 18`, file);
  }
  const bound = Math.min(maxBytes, buf.length * MAX_DEFLATE_RATIO + 65536);
  try {
    return gunzipSync(buf, { maxOutputLength: bound });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new DatasetError(op, `gzip data expands to more than ${bound} bytes (limit maxBytes = ${maxBytes}); corrupt file or gzip bomb`, file);
    }
    throw new DatasetError(op, `not valid gzip data (zlib: ${err.message})`, file);
  }
}

/**
 * Read a whole dataset file, gunzipping it when it starts with the gzip magic. A missing file, a
 * directory or an oversized file is a `DatasetError` naming the path.
 */
export function readDataFile(op: string, path: string, options: ReadOptions = {}): Uint8Array {
  const maxBytes = checkMaxBytes(op, options.maxBytes);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new DatasetError(op, 'is not a regular file', path);
    size = st.size;
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new DatasetError(op, 'file not found', path);
    throw new DatasetError(op, `cannot read file (${err.code ?? err.message})`, path);
  }
  // Checked before reading so an oversized raw file is never pulled into memory.
  if (size > maxBytes) {
    throw new DatasetError(op, `file is ${size} bytes, more than the limit maxBytes = ${maxBytes}`, path);
  }
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DatasetError(op, `cannot read file (${err.code ?? err.message})`, path);
  }
  return maybeGunzip(op, buf, path, { maxBytes });
}

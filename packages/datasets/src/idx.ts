import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { DatasetError } from './errors.js';
import { readDataFile, maybeGunzip, type ReadOptions } from './files.js';

/**
 * The IDX format (LeCun's MNIST files): two zero bytes, a dtype byte, a rank byte, one big-endian
 * uint32 per dimension, then the values big-endian in row-major order.
 */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array an IDX file's values are decoded into, by dtype. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file. */
export interface IdxArray {
  /** The element type the header declares. */
  dtype: IdxDType;
  /** The dimensions the header declares, e.g. [60000, 28, 28]. */
  shape: number[];
  /** The values, row-major (big-endian in the file, native here). */
  data: IdxData;
}

const CODE_TO_DTYPE: Record<number, IdxDType> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};
const DTYPE_TO_CODE: Record<IdxDType, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };
const ITEM_SIZE: Record<IdxDType, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

/** More axes than any real IDX file has; a larger rank byte means a wrong or corrupt file. */
const MAX_RANK = 16;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function alloc(dtype: IdxDType, n: number): IdxData {
  switch (dtype) {
    case 'uint8': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
  }
}

/**
 * Decode IDX bytes (already gunzipped; `parseIdx` also gunzips when it sees the gzip magic).
 * Validates the magic, the dtype byte, the rank, and that the data length is exactly what the
 * header's dimensions need; the product of the dimensions is checked against the bytes present
 * before anything is allocated, so a corrupt header cannot trigger a huge allocation.
 */
export function parseIdx(bytes: Uint8Array, file?: string, options: ReadOptions = {}): IdxArray {
  return decodeIdx(maybeGunzip('readIdx', bytes, file, options), file);
}

function decodeIdx(buf: Uint8Array, file: string | undefined): IdxArray {
  const op = 'readIdx';
  if (buf.length < 4) {
    throw new DatasetError(op, `not an IDX file: ${buf.length} bytes, the header alone needs at least 4`, file);
  }
  if (buf[0] !== 0 || buf[1] !== 0) {
    const magic = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DatasetError(op, `not an IDX file: magic bytes are ${magic}, expected 00 00 <dtype> <rank>`, file);
  }
  const code = buf[2]!;
  const dtype = CODE_TO_DTYPE[code];
  if (dtype === undefined) {
    throw new DatasetError(op, `unknown IDX dtype byte 0x${code.toString(16).padStart(2, '0')}, expected one of 08 09 0b 0c 0d 0e`, file);
  }
  const rank = buf[3]!;
  if (rank === 0 || rank > MAX_RANK) {
    throw new DatasetError(op, `IDX rank byte is ${rank}, expected 1..${MAX_RANK}`, file);
  }
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) {
    throw new DatasetError(op, `truncated header: rank ${rank} needs ${headerBytes} header bytes, file has ${buf.length}`, file);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const item = ITEM_SIZE[dtype];
  const available = buf.length - headerBytes;
  // All the dimensions first: a zero anywhere makes an empty array ([5,0], [60000,28,0]) however
  // large the others. Exact in BigInt (16 dimensions below 2^32 pass 2^53), and compared with the
  // bytes present before anything is allocated, so a corrupt header cannot trigger a huge one.
  const claimed = shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(item);
  if (claimed > BigInt(available)) {
    throw new DatasetError(op, `truncated or corrupt: header claims shape [${shape.join(',')}] ${dtype} = ${claimed} data bytes, file has ${available}`, file);
  }
  const dataBytes = Number(claimed);
  const count = dataBytes / item;
  if (dataBytes !== available) {
    throw new DatasetError(
      op,
      `header claims shape [${shape.join(',')}] ${dtype} = ${dataBytes} data bytes, file has ${available} (${available - dataBytes} trailing bytes)`,
      file,
    );
  }
  const data = alloc(dtype, count);
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const src = buf.subarray(headerBytes, headerBytes + dataBytes);
  if (item === 1 || !LITTLE_ENDIAN_HOST) {
    out.set(src);
  } else {
    // IDX is big-endian: reverse the bytes of each value into the host's order.
    for (let i = 0; i < dataBytes; i += item) {
      for (let k = 0; k < item; k++) out[i + k] = src[i + item - 1 - k]!;
    }
  }
  return { dtype, shape, data };
}

/** Read an IDX file, raw or gzip (detected by the magic bytes 1f 8b, not by the name). */
export function readIdx(path: string, options: ReadOptions = {}): IdxArray {
  return decodeIdx(readDataFile('readIdx', path, options), path);
}

/** Encode an array as IDX bytes (big-endian), gzip-compressed when `gzip` is true. */
export function encodeIdx(array: IdxArray, options: { gzip?: boolean } = {}): Uint8Array {
  const { dtype, shape, data } = array;
  const code = Object.hasOwn(DTYPE_TO_CODE, dtype) ? DTYPE_TO_CODE[dtype] : undefined;
  if (code === undefined) throw new DatasetError('encodeIdx', `unknown dtype ${String(dtype)}`);
  if (shape.length === 0 || shape.length > MAX_RANK) {
    throw new DatasetError('encodeIdx', `rank must be 1..${MAX_RANK}, got ${shape.length}`);
  }
  let count = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new DatasetError('encodeIdx', `bad dimension ${d} in shape [${shape.join(',')}]`);
    count *= d;
  }
  if (count !== data.length) {
    throw new DatasetError('encodeIdx', `shape [${shape.join(',')}] needs ${count} values, got ${data.length}`);
  }
  const item = ITEM_SIZE[dtype];
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + count * item);
  out[2] = code;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const typed = alloc(dtype, count);
  typed.set(data as ArrayLike<number> & IdxData);
  const src = new Uint8Array(typed.buffer);
  if (item === 1 || !LITTLE_ENDIAN_HOST) {
    out.set(src, headerBytes);
  } else {
    for (let i = 0; i < src.length; i += item) {
      for (let k = 0; k < item; k++) out[headerBytes + i + k] = src[i + item - 1 - k]!;
    }
  }
  return options.gzip ? gzipSync(out) : out;
}

/** Write an IDX file (gzip-compressed when `gzip` is true). */
export function writeIdx(path: string, array: IdxArray, options: { gzip?: boolean } = {}): void {
  writeFileSync(path, encodeIdx(array, options));
}

/**
 * The safetensors format (huggingface/safetensors): 8 bytes little-endian header length N, N
 * bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?:
 * {string: string}}`, then the raw little-endian tensor bytes, offsets relative to the data
 * start. We write F32 and F64 (our dtypes), and I64 for the keys the caller names (integer counts
 * held in float64 tensors, as `num_batches_tracked`: PyTorch's dtype); we read them back with
 * every length and offset checked against the file before any allocation, so a truncated or
 * corrupt file is a `CheckpointError`, never a crash, a hang or a huge allocation. I64 reads as a
 * float64 tensor, exact up to 2^53; a value beyond ±2^53 is a `CheckpointError`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { type DType, Tensor, shapeSize } from '@normlab/tensor';
import { CheckpointError } from './errors.js';

/** The largest header we accept (safetensors itself caps it at 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_CODES: Record<DType, string> = { float32: 'F32', float64: 'F64' };
const CODE_DTYPES: Record<string, DType> = { F32: 'float32', F64: 'float64', I64: 'float64' };
const BYTES: Record<DType, number> = { float32: 4, float64: 8 }; // I64 is 8 bytes too
/** I64 values are held in float64, exact within ±2^53. */
const INT64_LIMIT = 2 ** 53;
const INT64_LIMIT_BIG = BigInt(INT64_LIMIT);

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export interface EncodeOptions {
  /** Keys written as I64 (their values must be integers within ±2^53): `Module.int64Keys()`. */
  int64?: readonly string[];
}

/** Encode tensors (and string metadata) as safetensors bytes. Keys are written sorted. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: EncodeOptions = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const int64 = new Set(options.int64 ?? []);
  for (const k of int64) if (!(k in tensors)) throw new CheckpointError('<memory>', `int64 key '${k}' names no tensor`);
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new CheckpointError('<memory>', `metadata value '${k}' must be a string, got ${typeof v}`);
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Array<{ bytes: Uint8Array; offset: number }> = [];
  for (const name of names) {
    if (name === '__metadata__') throw new CheckpointError('<memory>', `'__metadata__' is reserved and cannot name a tensor`);
    const t = tensors[name]!;
    const data = int64.has(name) ? toInt64(name, t) : t.toTypedArray();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, t.size * data.BYTES_PER_ELEMENT);
    const code = int64.has(name) ? 'I64' : DTYPE_CODES[t.dtype];
    header[name] = { dtype: code, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push({ bytes, offset });
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (the reference writer does the same).
  const pad = (8 - ((8 + Buffer.byteLength(json)) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const p of parts) out.set(p.bytes, base + p.offset);
  return out;
}

/** An integer-valued tensor as int64 (little-endian on every platform Node runs on). */
function toInt64(name: string, t: Tensor): BigInt64Array {
  const d = t.contiguous().data;
  const out = new BigInt64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isInteger(v) || Math.abs(v) > INT64_LIMIT) {
      throw new CheckpointError('<memory>', `tensor '${name}' is written as I64 but holds ${v} at flat index ${i}, not an integer within ±2^53`);
    }
    out[i] = BigInt(v);
  }
  return out;
}

/** Parse safetensors bytes; `file` names the source in errors. */
export function decodeSafetensors(bytes: Uint8Array, file = '<memory>'): SafetensorsFile {
  function fail(msg: string): never {
    throw new CheckpointError(file, msg);
  }
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte safetensors header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) fail(`header length ${n64} exceeds the ${bytes.length - 8} bytes after the length field (truncated or not a safetensors file)`);
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as object)) if (typeof v !== 'string') fail(`__metadata__ entry '${k}' must be a string`);
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (entry === null || typeof entry !== 'object') fail(`tensor '${name}' has no {dtype, shape, data_offsets} entry`);
    const { dtype: code, shape, data_offsets: offs } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof code === 'string' ? CODE_DTYPES[code] : undefined;
    if (!dtype) fail(`tensor '${name}' has dtype ${JSON.stringify(code)}; only F32, F64 and I64 are supported`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    const size = shapeSize(shape as number[]);
    const expected = size * BYTES[dtype!];
    if (end < begin || end - begin !== expected) {
      fail(`tensor '${name}' of shape [${(shape as number[]).join(',')}] ${code} needs ${expected} bytes, its data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    if (end > dataLength) fail(`tensor '${name}' data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated file)`);
    spans.push([begin, end, name]);
    // Copy into a fresh, aligned buffer (the file's data may not be aligned for a typed array).
    // Uint8Array's slice copies; a Node Buffer's `slice` would be a view into a pooled buffer.
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end);
    let arr: Float32Array | Float64Array;
    if (code === 'I64') {
      const ints = new BigInt64Array(raw.buffer, 0, size);
      arr = new Float64Array(size);
      for (let i = 0; i < size; i++) {
        const v = ints[i]!;
        if (v > INT64_LIMIT_BIG || v < -INT64_LIMIT_BIG) fail(`tensor '${name}' (I64) holds ${v} at flat index ${i}, beyond ±2^53 where float64 stops being exact`);
        arr[i] = Number(v);
      }
    } else {
      arr = dtype === 'float64' ? new Float64Array(raw.buffer, 0, size) : new Float32Array(raw.buffer, 0, size);
    }
    tensors[name] = new Tensor(arr, shape as number[]);
  }
  // The format requires the tensors to tile the data section exactly: no overlap, no hole.
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at) fail(`tensor '${name}' starts at data offset ${begin}, expected ${at} (${begin < at ? 'overlapping' : 'a hole in the'} data)`);
    at = end;
  }
  if (at !== dataLength) fail(`the tensors cover ${at} data bytes but the file has ${dataLength} (trailing bytes or a corrupt header)`);
  return { tensors, metadata };
}

/**
 * Write `bytes` to `path` atomically: a temporary file in the same folder, flushed, then renamed
 * over the target, so a crash never leaves a half-written checkpoint under the real name.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: EncodeOptions = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, options));
}

export function loadSafetensors(path: string): SafetensorsFile {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CheckpointError(path, 'is not a file');
    size = st.size;
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(path, `cannot read the checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size < 8) throw new CheckpointError(path, `file is ${size} bytes, too short for the 8-byte safetensors header length`);
  return decodeSafetensors(readFileSync(path), path);
}

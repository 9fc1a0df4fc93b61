/**
 * The safetensors format (huggingface/safetensors): 8 bytes little-endian header length N, N
 * bytes of UTF-8 JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?:
 * {string: string}}`, then the raw little-endian tensor bytes, offsets relative to the data
 * start. We write F32 and F64 (our dtypes), and I64 for the keys the caller names (integer counts
 * held in float64 tensors, as `num_batches_tracked`: PyTorch's dtype); I64 reads back as a float64
 * tensor, exact within ±2^53, and a value beyond that is a `CheckpointError`. Reading validates the whole header first, with the
 * reference implementation's rules (strict UTF-8; every entry's dtype, shape and byte count;
 * the spans sorted by offset tile the data section exactly, no overlap, no hole), and only then
 * copies tensor data, so a truncated or corrupt file is a `CheckpointError`, never a crash, a
 * hang or an allocation beyond the file's own size.
 *
 * Tensor names and metadata keys are the file's: they come back in null-prototype records, so a
 * tensor named `__proto__` (or `constructor`) is an ordinary entry, as in PyTorch's dict.
 */
import { readFileSync, statSync } from 'node:fs';
import { type DType, Tensor } from '@normlab/tensor';
import { CheckpointError } from './errors.js';
import { writeFileAtomic } from './files.js';
import { nullRecord } from './validate.js';

/** The largest header we accept (safetensors itself caps it at 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * The largest file `loadSafetensors` reads: 2 GiB − 1 byte, what one `readFileSync` can hold.
 * Our models' checkpoints are far smaller; a larger file is refused before it is read.
 */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/** How one safetensors dtype maps to ours: the header code, bytes per element, and the two copies. */
interface DTypeCodec {
  code: string;
  dtype: DType;
  bytes: number;
  /** The tensor's elements as little-endian bytes (a view when possible). */
  encode(t: Tensor): Uint8Array;
  /**
   * A tensor of `shape` over `raw` (a fresh copy of exactly its bytes, at offset 0 of its own
   * buffer); `fail` reports a value the dtype cannot hold.
   */
  decode(raw: Uint8Array, shape: number[], fail: (msg: string) => never): Tensor;
}

function littleEndianBytes(t: Tensor): Uint8Array {
  const data = t.toTypedArray();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** I64 values are held in float64, exact within ±2^53. */
const INT64_LIMIT = 2 ** 53;
const INT64_LIMIT_BIG = BigInt(INT64_LIMIT);

/** An integer-valued tensor as int64 bytes (little-endian on every platform Node runs on). */
function int64Bytes(t: Tensor): Uint8Array {
  const d = t.contiguous().data;
  const out = new BigInt64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isInteger(v) || Math.abs(v) > INT64_LIMIT) throw new RangeError(`holds ${v} at flat index ${i}, not an integer within ±2^53`);
    out[i] = BigInt(v);
  }
  return new Uint8Array(out.buffer);
}

function int64Tensor(raw: Uint8Array, shape: number[], fail: (msg: string) => never): Tensor {
  const ints = new BigInt64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8);
  const out = new Float64Array(ints.length);
  for (let i = 0; i < ints.length; i++) {
    const v = ints[i]!;
    if (v > INT64_LIMIT_BIG || v < -INT64_LIMIT_BIG) fail(`holds ${v} at flat index ${i}, beyond ±2^53 where float64 stops being exact`);
    out[i] = Number(v);
  }
  return new Tensor(out, shape);
}

/** The dtypes we read and write; add a row to support another. The first row of a dtype is how it is written. */
const CODECS: readonly DTypeCodec[] = [
  { code: 'F32', dtype: 'float32', bytes: 4, encode: littleEndianBytes, decode: (raw, shape) => new Tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape) },
  { code: 'F64', dtype: 'float64', bytes: 8, encode: littleEndianBytes, decode: (raw, shape) => new Tensor(new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8), shape) },
  // Counts PyTorch keeps as int64 (`num_batches_tracked`), written for the keys the caller names.
  { code: 'I64', dtype: 'float64', bytes: 8, encode: int64Bytes, decode: int64Tensor },
];
const CODEC_BY_CODE = new Map(CODECS.map((c) => [c.code, c]));
const CODEC_BY_DTYPE = new Map([...CODECS].reverse().map((c) => [c.dtype, c]));
const INT64_CODEC = CODEC_BY_CODE.get('I64')!;
const SUPPORTED = `${CODECS.slice(0, -1).map((c) => c.code).join(', ')} and ${CODECS[CODECS.length - 1]!.code}`;

/** What `loadSafetensors` and `decodeSafetensors` return. */
export interface SafetensorsFile {
  /** Tensors by name, in a null-prototype record (any name, `__proto__` included, is an own key). */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` strings, in a null-prototype record. */
  metadata: Record<string, string>;
}

/** One validated header entry: where its bytes are and what they hold. */
export interface SafetensorsEntry {
  /** The tensor's key in the file. */
  name: string;
  /** The file's dtype code (`F32`, `F64`, `I64`). */
  code: string;
  /** The dtype it is read as (`I64` becomes float64). */
  dtype: DType;
  /** Its shape ([] for a scalar). */
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  /** End offset (exclusive), relative to the start of the data section. */
  end: number;
}

/** A validated header: entries sorted by offset, tiling `[dataStart, dataStart + dataLength)` exactly. */
export interface SafetensorsHeader {
  /** The tensors, sorted by offset. */
  entries: SafetensorsEntry[];
  /** The `__metadata__` strings, in a null-prototype record. */
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + the header's length). */
  dataStart: number;
  /** Bytes of the data section. */
  dataLength: number;
}

/** Options of `encodeSafetensors` and `saveSafetensors`. */
export interface EncodeOptions {
  /** Keys written as I64 (their values must be integers within ±2^53): `Module.int64Keys()`. */
  int64?: readonly string[];
}

/** Encode tensors (and string metadata) as safetensors bytes. Keys are written sorted. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: EncodeOptions = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const int64 = new Set(options.int64 ?? []);
  for (const k of int64) if (!Object.hasOwn(tensors, k)) throw new CheckpointError('<memory>', `int64 key '${k}' names no tensor`);
  // Null prototype: a tensor named `__proto__` must become a header key, not the header's prototype.
  const header = nullRecord<unknown>();
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new CheckpointError('<memory>', `metadata value '${k}' must be a string, got ${typeof v}`);
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Array<{ bytes: Uint8Array; offset: number }> = [];
  for (const name of names) {
    if (name === '__metadata__') throw new CheckpointError('<memory>', `'__metadata__' is reserved and cannot name a tensor`);
    const t = tensors[name]!;
    const codec = int64.has(name) ? INT64_CODEC : CODEC_BY_DTYPE.get(t.dtype);
    if (!codec) throw new CheckpointError('<memory>', `tensor '${name}' has dtype ${t.dtype}; only ${SUPPORTED} can be written`);
    let bytes: Uint8Array;
    try {
      bytes = codec.encode(t);
    } catch (e) {
      throw new CheckpointError('<memory>', `tensor '${name}' is written as ${codec.code} but ${(e as Error).message}`);
    }
    header[name] = { dtype: codec.code, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
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

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Read and validate a safetensors header without touching the tensor data: the length field,
 * strict UTF-8, JSON, `__metadata__` (strings only), each tensor's dtype, shape and byte count,
 * and that the spans, sorted by offset, tile the data section exactly. `file` names the source in
 * errors.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, file = '<memory>'): SafetensorsHeader {
  function fail(msg: string): never {
    throw new CheckpointError(file, msg);
  }
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte safetensors header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) fail(`header length ${n64} exceeds the ${bytes.length - 8} bytes after the length field (truncated or not a safetensors file)`);
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata = nullRecord<string>();
  const entries: SafetensorsEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') fail(`__metadata__ entry '${k}' must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isObject(entry)) fail(`tensor '${name}' has no {dtype, shape, data_offsets} entry`);
    const { dtype: code, shape, data_offsets: offs } = entry;
    const codec = typeof code === 'string' ? CODEC_BY_CODE.get(code) : undefined;
    if (!codec) fail(`tensor '${name}' has dtype ${JSON.stringify(code)}; only ${SUPPORTED} are supported`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    // Exact in BigInt: a product of safe integers can pass 2^53 (the reference checks for overflow).
    const expected = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n) * BigInt(codec.bytes);
    if (end < begin || BigInt(end - begin) !== expected) {
      fail(`tensor '${name}' of shape [${(shape as number[]).join(',')}] ${codec.code} needs ${expected} bytes, its data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    if (end > dataLength) fail(`tensor '${name}' data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated file)`);
    entries.push({ name, code: codec.code, dtype: codec.dtype, shape: [...(shape as number[])], begin, end });
  }
  // The format requires the tensors to tile the data section exactly: no overlap, no hole.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const { name, begin, end } of entries) {
    if (begin !== at) fail(`tensor '${name}' starts at data offset ${begin}, expected ${at} (${begin < at ? 'overlapping' : 'a hole in the'} data)`);
    at = end;
  }
  if (at !== dataLength) fail(`the tensors cover ${at} data bytes but the file has ${dataLength} (trailing bytes or a corrupt header)`);
  return { entries, metadata, dataStart, dataLength };
}

/**
 * Parse safetensors bytes; `file` names the source in errors. The header is validated whole
 * before any tensor data is copied, and the copies together are exactly the data section.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<memory>'): SafetensorsFile {
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, file);
  const tensors = nullRecord<Tensor>();
  for (const { name, code, shape, begin, end } of entries) {
    // Copy into a fresh, aligned buffer (the file's data may not be aligned for a typed array).
    // Uint8Array's slice copies; a Node Buffer's `slice` would be a view into a pooled buffer.
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end);
    tensors[name] = CODEC_BY_CODE.get(code)!.decode(raw, shape, (msg) => {
      throw new CheckpointError(file, `tensor '${name}' (${code}) ${msg}`);
    });
  }
  return { tensors, metadata };
}

/** Write tensors (and string metadata) as a safetensors file, atomically (temporary file, then rename). */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: EncodeOptions = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, options), 'saveSafetensors');
}

/** Read a safetensors file: its size is checked (stat) before anything is read. */
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
  if (size > MAX_FILE_BYTES) throw new CheckpointError(path, `file is ${size} bytes, more than the ${MAX_FILE_BYTES}-byte (2 GiB) limit of a checkpoint`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read the checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}

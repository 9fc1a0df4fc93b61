import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TensorError } from '@normlab/tensor';
import { DatasetError } from './errors.js';
import { encodeIdx, parseIdx, readIdx, writeIdx, type IdxArray } from './idx.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'normlab-idx-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectDatasetError(fn: () => unknown, ...fragments: string[]): DatasetError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DatasetError);
  const err = caught as DatasetError;
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

describe('IDX round trip', () => {
  const cases: IdxArray[] = [
    { dtype: 'uint8', shape: [3, 2, 4], data: Uint8Array.from({ length: 24 }, (_, i) => (i * 37) % 256) },
    { dtype: 'int8', shape: [5], data: Int8Array.from([-128, -1, 0, 1, 127]) },
    { dtype: 'int16', shape: [2, 3], data: Int16Array.from([-32768, -2, 0, 3, 258, 32767]) },
    { dtype: 'int32', shape: [4], data: Int32Array.from([-2147483648, -70000, 70000, 2147483647]) },
    { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1.5, -0.25, 3.4e38, -1e-30]) },
    { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324]) },
    { dtype: 'uint8', shape: [0, 28, 28], data: new Uint8Array(0) },
  ];
  for (const gzip of [false, true]) {
    for (const a of cases) {
      it(`${a.dtype} [${a.shape.join(',')}] ${gzip ? 'gzip' : 'raw'}`, () => {
        const path = join(dir, `rt-${a.dtype}-${a.shape.join('x')}-${gzip}.idx`);
        writeIdx(path, a, { gzip });
        const b = readIdx(path);
        expect(b.dtype).toBe(a.dtype);
        expect(b.shape).toEqual(a.shape);
        expect(b.data.constructor).toBe(a.data.constructor);
        expect(Array.from(b.data)).toEqual(Array.from(a.data));
      });
    }
  }

  it('round-trips empty arrays, a zero in any dimension (what encodeIdx writes)', () => {
    const shapes = [[5, 0], [3, 0, 0, 4], [60000, 28, 0], [0]];
    for (const shape of shapes) {
      for (const dtype of ['uint8', 'int16', 'float64'] as const) {
        const a: IdxArray = { dtype, shape, data: dtype === 'uint8' ? new Uint8Array(0) : dtype === 'int16' ? new Int16Array(0) : new Float64Array(0) };
        for (const gzip of [false, true]) {
          const b = parseIdx(encodeIdx(a, { gzip }));
          expect(b.shape, `${dtype} [${shape}]`).toEqual(shape);
          expect(b.dtype).toBe(dtype);
          expect(b.data.length).toBe(0);
          expect(b.data.constructor).toBe(a.data.constructor);
        }
      }
    }
    // The file: uint8 of shape [5, 0].
    const bytes = Buffer.from('000008020000000500000000', 'hex');
    expect(parseIdx(bytes)).toEqual({ dtype: 'uint8', shape: [5, 0], data: new Uint8Array(0) });
    // An empty array with data after it still has trailing bytes.
    expectDatasetError(() => parseIdx(Buffer.concat([bytes, Buffer.from([1])])), 'header claims shape [5,0] uint8 = 0 data bytes, file has 1 (1 trailing bytes)');
  });

  it('encodeIdx refuses dtype names that are Object.prototype properties', () => {
    for (const dtype of ['constructor', '__proto__', 'toString']) {
      expectDatasetError(() => encodeIdx({ dtype: dtype as 'uint8', shape: [1], data: new Uint8Array(1) }), `unknown dtype`);
    }
  });

  it('writes big-endian bytes as the IDX spec says', () => {
    const bytes = encodeIdx({ dtype: 'int32', shape: [2], data: Int32Array.from([1, 0x01020304]) });
    expect(Array.from(bytes)).toEqual([0, 0, 0x0c, 1, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2, 3, 4]);
  });

  it('detects gzip by the magic bytes, not the file name', () => {
    const a: IdxArray = { dtype: 'uint8', shape: [4], data: Uint8Array.from([9, 8, 7, 6]) };
    const path = join(dir, 'no-extension');
    writeFileSync(path, encodeIdx(a, { gzip: true }));
    expect(Array.from(readIdx(path).data)).toEqual([9, 8, 7, 6]);
  });
});

describe('IDX corruption', () => {
  const good = encodeIdx({ dtype: 'uint8', shape: [2, 3, 3], data: new Uint8Array(18).fill(7) });
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('is a TensorError subclass naming the file', () => {
    const p = write('bad-magic.idx', Uint8Array.from([1, 2, 8, 1, 0, 0, 0, 0]));
    const err = expectDatasetError(() => readIdx(p), 'readIdx', p, 'magic bytes are 01 02 08 01');
    expect(err).toBeInstanceOf(TensorError);
    expect(err.file).toBe(p);
  });

  it('rejects an unknown dtype byte', () => {
    const b = good.slice();
    b[2] = 0x0a;
    expectDatasetError(() => readIdx(write('dtype.idx', b)), 'unknown IDX dtype byte 0x0a');
  });

  it('rejects a zero or absurd rank', () => {
    const b = good.slice();
    b[3] = 0;
    expectDatasetError(() => readIdx(write('rank0.idx', b)), 'rank byte is 0');
    b[3] = 200;
    expectDatasetError(() => readIdx(write('rank200.idx', b)), 'rank byte is 200');
  });

  it('rejects a truncated header and truncated data', () => {
    expectDatasetError(() => readIdx(write('tiny.idx', Uint8Array.from([0, 0]))), 'header alone needs at least 4');
    expectDatasetError(() => readIdx(write('hdr.idx', good.subarray(0, 10))), 'truncated header', 'needs 16 header bytes, file has 10');
    expectDatasetError(() => readIdx(write('data.idx', good.subarray(0, good.length - 1))), 'header claims shape [2,3,3] uint8 = 18 data bytes, file has 17');
  });

  it('rejects trailing bytes after the data', () => {
    const b = new Uint8Array(good.length + 5);
    b.set(good);
    expectDatasetError(() => readIdx(write('trail.idx', b)), 'file has 23 (5 trailing bytes)');
  });

  it('rejects a header that claims huge dimensions without allocating them', () => {
    // 4 × 2^32-1 × 2^32-1 float64: ~5e20 bytes; must fail on the size check, not in an allocation.
    const b = Uint8Array.from([0, 0, 0x0e, 3, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expectDatasetError(() => readIdx(write('huge.idx', b)), 'truncated or corrupt', 'header claims shape [4,4294967295,4294967295] float64', 'file has 3');
  });

  it('rejects gzip garbage and truncated gzip', () => {
    const garbage = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expectDatasetError(() => readIdx(write('garbage.gz', garbage)), 'not valid gzip data');
    const gz = encodeIdx({ dtype: 'uint8', shape: [100], data: new Uint8Array(100) }, { gzip: true });
    expectDatasetError(() => readIdx(write('trunc.gz', gz.subarray(0, gz.length - 6))), 'not valid gzip data');
    expectDatasetError(() => readIdx(write('short.gz', Uint8Array.from([0x1f, 0x8b, 8]))), 'gzip data is truncated');
  });

  it('bounds decompression: a gzip bomb over maxBytes is refused', () => {
    const bomb = gzipSync(new Uint8Array(4 << 20)); // 4 MiB of zeros in ~4 KiB
    const p = write('bomb.gz', bomb);
    expectDatasetError(() => readIdx(p, { maxBytes: 1 << 20 }), 'gzip data expands to more than 1048576 bytes', 'gzip bomb');
    // Under a larger limit the same file decodes to its 4 MiB (as a failed IDX parse: zeros are
    // no valid header), so the bound, not the content, is what refused it above.
    expectDatasetError(() => readIdx(p, { maxBytes: 8 << 20 }), 'unknown IDX dtype byte 0x00');
  });

  it('refuses raw files over maxBytes before reading them', () => {
    expectDatasetError(() => readIdx(write('big.idx', good), { maxBytes: 8 }), 'more than the limit maxBytes = 8');
  });

  it('reports a missing file and a directory', () => {
    const missing = join(dir, 'nope.idx');
    expectDatasetError(() => readIdx(missing), missing, 'file not found');
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    expectDatasetError(() => readIdx(sub), 'is not a regular file');
  });

  it('parseIdx validates in-memory bytes the same way', () => {
    expectDatasetError(() => parseIdx(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 9, 1])), 'header claims shape [9] uint8 = 9 data bytes, file has 1');
  });
});

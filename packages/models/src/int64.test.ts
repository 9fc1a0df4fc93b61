/**
 * `num_batches_tracked` is int64 on disk, as in a PyTorch state dict: safetensors `I64` for the
 * keys a module names (`Module.int64Keys()`), read back as exact float64 counts. Checked against a
 * PyTorch BatchNorm2d state dict (`tools/golden/state_dict.py`).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Variable } from '@normlab/autograd';
import { BatchNorm2d } from '@normlab/norm-layers';
import { randn, tensor } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  buildModel,
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  loadModel,
  saveCheckpoint,
  saveSafetensors,
} from './index.js';

const f64 = (values: number[], shape: number[]) => tensor(values, shape, { dtype: 'float64' });

/** The JSON header of safetensors bytes. */
function header(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
}

/** `{key: [dtype, shape]}` of a file's tensors: what a strict consumer checks. */
function dtypesAndShapes(bytes: Uint8Array): Record<string, [string, number[]]> {
  const out: Record<string, [string, number[]]> = {};
  for (const [k, v] of Object.entries(header(bytes))) if (k !== '__metadata__') out[k] = [v.dtype, v.shape];
  return out;
}

/** A file with one I64 tensor of the given values, as another writer would make it. */
function int64File(values: bigint[]): Uint8Array {
  const data = new Uint8Array(BigInt64Array.from(values).buffer);
  const h = Buffer.from(JSON.stringify({ n: { dtype: 'I64', shape: [values.length], data_offsets: [0, data.length] } }));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function trainedBn(): BatchNorm2d {
  const bn = new BatchNorm2d(3);
  bn.forward(new Variable(randn([4, 3, 5, 5], { seed: 1, mean: 1, std: 2 })));
  bn.forward(new Variable(randn([4, 3, 5, 5], { seed: 2, mean: 1, std: 2 })));
  return bn;
}

describe('I64 in safetensors', () => {
  it('writes the named keys as I64 (little-endian int64) and reads them back as exact float64', () => {
    const tensors = { count: f64([2 ** 53, -(2 ** 53), 0, 7], [4]), scalar: f64([3], []), x: randn([2]) };
    const bytes = encodeSafetensors(tensors, {}, { int64: ['count', 'scalar'] });
    const h = header(bytes);
    expect(h.count).toEqual({ dtype: 'I64', shape: [4], data_offsets: [0, 32] });
    expect(h.scalar!.dtype).toBe('I64');
    expect(h.x!.dtype).toBe('F32');
    const start = bytes.length - 8 * 5 - 4 * 2;
    expect(Array.from(new BigInt64Array(bytes.slice(start, start + 32).buffer))).toEqual([2n ** 53n, -(2n ** 53n), 0n, 7n]);
    const back = decodeSafetensors(bytes).tensors;
    expect(back.count!.dtype).toBe('float64');
    expect(back.count!.toArray()).toEqual([2 ** 53, -(2 ** 53), 0, 7]);
    expect(back.scalar!.shape).toEqual([]);
    expect(back.scalar!.toArray()).toEqual(3);
  });

  it('refuses to write a value that is not an integer within ±2^53, or an int64 key that names no tensor', () => {
    expect(() => encodeSafetensors({ n: f64([1.5], [1]) }, {}, { int64: ['n'] })).toThrow(CheckpointError);
    expect(() => encodeSafetensors({ n: f64([1.5], [1]) }, {}, { int64: ['n'] })).toThrow(/'n' is written as I64 but holds 1.5 at flat index 0/);
    expect(() => encodeSafetensors({ n: f64([2 ** 53 + 2], [1]) }, {}, { int64: ['n'] })).toThrow(/not an integer within ±2\^53/);
    expect(() => encodeSafetensors({ n: f64([1], [1]) }, {}, { int64: ['m'] })).toThrow(/int64 key 'm' names no tensor/);
  });

  it('refuses to read an I64 value beyond ±2^53 (where float64 stops being exact)', () => {
    expect(decodeSafetensors(int64File([2n ** 53n, -(2n ** 53n)])).tensors.n!.toArray()).toEqual([2 ** 53, -(2 ** 53)]);
    for (const v of [2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n]) {
      expect(() => decodeSafetensors(int64File([5n, v]), 'big.safetensors')).toThrow(CheckpointError);
      expect(() => decodeSafetensors(int64File([5n, v]), 'big.safetensors')).toThrow(`tensor 'n' (I64) holds ${v} at flat index 1, beyond ±2^53`);
    }
  });
});

describe('num_batches_tracked is int64, as in a PyTorch state dict', () => {
  const torchFile = new Uint8Array(readFileSync(new URL('../../../tools/golden/torch-batchnorm2d.safetensors', import.meta.url)));

  it("our BatchNorm2d's file has the dtypes and shapes of PyTorch's (tools/golden/state_dict.py)", () => {
    const bn = trainedBn();
    const ours = encodeSafetensors(bn.stateDict(), {}, { int64: bn.int64Keys() });
    expect(dtypesAndShapes(torchFile).num_batches_tracked).toEqual(['I64', []]);
    expect(dtypesAndShapes(ours)).toEqual(dtypesAndShapes(torchFile));
    // The count's bytes are PyTorch's: both layers saw two batches.
    const bytesOf = (file: Uint8Array) => {
      const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
      const [a, b] = header(file).num_batches_tracked!.data_offsets;
      return Array.from(file.subarray(8 + n + a, 8 + n + b));
    };
    expect(bytesOf(ours)).toEqual(bytesOf(torchFile));
  });

  it("PyTorch's state dict (I64 count) loads into our BatchNorm2d", () => {
    const { tensors } = decodeSafetensors(torchFile, 'torch-batchnorm2d.safetensors');
    const bn = new BatchNorm2d(3);
    bn.loadStateDict(tensors);
    expect(bn.numBatchesTracked).toBe(2);
    expect(bn.getBuffer('num_batches_tracked')!.dtype).toBe('float64');
    expect(bn.runningVar!.toArray()).toEqual(tensors.running_var!.toArray());
    // Training continues the count, and the next save writes I64 again.
    bn.forward(new Variable(randn([4, 3, 5, 5], { seed: 3 })));
    expect(bn.numBatchesTracked).toBe(3);
    expect(header(encodeSafetensors(bn.stateDict(), {}, { int64: bn.int64Keys() })).num_batches_tracked!.dtype).toBe('I64');
  });

  it('checkpoints write every num_batches_tracked as I64 and round-trip; an old F64 checkpoint still loads', () => {
    const d = mkdtempSync(join(tmpdir(), 'normlab-int64-'));
    const model = buildModel({ name: 'cnn', inChannels: 1, numClasses: 3, norm: 'bn', channels: [4, 4], seed: 1 });
    model.forward(new Variable(randn([4, 1, 8, 8], { seed: 4 })));
    const counts = model.int64Keys();
    expect(counts.length).toBeGreaterThan(1);
    expect(counts.every((k) => k.endsWith('.num_batches_tracked'))).toBe(true);
    const path = join(d, 'new.safetensors');
    saveCheckpoint(path, { model, step: 1 });
    const h = header(new Uint8Array(readFileSync(path)));
    for (const [k, v] of Object.entries(h)) {
      if (k !== '__metadata__') expect(v.dtype, k).toBe(counts.includes(k) ? 'I64' : 'F32');
    }
    const back = loadModel(path);
    for (const k of counts) expect(back.stateDict()[k]!.toArray(), k).toEqual(1);

    // What the code before I64 wrote: the same file with the counts as F64.
    const old = loadCheckpoint(path);
    const legacy = join(d, 'old.safetensors');
    saveSafetensors(legacy, old.modelState, { format: 'normlab-checkpoint', version: '1', step: '1', model_config: JSON.stringify(model.config) });
    expect(header(new Uint8Array(readFileSync(legacy)))[counts[0]!]!.dtype).toBe('F64');
    const fromOld = loadModel(legacy);
    for (const [k, t] of Object.entries(back.stateDict())) expect(fromOld.stateDict()[k]!.toArray(), k).toEqual(t.toArray());
  });
});

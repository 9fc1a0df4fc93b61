import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { F, Variable } from '@normlab/autograd';
import { SGD } from '@normlab/nn';
import { Tensor, randn, tensor } from '@normlab/tensor';
import {
  CheckpointError,
  buildModel,
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  loadModel,
  loadSafetensors,
  saveCheckpoint,
  saveSafetensors,
} from './index.js';

const dir = () => mkdtempSync(join(tmpdir(), 'normlab-ckpt-'));

/** A safetensors file from a header object and data bytes, as another writer would make it. */
function rawFile(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32 and F64 tensors (scalars and empty ones included) with metadata', () => {
    const tensors = {
      'b.weight': randn([3, 4, 2], { seed: 1 }),
      'a.bias': tensor([1.5, -2.25, 3], [3], { dtype: 'float64' }),
      scalar: tensor([7], [], { dtype: 'float64' }),
      empty: new Tensor(new Float32Array(0), [0, 5]),
    };
    const bytes = encodeSafetensors(tensors, { note: 'hello' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ note: 'hello' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k]!.shape).toEqual(t.shape);
      expect(back.tensors[k]!.dtype).toBe(t.dtype);
      expect(back.tensors[k]!.toTypedArray()).toEqual(t.toTypedArray());
    }
  });

  it('writes the documented layout: LE u64 header length, JSON header with dtype, shape, data_offsets', () => {
    const bytes = encodeSafetensors({ x: tensor([1, 2], [2]), y: tensor([3], [1, 1], { dtype: 'float64' }) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(header).toEqual({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F64', shape: [1, 1], data_offsets: [8, 16] } });
    const data = bytes.slice(8 + n);
    expect(Array.from(new Float32Array(data.buffer, 0, 2))).toEqual([1, 2]);
    expect(new Float64Array(data.buffer.slice(8, 16))[0]).toBe(3);
  });

  it('reads a file written by another writer (unaligned data, no metadata)', () => {
    const data = new Uint8Array(new Float32Array([0.5, -1, 2]).buffer);
    const t = decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data)).tensors.w!;
    expect(Array.from(t.toTypedArray())).toEqual([0.5, -1, 2]);
  });

  const good = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  const corrupt: Array<[string, Uint8Array, RegExp]> = [
    ['shorter than 8 bytes', new Uint8Array(5), /too short for the 8-byte/],
    ['a header length past the end', rawFile(good, eight, 1 << 20), /header length 1048576 exceeds the \d+ bytes/],
    ['a header that is not JSON', (() => { const f = rawFile(good, eight); f[9] = 0x7b; f[10] = 0x7b; return f; })(), /not valid JSON/],
    ['a header that is an array', rawFile([1, 2], eight), /not a JSON object/],
    ['an unsupported dtype', rawFile({ w: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, eight), /dtype "I32"; only F32, F64 and I64 are supported/],
    ['offsets that do not match the shape', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight), /needs 12 bytes, its data_offsets \[0, 8\] hold 8/],
    ['data cut short', rawFile(good, new Uint8Array(4)), /run past the 4 data bytes/],
    ['trailing bytes', rawFile(good, new Uint8Array(12)), /cover 8 data bytes but the file has 12/],
    ['overlapping tensors', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /overlapping/],
    ['a negative dimension', rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, eight), /invalid shape/],
    ['metadata that is not strings', rawFile({ __metadata__: { a: 1 }, ...good }, eight), /__metadata__ entry 'a' must be a string/],
  ];
  for (const [what, bytes, message] of corrupt) {
    it(`rejects ${what} with a CheckpointError naming the file`, () => {
      const path = join(dir(), 'bad.safetensors');
      writeFileSync(path, bytes);
      expect(() => loadSafetensors(path)).toThrow(CheckpointError);
      expect(() => loadSafetensors(path)).toThrow(message);
      expect(() => loadSafetensors(path)).toThrow(path);
    });
  }

  it('a missing file is a CheckpointError', () => {
    expect(() => loadSafetensors('/nonexistent/model.safetensors')).toThrow(/nonexistent\/model.safetensors: cannot read the checkpoint \(ENOENT\)/);
  });

  it('writes atomically: no temporary file is left behind', () => {
    const d = dir();
    saveSafetensors(join(d, 'a.safetensors'), { x: tensor([1]) });
    saveSafetensors(join(d, 'a.safetensors'), { x: tensor([2]) });
    expect(readdirSync(d)).toEqual(['a.safetensors']);
    expect(loadSafetensors(join(d, 'a.safetensors')).tensors.x!.item()).toBe(2);
  });
});

describe('checkpoints', () => {
  it('round-trip a trained model with its buffers and optimizer state, and rebuild it from the config', () => {
    const model = buildModel({ name: 'resnet8', norm: 'hybrid', groups: 2, width: 0.25, seed: 5 });
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = new Variable(randn([4, 1, 8, 8], { seed: 9 }));
    for (let i = 0; i < 2; i++) {
      opt.zeroGrad();
      F.crossEntropy(model.forward(x), [0, 1, 2, 3]).backward();
      opt.step();
    }
    const path = join(dir(), 'model.safetensors');
    saveCheckpoint(path, { model, optimizer: opt, optimizerName: 'sgd', step: 2, epoch: 1, extra: { dataset: 'synthetic' } });
    const ckpt = loadCheckpoint(path);
    expect(ckpt.step).toBe(2);
    expect(ckpt.epoch).toBe(1);
    expect(ckpt.extra).toEqual({ dataset: 'synthetic' });
    expect(ckpt.config).toEqual(model.config);
    expect(ckpt.optimizerName).toBe('sgd');
    const state = model.stateDict();
    expect(Object.keys(ckpt.modelState).sort()).toEqual(Object.keys(state).sort());
    expect(Object.keys(state).some((k) => k.endsWith('running_var'))).toBe(true);
    for (const [k, t] of Object.entries(state)) expect(ckpt.modelState[k]!.toTypedArray(), k).toEqual(t.toTypedArray());
    const saved = opt.stateDict();
    for (const [i, entries] of Object.entries(saved.state)) {
      for (const [name, v] of Object.entries(entries)) {
        const got = ckpt.optimizer!.state[Number(i)]![name]!;
        if (v instanceof Tensor) expect((got as Tensor).toTypedArray()).toEqual(v.toTypedArray());
        else expect(got).toBe(v);
      }
    }
    const rebuilt = loadModel(path);
    model.eval();
    rebuilt.eval();
    expect(rebuilt.forward(x).data.toTypedArray()).toEqual(model.forward(x).data.toTypedArray());
    // The optimizer state loads into a fresh optimizer of the same model.
    const opt2 = new SGD(rebuilt.parameters(), { lr: 0.1, momentum: 0.9 });
    opt2.loadStateDict(ckpt.optimizer!);
  });

  it('refuses a checkpoint whose weights do not fit its config', () => {
    const model = buildModel({ name: 'cnn', norm: 'bn', width: 0.125 });
    const path = join(dir(), 'model.safetensors');
    saveCheckpoint(path, { model });
    const text = readFileSync(path);
    const n = Number(new DataView(text.buffer, text.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(text.subarray(8, 8 + n).toString());
    const config = JSON.parse(header.__metadata__.model_config);
    header.__metadata__.model_config = JSON.stringify({ ...config, width: 0.25 });
    const data = text.subarray(8 + n);
    writeFileSync(path, rawFile(header, data));
    expect(() => loadModel(path)).toThrow(/weights do not fit the model/);
  });

  it('a checkpoint without a model config cannot be rebuilt', () => {
    const path = join(dir(), 'plain.safetensors');
    saveSafetensors(path, { w: tensor([1]) });
    expect(() => loadModel(path)).toThrow(/has no model config/);
  });
});

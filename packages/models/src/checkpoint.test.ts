import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { F, Variable } from '@normlab/autograd';
import { SGD } from '@normlab/nn';
import { Tensor, randn, tensor } from '@normlab/tensor';
import {
  CheckpointError,
  FileError,
  buildModel,
  checkResume,
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  loadModel,
  loadSafetensors,
  saveCheckpoint,
  saveSafetensors,
  tempPath,
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

  it('refuses tensors that overlap before copying any tensor data (5,000 views of one MiB)', () => {
    // The file: 1.3 MiB that made the reader copy 5.2 GB before noticing the overlap.
    const entry = { dtype: 'F32', shape: [262144], data_offsets: [0, 1048576] };
    const header = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`t${i}`, entry]));
    const bytes = rawFile(header, new Uint8Array(1 << 20));
    // Tensor data is copied with Uint8Array's slice: no call may happen before the header is refused.
    const slice = vi.spyOn(Uint8Array.prototype, 'slice').mockImplementation(() => {
      throw new Error('tensor data was copied before the header was validated');
    });
    try {
      expect(() => decodeSafetensors(bytes, 'bomb.safetensors')).toThrow(CheckpointError);
      expect(() => decodeSafetensors(bytes, 'bomb.safetensors')).toThrow(/tensor 't1' starts at data offset 0, expected 1048576 \(overlapping data\)/);
      expect(slice).not.toHaveBeenCalled();
    } finally {
      slice.mockRestore();
    }
  });

  it('refuses a header that is not valid UTF-8 (no U+FFFD replacement)', () => {
    const good = rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
    const bad = good.slice();
    bad[10] = 0xff; // inside the name "w"
    expect(decodeSafetensors(good).tensors.w!.shape).toEqual([1]);
    expect(() => decodeSafetensors(bad, 'f.safetensors')).toThrow(CheckpointError);
    expect(() => decodeSafetensors(bad, 'f.safetensors')).toThrow(/f.safetensors: header is not valid UTF-8/);
  });

  it("loads a tensor named __proto__ as a tensor (the issue's file), and round-trips such names", () => {
    const hex =
      '74000000000000007b225f5f70726f746f5f5f223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d2c2277223a7b226474797065223a22463332222c227368617065223a5b315d2c22646174615f6f666673657473223a5b382c31325d7d7d0000803f0000004000004040';
    const { tensors } = decodeSafetensors(Buffer.from(hex, 'hex'));
    expect(Object.getPrototypeOf(tensors)).toBeNull();
    expect(Object.keys(tensors).sort()).toEqual(['__proto__', 'w']);
    expect(Array.from(tensors['__proto__']!.toTypedArray())).toEqual([1, 2]);
    expect(Array.from(tensors.w!.toTypedArray())).toEqual([3]);
    // Writing and reading back keeps every such name (and metadata key) as an ordinary entry.
    const path = join(dir(), 'odd.safetensors');
    const odd = JSON.parse('{"__proto__": "p", "constructor": "c"}') as Record<string, string>;
    saveSafetensors(path, tensors, odd);
    const back = loadSafetensors(path);
    expect(Object.keys(back.tensors).sort()).toEqual(['__proto__', 'w']);
    expect(Array.from(back.tensors['__proto__']!.toTypedArray())).toEqual([1, 2]);
    expect({ ...back.metadata }).toEqual(odd);
    expect(Object.getPrototypeOf(back.metadata)).toBeNull();
  });

  it('refuses dtype names that are Object.prototype properties', () => {
    for (const code of ['constructor', '__proto__', 'toString']) {
      const bytes = rawFile({ w: { dtype: code, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
      expect(() => decodeSafetensors(bytes)).toThrow(new RegExp(`dtype "${code}"; only F32, F64 and I64 are supported`));
    }
  });

  it('refuses a file over 2 GiB before reading it', () => {
    const d = dir();
    const path = join(d, 'huge.safetensors');
    const fd = openSync(path, 'w');
    try {
      ftruncateSync(fd, 2 ** 31 + 1); // sparse: no disk used
    } finally {
      closeSync(fd);
    }
    try {
      expect(() => loadSafetensors(path)).toThrow(CheckpointError);
      expect(() => loadSafetensors(path)).toThrow(/huge.safetensors: file is 2147483649 bytes, more than the 2147483647-byte \(2 GiB\) limit/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('writes atomically: no temporary file is left behind', () => {
    const d = dir();
    saveSafetensors(join(d, 'a.safetensors'), { x: tensor([1]) });
    saveSafetensors(join(d, 'a.safetensors'), { x: tensor([2]) });
    expect(readdirSync(d)).toEqual(['a.safetensors']);
    expect(loadSafetensors(join(d, 'a.safetensors')).tensors.x!.item()).toBe(2);
  });

  it('a checkpoint save removes the temporary file a crash left behind, creates its folder, and names the file when it cannot write', () => {
    const d = dir();
    const file = join(d, 'model.safetensors');
    // A training process killed between writing its checkpoint and renaming it (pid_max is at most 2^22 on Linux).
    writeFileSync(tempPath(file, 2 ** 30), 'half a checkpoint');
    saveCheckpoint(file, { model: buildModel({ name: 'mlp', hidden: [4], imageSize: 4 }) });
    expect(readdirSync(d)).toEqual(['model.safetensors']);
    const nested = join(d, 'runs', 'a', 'model.safetensors');
    saveCheckpoint(nested, { model: buildModel({ name: 'mlp', hidden: [4], imageSize: 4 }) });
    expect(loadCheckpoint(nested).config).toMatchObject({ name: 'mlp' });
    expect(() => saveSafetensors(join(file, 'x.safetensors'), {})).toThrow(FileError);
    expect(() => saveSafetensors(join(file, 'x.safetensors'), {})).toThrow(/saveSafetensors: cannot create the folder .*model\.safetensors \(EEXIST: a file of that name exists\)/);
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

/** A checkpoint file with these tensors and metadata strings, as another writer could make it. */
function checkpointFile(tensors: Record<string, Tensor>, metadata: Record<string, string>): string {
  const path = join(dir(), 'model.safetensors');
  saveSafetensors(path, tensors, metadata);
  return path;
}

/** A real checkpoint of a small trained cnn, its metadata decoded, to be edited by a test. */
function savedCheckpoint(): { tensors: Record<string, Tensor>; metadata: Record<string, string>; json: (key: string) => any } {
  const model = buildModel({ name: 'cnn', norm: 'bn', width: 0.125, channels: [8, 8] });
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  opt.zeroGrad();
  F.crossEntropy(model.forward(new Variable(randn([2, 1, 8, 8], { seed: 3 }))), [0, 1]).backward();
  opt.step();
  const path = join(dir(), 'model.safetensors');
  saveCheckpoint(path, { model, optimizer: opt, optimizerName: 'sgd', step: 1, epoch: 0, extra: { seed: 0, stepsPerEpoch: 4, history: [] } });
  const { tensors, metadata } = loadSafetensors(path);
  return { tensors, metadata, json: (key) => JSON.parse(metadata[key]!) };
}

describe('checkpoints: metadata is checked before anything is built', () => {
  it("refuses a config whose weights are not in the file without building the model (the issue's ~100-byte file)", () => {
    const path = checkpointFile({}, { model_config: JSON.stringify({ name: 'mlp', hidden: [20000, 20000], imageSize: 28 }) });
    // loadCheckpoint itself refuses it: eval, train --resume and analyze --run all start there.
    expect(() => loadCheckpoint(path)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(path)).toThrow(/weights do not fit the model \(the model has 16 tensors of 416080012 values, the file 0 of 0\): missing keys: fc\.weight, fc\.bias, hidden0\.linear\.weight, .* … \(6 more\)$/);
    expect(() => loadModel(path)).toThrow(/missing keys/);
  });

  it('refuses an absurd model config, naming the field', () => {
    const path = checkpointFile({}, { model_config: JSON.stringify({ name: 'cnn', inChannels: 1000000 }) });
    expect(() => loadCheckpoint(path)).toThrow(/metadata model_config.inChannels must be <= 65536, got 1000000/);
    const other = checkpointFile({}, { model_config: JSON.stringify({ name: 'mlp', hidden: '20', depth: 3 }) });
    expect(() => loadCheckpoint(other)).toThrow(/metadata model_config.hidden must be an array, got "20"; model_config has an unknown option 'depth'/);
    const unbuildable = checkpointFile({}, { model_config: JSON.stringify({ name: 'cnn', channels: [6], norm: 'gn', groups: 4 }) });
    expect(() => loadCheckpoint(unbuildable)).toThrow(/its model config cannot be built: cnn: a layer has 6 channels, not divisible by groups 4/);
  });

  const counts: Array<[string, string]> = [
    ['step', '1e2'],
    ['step', ''],
    ['step', '0x10'],
    ['step', '-1'],
    ['step', '1.5'],
    ['step', ' 7'],
    ['epoch', '0x10'],
    ['epoch', '9007199254740993'],
  ];
  for (const [key, text] of counts) {
    it(`refuses ${key} ${JSON.stringify(text)}: integers are decimal digits`, () => {
      const { tensors, metadata } = savedCheckpoint();
      const path = checkpointFile(tensors, { ...metadata, [key]: text });
      expect(() => loadCheckpoint(path)).toThrow(`metadata ${key} must be a non-negative integer in decimal digits, got ${JSON.stringify(text)}`);
    });
  }

  it('reads optimizer indices as decimal digits only, in tensor names and in the counters', () => {
    const { tensors, metadata, json } = savedCheckpoint();
    const t = tensors['optimizer.0.momentumBuffer']!;
    const renamed: Record<string, Tensor> = { ...tensors, 'optimizer.1e1.momentumBuffer': t };
    delete renamed['optimizer.0.momentumBuffer'];
    expect(() => loadCheckpoint(checkpointFile(renamed, metadata))).toThrow(/optimizer tensor 'optimizer.1e1.momentumBuffer' is not named optimizer.<index in decimal digits>.<name>/);
    const opt = json('optimizer');
    opt.numbers = { '1e1': { step: 1 } };
    expect(() => loadCheckpoint(checkpointFile(tensors, { ...metadata, optimizer: JSON.stringify(opt) }))).toThrow(
      /metadata optimizer.numbers has an invalid key "1e1": must be a parameter index in decimal digits/,
    );
  });

  const shapes: Array<[string, (m: any) => void, RegExp]> = [
    ['extra.history=[null]', (m) => (m.extra.history = [null]), /metadata extra.history\[0\] must be an object, got null/],
    ['a history entry without testLoss', (m) => (m.extra.history = [{ epoch: 1, step: 4, trainLoss: 1, trainAccuracy: 0.5, testAccuracy: null }]), /extra.history\[0\].testLoss must be a number, got nothing/],
    ['extra.stepsPerEpoch "4"', (m) => (m.extra.stepsPerEpoch = '4'), /metadata extra.stepsPerEpoch must be a number, got "4"/],
    ['extra.epochStats.correct 1.5', (m) => (m.extra.epochStats = { lossSum: 1, correct: 1.5, seen: 2, steps: 1 }), /extra.epochStats.correct must be an integer, got 1.5/],
    ['extra.cli.epochs "3"', (m) => (m.extra.cli = { epochs: '3' }), /metadata extra.cli.epochs must be a number, got "3"/],
    ['extra.cli.norm "xx"', (m) => (m.extra.cli = { norm: 'xx' }), /metadata extra.cli.norm must be one of "bn", .*got "xx"/],
    ['an unknown extra.cli flag', (m) => (m.extra.cli = { bogus: 1 }), /metadata extra.cli has an unknown key 'bogus'/],
    ['extra.__proto__', (m) => (m.extra = JSON.parse('{"__proto__": {"seed": 5}}')), /metadata extra.__proto__: a key named __proto__ is not accepted/],
    ['extra that is an array', (m) => (m.extra = [1]), /metadata extra must be an object, got \[1\]/],
    ['scheduler.lastEpoch 1.5', (m) => (m.scheduler = { lastEpoch: 1.5, baseLrs: [0.1] }), /metadata scheduler.lastEpoch must be an integer, got 1.5/],
    ['scheduler.baseLrs null', (m) => (m.scheduler = { lastEpoch: 1, baseLrs: null }), /metadata scheduler.baseLrs must be an array, got null/],
    ['optimizer.paramGroups[0].params [-1]', (m) => (m.optimizer.paramGroups[0].params = [-1]), /metadata optimizer.paramGroups\[0\].params\[0\] must be >= 0, got -1/],
    ['optimizer.numbers with a string counter', (m) => (m.optimizer.numbers = { 0: { step: '1' } }), /metadata optimizer.numbers.0.step must be a number, got "1"/],
    ['a model_config with a __proto__ key', (m) => (m.model_config = JSON.parse('{"name": "cnn", "__proto__": {"width": 4}}')), /metadata model_config.__proto__: a key named __proto__ is not accepted/],
    ['model_config that is not JSON', (m) => (m.model_config = undefined), /metadata model_config is not valid JSON/],
  ];
  for (const [what, edit, message] of shapes) {
    it(`refuses ${what} with a CheckpointError naming the field`, () => {
      const { tensors, metadata, json } = savedCheckpoint();
      const m: Record<string, unknown> = {};
      for (const key of ['model_config', 'optimizer', 'scheduler', 'extra']) if (metadata[key] !== undefined) m[key] = json(key);
      m.scheduler ??= null;
      edit(m);
      const strings: Record<string, string> = { ...metadata };
      for (const [key, v] of Object.entries(m)) if (v !== null) strings[key] = v === undefined ? '{not json' : JSON.stringify(v);
      const path = checkpointFile(tensors, strings);
      expect(() => loadCheckpoint(path)).toThrow(CheckpointError);
      expect(() => loadCheckpoint(path)).toThrow(message);
    });
  }

  it('keeps extra keys it does not know, and refuses to save a __proto__ key', () => {
    const model = buildModel({ name: 'cnn', width: 0.125, channels: [8] });
    const path = join(dir(), 'model.safetensors');
    saveCheckpoint(path, { model, extra: { note: 'x', nested: { constructor: 1 }, cli: { epochs: 2, dataset: 'synthetic' } } });
    expect(loadCheckpoint(path).extra).toEqual({ note: 'x', nested: { constructor: 1 }, cli: { epochs: 2, dataset: 'synthetic' } });
    expect(() => saveCheckpoint(path, { model, extra: JSON.parse('{"a": {"__proto__": 1}}') })).toThrow(/extra.a.__proto__: a key named __proto__ cannot be saved/);
  });

  it('a plain safetensors file with a __proto__ tensor loads it into the model state as a key', () => {
    const path = checkpointFile({ ['__proto__']: tensor([1, 2]), w: tensor([3]) }, {});
    const ckpt = loadCheckpoint(path);
    expect(Object.keys(ckpt.modelState).sort()).toEqual(['__proto__', 'w']);
    // With a config, it is a tensor the model does not have.
    const model = buildModel({ name: 'cnn', width: 0.125, channels: [8] });
    const withConfig = checkpointFile({ ...model.stateDict(), ['__proto__']: tensor([1, 2]) }, { model_config: JSON.stringify(model.config) });
    expect(() => loadModel(withConfig)).toThrow(/weights do not fit the model .*unexpected keys: __proto__/);
  });

  it('checkResume refuses a config that differs from the checkpoint, or whose tensors are not in it, before building', () => {
    const model = buildModel({ name: 'cnn', norm: 'bn', width: 0.125, channels: [8] });
    const path = join(dir(), 'model.safetensors');
    saveCheckpoint(path, { model });
    const ckpt = loadCheckpoint(path);
    expect(() => checkResume(ckpt, { ...model.config })).not.toThrow();
    expect(() => checkResume(ckpt, { ...model.config, norm: 'gn' })).toThrow(/the model differs \(norm: checkpoint "bn", model "gn"\)/);
    const plain = checkpointFile({ w: tensor([1]) }, {});
    expect(() => checkResume(loadCheckpoint(plain), { name: 'mlp', hidden: [20000, 20000] })).toThrow(/weights do not fit the model .*missing keys: fc.weight, fc.bias, hidden0.linear.weight.*; unexpected keys: w$/);
  });
});

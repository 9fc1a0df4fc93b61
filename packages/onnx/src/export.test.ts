import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { F, Variable, noGrad } from '@normlab/autograd';
import { buildModel } from '@normlab/models';
import { AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, Module, ReLU, Sequential } from '@normlab/nn';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  setNormalizationLive,
} from '@normlab/norm-layers';
import { TensorError, add, randn } from '@normlab/tensor';
import { OnnxExportError, OnnxRuntimeError } from './errors.js';
import { type OnnxExportOptions, exportOnnx } from './export.js';
import { readOnnxMetadata } from './metadata.js';
import { GROUP_NORM_OPS, isGroupNormFamily } from './norms.js';
import { OnnxModel, importRuntime } from './runtime.js';
import { ROUNDTRIP_TOLERANCE, compareWithOnnx } from './test-utils/compare.js';

/** Train-mode forwards on random batches, so running statistics leave their initial values. */
function warmUp(model: Module, shape: number[]): void {
  model.train();
  noGrad(() => {
    for (let i = 0; i < 3; i++) model.forward(new Variable(randn(shape, { seed: 50 + i, mean: 0.5, std: 2 })));
  });
}

async function expectRoundTrip(model: Module, inputShape: number[], options: OnnxExportOptions = {}): Promise<void> {
  const r = await compareWithOnnx(model, inputShape, [1, 3], options);
  expect(r.maxAbsDiff).toBeLessThanOrEqual(ROUNDTRIP_TOLERANCE * Math.max(1, r.maxAbsOutput));
}

describe('exportOnnx: layers and ops', () => {
  it('every norm layer with its options: affine off, tracked instance statistics, per-channel and fixed blends, normalization switched off', async () => {
    const layers: Module[] = [
      new BatchNorm2d(8, { affine: false }),
      new GroupNorm(2, 8, { eps: 1e-3 }),
      new LayerNorm2d(8, { affine: false }),
      new InstanceNorm2d(8, { affine: true }),
      new InstanceNorm2d(8, { trackRunningStats: true, momentum: 0.5 }),
      new BatchGroupNorm(4, 8, { momentum: 0.5 }),
      new HybridNorm(2, 8, { blend: 'channel', momentum: 0.5 }),
      new HybridNorm(4, 8, { blend: 0.3, affine: false, momentum: 0.5 }),
      new HybridNorm(8, 8, { blend: 0, momentum: 0.5 }),
    ];
    for (const norm of layers) {
      const model = new Sequential(new Conv2d(3, 8, 3, { padding: 1, seed: 1 }), norm, new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(8, 4, { seed: 2 }));
      // Learned ρ, γ and β away from their initial values.
      for (const p of model.parameters()) p.data = add(p.data, randn(p.data.shape, { seed: p.data.size, std: 0.5 }));
      warmUp(model, [4, 3, 6, 6]);
      for (const groupNorm of isGroupNormFamily(norm) ? GROUP_NORM_OPS : (['GroupNormalization'] as const)) {
        await expectRoundTrip(model, [3, 6, 6], { groupNorm });
      }
      setNormalizationLive(model, false); // y = γ·x + β
      await expectRoundTrip(model, [3, 6, 6]);
    }
  });

  it('BatchNorm1d on (N, C) features', async () => {
    const model = new Sequential(new Flatten(), new Linear(12, 6, { seed: 1 }), new BatchNorm1d(6, { momentum: 0.5 }), new ReLU(), new Linear(6, 3, { seed: 2 }));
    warmUp(model, [5, 3, 2, 2]);
    await expectRoundTrip(model, [3, 2, 2]);
  });

  it('weight-standardized convs (the standardized weight is folded), strides, dilation, groups, pooling with padding', async () => {
    const model = new Sequential(
      new Conv2d(4, 8, 3, { padding: 2, dilation: 2, weightStandardization: true, seed: 1 }),
      new GroupNorm(4, 8),
      new MaxPool2d(3, { stride: 2, padding: 1 }), // negative values next to the padding (−∞ in both)
      new ReLU(),
      new Conv2d(8, 8, [3, 1], { stride: [1, 2], padding: [1, 0], groups: 4, bias: true, seed: 2 }),
      new AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }),
      new AvgPool2d(2),
      new Flatten(),
      new Linear(48, 5, { seed: 3 }), // 8 channels × 3 × 2
    );
    await expectRoundTrip(model, [4, 9, 9]);
  });

  it('the ops between modules: residual additions, constants, activations, softmax, concat', async () => {
    class Net extends Module {
      conv = new Conv2d(2, 4, 3, { padding: 1, seed: 1 });
      norm = new HybridNorm(2, 4);
      shortcut = new Conv2d(2, 4, 1, { seed: 2 });
      fc = new Linear(16, 3, { seed: 3 });
      gate = new Variable(randn([1, 4, 1, 1], { seed: 4 })); // a constant that broadcasts over the batch
      forward(x: Variable): Variable {
        const y = F.relu(F.add(this.norm.forward(this.conv.forward(x)), this.shortcut.forward(x))); // residual
        const z = F.sub(1, F.mul(F.sigmoid(F.mul(y, this.gate)), 0.5)); // number operands on either side
        const w = F.clamp(F.div(F.minimum(F.maximum(y, 0.1), 2), 2), undefined, 0.4);
        const v = F.log(F.add(F.sqrt(F.abs(F.tanh(z))), 1));
        const pooled = F.globalAvgPool2d(F.concat([v, w], 1)); // (N, 8, 1, 1)
        const flat = F.reshape(F.unsqueeze(F.squeeze(pooled, 3), 2), [x.shape[0]!, 8]);
        const feats = F.concat([flat, F.exp(F.neg(flat))], 1); // (N, 16)
        return F.logSoftmax(F.softmax(this.fc.forward(feats), -1), 1);
      }
    }
    const model = new Net();
    warmUp(model, [4, 2, 5, 5]);
    await expectRoundTrip(model, [2, 5, 5]);
  });

  it('dropout and the distortion modules are the identity in eval and leave no node', async () => {
    const dist = buildModel({ name: 'cnn', width: 0.125, norm: 'gn', groups: 2, imageSize: 10, distortion: { kind: 'santurkar' } });
    await expectRoundTrip(dist, [1, 10, 10]);
    const drop = buildModel({ name: 'vgg11', width: 0.0625, dropout: 0.5, norm: 'bn', imageSize: 8, inChannels: 3 });
    await expectRoundTrip(drop, [3, 8, 8]);
  });
});

/** The graph of a serialized model: its nodes' op types, attributes and the int64 initializers (Reshape targets). */
function graphOf(bytes: Uint8Array) {
  const graph = fromBinary(ModelProtoSchema, bytes).graph!;
  const int64 = new Map(
    graph.initializer
      .filter((t) => t.dataType === 7)
      .map((t) => [t.name, Array.from({ length: t.rawData.length / 8 }, (_, i) => Number(new DataView(t.rawData.buffer, t.rawData.byteOffset).getBigInt64(i * 8, true)))]),
  );
  return { ops: graph.node.map((n) => n.opType), nodes: graph.node, initializers: graph.initializer, int64 };
}

describe("exportOnnx: groupNorm: 'LayerNormalization'", () => {
  it('writes GN as Reshape (N, G, C/G·H·W), LayerNormalization over the last axis (scale [1], no bias, the layer eps), Reshape back, Mul, Add (C, 1, 1)', () => {
    const gn = new GroupNorm(2, 8, { eps: 1e-3 });
    const model = new Sequential(gn);
    expect(graphOf(exportOnnx(model, { inputShape: [8, 5, 3] })).ops).toEqual(['GroupNormalization', 'Identity']);
    const g = graphOf(exportOnnx(model, { inputShape: [8, 5, 3], groupNorm: 'LayerNormalization' }));
    expect(g.ops).toEqual(['Reshape', 'LayerNormalization', 'Reshape', 'Mul', 'Add', 'Identity']);
    const [grouped, ln, back, mul, add] = g.nodes;
    expect(g.int64.get(grouped!.input[1]!)).toEqual([0, 2, -1]); // 0: the batch size copied
    expect(g.int64.get(back!.input[1]!)).toEqual([0, 8, 5, 3]);
    expect(ln!.input).toHaveLength(2); // no bias
    expect(Object.fromEntries(ln!.attribute.map((a) => [a.name, a.name === 'axis' ? Number(a.i) : a.f]))).toEqual({ axis: -1, epsilon: Math.fround(1e-3) });
    const dims = (name: string) => g.initializers.find((t) => t.name === name)!.dims.map(Number);
    expect(dims(ln!.input[1]!)).toEqual([1]);
    expect(dims(mul!.input[1]!)).toEqual([8, 1, 1]);
    expect(dims(add!.input[1]!)).toEqual([8, 1, 1]);
  });

  it('every GN and HybridNorm of a model is composed; the scale of 1 is one initializer; models without them do not change', () => {
    const hybrid = buildModel({ name: 'resnet8', norm: 'hybrid', width: 0.5, groups: 4, imageSize: 8, inChannels: 3 });
    const g = graphOf(exportOnnx(hybrid, { groupNorm: 'LayerNormalization' }));
    const layers = hybrid.modules().filter(isGroupNormFamily).length;
    expect(layers).toBeGreaterThan(4);
    expect(g.ops.filter((op) => op === 'LayerNormalization')).toHaveLength(layers);
    expect(g.ops).not.toContain('GroupNormalization');
    expect(g.initializers.filter((t) => t.dims.length === 1 && Number(t.dims[0]) === 1 && t.dataType === 1)).toHaveLength(1);
    for (const norm of ['bn', 'ln', 'in', 'bgn', 'none'] as const) {
      const model = buildModel({ name: 'resnet8', norm, width: 0.5, groups: 4, imageSize: 8, inChannels: 3 });
      expect(exportOnnx(model, { groupNorm: 'LayerNormalization' }), norm).toEqual(exportOnnx(model));
    }
  });
});

describe('exportOnnx: refusals say why', () => {
  it('refuses GN+, naming the layer, saying why, and pointing to HybridNorm', () => {
    const model = buildModel({ name: 'resnet8', norm: 'gnplus', width: 0.5, groups: 4, imageSize: 8, inChannels: 3 });
    expect(() => exportOnnx(model)).toThrow(OnnxExportError);
    expect(() => exportOnnx(model)).toThrow(/norm1 is GNPlus \(GN\+\), which has no fixed-statistics form.*evaluated batch.*batch of 1 is undefined.*Use HybridNorm \(--norm hybrid\)/);
    // Switched off, GN+ is γ·x + β: that exports.
    setNormalizationLive(model, false);
    expect(exportOnnx(model).length).toBeGreaterThan(0);
    expect(() => exportOnnx(new Sequential(new GNPlus(1, 3)), { inputShape: [3, 4, 4] })).toThrow(/^exportOnnx: 0 is GNPlus/);
  });

  it('refuses BN without running statistics (it normalizes with the evaluated batch)', () => {
    const model = buildModel({ name: 'mlp', norm: 'bn', hidden: [8], imageSize: 4, normOptions: { trackRunningStats: false } });
    expect(() => exportOnnx(model)).toThrow(/hidden0\.norm\.norm is BatchNorm2d with trackRunningStats: false.*no fixed statistics/);
  });

  it('refuses ops it cannot express: no translation, the batch axis mixed, batch-sized constants', () => {
    const net = (f: (x: Variable) => Variable): Module =>
      new (class extends Module {
        forward(x: Variable): Variable {
          return f(x);
        }
      })();
    expect(() => exportOnnx(net((x) => F.matmul(x, x)), { inputShape: [3, 3] })).toThrow(/op 'matmul' has no ONNX translation \(the export supports norm layers and add, sub/);
    expect(() => exportOnnx(net((x) => F.reshape(F.reshape(x, [-1]), [2, 3])), { inputShape: [3] })).toThrow(/reshape from \[2,3\] to \[6\] changes the batch axis/);
    expect(() => exportOnnx(net((x) => F.softmax(x, 0)), { inputShape: [3] })).toThrow(/softmax along the batch axis/);
    const perSample = new Variable(randn([2, 3]));
    expect(() => exportOnnx(net((x) => F.add(x, perSample)), { inputShape: [3] })).toThrow(/add: a constant of shape \[2,3\] meets the batch axis/);
    expect(() => exportOnnx(net((x) => F.dropout(x, 0.5, { training: true })), { inputShape: [3] })).toThrow(/dropout in training mode/);
  });

  it('checks its arguments', () => {
    const model = buildModel({ name: 'cnn', width: 0.125 });
    expect(() => exportOnnx(model)).toThrow(/give inputShape.*does not record its imageSize/);
    expect(() => exportOnnx(model, { inputShape: [1, 0, 4] })).toThrow(/inputShape must be a non-empty array of positive integers/);
    expect(() => exportOnnx(model, { inputShape: [1, 8, 8], groupNorm: 'InstanceNormalization' as never })).toThrow(
      /groupNorm must be one of GroupNormalization, LayerNormalization, got "InstanceNormalization"/,
    );
    expect(() => exportOnnx({} as Module)).toThrow(/model must be a Module/);
    expect(() => noGrad(() => exportOnnx(model, { inputShape: [1, 8, 8] }))).toThrow(/call it outside noGrad/);
    expect(() => exportOnnx(model)).toThrow(TensorError); // the CLI's user errors
  });
});

describe('metadata and the runtime', () => {
  it('records the config, the input shape, the dataset and the normalization', () => {
    const model = buildModel({ name: 'cnn', width: 0.125, norm: 'hybrid', imageSize: 12, groups: 2 });
    const meta = readOnnxMetadata(exportOnnx(model, { dataset: 'mnist', normalization: { mean: [0.1307], std: [0.3081] } }));
    expect(meta).toEqual({ inputShape: [1, 12, 12], config: model.config, dataset: 'mnist', normalization: { mean: [0.1307], std: [0.3081] } });
    expect(readOnnxMetadata(exportOnnx(model))).toEqual({ inputShape: [1, 12, 12], config: model.config });
  });

  it('bad files are one clear error', async () => {
    expect(() => readOnnxMetadata(new Uint8Array([1, 2, 3, 255]))).toThrow(OnnxRuntimeError);
    expect(() => readOnnxMetadata(new Uint8Array([1, 2, 3, 255]))).toThrow(/the ONNX model is not an ONNX model/);
    await expect(OnnxModel.load(new Uint8Array([8, 1, 18, 3]))).rejects.toThrow(/the ONNX model: onnxruntime cannot load it/);
    expect(() => readOnnxMetadata('/nonexistent/model.onnx')).toThrow(/readOnnxMetadata: \/nonexistent\/model.onnx: cannot read the ONNX file \(ENOENT\)/);
    await expect(OnnxModel.load('/nonexistent/model.onnx')).rejects.toThrow(/onnxruntime: \/nonexistent\/model.onnx: cannot read the ONNX file \(ENOENT\)/);
  });

  it('a missing runtime is one line that says how to install it', async () => {
    await expect(importRuntime('onnxruntime-node-absent')).rejects.toThrow(
      /onnxruntime-node-absent is not installed; running ONNX models needs it: npm install onnxruntime-node-absent@\^1\.30 \(exporting does not\)/,
    );
  });

  it('runs a batch and checks its input', async () => {
    const model = buildModel({ name: 'mlp', hidden: [8], imageSize: 3, norm: 'ln' });
    const onnx = await OnnxModel.load(exportOnnx(model));
    try {
      expect((await onnx.run(randn([4, 1, 3, 3]))).shape).toEqual([4, 10]);
      await expect(onnx.run(randn([4, 1, 3, 3], { dtype: 'float64' }))).rejects.toThrow(/input must be a float32 Tensor, got float64/);
      await expect(onnx.run(randn([4, 1, 3, 4]))).rejects.toThrow(/running a batch of shape \[4,1,3,4\] failed/);
      expect(onnx.runtimeVersion).toMatch(/^1\.30\./);
    } finally {
      await onnx.close();
    }
  });
});

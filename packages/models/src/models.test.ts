import { describe, expect, it } from 'vitest';
import { F, Variable } from '@normlab/autograd';
import { Conv2d } from '@normlab/nn';
import { Distortion, NORM_KINDS, type NormKind } from '@normlab/norm-layers';
import { Tensor, randn } from '@normlab/tensor';
import { ModelError, buildModel, type ClassifierModel, type ModelConfig } from './index.js';

/** Each model at a tiny width, with an input size whose deepest feature map is still > 1×1. */
const CASES: Array<{ config: ModelConfig; size: number }> = [
  { config: { name: 'mlp', hidden: [16, 8], imageSize: 6 }, size: 6 },
  { config: { name: 'cnn', width: 0.125 }, size: 20 },
  { config: { name: 'cnn', channels: [8, 8, 16], pool: false, width: 1 }, size: 8 },
  { config: { name: 'vgg11', width: 1 / 16, dropout: 0.3 }, size: 32 },
  { config: { name: 'resnet8', width: 0.25 }, size: 8 },
  { config: { name: 'resnet14', width: 0.25, zeroInitResidual: true }, size: 8 },
  { config: { name: 'resnet18', width: 1 / 16 }, size: 16 },
  { config: { name: 'resnet50', width: 1 / 16 }, size: 16 },
];

function forwardBackward(model: ClassifierModel, n: number, c: number, size: number) {
  const x = new Variable(randn([n, c, size, size], { seed: 1 }), { requiresGrad: true });
  const logits = model.forward(x);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const loss = F.crossEntropy(logits, labels);
  loss.backward();
  return { x, logits, loss };
}

describe('models: forward and backward shapes with every norm kind', () => {
  for (const { config, size } of CASES) {
    for (const norm of NORM_KINDS) {
      // Instance norm of a 1×1 feature vector is undefined (PyTorch refuses it too): the MLP skips it.
      if (config.name === 'mlp' && norm === 'in') continue;
      it(`${config.name} ${JSON.stringify({ ...config, name: undefined })} with ${norm}`, () => {
        const model = buildModel({ ...config, norm, groups: 4, inChannels: 3, numClasses: 10, seed: 3 });
        const { x, logits, loss } = forwardBackward(model, 4, 3, size);
        expect(logits.shape).toEqual([4, 10]);
        expect(Number.isFinite(loss.item())).toBe(true);
        expect(x.grad!.shape).toEqual([4, 3, size, size]);
        for (const [name, p] of model.namedParameters()) {
          expect(p.grad, `${name} has a gradient`).not.toBeNull();
          expect(p.grad!.shape, name).toEqual(p.data.shape);
        }
        expect(model.classifier().outFeatures).toBe(10);
      });
    }
  }
});

describe('models: structure', () => {
  it('convs followed by a norm have no bias; without a norm they do', () => {
    for (const norm of ['bn', 'none'] as NormKind[]) {
      const convs = buildModel({ name: 'resnet8', norm, width: 0.25 }).modules().filter((m): m is Conv2d => m instanceof Conv2d);
      expect(convs.length).toBe(1 + 3 * 2 + 2); // stem, 3 stages × 1 block × 2 convs, 2 shortcuts
      for (const c of convs) expect(c.bias === null).toBe(norm !== 'none');
    }
  });

  it('He init: conv weights have std ≈ sqrt(2 / fan_out)', () => {
    const model = buildModel({ name: 'cnn', norm: 'bn', seed: 0 });
    const conv = model.modules().filter((m): m is Conv2d => m instanceof Conv2d)[2]!; // 64 → 128, 3×3
    const w = conv.weight.data.toTypedArray();
    let s = 0;
    for (const v of w) s += v * v;
    const std = Math.sqrt(s / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (128 * 9)), 2);
  });

  it('the same config and seed give the same weights; buildModel(model.config) rebuilds it', () => {
    const a = buildModel({ name: 'resnet8', norm: 'gn', groups: 2, width: 0.25, seed: 7 });
    const b = buildModel(JSON.parse(JSON.stringify(a.config)) as ModelConfig);
    const c = buildModel({ name: 'resnet8', norm: 'gn', groups: 2, width: 0.25, seed: 8 });
    const sa = a.stateDict();
    const sb = b.stateDict();
    expect(Object.keys(sb)).toEqual(Object.keys(sa));
    for (const k of Object.keys(sa)) expect(sb[k]!.toTypedArray()).toEqual(sa[k]!.toTypedArray());
    expect(c.stateDict()['conv1.weight']!.toTypedArray()).not.toEqual(sa['conv1.weight']!.toTypedArray());
  });

  it('a seed gives the same conv and linear weights whatever the norm, the unnormalized network included', () => {
    // What comparisons paired by seed rely on: only the norm's own parameters (and the bias of an
    // unnormalized conv, zero at the start) differ between norms.
    for (const name of ['cnn', 'resnet8', 'vgg11']) {
      const width = name === 'vgg11' ? 1 / 16 : 0.25;
      const shared = (norm: NormKind) =>
        Object.fromEntries(
          buildModel({ name, norm, groups: 2, width, seed: 5 })
            .namedParameters()
            .filter(([, p]) => p.data.shape.length > 1)
            .map(([k, p]) => [k, Array.from(p.data.toTypedArray())]),
        );
      const bn = shared('bn');
      for (const norm of ['gn', 'gnplus', 'hybrid', 'bgn', 'none'] as NormKind[]) expect(shared(norm), `${name} with ${norm}`).toEqual(bn);
      const biases = buildModel({ name, norm: 'none', width, seed: 5 }).modules().filter((m): m is Conv2d => m instanceof Conv2d).map((c) => c.bias!);
      expect(biases.every((b) => b.data.toTypedArray().every((v) => v === 0))).toBe(true);
    }
  });

  it('zeroInitResidual zeroes the last norm weight of every residual block', () => {
    const m = buildModel({ name: 'resnet50', norm: 'bn', width: 1 / 16, zeroInitResidual: true });
    const state = m.stateDict();
    const last = Object.keys(state).filter((k) => /^layer\d\.\d+\.norm3\.weight$/.test(k));
    expect(last.length).toBe(3 + 4 + 6 + 3);
    for (const k of last) expect(Math.max(...state[k]!.toTypedArray().map(Math.abs))).toBe(0);
    expect(Math.min(...state['layer1.0.norm1.weight']!.toTypedArray())).toBe(1);
  });

  it('width scales the channels; groups are capped at a layer\'s channels', () => {
    const m = buildModel({ name: 'cnn', norm: 'gn', groups: 32, width: 0.5 });
    expect(m.stateDict()['block1.conv.weight']!.shape).toEqual([16, 1, 3, 3]);
    expect(m.stateDict()['fc.weight']!.shape).toEqual([10, 128]);
  });

  it('distortion modules sit after the norms: active in training, identity in eval', () => {
    const config: ModelConfig = { name: 'vgg11', norm: 'bn', width: 1 / 16, seed: 1 };
    const clean = buildModel(config);
    const noisy = buildModel({ ...config, distortion: { kind: 'additive', mean: 0.5, std: 1.25 } });
    expect(noisy.modules().filter((m) => m instanceof Distortion).length).toBe(8);
    const x = new Variable(randn([4, 1, 16, 16], { seed: 2 }));
    clean.eval();
    noisy.eval();
    expect(noisy.forward(x).data.toTypedArray()).toEqual(clean.forward(x).data.toTypedArray());
    clean.train();
    noisy.train();
    expect(noisy.forward(x).data.toTypedArray()).not.toEqual(clean.forward(x).data.toTypedArray());
  });
});

describe('models: bad configs', () => {
  const bad: Array<[ModelConfig, RegExp]> = [
    [{ name: 'alexnet' }, /unknown model "alexnet"/],
    [{ name: 'resnet10' }, /unknown model "resnet10"/],
    [{ name: 'cnn', norm: 'xx' as NormKind }, /norm must be one of .*got "xx"/],
    [{ name: 'cnn', widht: 2 }, /unknown option 'widht'/],
    [{ name: 'cnn', width: 0 }, /width must be a positive number, got 0/],
    [{ name: 'cnn', channels: [6], norm: 'gn', groups: 4 }, /6 channels, not divisible by groups 4/],
    [{ name: 'mlp', hidden: [0] }, /hidden must be an array of positive integers/],
    [{ name: 'vgg11', dropout: 1 }, /dropout must be a probability in \[0, 1\), got 1/],
    [{ name: 'cnn', distortion: { kind: 'loud' as 'additive' } }, /distortion.kind must be one of/],
  ];
  for (const [config, message] of bad) {
    it(`${JSON.stringify(config)} → ModelError`, () => {
      expect(() => buildModel(config)).toThrow(ModelError);
      expect(() => buildModel(config)).toThrow(message);
    });
  }

  it('a wrong input channel count is reported by the first conv', () => {
    const m = buildModel({ name: 'cnn', norm: 'bn', inChannels: 3, width: 0.125 });
    expect(() => m.forward(new Variable(new Tensor(new Float32Array(2 * 1 * 8 * 8), [2, 1, 8, 8])))).toThrow(/Conv2d: expected 3 input channels/);
  });
});

import { describe, expect, it } from 'vitest';
import { F, Variable } from '@normlab/autograd';
import { Conv2d } from '@normlab/nn';
import { Distortion, NORM_KINDS, type NormKind } from '@normlab/norm-layers';
import { Tensor, randn } from '@normlab/tensor';
import { MAX_CHANNELS, ModelError, buildModel, modelConfigProblems, modelStateShapes, type ClassifierModel, type ModelConfig } from './index.js';

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
    [{ name: 'cnn', width: 0 }, /width must be > 0, got 0/],
    [{ name: 'cnn', channels: [6], norm: 'gn', groups: 4 }, /6 channels, not divisible by groups 4/],
    [{ name: 'mlp', hidden: [0] }, /hidden\[0\] must be >= 1, got 0/],
    [{ name: 'vgg11', dropout: 1 }, /dropout must be < 1, got 1/],
    [{ name: 'mlp', hidden: [20, 2.5] }, /hidden\[1\] must be an integer, got 2.5/],
    [{ name: 'cnn', inChannels: 1_000_000 }, /inChannels must be <= 65536, got 1000000/],
    [{ name: 'cnn', pool: 'yes' as unknown as boolean }, /pool must be a boolean, got "yes"/],
    [{ name: 'cnn', normOptions: { eps: '1e-5' as unknown as number } }, /normOptions.eps must be a number, got "1e-5"/],
    [{ name: 'cnn', normOptions: { groups: 2 } as object }, /normOptions has an unknown option 'groups'/],
    [{ name: 'cnn', normOptions: { blend: true as unknown as number } }, /normOptions.blend must be one of "layer", "channel" or a number, got true/],
    [{ name: 'resnet20', width: 2000 }, /width must be <= 1024, got 2000/],
    [{ name: 'resnet20', width: 1000 }, /resnet20: the model would have more than 536870912 weights/],
    [{ name: 'cnn', channels: [70000], width: 1 }, /channels\[0\] must be <= 65536, got 70000/],
    [{ name: 'cnn', channels: [60000], width: 2 }, /width 2 makes a layer 120000 channels wide, more than the 65536 allowed/],
    [{ name: 'resnet1208' }, /depth must be 6n \+ 2 .* at most 1202, got 1208/],
    [JSON.parse('{"name": "cnn", "__proto__": {"width": 4}}') as ModelConfig, /unknown option '__proto__'/],
    [{ name: 'cnn', normOptions: JSON.parse('{"__proto__": {"eps": 1}}') }, /normOptions has an unknown option '__proto__'/],
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

describe('models: shape-only builds', () => {
  const configs: ModelConfig[] = [
    ...CASES.map((c) => c.config),
    ...(['bn', 'gn', 'gnplus', 'hybrid', 'bgn', 'in', 'ln', 'none'] as const).map((norm) => ({ name: 'resnet8', norm, groups: 2, width: 0.25 })),
    { name: 'cnn', norm: 'hybrid', normOptions: { blend: 'channel' }, groups: 2, width: 0.125, distortion: { kind: 'additive' } },
    { name: 'resnet14', norm: 'gnplus', order: 'parallel', groups: 4, width: 0.25, zeroInitResidual: true },
  ];
  for (const config of configs) {
    it(`${JSON.stringify(config)}: the same state-dict names and shapes as the real build`, () => {
      const real = buildModel(config);
      const plan = modelStateShapes(config);
      expect(plan.config).toEqual(real.config);
      const state = real.stateDict();
      expect([...plan.shapes.keys()].sort()).toEqual(Object.keys(state).sort());
      for (const [k, t] of Object.entries(state)) expect(plan.shapes.get(k), k).toEqual(t.shape);
    });
  }

  it('lists a large model without allocating it', () => {
    // 784×20000 + 20000² weights: 1.7 GB if built, a few small objects per layer here.
    const { shapes } = modelStateShapes({ name: 'mlp', hidden: [20000, 20000], imageSize: 28 });
    expect(shapes.get('hidden1.linear.weight')).toEqual([20000, 20000]);
    expect(shapes.get('hidden1.norm.norm.running_var')).toEqual([20000]);
    expect(shapes.get('fc.weight')).toEqual([10, 20000]);
    // Past MAX_PARAMETERS a model is refused in either build, before anything is allocated.
    const huge = { name: 'mlp', hidden: Array.from({ length: 4 }, () => MAX_CHANNELS) };
    expect(() => modelStateShapes(huge)).toThrow(/mlp: the model would have more than 536870912 weights/);
    expect(() => buildModel(huge)).toThrow(/mlp: the model would have more than 536870912 weights/);
  });

  it('modelConfigProblems names each wrong field under a prefix, or returns null', () => {
    expect(modelConfigProblems({ name: 'cnn', width: 0.5 })).toBeNull();
    expect(modelConfigProblems({ name: 'cnn', inChannels: 'x', extra: 1 }, 'model_config')).toBe(
      `model_config.inChannels must be a number, got "x"; model_config has an unknown option 'extra'`,
    );
    expect(modelConfigProblems({ name: 'alexnet' }, 'model_config')).toMatch(/^model_config.name: unknown model "alexnet"/);
    expect(modelConfigProblems([1], 'model_config')).toBe('model_config must be an object, got [1]');
    expect(modelConfigProblems({ hidden: [1] }, 'model_config')).toBe('model_config.name must be a string, got nothing');
  });
});

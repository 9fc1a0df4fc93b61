import { Variable, noGrad } from '@normlab/autograd';
import {
  Tensor,
  TensorError,
  getKernel,
  hasKernel,
  randn,
  registerBackend,
  registerKernel,
  setBackend,
  tensor,
  unregisterKernel,
} from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  Distortion,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  NORM_KINDS,
  NoNorm,
  NormLayerError,
  createNorm,
} from './index.js';
import { snapshot } from './test-utils/index.js';

const v = (t: Tensor, requiresGrad = false) => new Variable(t, { requiresGrad });
const x4 = (shape: number[], seed = 0) => v(randn(shape, { seed, mean: 1, std: 2 }));

function expectNormError(fn: () => unknown, ...parts: string[]) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(NormLayerError);
  expect(err).toBeInstanceOf(TensorError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('construction errors name the layer and the numbers', () => {
  it('channels not divisible by groups', () => {
    expectNormError(() => new GroupNorm(8, 30), 'GroupNorm', 'numChannels 30 is not divisible by numGroups 8');
    expectNormError(() => new GNPlus(4, 6), 'GNPlus', '6', '4');
    expectNormError(() => new HybridNorm(4, 10), 'HybridNorm', '10', '4');
    expectNormError(() => new BatchGroupNorm(3, 8), 'BatchGroupNorm', '8', '3');
  });
  it('eps <= 0 and momentum outside [0, 1]', () => {
    expectNormError(() => new BatchNorm2d(4, { eps: 0 }), 'BatchNorm2d', 'eps', '0');
    expectNormError(() => new GroupNorm(2, 4, { eps: -1e-5 }), 'GroupNorm', 'eps', '-0.00001');
    expectNormError(() => new GNPlus(2, 4, { eps: Number.NaN }), 'GNPlus', 'eps', 'NaN');
    expectNormError(() => new BatchNorm2d(4, { momentum: 1.5 }), 'BatchNorm2d', 'momentum', '1.5');
    expectNormError(() => new HybridNorm(2, 4, { momentum: -0.1 }), 'HybridNorm', 'momentum', '-0.1');
    expectNormError(() => new InstanceNorm2d(4, { momentum: 2 }), 'InstanceNorm2d', 'momentum', '2');
    expect(new BatchNorm2d(4, { momentum: null }).momentum).toBeNull();
  });
  it('bad groups, order and blend', () => {
    expectNormError(() => new GroupNorm(0, 4), 'GroupNorm', 'numGroups', '0');
    expectNormError(() => new GNPlus(2, 4, { order: 'sideways' as never }), 'GNPlus', 'order', 'sideways');
    expectNormError(() => new HybridNorm(2, 4, { blend: 1.5 }), 'HybridNorm', 'blend', '1.5');
    expectNormError(() => new HybridNorm(2, 4, { blend: 'group' as never }), 'HybridNorm', 'blend', 'group');
    expectNormError(() => createNorm('xn' as never, 4), 'createNorm', 'xn');
  });
});

describe('input errors, and running statistics untouched after them', () => {
  const layers = () => [
    new BatchNorm2d(4),
    new GroupNorm(2, 4),
    new LayerNorm2d(4),
    new InstanceNorm2d(4, { trackRunningStats: true, affine: true }),
    new GNPlus(2, 4),
    new HybridNorm(2, 4),
    new BatchGroupNorm(2, 4),
  ];

  it('wrong channel count', () => {
    for (const m of layers()) {
      const before = snapshot(m);
      expectNormError(() => m.forward(x4([2, 5, 3, 3])), m.constructor.name, 'expected 4 channels', 'got 5');
      expect(snapshot(m)).toEqual(before);
    }
  });

  it('wrong rank (4 for 2-D layers, 2 or 3 for BatchNorm1d)', () => {
    for (const m of layers()) expectNormError(() => m.forward(x4([2, 4, 9])), m.constructor.name, '4-D', '3-D');
    expectNormError(() => new BatchNorm1d(4).forward(x4([2, 4, 3, 3])), 'BatchNorm1d', '2-D or 3-D', '4-D');
  });

  it("training BN with one value per channel (PyTorch's 'Expected more than 1 value per channel')", () => {
    const bn = new BatchNorm2d(4);
    const before = snapshot(bn);
    expectNormError(() => bn.forward(x4([1, 4, 1, 1])), 'BatchNorm2d', 'more than 1 value per channel when training', '[1,4,1,1]');
    expectNormError(() => new BatchNorm1d(3).forward(x4([1, 3])), 'BatchNorm1d', 'more than 1 value per channel');
    expectNormError(() => new HybridNorm(2, 4).forward(x4([1, 4, 1, 1])), 'HybridNorm', 'more than 1 value per channel');
    expect(snapshot(bn)).toEqual(before);
    // In eval the running statistics are used, so one value is fine.
    bn.eval();
    expect(bn.forward(x4([1, 4, 1, 1])).shape).toEqual([1, 4, 1, 1]);
  });

  it('GNPlus with a batch of one is an error in training and eval, not NaN', () => {
    const g = new GNPlus(2, 4);
    expectNormError(() => g.forward(x4([1, 4, 3, 3])), 'GNPlus', 'at least 2 samples', '[1,4,3,3]');
    g.eval();
    expectNormError(() => g.forward(x4([1, 4, 3, 3])), 'GNPlus', 'at least 2 samples');
  });

  it('checkFinite: a non-finite value is reported and the statistics keep their values', () => {
    for (const ctor of [
      () => new BatchNorm2d(4, { checkFinite: true }),
      () => new HybridNorm(2, 4, { checkFinite: true }),
      () => new BatchGroupNorm(2, 4, { checkFinite: true }),
      () => new GroupNorm(2, 4, { checkFinite: true }),
    ]) {
      const m = ctor();
      m.forward(x4([2, 4, 3, 3], 1)); // some real statistics first
      const before = snapshot(m);
      const bad = randn([2, 4, 3, 3], { seed: 2 });
      bad.data[17] = Number.NaN;
      expectNormError(() => m.forward(v(bad)), m.constructor.name, 'non-finite', 'NaN', 'index 17');
      bad.data[17] = Number.POSITIVE_INFINITY;
      expectNormError(() => m.forward(v(bad)), 'Infinity');
      expect(snapshot(m)).toEqual(before);
    }
  });
});

describe('batch norm semantics', () => {
  it('running statistics: momentum, unbiased variance, numBatchesTracked, cumulative average', () => {
    const bn = new BatchNorm1d(1, { momentum: 0.5 });
    bn.forward(v(tensor([[1], [3]])));
    // batch mean 2, biased var 1, unbiased 2: r = 0.5·0 + 0.5·2, 0.5·1 + 0.5·2.
    expect(Array.from(bn.runningMean!.data)).toEqual([1]);
    expect(Array.from(bn.runningVar!.data)).toEqual([1.5]);
    expect(bn.numBatchesTracked).toBe(1);
    const cum = new BatchNorm1d(1, { momentum: null });
    cum.forward(v(tensor([[1], [3]])));
    cum.forward(v(tensor([[5], [7]])));
    expect(cum.runningMean!.data[0]).toBeCloseTo(4, 6); // (2 + 6) / 2
    expect(cum.runningVar!.data[0]).toBeCloseTo(2, 6);
    expect(cum.numBatchesTracked).toBe(2);
  });

  it('eval uses running statistics; without them it uses the batch statistics', () => {
    const bn = new BatchNorm1d(1, { affine: false });
    bn.eval();
    const y = bn.forward(v(tensor([[1], [3]])));
    expect(y.data.data[0]).toBeCloseTo(1 / Math.sqrt(1 + 1e-5), 5);
    const nt = new BatchNorm1d(1, { affine: false, trackRunningStats: false });
    nt.eval();
    const y2 = nt.forward(v(tensor([[1], [3]])));
    expect(y2.data.data[0]).toBeCloseTo(-1 / Math.sqrt(1 + 1e-5), 5);
    expect(Object.keys(nt.stateDict())).toEqual([]);
  });

  it('no grad mode still normalizes and updates statistics', () => {
    const bn = new BatchNorm2d(4);
    const y = noGrad(() => bn.forward(x4([2, 4, 2, 2])));
    expect(y.requiresGrad).toBe(false);
    expect(bn.numBatchesTracked).toBe(1);
  });
});

describe('GNPlus and HybridNorm', () => {
  it('GNPlus: rho initialized to 1 (GN weight σ(1)), state-dict keys weight, bias, rho', () => {
    const g = new GNPlus(2, 4);
    expect(g.rho.data.data[0]).toBe(1);
    expect(g.gnWeight).toBeCloseTo(1 / (1 + Math.exp(-1)), 12);
    expect(Object.keys(g.stateDict())).toEqual(['weight', 'bias', 'rho']);
    expect(new GNPlus(2, 4, { parameterization: 'raw' }).gnWeight).toBe(0.5);
  });

  it("GNPlus in eval depends on the rest of the batch (the authors' design)", () => {
    const g = new GNPlus(2, 4).eval();
    const a = randn([2, 4, 3, 3], { seed: 3 });
    const b = randn([2, 4, 3, 3], { seed: 4 });
    // Same first sample, different second sample.
    const ab = a.clone();
    ab.data.set(b.data.subarray(36), 36);
    const y1 = g.forward(v(a)).data.data.subarray(0, 36);
    const y2 = g.forward(v(ab)).data.data.subarray(0, 36);
    let diff = 0;
    for (let i = 0; i < 36; i++) diff = Math.max(diff, Math.abs(y1[i]! - y2[i]!));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('HybridNorm in eval is per-sample and accepts batch 1', () => {
    const h = new HybridNorm(2, 4);
    for (let i = 0; i < 3; i++) h.forward(x4([4, 4, 3, 3], 10 + i));
    h.eval();
    const batch = randn([3, 4, 3, 3], { seed: 5 });
    const yb = h.forward(v(batch)).data.data;
    const one = new Tensor(batch.data.slice(0, 36), [1, 4, 3, 3]);
    const y1 = h.forward(v(one)).data.data;
    for (let i = 0; i < 36; i++) expect(y1[i]).toBeCloseTo(yb[i]!, 6);
    expect(Object.keys(h.stateDict())).toEqual(['weight', 'bias', 'rho', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect(Object.keys(new HybridNorm(2, 4, { blend: 0.5 }).stateDict())).not.toContain('rho');
    expect(new HybridNorm(2, 4, { blend: 'channel' }).rho!.shape).toEqual([4]);
  });

  it('HybridNorm with fixed blend 1 is GroupNorm', () => {
    const h = new HybridNorm(2, 4, { blend: 1 });
    const gn = new GroupNorm(2, 4);
    const x = x4([3, 4, 2, 2], 7);
    const a = h.forward(x).data.data;
    const b = gn.forward(x).data.data;
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });
});

describe('state dicts move between layers (PyTorch keys)', () => {
  it('BatchNorm2d round trip', () => {
    const a = new BatchNorm2d(4);
    a.forward(x4([3, 4, 2, 2], 8));
    a.forward(x4([3, 4, 2, 2], 9));
    const b = new BatchNorm2d(4);
    b.loadStateDict(a.stateDict());
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(Object.keys(a.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    // Training continues from the loaded buffers.
    b.forward(x4([3, 4, 2, 2], 10));
    expect(b.numBatchesTracked).toBe(3);
    expect(a.numBatchesTracked).toBe(2);
  });
  it('BatchGroupNorm keeps per-group running statistics', () => {
    const m = new BatchGroupNorm(2, 4);
    expect(m.stateDict().running_mean!.shape).toEqual([2]);
  });
});

describe('createNorm', () => {
  it('makes every kind', () => {
    const want = {
      bn: BatchNorm2d,
      gn: GroupNorm,
      ln: LayerNorm2d,
      in: InstanceNorm2d,
      gnplus: GNPlus,
      hybrid: HybridNorm,
      bgn: BatchGroupNorm,
      none: NoNorm,
    } as const;
    for (const kind of NORM_KINDS) {
      const m = createNorm(kind, 8, { groups: 4 });
      expect(m).toBeInstanceOf(want[kind]);
      const x = x4([2, 8, 3, 3], 11);
      expect(m.forward(x).shape).toEqual([2, 8, 3, 3]);
    }
    expect((createNorm('gnplus', 8, { groups: 2, order: 'parallel' }) as GNPlus).order).toBe('parallel');
    expect((createNorm('hybrid', 8, { groups: 2, blend: 'channel' }) as HybridNorm).blend).toBe('channel');
    expect((createNorm('gn', 64) as GroupNorm).numGroups).toBe(32);
  });
});

describe('Distortion', () => {
  it('additive: one N(mean, std) value per (sample, group); seeded; identity in eval', () => {
    const d = new Distortion('additive', { seed: 1, mean: 0.5, std: 1.25, groups: 2 });
    const x = v(randn([3, 4, 2, 2], { seed: 12 }));
    const y = d.forward(x).data.data;
    const xd = x.data.data;
    for (let n = 0; n < 3; n++) {
      for (let g = 0; g < 2; g++) {
        const start = (n * 4 + g * 2) * 4;
        const noise = y[start]! - xd[start]!;
        for (let i = start; i < start + 8; i++) expect(y[i]! - xd[i]!).toBeCloseTo(noise, 5);
      }
    }
    const again = new Distortion('additive', { seed: 1, mean: 0.5, std: 1.25, groups: 2 }).forward(x).data.data;
    expect(Array.from(again)).toEqual(Array.from(y));
    d.eval();
    expect(d.forward(x)).toBe(x);
  });

  it('santurkar: per (sample, channel) affine noise with the documented ranges', () => {
    const d = new Distortion('santurkar', { seed: 2 });
    const x = v(randn([16, 8, 3, 3], { seed: 13 }));
    const y = d.forward(x).data.data;
    const xd = x.data.data;
    for (let nc = 0; nc < 16 * 8; nc++) {
      const b = nc * 9;
      const s = (y[b + 1]! - y[b]!) / (xd[b + 1]! - xd[b]!);
      const m = y[b]! - s * xd[b]!;
      expect(Math.abs(m)).toBeLessThanOrEqual(0.6 + 1e-4);
      expect(s).toBeGreaterThan(0.5);
      expect(s).toBeLessThan(1.75);
    }
  });

  it('rejects a bad kind and channels not divisible by groups', () => {
    expectNormError(() => new Distortion('multiplicative' as never), 'Distortion', 'multiplicative');
    expectNormError(() => new Distortion('additive', { groups: 3 }).forward(x4([2, 4, 2, 2])), 'Distortion', '4', '3');
  });
});

describe('kernel registry', () => {
  it('registers the fused kernels for cpu; another backend can supply its own', () => {
    for (const k of ['normMoments', 'normApply', 'normBackward', 'batchAxisMoments', 'batchAxisApply', 'batchAxisBackward', 'blendAffine', 'blendAffineBackward'] as const) {
      expect(hasKernel(k, 'cpu'), k).toBe(true);
    }
    registerBackend('norm-test');
    let calls = 0;
    const cpu = getKernel('normMoments', 'cpu');
    registerKernel('normMoments', 'norm-test', (...args) => {
      calls++;
      return cpu(...args);
    });
    try {
      setBackend('norm-test');
      new GroupNorm(2, 4).forward(x4([2, 4, 2, 2]));
      expect(calls).toBe(1);
    } finally {
      setBackend('cpu');
      unregisterKernel('normMoments', 'norm-test');
    }
  });

  it('a backend with no norm kernels runs the fused cpu kernels, not the composed path', () => {
    registerBackend('no-norm-kernels');
    const fused = getKernel('normForward', 'cpu');
    let calls = 0;
    registerKernel('normForward', 'cpu', (...args) => {
      calls++;
      return fused(...args);
    });
    try {
      setBackend('no-norm-kernels');
      new GroupNorm(2, 4).forward(x4([2, 4, 2, 2]));
      expect(calls).toBe(1);
    } finally {
      setBackend('cpu');
      registerKernel('normForward', 'cpu', fused);
    }
  });
});

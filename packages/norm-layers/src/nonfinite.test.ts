/**
 * Running statistics never become non-finite: a training batch with NaN, ±Infinity, or values
 * whose variance does not fit the float32 buffers (|x| ~ 1e30) is not folded in, is counted in
 * the layer's `skippedStatisticsUpdates` and warned once; a later clean batch updates normally.
 */
import { Variable } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { type Shape, Tensor, TensorError, getBackend, randn } from '@normlab/tensor';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchGroupNorm, BatchNorm1d, BatchNorm2d, HybridNorm, InstanceNorm2d, NormLayerError, setWarningHandler } from './index.js';
import { snapshot } from './test-utils/index.js';

type StatsLayer = Module & { skippedStatisticsUpdates: number; forward(x: Variable): Variable };

interface LayerCase {
  name: string;
  make: (options?: { checkFinite?: boolean; dtype?: 'float32' | 'float64' }) => StatsLayer;
  shape: Shape;
  /** GN runs before the batch statistics (HybridNorm): huge inputs arrive normalized. */
  normalizesFirst?: boolean;
}

const LAYERS: LayerCase[] = [
  { name: 'BatchNorm2d', make: (o) => new BatchNorm2d(4, o), shape: [3, 4, 3, 3] },
  { name: 'BatchNorm2d, cumulative average', make: (o) => new BatchNorm2d(4, { ...o, momentum: null }), shape: [3, 4, 3, 3] },
  { name: 'BatchNorm1d (N, C)', make: (o) => new BatchNorm1d(4, o), shape: [6, 4] },
  { name: 'BatchNorm1d (N, C, L)', make: (o) => new BatchNorm1d(4, o), shape: [3, 4, 5] },
  { name: 'InstanceNorm2d', make: (o) => new InstanceNorm2d(4, { ...o, trackRunningStats: true, affine: true }), shape: [3, 4, 3, 3] },
  { name: 'BatchGroupNorm', make: (o) => new BatchGroupNorm(2, 4, o), shape: [3, 4, 3, 3] },
  { name: 'HybridNorm', make: (o) => new HybridNorm(2, 4, o), shape: [3, 4, 3, 3], normalizesFirst: true },
  { name: 'HybridNorm, per-channel blend', make: (o) => new HybridNorm(2, 4, { ...o, blend: 'channel' }), shape: [3, 4, 3, 3], normalizesFirst: true },
];

/** One bad value at a fixed index of an otherwise clean batch, or every value near 1e30. */
const BAD: Record<string, (t: Tensor) => Tensor> = {
  NaN: (t) => withValue(t, 5, Number.NaN),
  '+Infinity': (t) => withValue(t, 5, Number.POSITIVE_INFINITY),
  '-Infinity': (t) => withValue(t, 5, Number.NEGATIVE_INFINITY),
  '1e30': (t) => {
    const d = Float32Array.from(t.data, (x) => x * 1e30);
    expect(d.every(Number.isFinite)).toBe(true); // finite in float32: only the variance overflows
    return new Tensor(d, t.shape);
  },
};

function withValue(t: Tensor, i: number, x: number): Tensor {
  const c = t.clone();
  c.data[i] = x;
  return c;
}

/**
 * The gpu backend (this suite also runs there: `test:norm-layers-on-gpu` in @normlab/gpu) takes
 * statistics in float32 on the device, where the variance of values near 1e30 is already
 * Infinity: skipped and reported as not finite rather than as beyond float32's range.
 */
const onGpu = () => getBackend() === 'gpu';
const hugeReport = () => (onGpu() ? /are not finite \(the variance of (channel|group) \d+ is (Infinity|NaN)\)/ : /are beyond float32's range \(3\.4e38\) of the running statistics \(the variance of (channel|group) \d+ is [\d.]+e\+\d+\)/);

const batch = (shape: Shape, seed: number) => new Variable(randn(shape, { seed, mean: 0.5, std: 2 }));

let warnings: string[] = [];
function captureWarnings(): void {
  warnings = [];
  setWarningHandler((m) => warnings.push(m));
}
afterEach(() => setWarningHandler(undefined));

function allFinite(m: Module): boolean {
  return m.buffers().every((b) => Array.from(b.contiguous().data).every(Number.isFinite));
}

function std(d: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < d.length; i++) {
    s += d[i]!;
    s2 += d[i]! * d[i]!;
  }
  return Math.sqrt(s2 / d.length - (s / d.length) ** 2);
}

describe.each(LAYERS)('$name: running statistics under non-finite and huge input', (c) => {
  it.each(Object.keys(BAD))('a training batch with %s', (kind) => {
    captureWarnings();
    const first = batch(c.shape, 1);
    const clean = batch(c.shape, 3);
    const bad = new Variable(BAD[kind]!(randn(c.shape, { seed: 2, mean: 0.5, std: 2 })));
    // `ref` never sees the bad batch; `m` sees it between the same two clean batches.
    const ref = c.make();
    const m = c.make();
    ref.forward(first);
    m.forward(first);
    const before = snapshot(m);
    m.forward(bad);
    expect(allFinite(m)).toBe(true);
    if (kind === '1e30' && c.normalizesFirst) {
      // HybridNorm's batch stage sees GN's output, which is normalized: nothing to skip.
      expect(m.skippedStatisticsUpdates).toBe(0);
      expect(warnings).toEqual([]);
      expect(snapshot(m)).not.toEqual(before);
      m.eval();
      const y = m.forward(bad).data.data;
      expect(Array.from(y).every(Number.isFinite)).toBe(true);
      // (On the gpu backend GN's float32 variance of such values is Infinity, so u and y are 0.)
      if (!onGpu()) {
        expect(std(y)).toBeGreaterThan(0.1);
        expect(std(y)).toBeLessThan(10);
      }
      return;
    }
    // Not folded in at all (num_batches_tracked included), counted, and warned once.
    expect(snapshot(m)).toEqual(before);
    expect(m.skippedStatisticsUpdates).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(kind === '1e30' ? hugeReport() : /are not finite/);
    expect(warnings[0]).toContain('skippedStatisticsUpdates');
    // A second bad batch: counted, not warned again.
    m.forward(bad);
    expect(m.skippedStatisticsUpdates).toBe(2);
    expect(warnings).toHaveLength(1);
    // The next clean batch updates exactly as if the bad ones had never come.
    ref.forward(clean);
    m.forward(clean);
    expect(snapshot(m)).toEqual(snapshot(ref));
    expect(snapshot(m)).not.toEqual(before);
    // Eval: finite and normalized (the statistics are the clean batches').
    m.eval();
    ref.eval();
    const test = batch(c.shape, 4);
    const y = m.forward(test).data.data;
    expect(Array.from(y)).toEqual(Array.from(ref.forward(test).data.data));
    expect(Array.from(y).every(Number.isFinite)).toBe(true);
    expect(std(y)).toBeGreaterThan(0.3);
    expect(std(y)).toBeLessThan(3);
  });

  it('checkFinite: true makes a batch whose statistics do not fit the buffers an error, statistics untouched', () => {
    captureWarnings();
    const m = c.make({ checkFinite: true });
    m.forward(batch(c.shape, 1));
    const before = snapshot(m);
    const huge = new Variable(BAD['1e30']!(randn(c.shape, { seed: 2 })));
    if (c.normalizesFirst) {
      m.forward(huge);
      expect(m.skippedStatisticsUpdates).toBe(0);
      return;
    }
    let err: unknown;
    try {
      m.forward(huge);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NormLayerError);
    expect(err).toBeInstanceOf(TensorError);
    expect((err as Error).message).toMatch(hugeReport());
    expect((err as Error).message).toContain('running statistics were left as they were');
    expect(snapshot(m)).toEqual(before);
    expect(m.skippedStatisticsUpdates).toBe(0);
    expect(warnings).toEqual([]);
  });

  it("float64 buffers (dtype: 'float64') keep statistics of values near 1e30", () => {
    captureWarnings();
    const m = c.make({ dtype: 'float64' });
    m.forward(new Variable(BAD['1e30']!(randn(c.shape, { seed: 2 }))));
    expect(m.skippedStatisticsUpdates).toBe(0);
    expect(allFinite(m)).toBe(true);
    expect(warnings).toEqual([]);
  });
});

describe('the warning', () => {
  it('is sent once per layer kind and reason to the installed handler; a new handler starts afresh', () => {
    captureWarnings();
    const nan = (shape: Shape) => new Variable(BAD.NaN!(randn(shape, { seed: 9 })));
    const a = new BatchNorm2d(4);
    const b = new BatchNorm2d(4);
    a.forward(nan([2, 4, 2, 2]));
    b.forward(nan([2, 4, 2, 2]));
    new HybridNorm(2, 4).forward(nan([2, 4, 2, 2]));
    expect(a.skippedStatisticsUpdates + b.skippedStatisticsUpdates).toBe(2);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^normlab norm-layers: BatchNorm2d: a training batch's statistics are not finite \(the mean of channel 1 is NaN\)/);
    expect(warnings[1]).toMatch(/^normlab norm-layers: HybridNorm: /);
    captureWarnings();
    a.forward(nan([2, 4, 2, 2]));
    expect(warnings).toHaveLength(1);
    expect(a.skippedStatisticsUpdates).toBe(2);
    expect(() => setWarningHandler('log' as never)).toThrow(NormLayerError);
    expect(() => setWarningHandler('log' as never)).toThrow(/handler must be a function or undefined, got string/);
  });

  it('a layer without running statistics (or in eval) takes no statistics to skip', () => {
    captureWarnings();
    const bn = new BatchNorm2d(4, { trackRunningStats: false });
    const y = bn.forward(new Variable(BAD.NaN!(randn([2, 4, 2, 2], { seed: 9 }))));
    expect(Number.isNaN(y.data.data[5])).toBe(true); // the output is PyTorch's: NaN in, NaN out
    expect(bn.skippedStatisticsUpdates).toBe(0);
    const ev = new BatchNorm2d(4).eval();
    ev.forward(new Variable(BAD.NaN!(randn([2, 4, 2, 2], { seed: 9 }))));
    expect(ev.skippedStatisticsUpdates).toBe(0);
    expect(warnings).toEqual([]);
  });
});

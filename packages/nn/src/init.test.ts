import { Variable } from '@normlab/autograd';
import { Rng, Tensor, zeros } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import * as init from './init.js';
import { Conv2d, Linear } from './layers.js';

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const d = t.toTypedArray();
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of d) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / d.length;
  let q = 0;
  for (const v of d) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / d.length), min, max };
}

const v = (shape: number[]) => new Variable(zeros(shape));

describe('fans and gains', () => {
  it('calculateFanInAndFanOut as PyTorch', () => {
    expect(init.calculateFanInAndFanOut([64, 32, 3, 3])).toEqual({ fanIn: 288, fanOut: 576 });
    expect(init.calculateFanInAndFanOut([10, 20])).toEqual({ fanIn: 20, fanOut: 10 });
    expect(() => init.calculateFanInAndFanOut([5])).toThrow(/at least 2 dims/);
  });
  it('calculateGain as PyTorch', () => {
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 15);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 15);
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(init.calculateGain('linear')).toBe(1);
    expect(() => init.calculateGain('swish' as never)).toThrow(/unsupported nonlinearity/);
  });
});

describe('initializer statistics (seeded, 64×128×3×3 = 73728 samples)', () => {
  const shape = [64, 128, 3, 3];
  const fanIn = 128 * 9;
  const fanOut = 64 * 9;
  it('kaimingNormal: N(0, 2/fanIn); fan_out mode', () => {
    const s = stats(init.kaimingNormal(v(shape), { seed: 1 }).data as Tensor);
    expect(Math.abs(s.mean)).toBeLessThan(0.002);
    expect(s.std / Math.sqrt(2 / fanIn)).toBeCloseTo(1, 1.5);
    const o = stats((init.kaimingNormal(v(shape), { seed: 1, mode: 'fan_out', nonlinearity: 'relu' }) as Variable).data);
    expect(o.std / Math.sqrt(2 / fanOut)).toBeCloseTo(1, 1.5);
  });
  it('kaimingUniform: bounded by √(6/fanIn), std bound/√3', () => {
    const bound = Math.sqrt(6 / fanIn);
    const s = stats((init.kaimingUniform(v(shape), { seed: 2 }) as Variable).data);
    expect(s.max).toBeLessThan(bound);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeGreaterThan(bound * 0.99);
    expect(s.std / (bound / Math.sqrt(3))).toBeCloseTo(1, 1.5);
  });
  it('xavierUniform and xavierNormal: variance 2/(fanIn + fanOut) · gain²', () => {
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    const u = stats((init.xavierUniform(v(shape), { seed: 3 }) as Variable).data);
    expect(u.max).toBeLessThan(bound);
    expect(u.min).toBeGreaterThanOrEqual(-bound);
    const n = stats((init.xavierNormal(v(shape), { seed: 4, gain: 2 }) as Variable).data);
    expect(n.std / (2 * Math.sqrt(2 / (fanIn + fanOut)))).toBeCloseTo(1, 1.5);
  });
  it('zeros, ones, constant, uniform, normal', () => {
    expect((init.ones(v([2, 2])) as Variable).data.toArray()).toEqual([[1, 1], [1, 1]]);
    expect((init.zeros(new Variable(zeros([3]).reshape([3]))) as Variable).data.toArray()).toEqual([0, 0, 0]);
    expect((init.constant(v([2]), 2.5) as Variable).data.toArray()).toEqual([2.5, 2.5]);
    const u = stats((init.uniform(v([10000]), 2, 3, { seed: 5 }) as Variable).data);
    expect(u.min).toBeGreaterThanOrEqual(2);
    expect(u.max).toBeLessThan(3);
    const n = stats((init.normal(v([10000]), 5, 0.5, { seed: 6 }) as Variable).data);
    expect(n.mean).toBeCloseTo(5, 1);
    expect(n.std).toBeCloseTo(0.5, 1);
  });
});

describe('initializer determinism and targets', () => {
  it('the same seed gives the same values, bit for bit; an Rng advances', () => {
    const a = (init.kaimingNormal(v([8, 8]), { seed: 7 }) as Variable).data.toArray();
    const b = (init.kaimingNormal(v([8, 8]), { seed: 7 }) as Variable).data.toArray();
    expect(a).toEqual(b);
    const rng = new Rng(7);
    const c = (init.kaimingNormal(v([8, 8]), { rng }) as Variable).data.toArray();
    const d = (init.kaimingNormal(v([8, 8]), { rng }) as Variable).data.toArray();
    expect(c).toEqual(a);
    expect(d).not.toEqual(c);
  });
  it('fills a contiguous Tensor in place (respecting its offset), keeps dtype', () => {
    const base = zeros([3, 4], { dtype: 'float64' });
    const row = base.slice([[1, 2], null]); // contiguous view at offset 4
    init.constant(row, 7);
    expect(base.toArray()).toEqual([[0, 0, 0, 0], [7, 7, 7, 7], [0, 0, 0, 0]]);
    const p = init.ones(new Variable(zeros([2], { dtype: 'float64' }))) as Variable;
    expect(p.data.dtype).toBe('float64');
    expect(() => init.ones(base.transpose())).toThrow(/must be contiguous/);
    expect(() => init.ones([1, 2] as never)).toThrow(/must be a Tensor or Variable/);
    expect(() => init.kaimingNormal(v([3]))).toThrow(/at least 2 dims/);
    expect(() => init.normal(v([3]), 0, -1)).toThrow(/std/);
  });
});

describe('layer default init (PyTorch)', () => {
  it('Linear weight and bias lie in ±1/√in and fill the range', () => {
    const l = new Linear(256, 64, { seed: 8 });
    const b = 1 / Math.sqrt(256);
    const w = stats(l.weight.data);
    expect(w.max).toBeLessThan(b);
    expect(w.min).toBeGreaterThanOrEqual(-b);
    expect(w.max).toBeGreaterThan(0.98 * b);
    expect(w.std / (b / Math.sqrt(3))).toBeCloseTo(1, 1);
    const bias = stats(l.bias!.data);
    expect(bias.max).toBeLessThan(b);
    expect(bias.min).toBeGreaterThanOrEqual(-b);
  });
  it('Conv2d uses fanIn = in/groups · kh · kw', () => {
    const c = new Conv2d(32, 64, 3, { groups: 4, seed: 9 });
    expect(c.weight.shape).toEqual([64, 8, 3, 3]);
    const b = 1 / Math.sqrt(8 * 9);
    const w = stats(c.weight.data);
    expect(w.max).toBeLessThan(b);
    expect(w.min).toBeGreaterThanOrEqual(-b);
    expect(w.max).toBeGreaterThan(0.98 * b);
    expect(w.std / (b / Math.sqrt(3))).toBeCloseTo(1, 1);
  });
  it('is seeded', () => {
    expect(new Linear(4, 3, { seed: 1 }).weight.data.toArray()).toEqual(new Linear(4, 3, { seed: 1 }).weight.data.toArray());
    expect(new Linear(4, 3, { seed: 1 }).weight.data.toArray()).not.toEqual(new Linear(4, 3, { seed: 2 }).weight.data.toArray());
    expect(new Linear(4, 3, { bias: false }).bias).toBeNull();
  });
});

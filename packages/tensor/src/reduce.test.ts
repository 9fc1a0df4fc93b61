import { describe, expect, it } from 'vitest';
import { arange, randn, scalar, tensor } from './creation.js';
import { AxisError, ShapeError, TensorError } from './errors.js';
import { argmax, logSoftmax, logSumExp, max, mean, min, norm, softmax, std, sum, variance } from './index.js';
import { Tensor, shapeSize } from './tensor.js';
import { indices } from './test-utils/index.js';

/**
 * Reference reduction: group the elements of `x` by their index on the kept axes (row-major
 * over kept axes) and apply `f` to each group's values in float64.
 */
function refReduce(x: Tensor, axes: number[], f: (v: number[]) => number): number[] {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => x.shape[i]!);
  const groups: number[][] = Array.from({ length: shapeSize(keptShape) }, () => []);
  for (const idx of indices(x.shape)) {
    let g = 0;
    for (const i of kept) g = g * x.shape[i]! + idx[i]!;
    groups[g]!.push(x.get(...idx));
  }
  return groups.map(f);
}

const refSum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const refMean = (v: number[]) => refSum(v) / v.length;
const refVar = (unbiased: boolean) => (v: number[]) => {
  const m = refMean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - (unbiased ? 1 : 0));
};

function expectClose(t: Tensor, values: number[], rel = 1e-6): void {
  const got = t.toTypedArray();
  expect(got.length).toBe(values.length);
  for (let i = 0; i < values.length; i++) {
    const e = values[i]!;
    if (Number.isNaN(e)) expect(got[i], `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(got[i], `element ${i}`).toBe(e);
    else if (!(Math.abs(got[i]! - e) <= rel * Math.max(1, Math.abs(e)))) expect(got[i], `element ${i}`).toBe(e);
  }
}

describe('sum / mean / max / min', () => {
  it('hand-checked small cases', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(sum(x).toArray()).toBe(21);
    expect(sum(x, 0).toArray()).toEqual([5, 7, 9]);
    expect(sum(x, -1).toArray()).toEqual([6, 15]);
    expect(sum(x, 1, true).toArray()).toEqual([[6], [15]]);
    expect(sum(x, [0, 1], true).shape).toEqual([1, 1]);
    expect(mean(x, 0).toArray()).toEqual([2.5, 3.5, 4.5]);
    expect(max(x, 1).toArray()).toEqual([3, 6]);
    expect(min(x, 0).toArray()).toEqual([1, 2, 3]);
    expect(sum(x, []).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(sum(scalar(4)).toArray()).toBe(4);
  });

  const x = randn([3, 4, 5, 2], { seed: 11 });
  const axesCases: number[][] = [[0], [1], [3], [0, 2], [1, 3], [0, 2, 3], [0, 1, 2, 3], [2]];
  for (const axes of axesCases) {
    it(`match the reference over axes [${axes}], contiguous and permuted, float32 and float64`, () => {
      for (const src of [x, x.permute(2, 0, 3, 1), x.astype('float64').slice([null, [0, 4, 2], [-4, 5], null])]) {
        const tol = src.dtype === 'float64' ? 1e-12 : 1e-5;
        expectClose(sum(src, axes), refReduce(src, axes, refSum), tol);
        expectClose(mean(src, axes), refReduce(src, axes, refMean), tol);
        expectClose(max(src, axes), refReduce(src, axes, (v) => Math.max(...v)), tol);
        expectClose(min(src, axes), refReduce(src, axes, (v) => Math.min(...v)), tol);
        expect(sum(src, axes, true).shape).toEqual(src.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
      }
    });
  }

  it('reduce an expanded view (stride 0) without materializing semantics changing', () => {
    const e = tensor([[1], [2]]).expand(2, 3);
    expect(sum(e, 1).toArray()).toEqual([3, 6]);
    expect(sum(e, 0).toArray()).toEqual([3, 3, 3]);
  });

  it('max/min propagate NaN; mean of an empty reduction is NaN, sum is 0', () => {
    expect(max(tensor([1, NaN, 3])).item()).toBeNaN();
    expect(min(tensor([[1, 2], [NaN, 0]]), 0).toArray()).toEqual([NaN, 0]);
    expect(max(tensor([[1, 2], [NaN, 0]]), 1).toArray()).toEqual([2, NaN]);
    expect(sum(tensor([], [0, 2]), 0).toArray()).toEqual([0, 0]);
    expect(mean(tensor([], [0])).item()).toBeNaN();
  });

  it('float32 input accumulates in float64', () => {
    // 1e8 + 1 + 1 + ... in float32 stays 1e8; the float64 sum does not.
    const v = new Float32Array(1001).fill(1);
    v[0] = 1e8;
    expect(sum(tensor(v)).item()).toBe(Math.fround(1e8 + 1000));
  });
});

describe('variance / std', () => {
  it('hand-checked', () => {
    const x = tensor([[1, 2, 3, 4], [2, 2, 2, 2]], undefined, { dtype: 'float64' });
    expect(variance(x, 1).toArray()).toEqual([1.25, 0]);
    expect(variance(x, 1, { unbiased: true }).toArray()).toEqual([5 / 3, 0]);
    expect(std(x, 1, { unbiased: true, keepDims: true }).toArray()).toEqual([[Math.sqrt(5 / 3)], [0]]);
    expect(variance(tensor([3]), undefined, { unbiased: true }).item()).toBeNaN();
  });

  it('match the reference over several axes, strided, biased and unbiased', () => {
    const x = randn([4, 3, 6], { seed: 12, mean: 2, std: 3, dtype: 'float64' });
    for (const axes of [[0], [2], [0, 2], [0, 1, 2]]) {
      for (const src of [x, x.transpose(0, 2).transpose(0, 2).permute(0, 1, 2), x.permute(2, 1, 0).permute(2, 1, 0)]) {
        for (const unbiased of [false, true]) {
          const want = refReduce(src, axes, refVar(unbiased));
          expectClose(variance(src, axes, { unbiased }), want, 1e-12);
          expectClose(std(src, axes, { unbiased }), want.map(Math.sqrt), 1e-12);
        }
      }
      const p = x.permute(1, 2, 0); // non-contiguous
      expect(p.isContiguous()).toBe(false);
      expectClose(variance(p, [0, 2]), refReduce(p, [0, 2], refVar(false)), 1e-12);
    }
  });

  it('large-mean float32 data (1e4 + small noise) matches a float64 reference closely', () => {
    // Naive E[x²] - E[x]² in float32 loses every digit here (1e8 vs a variance of 1e-4).
    const noise = randn([8, 512], { seed: 13, std: 0.01, dtype: 'float64' });
    const x64 = noise.astype('float64');
    const v = x64.toTypedArray();
    for (let i = 0; i < v.length; i++) v[i] += 1e4;
    const x32 = tensor(new Float32Array(v), [8, 512]);
    const ref = refReduce(x32.astype('float64'), [1], refVar(false));
    const got = variance(x32, 1).toTypedArray();
    for (let i = 0; i < 8; i++) expect(Math.abs(got[i]! - ref[i]!) / ref[i]!).toBeLessThan(1e-5);
    const all = variance(x32).item();
    const refAll = refVar(false)(Array.from(x32.toTypedArray()));
    expect(Math.abs(all - refAll) / refAll).toBeLessThan(1e-5);
    expect(all).toBeGreaterThan(0);
  });

  it('GroupNorm-style moments over (C/G, H, W) of a reshaped NCHW tensor', () => {
    const x = randn([2, 4, 3, 3], { seed: 14, dtype: 'float64' });
    const g = x.reshape(2, 2, 2, 3, 3);
    const want = refReduce(g, [2, 3, 4], refVar(false));
    expectClose(variance(g, [2, 3, 4], { keepDims: true }), want, 1e-12);
    expect(variance(g, [2, 3, 4], { keepDims: true }).shape).toEqual([2, 2, 1, 1, 1]);
  });
});

describe('argmax', () => {
  it('along an axis, first index on ties, NaN wins, flattened', () => {
    const x = tensor([[1, 5, 5], [7, 0, 7], [NaN, 9, 1]]);
    expect(argmax(x, 1).toArray()).toEqual([1, 0, 0]);
    expect(argmax(x, 0).toArray()).toEqual([2, 2, 1]);
    expect(argmax(x, 0, true).shape).toEqual([1, 3]);
    expect(argmax(tensor([[1, 5], [9, 0]])).item()).toBe(2);
    expect(argmax(tensor([[1, 5], [9, 0]]).transpose()).item()).toBe(1);
  });
  it('matches a reference on a 3-D permuted tensor', () => {
    const x = randn([3, 4, 5], { seed: 15 }).permute(1, 2, 0);
    for (const axis of [0, 1, 2]) {
      const want = refReduce(x, [axis], (v) => v.indexOf(Math.max(...v)));
      expectClose(argmax(x, axis), want, 0);
    }
  });
});

describe('softmax / logSoftmax / logSumExp', () => {
  const refSoftmaxRow = (v: number[]) => {
    const m = Math.max(...v);
    const e = v.map((a) => Math.exp(a - m));
    const s = refSum(e);
    return e.map((a) => a / s);
  };

  it('hand-checked and stable for huge logits', () => {
    const s = softmax(tensor([[0, Math.log(3)], [1000, 1000]], undefined, { dtype: 'float64' }));
    expectClose(s, [0.25, 0.75, 0.5, 0.5], 1e-15);
    const ls = logSoftmax(tensor([1000, 0], undefined, { dtype: 'float64' }));
    expectClose(ls, [0, -1000], 1e-15);
    expect(logSumExp(tensor([1000, 1000], undefined, { dtype: 'float64' })).item()).toBeCloseTo(1000 + Math.log(2), 10);
    expect(logSumExp(tensor([-Infinity, -Infinity])).item()).toBe(-Infinity);
    expect(logSumExp(tensor([Infinity, 0])).item()).toBe(Infinity);
  });

  it('match the reference along every axis, including a non-last axis of a strided view', () => {
    const x = randn([3, 4, 5], { seed: 16, std: 4, dtype: 'float64' });
    for (const src of [x, x.permute(2, 0, 1)]) {
      for (const axis of [0, 1, 2, -1]) {
        const ax = axis < 0 ? axis + 3 : axis;
        const s = softmax(src, axis);
        const ls = logSoftmax(src, axis);
        expect(s.shape).toEqual(src.shape);
        for (const idx of indices(src.shape.map((d, i) => (i === ax ? 1 : d)))) {
          const row: number[] = [];
          const got: number[] = [];
          const gotLog: number[] = [];
          for (let j = 0; j < src.shape[ax]!; j++) {
            const at = [...idx];
            at[ax] = j;
            row.push(src.get(...at));
            got.push(s.get(...at));
            gotLog.push(ls.get(...at));
          }
          const want = refSoftmaxRow(row);
          for (let j = 0; j < row.length; j++) {
            expect(got[j]).toBeCloseTo(want[j]!, 12);
            expect(gotLog[j]).toBeCloseTo(Math.log(want[j]!), 10);
          }
        }
        const lse = logSumExp(src, ax, true);
        expectClose(lse, refReduce(src, [ax], (v) => Math.log(refSum(v.map(Math.exp)))), 1e-12);
      }
    }
    expectClose(logSumExp(x, [0, 2]), refReduce(x, [0, 2], (v) => Math.log(refSum(v.map(Math.exp)))), 1e-12);
  });

  it('float32 rows sum to 1', () => {
    const s = softmax(randn([6, 10], { seed: 17, std: 10 }), 1);
    for (const v of sum(s, 1).toTypedArray()) expect(v).toBeCloseTo(1, 5);
  });
});

describe('norm', () => {
  it('L2 of all elements, on views', () => {
    expect(norm(tensor([3, 4]))).toBe(5);
    expect(norm(tensor([[3, 0], [4, 12]]).transpose())).toBe(13);
    expect(norm(arange(4).reshape(2, 2).expand(3, 2, 2))).toBeCloseTo(Math.sqrt(3 * 14), 10);
  });
});

describe('reduction errors', () => {
  const x = tensor([[1, 2], [3, 4]]);
  it('bad axes throw AxisError naming the op', () => {
    expect(() => sum(x, 2)).toThrow(AxisError);
    expect(() => sum(x, 2)).toThrow(/sum: axis 2 is out of range for a tensor of rank 2/);
    expect(() => mean(x, [0, -2])).toThrow(/mean: repeated axis/);
    expect(() => variance(x, 1.5)).toThrow(AxisError);
    expect(() => max(x, [0, 3])).toThrow(AxisError);
    expect(() => argmax(x, -3)).toThrow(AxisError);
    expect(() => softmax(x, 2)).toThrow(/softmax: axis 2/);
    expect(() => logSumExp(x, ['a' as unknown as number])).toThrow(AxisError);
  });
  it('empty max/argmax and bad options', () => {
    expect(() => max(tensor([], [0]))).toThrow(ShapeError);
    expect(() => argmax(tensor([], [2, 0]), 1)).toThrow(/argmax: cannot take argmax over zero elements/);
    expect(() => sum(x, 0, 'yes' as unknown as boolean)).toThrow(TensorError);
    expect(() => variance(x, 0, { unbiased: 1 as unknown as boolean })).toThrow(/variance: unbiased must be a boolean/);
    expect(() => sum([1, 2] as unknown as Tensor)).toThrow(/sum: x must be a Tensor/);
  });
});

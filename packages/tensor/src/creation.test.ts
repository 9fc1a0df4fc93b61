import { describe, expect, it } from 'vitest';
import { arange, fromArray, full, ones, onesLike, rand, randn, scalar, tensor, zeros, zerosLike } from './creation.js';
import { DTypeError, ShapeError, TensorError } from './errors.js';
import { Rng, manualSeed } from './rng.js';

describe('tensor()', () => {
  it('from nested arrays, flat arrays with a shape, typed arrays and numbers', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor([1, 2, 3, 4], [2, 2]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    expect(tensor(new Float64Array([1, 2]), undefined, { dtype: 'float32' }).dtype).toBe('float32');
    expect(tensor(3.5).shape).toEqual([]);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[]]).shape).toEqual([1, 0]);
  });
  it('copies its source', () => {
    const src = new Float32Array([1, 2]);
    const t = tensor(src);
    src[0] = 9;
    expect(t.data[0]).toBe(1);
  });
  it('errors: ragged, size mismatch, bad values, bad dtype', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array/);
    expect(() => tensor([1, [2]] as unknown as number[])).toThrow(ShapeError);
    expect(() => tensor([[1], 2] as unknown as number[][])).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/tensor: shape \[2,2\] needs 4 values, got 3/);
    expect(() => tensor([1, 2], [2.5])).toThrow(ShapeError);
    expect(() => tensor(['a'] as unknown as number[])).toThrow(/element 0 is not a number/);
    expect(() => tensor([1], undefined, { dtype: 'int32' as 'float32' })).toThrow(DTypeError);
    expect(() => tensor(null as unknown as number[])).toThrow(TensorError);
  });
});

describe('fromArray / full / zeros / ones / arange / scalar', () => {
  it('fromArray wraps without copying', () => {
    const a = new Float64Array([1, 2, 3, 4, 5, 6]);
    const t = fromArray(a, [3, 2]);
    expect(t.data).toBe(a);
    expect(t.dtype).toBe('float64');
    expect(fromArray(new Float32Array(3)).shape).toEqual([3]);
    expect(() => fromArray(a, [4])).toThrow(/fromArray: shape \[4\] needs 4 values, got 6/);
    expect(() => fromArray([1, 2] as unknown as Float32Array)).toThrow(TensorError);
  });
  it('filled tensors', () => {
    expect(full([2, 2], 7).toArray()).toEqual([[7, 7], [7, 7]]);
    expect(zeros([3], { dtype: 'float64' }).dtype).toBe('float64');
    expect(Array.from(ones([2]).data)).toEqual([1, 1]);
    const t = tensor([1, 2], undefined, { dtype: 'float64' });
    expect(zerosLike(t).dtype).toBe('float64');
    expect(onesLike(t).toArray()).toEqual([1, 1]);
    expect(scalar(2).shape).toEqual([]);
    expect(scalar(2, { dtype: 'float64' }).item()).toBe(2);
    expect(() => zeros([-1])).toThrow(ShapeError);
    expect(() => full([2], 1, { dtype: 'x' as 'float32' })).toThrow(DTypeError);
  });
  it('arange as torch.arange', () => {
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(1, 3).toArray()).toEqual([1, 2]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(3, 1).size).toBe(0);
    expect(arange(2, undefined, 1, { dtype: 'float64' }).dtype).toBe('float64');
    expect(() => arange(0, 1, 0)).toThrow(/arange: .*step non-zero/);
    expect(() => arange(0, Infinity)).toThrow(TensorError);
  });
});

describe('random tensors', () => {
  it('are deterministic for a seed and differ across seeds', () => {
    expect(Array.from(rand([5], { seed: 1 }).data)).toEqual(Array.from(rand([5], { seed: 1 }).data));
    expect(Array.from(randn([5], { seed: 1 }).data)).toEqual(Array.from(randn([5], { seed: 1 }).data));
    expect(Array.from(rand([5], { seed: 1 }).data)).not.toEqual(Array.from(rand([5], { seed: 2 }).data));
  });
  it('an rng option advances the generator; the default generator follows manualSeed', () => {
    const r = new Rng(3);
    const a = rand([4], { rng: r });
    const b = rand([4], { rng: r });
    expect(Array.from(a.data)).not.toEqual(Array.from(b.data));
    const r2 = new Rng(3);
    expect(Array.from(rand([8], { rng: r2 }).data)).toEqual([...a.data, ...b.data]);
    manualSeed(42);
    const d1 = randn([3]);
    manualSeed(42);
    expect(Array.from(randn([3]).data)).toEqual(Array.from(d1.data));
  });
  it('rand respects [low, high); randn has the requested moments', () => {
    const u = rand([10000], { seed: 5, low: -2, high: 3, dtype: 'float64' });
    let lo = Infinity;
    let hi = -Infinity;
    let s = 0;
    for (const x of u.data) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      s += x;
    }
    expect(lo).toBeGreaterThanOrEqual(-2);
    expect(hi).toBeLessThan(3);
    expect(s / 10000).toBeCloseTo(0.5, 1);
    const n = randn([20000], { seed: 6, mean: 3, std: 2, dtype: 'float64' });
    let m = 0;
    for (const x of n.data) m += x;
    m /= n.size;
    let v = 0;
    for (const x of n.data) v += (x - m) ** 2;
    v /= n.size;
    expect(m).toBeCloseTo(3, 1);
    expect(Math.sqrt(v)).toBeCloseTo(2, 1);
    expect(rand([2, 3], { seed: 1 }).shape).toEqual([2, 3]);
    expect(() => randn([1.5])).toThrow(ShapeError);
  });
});

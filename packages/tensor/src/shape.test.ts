import { describe, expect, it } from 'vitest';
import { arange, randn, scalar, tensor, zeros } from './creation.js';
import { AxisError, DTypeError, ShapeError, TensorError } from './errors.js';
import {
  broadcastTo, cast, concat, expand, flatten, pad, permute, reshape, slice, split, squeeze, stack, sum, sumToShape,
  transpose, unsqueeze,
} from './index.js';
import { Tensor } from './tensor.js';
import { indices } from './test-utils/index.js';

const f64 = { dtype: 'float64' as const };

describe('view ops', () => {
  const x = arange(24).reshape(2, 3, 4);
  it('reshape, permute, transpose, expand, squeeze, unsqueeze, slice delegate to the views', () => {
    expect(reshape(x, [4, -1]).shape).toEqual([4, 6]);
    expect(reshape(x, [4, -1]).data).toBe(x.data);
    expect(permute(x, [2, 0, 1]).get(3, 1, 2)).toBe(x.get(1, 2, 3));
    expect(transpose(x).shape).toEqual([2, 4, 3]);
    expect(transpose(x, 0, 2).get(3, 2, 1)).toBe(x.get(1, 2, 3));
    expect(transpose(arange(3)).shape).toEqual([3]);
    expect(expand(tensor([[1], [2]]), [2, 3]).toArray()).toEqual([[1, 1, 1], [2, 2, 2]]);
    expect(squeeze(zeros([1, 3, 1])).shape).toEqual([3]);
    expect(squeeze(zeros([1, 3, 1]), -1).shape).toEqual([1, 3]);
    expect(unsqueeze(x, 1).shape).toEqual([2, 1, 3, 4]);
    expect(slice(x, [[1, 2], null, [-2, 4]]).toArray()).toEqual([[[14, 15], [18, 19], [22, 23]]]);
  });
  it('errors', () => {
    expect(() => reshape(x, [5, 5])).toThrow(/reshape: cannot reshape \[2,3,4\]/);
    expect(() => reshape(x, [2.5, 2] as number[])).toThrow(ShapeError);
    expect(() => permute(x, [0, 1])).toThrow(AxisError);
    expect(() => permute(x, [0, 1, 1])).toThrow(/permute: repeated axis/);
    expect(() => transpose(x, 0, 3)).toThrow(AxisError);
    expect(() => expand(x, [2, 5, 4])).toThrow(/expand: cannot expand shape \[2,3,4\] to \[2,5,4\]/);
    expect(() => squeeze(x, 0)).toThrow(ShapeError);
    expect(() => unsqueeze(x, 4)).toThrow(AxisError);
    expect(() => slice(x, [null, [0, 2, 0]])).toThrow(/slice: range for axis 1/);
    expect(() => reshape(3 as unknown as Tensor, [1])).toThrow(/reshape: x must be a Tensor/);
  });
});

describe('flatten', () => {
  it('merges a range of axes, copying a non-contiguous input', () => {
    const x = arange(24).reshape(2, 3, 4);
    expect(flatten(x).shape).toEqual([24]);
    expect(flatten(x, 1).shape).toEqual([2, 12]);
    expect(flatten(x, 0, 1).shape).toEqual([6, 4]);
    expect(flatten(x, -2, -1).shape).toEqual([2, 12]);
    expect(flatten(scalar(3)).shape).toEqual([1]);
    const t = x.transpose(0, 2); // [4,3,2], non-contiguous
    expect(Array.from(flatten(t).data)).toEqual([...indices(t.shape)].map((i) => t.get(...i)));
  });
  it('errors', () => {
    const x = zeros([2, 3, 4]);
    expect(() => flatten(x, 2, 1)).toThrow(AxisError);
    expect(() => flatten(x, 3)).toThrow(/flatten: axis 3 is out of range/);
  });
});

describe('broadcastTo / sumToShape', () => {
  it('broadcastTo materializes a contiguous copy', () => {
    const b = broadcastTo(tensor([[1], [2]]), [3, 2, 2]);
    expect(b.isContiguous()).toBe(true);
    expect(b.toArray()).toEqual([[[1, 1], [2, 2]], [[1, 1], [2, 2]], [[1, 1], [2, 2]]]);
    const t = arange(6).reshape(2, 3).transpose(); // [3,2]
    expect(broadcastTo(t, [2, 3, 2]).toArray()).toEqual([t.toArray(), t.toArray()]);
  });
  it('sumToShape reduces leading and size-1 axes (the gradient of broadcasting)', () => {
    const g = arange(24, undefined, undefined, f64).reshape(2, 3, 4);
    expect(sumToShape(g, [3, 4]).toArray()).toEqual(sum(g, 0).toArray());
    expect(sumToShape(g, [3, 1]).toArray()).toEqual(sum(g, [0, 2], true).reshape(3, 1).toArray());
    expect(sumToShape(g, [1, 3, 1]).shape).toEqual([1, 3, 1]);
    expect(sumToShape(g, []).item()).toBe(276);
    expect(sumToShape(g, [2, 3, 4])).toBe(g);
    // [2,1,3] + [4,1] -> [2,4,3]: gradients reduce back to each operand's shape
    const grad = randn([2, 4, 3], { seed: 21, dtype: 'float64' });
    const ga = sumToShape(grad, [2, 1, 3]);
    const gb = sumToShape(grad, [4, 1]);
    for (const [i, , k] of indices([2, 1, 3])) {
      let s = 0;
      for (let j = 0; j < 4; j++) s += grad.get(i!, j, k!);
      expect(ga.get(i!, 0, k!)).toBeCloseTo(s, 12);
    }
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (const [i, , k] of indices([2, 1, 3])) s += grad.get(i!, j, k!);
      expect(gb.get(j, 0)).toBeCloseTo(s, 12);
    }
  });
  it('errors', () => {
    expect(() => broadcastTo(zeros([2, 3]), [3, 3])).toThrow(/broadcastTo: cannot broadcast shape \[2,3\] to \[3,3\]/);
    expect(() => broadcastTo(zeros([2, 3]), [3])).toThrow(ShapeError);
    expect(() => broadcastTo(zeros([2]), [2.5])).toThrow(ShapeError);
    expect(() => sumToShape(zeros([2, 3]), [2])).toThrow(/sumToShape: shape \[2\] does not broadcast to the tensor's shape \[2,3\]/);
    expect(() => sumToShape(zeros([3]), [1, 3])).toThrow(ShapeError);
  });
});

describe('concat / stack / split', () => {
  it('concat along each axis, strided inputs, hand-checked', () => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5, 6]]);
    expect(concat([a, b]).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(concat([a, b.transpose()], 1).toArray()).toEqual([[1, 2, 5], [3, 4, 6]]);
    expect(concat([a.transpose(), a], -1).toArray()).toEqual([[1, 3, 1, 2], [2, 4, 3, 4]]);
    expect(concat([a, tensor([], [0, 2])], 0).toArray()).toEqual([[1, 2], [3, 4]]);
  });
  it('concat matches a reference on 3-D inputs along the middle axis', () => {
    const xs = [randn([2, 1, 3], { seed: 1 }), randn([3, 2, 2], { seed: 2 }).permute(1, 0, 2).slice([null, null, [0, 1]]).expand(2, 3, 3)];
    const out = concat(xs, 1);
    expect(out.shape).toEqual([2, 4, 3]);
    for (const [i, j, k] of indices(out.shape)) {
      const want = j! < 1 ? xs[0]!.get(i!, j!, k!) : xs[1]!.get(i!, j! - 1, k!);
      expect(out.get(i!, j!, k!)).toBe(want);
    }
  });
  it('stack adds an axis', () => {
    const a = tensor([1, 2, 3]);
    const b = tensor([4, 5, 6]);
    expect(stack([a, b]).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(stack([a, b], 1).toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(stack([a, b], -1).shape).toEqual([3, 2]);
    expect(stack([scalar(1), scalar(2)]).toArray()).toEqual([1, 2]);
  });
  it('split into chunks or sizes, as views', () => {
    const x = arange(10).reshape(5, 2);
    const parts = split(x, 2);
    expect(parts.map((p) => p.shape)).toEqual([[2, 2], [2, 2], [1, 2]]);
    expect(parts[2]!.toArray()).toEqual([[8, 9]]);
    expect(parts[1]!.data).toBe(x.data);
    const cols = split(x, [1, 1], 1);
    expect(cols[1]!.toArray()).toEqual([[1], [3], [5], [7], [9]]);
    expect(concat(split(x, [2, 0, 3]), 0).toArray()).toEqual(x.toArray());
  });
  it('errors', () => {
    const a = zeros([2, 3]);
    expect(() => concat([a, zeros([2, 4])], 0)).toThrow(/concat: tensors\[0\] has shape \[2,3\] but tensors\[1\] has shape \[2,4\]/);
    expect(() => concat([a, zeros([2, 3, 1])])).toThrow(ShapeError);
    expect(() => concat([a, zeros([2, 3], f64)])).toThrow(DTypeError);
    expect(() => concat([a], 2)).toThrow(AxisError);
    expect(() => concat([])).toThrow(TensorError);
    expect(() => concat([scalar(1)])).toThrow(ShapeError);
    expect(() => stack([a, zeros([3, 2])])).toThrow(/stack: tensors\[0\] has shape \[2,3\] but tensors\[1\] has shape \[3,2\]/);
    expect(() => stack([a, a], 3)).toThrow(AxisError);
    expect(() => split(a, [1, 2])).toThrow(/split: sizes \[1,2\] add up to 3, expected axis 0 length 2/);
    expect(() => split(a, 0)).toThrow(ShapeError);
    expect(() => split(a, 1.5)).toThrow(ShapeError);
    expect(() => split(a, [1, 0.5, 0.5])).toThrow(ShapeError);
    expect(() => split(a, 1, 2)).toThrow(AxisError);
  });
});

describe('pad', () => {
  it('constant padding of all axes or trailing axes, on strided input', () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(pad(x, [[1, 0], [0, 2]]).toArray()).toEqual([[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]]);
    expect(pad(x, [[1, 1]], -1).toArray()).toEqual([[-1, 1, 2, -1], [-1, 3, 4, -1]]);
    expect(pad(x.transpose(), [[0, 1]]).toArray()).toEqual([[1, 3, 0], [2, 4, 0]]);
    const nchw = randn([2, 3, 4, 5], { seed: 3, dtype: 'float64' });
    const p = pad(nchw, [[1, 1], [2, 0]], 7);
    expect(p.shape).toEqual([2, 3, 6, 7]);
    expect(p.dtype).toBe('float64');
    for (const [n, c, h, w] of indices(p.shape)) {
      const inside = h! >= 1 && h! < 5 && w! >= 2;
      expect(p.get(n!, c!, h!, w!)).toBe(inside ? nchw.get(n!, c!, h! - 1, w! - 2) : 7);
    }
  });
  it('errors', () => {
    const x = zeros([2, 2]);
    expect(() => pad(x, [[1, 1], [1, 1], [1, 1]])).toThrow(/pad: expected at most 2 \[before, after\] pairs for shape \[2,2\], got 3/);
    expect(() => pad(x, [[-1, 0]])).toThrow(ShapeError);
    expect(() => pad(x, [[0.5, 0]])).toThrow(ShapeError);
    expect(() => pad(x, [[1] as unknown as [number, number]])).toThrow(ShapeError);
  });
});

describe('cast', () => {
  it('converts dtypes, keeping values representable in both', () => {
    const x = tensor([0.1, 2]);
    const y = cast(x, 'float64');
    expect(y.dtype).toBe('float64');
    expect(y.data[0]).toBe(Math.fround(0.1));
    expect(cast(x, 'float32')).toBe(x);
    expect(cast(tensor([0.1], undefined, f64), 'float32').data[0]).toBe(Math.fround(0.1));
    expect(cast(tensor([[1, 2], [3, 4]]).transpose(), 'float64').toArray()).toEqual([[1, 3], [2, 4]]);
  });
  it('rejects unknown dtypes', () => {
    expect(() => cast(zeros([1]), 'int32' as 'float32')).toThrow(/cast: dtype must be 'float32' or 'float64', got "int32"/);
  });
});

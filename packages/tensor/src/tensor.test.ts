import { describe, expect, it } from 'vitest';
import { arange, tensor, zeros } from './creation.js';
import { AxisError, DTypeError, ShapeError, TensorError, fmtShape } from './errors.js';
import {
  type Shape, Tensor, allocate, allocateUninitialized, checkDType, checkSameDType, checkShape, contiguousStrides, copyStrided, inferShape, normalizeAxis,
  shapeSize, shapesEqual,
} from './tensor.js';

/** Reference read through shape/strides/offset, independent of the Tensor methods. */
function readAll(t: Tensor): number[] {
  const out: number[] = [];
  const rec = (dim: number, p: number) => {
    if (dim === t.rank) {
      out.push(t.data[p]!);
      return;
    }
    for (let i = 0; i < t.shape[dim]!; i++) rec(dim + 1, p + i * t.strides[dim]!);
  };
  rec(0, t.offset);
  return out;
}

/** x[i, j, k] of arange(24).reshape(2, 3, 4) */
const v = (i: number, j: number, k: number) => i * 12 + j * 4 + k;
const shapeOf = (s: Shape) => [...s];

describe('Tensor basics', () => {
  it('constructor defaults: contiguous strides, dtype from the array, size, rank', () => {
    const t = new Tensor(new Float64Array(6), [2, 3]);
    expect(shapeOf(t.strides)).toEqual([3, 1]);
    expect(t.dtype).toBe('float64');
    expect(t.size).toBe(6);
    expect(t.rank).toBe(2);
    expect(t.isContiguous()).toBe(true);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(String(t)).toBe('Tensor(shape=[2,3], dtype=float64)');
  });

  it('helpers', () => {
    expect(contiguousStrides([2, 3, 4])).toEqual([12, 4, 1]);
    expect(contiguousStrides([])).toEqual([]);
    expect(shapeSize([])).toBe(1);
    expect(shapeSize([2, 0])).toBe(0);
    expect(shapesEqual([1, 2], [1, 2])).toBe(true);
    expect(shapesEqual([1, 2], [1])).toBe(false);
    expect(normalizeAxis('op', -1, 3)).toBe(2);
    expect(() => normalizeAxis('op', 3, 3)).toThrow(AxisError);
    expect(() => normalizeAxis('op', 0.5, 3)).toThrow(/op: axis 0.5 is out of range/);
    expect(inferShape('r', [-1, 4], 12, [12])).toEqual([3, 4]);
    expect(() => inferShape('r', [-1, -1], 12, [12])).toThrow(/only one -1/);
    expect(() => inferShape('r', [5, -1], 12, [12])).toThrow(ShapeError);
    expect(() => inferShape('r', [0, -1], 0, [0])).toThrow(ShapeError);
    expect(checkShape('s', [2, 0])).toEqual([2, 0]);
    expect(() => checkShape('s', [2, -1])).toThrow(/s: shape entries must be non-negative integers/);
    expect(() => checkShape('s', [1.5])).toThrow(ShapeError);
    expect(() => checkDType('d', 'int8')).toThrow(DTypeError);
    expect(() => checkSameDType('add', zeros([1]), zeros([1], { dtype: 'float64' }))).toThrow(/add: operands have different dtypes: float32 and float64/);
    expect(fmtShape([2, 3])).toBe('[2,3]');
    const e = new ShapeError('conv2d', 'bad');
    expect(e).toBeInstanceOf(TensorError);
    expect(e.op).toBe('conv2d');
    expect(e.name).toBe('ShapeError');
    expect(e.message).toBe('conv2d: bad');
  });

  it('toArray, item, get', () => {
    const x = arange(24).reshape(2, 3, 4);
    expect(x.toArray()).toEqual([0, 1].map((i) => [0, 1, 2].map((j) => [0, 1, 2, 3].map((k) => v(i, j, k)))));
    expect(tensor(5).toArray()).toBe(5);
    expect(tensor([], [2, 0]).toArray()).toEqual([[], []]);
    expect(x.get(1, -1, -2)).toBe(v(1, 2, 2));
    expect(() => x.get(2, 0, 0)).toThrow(/get: index 2 is out of range for axis 0 of size 2/);
    expect(() => x.get(0, 0)).toThrow(ShapeError);
    expect(x.slice([[1, 2], [2, 3], [3, 4]]).item()).toBe(v(1, 2, 3));
    expect(() => x.item()).toThrow(/item: expected a tensor with one element, got shape \[2,3,4\]/);
  });

  it('clone, contiguous and astype copy views correctly', () => {
    const x = arange(24).reshape(2, 3, 4);
    const t = x.transpose(0, 2);
    const c = t.contiguous();
    expect(c.isContiguous()).toBe(true);
    expect(Array.from(c.data)).toEqual(readAll(t));
    expect(x.contiguous()).toBe(x);
    const s = x.slice([[1, 2]]); // contiguous but offset 12
    expect(s.isContiguous()).toBe(true);
    const sc = s.contiguous();
    expect(sc).not.toBe(s);
    expect(sc.offset).toBe(0);
    expect(sc.data.length).toBe(12);
    const cl = x.clone();
    cl.data[0] = 99;
    expect(x.data[0]).toBe(0);
    const d = t.astype('float64');
    expect(d.dtype).toBe('float64');
    expect(Array.from(d.data)).toEqual(readAll(t));
    expect(x.astype('float32')).toBe(x);
    expect(Array.from(t.toTypedArray())).toEqual(readAll(t));
  });

  it('copyStrided converts dtype and handles 0-d and empty tensors', () => {
    const out = new Float64Array(6);
    copyStrided(tensor([[1, 2, 3], [4, 5, 6]]).transpose(), out);
    expect(Array.from(out)).toEqual([1, 4, 2, 5, 3, 6]);
    const one = new Float32Array(1);
    copyStrided(tensor(7), one);
    expect(one[0]).toBe(7);
    copyStrided(tensor([], [3, 0]), new Float32Array(0));
    // inner stride 0 (expanded), outer strides mixed
    const e = tensor([[1], [2]]).expand(2, 3).transpose();
    const o2 = new Float32Array(6);
    copyStrided(e, o2);
    expect(Array.from(o2)).toEqual([1, 2, 1, 2, 1, 2]);
  });

  it('copyStrided copies long rows of views (a memcpy per row) and whole contiguous tensors', () => {
    const x = arange(4 * 5 * 70).reshape(4, 5, 70);
    // The element each output position must hold, read through get().
    const expected = (t: Tensor) => {
      const vals: number[] = [];
      const walk = (idx: number[]) => {
        if (idx.length === t.rank) vals.push(t.get(...idx));
        else for (let i = 0; i < t.shape[idx.length]!; i++) walk([...idx, i]);
      };
      walk([]);
      return vals;
    };
    const views = [
      x, // contiguous: one row
      x.slice([[1, 3], null, [3, 68]]), // rows of 65 with gaps between them
      x.slice([null, [1, 4]]), // rows of 3·70 merged
      x.reshape(20, 70).slice([[2, 9]]), // contiguous with an offset
      x.permute(1, 0, 2), // contiguous rows, permuted outer axes
      x.slice([null, null, [0, 70, 2]]), // stride-2 rows
      tensor([5, 6]).reshape(2, 1).expand(2, 40), // stride-0 rows
    ];
    for (const v of views) {
      for (const out of [new Float32Array(v.size), new Float64Array(v.size)]) {
        out.fill(-1);
        copyStrided(v, out);
        expect(Array.from(out)).toEqual(expected(v));
      }
      expect(Array.from(v.clone().data)).toEqual(expected(v));
    }
  });
});

describe('views', () => {
  const x = arange(24).reshape(2, 3, 4);

  it('reshape is a view of contiguous data and a copy of non-contiguous data, in row-major order', () => {
    const r = x.reshape(4, 6);
    expect(r.data).toBe(x.data);
    expect(x.reshape([6, -1]).shape).toEqual([6, 4]);
    const t = x.permute(2, 0, 1);
    const rt = t.reshape(-1);
    expect(rt.data).not.toBe(x.data);
    expect(Array.from(rt.data)).toEqual(readAll(t));
    // reshape of an offset contiguous slice keeps the offset
    const s = x.slice([[1, 2]]).reshape(3, 4);
    expect(s.toArray()).toEqual([[12, 13, 14, 15], [16, 17, 18, 19], [20, 21, 22, 23]]);
    expect(() => x.reshape(5, -1)).toThrow(/reshape: cannot reshape \[2,3,4\] \(24 elements\) to \[5,-1\]/);
  });

  it('permute and transpose', () => {
    const p = x.permute(2, 0, 1);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.data).toBe(x.data);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expect(p.get(k, i, j)).toBe(v(i, j, k));
    expect(x.permute([-1, 0, 1]).shape).toEqual([4, 2, 3]);
    expect(x.transpose().shape).toEqual([2, 4, 3]);
    expect(x.transpose().get(1, 3, 2)).toBe(v(1, 2, 3));
    expect(arange(3).transpose()).toEqual(arange(3));
    expect(() => x.permute(0, 0, 1)).toThrow(AxisError);
    expect(() => x.permute(0, 1)).toThrow(/permute: expected 3 axes/);
  });

  it('slice with steps and negative bounds, clamped ends, empty results', () => {
    const s = x.slice([null, [-2, 3], [0, 4, 2]]);
    expect(s.shape).toEqual([2, 2, 2]);
    expect(readAll(s)).toEqual([v(0, 1, 0), v(0, 1, 2), v(0, 2, 0), v(0, 2, 2), v(1, 1, 0), v(1, 1, 2), v(1, 2, 0), v(1, 2, 2)]);
    expect(s.isContiguous()).toBe(false);
    expect(x.slice([[0, 100]]).shape).toEqual([2, 3, 4]);
    expect(x.slice([null, [-100, -1]]).shape).toEqual([2, 2, 4]);
    expect(x.slice([null, null, [0, 4, 3]]).toArray()).toEqual([[[0, 3], [4, 7], [8, 11]], [[12, 15], [16, 19], [20, 23]]]);
    expect(x.slice([null, null, [1, 4, 3]]).shape).toEqual([2, 3, 1]);
    expect(x.slice([null, [2, 1]]).shape).toEqual([2, 0, 4]);
    expect(x.slice([null, [3, 5]]).size).toBe(0);
    // a slice of a slice of a permuted view
    const nested = x.permute(2, 1, 0).slice([[1, 4, 2]]).slice([null, [-1, 3]]);
    expect(nested.shape).toEqual([2, 1, 2]);
    expect(readAll(nested)).toEqual([v(0, 2, 1), v(1, 2, 1), v(0, 2, 3), v(1, 2, 3)]);
    expect(() => x.slice([null, null, null, null])).toThrow(ShapeError);
    expect(() => x.slice([[0, 2, -1]])).toThrow(/slice: range for axis 0 must be integers with a positive step/);
    expect(() => x.slice([[0.5, 2]])).toThrow(ShapeError);
  });

  it('expand repeats size-1 axes with stride 0 and adds leading axes', () => {
    const c = tensor([[1], [2], [3]]);
    const e = c.expand(2, 3, 4);
    expect(e.shape).toEqual([2, 3, 4]);
    expect(shapeOf(e.strides)).toEqual([0, 1, 0]);
    expect(e.toArray()).toEqual([0, 1].map(() => [1, 2, 3].map((r) => [r, r, r, r])));
    expect(c.expand(-1, 2).shape).toEqual([3, 2]);
    expect(c.expand([3, 1]).shape).toEqual([3, 1]);
    expect(() => c.expand(4, 2)).toThrow(/expand: cannot expand shape \[3,1\] to \[4,2\]/);
    expect(() => c.expand(2)).toThrow(ShapeError);
    expect(() => c.expand(-1, 3, 1)).toThrow(/-1 is not allowed/);
    expect(() => c.expand(3, 1.5)).toThrow(ShapeError);
    // expand of a transposed view, then a copy
    const t = tensor([[1, 2, 3]]).transpose().expand(3, 2);
    expect(t.contiguous().toArray()).toEqual([[1, 1], [2, 2], [3, 3]]);
  });

  it('squeeze and unsqueeze', () => {
    const s = x.slice([null, [1, 2]]); // [2,1,4]
    expect(s.squeeze().shape).toEqual([2, 4]);
    expect(readAll(s.squeeze())).toEqual(readAll(s));
    expect(s.squeeze(1).shape).toEqual([2, 4]);
    expect(() => s.squeeze(0)).toThrow(/squeeze: axis 0 of shape \[2,1,4\] has size 2, not 1/);
    const u = x.unsqueeze(-1);
    expect(u.shape).toEqual([2, 3, 4, 1]);
    expect(u.isContiguous()).toBe(true);
    expect(x.unsqueeze(0).shape).toEqual([1, 2, 3, 4]);
    expect(x.transpose().unsqueeze(1).reshape(-1).toArray()).toEqual(readAll(x.transpose()));
    expect(() => x.unsqueeze(5)).toThrow(AxisError);
  });
});

describe('allocateUninitialized', () => {
  it('gives an array of the dtype and length, on its own memory, for small and large sizes', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const size of [0, 5, 1 << 20]) {
        const a = allocateUninitialized(dtype, size);
        expect(a).toBeInstanceOf(dtype === 'float32' ? Float32Array : Float64Array);
        expect(a.length).toBe(size);
        expect(a.byteLength).toBe(a.buffer.byteLength); // not a slice of a shared pool
      }
    }
    // Two large arrays never alias.
    const a = allocateUninitialized('float32', 1 << 20);
    const b = allocateUninitialized('float32', 1 << 20);
    a.fill(1);
    b.fill(2);
    expect(a[12345]).toBe(1);
  });

  it('zeroes small arrays like allocate (nothing to gain there)', () => {
    expect(Array.from(allocateUninitialized('float64', 7))).toEqual(Array.from(allocate('float64', 7)));
  });
});

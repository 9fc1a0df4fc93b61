import { describe, expect, it } from 'vitest';
import { arange, fromArray, rand, randn, scalar, tensor } from './creation.js';
import { DTypeError, ShapeError, TensorError } from './errors.js';
import {
  abs, add, broadcastShapes, clamp, div, eq, exp, ge, gt, isFiniteAll, le, log, lt, maximum, minimum, mul, ne, neg,
  pow, relu, reluBackward, rsqrt, sigmoid, sign, sqrt, square, sub, tanh, where,
} from './index.js';
import { Tensor } from './tensor.js';
import { indices } from './test-utils/index.js';

/** Reference broadcast binary op: reads each operand with `get` at the broadcast index. */
function refBinary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): { shape: number[]; values: number[] } {
  const rank = Math.max(a.rank, b.rank);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a.shape[i - (rank - a.rank)] ?? 1;
    const db = b.shape[i - (rank - b.rank)] ?? 1;
    shape.push(Math.max(da, db));
  }
  const at = (t: Tensor, idx: number[]) => t.get(...idx.slice(rank - t.rank).map((k, j) => (t.shape[j] === 1 ? 0 : k)));
  const values: number[] = [];
  for (const idx of indices(shape)) values.push(f(at(a, idx), at(b, idx)));
  return { shape, values };
}

/** Compare with a relative tolerance of 10^-digits (absolute below magnitude 1). */
function expectValues(t: Tensor, shape: readonly number[], values: ArrayLike<number>, digits = 6): void {
  expect(t.shape).toEqual(shape);
  const got = t.toTypedArray();
  expect(got.length).toBe(values.length);
  const tol = 10 ** -digits;
  for (let i = 0; i < values.length; i++) {
    const e = values[i]!;
    const g = got[i]!;
    if (Number.isNaN(e)) expect(g, `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(g, `element ${i}`).toBe(e);
    else if (!(Math.abs(g - e) <= tol * Math.max(1, Math.abs(e)))) expect(g, `element ${i}`).toBe(e);
  }
}

const f32 = (v: number) => Math.fround(v);

describe('broadcastShapes', () => {
  it('follows NumPy rules', () => {
    expect(broadcastShapes([2, 1, 3], [4, 1])).toEqual([2, 4, 3]);
    expect(broadcastShapes([], [3])).toEqual([3]);
    expect(broadcastShapes([5, 1], [1, 0])).toEqual([5, 0]);
    expect(broadcastShapes([1], [1])).toEqual([1]);
  });
  it('throws ShapeError naming both shapes', () => {
    expect(() => broadcastShapes([2, 3], [4], 'add')).toThrow(ShapeError);
    expect(() => broadcastShapes([2, 3], [4], 'add')).toThrow(/add: shapes \[2,3\] and \[4\] cannot be broadcast/);
  });
});

describe('binary ops', () => {
  const a = tensor([[1, -2, 3], [4, 5, -6]]);
  const b = tensor([[2, 2, -1], [0.5, -5, 3]]);
  const cases: Array<[string, (x: Tensor | number, y: Tensor | number) => Tensor, (x: number, y: number) => number]> = [
    ['add', add, (x, y) => x + y],
    ['sub', sub, (x, y) => x - y],
    ['mul', mul, (x, y) => x * y],
    ['div', div, (x, y) => x / y],
    ['pow', pow, (x, y) => x ** y],
    ['maximum', maximum, (x, y) => Math.max(x, y)],
    ['minimum', minimum, (x, y) => Math.min(x, y)],
    ['eq', eq, (x, y) => +(x === y)],
    ['ne', ne, (x, y) => +(x !== y)],
    ['lt', lt, (x, y) => +(x < y)],
    ['le', le, (x, y) => +(x <= y)],
    ['gt', gt, (x, y) => +(x > y)],
    ['ge', ge, (x, y) => +(x >= y)],
  ];

  it('hand-checked values', () => {
    expect(add(a, b).toArray()).toEqual([[3, 0, 2], [4.5, 0, -3]]);
    expect(sub(a, b).toArray()).toEqual([[-1, -4, 4], [3.5, 10, -9]]);
    expect(mul(a, b).toArray()).toEqual([[2, -4, -3], [2, -25, -18]]);
    expect(div(a, b).toArray()).toEqual([[0.5, -1, -3], [8, -1, -2]]);
    expect(pow(a, 2).toArray()).toEqual([[1, 4, 9], [16, 25, 36]]);
    expect(maximum(a, b).toArray()).toEqual([[2, 2, 3], [4, 5, 3]]);
    expect(lt(a, b).toArray()).toEqual([[1, 1, 0], [0, 0, 1]]);
    expect(eq(a, tensor([1, 5, 3])).toArray()).toEqual([[1, 0, 1], [0, 1, 0]]);
  });

  for (const [name, op, ref] of cases) {
    it(`${name}: same shape, scalar, broadcast [2,1,3]+[4,1], non-contiguous, float64`, () => {
      const x = randn([2, 3, 4], { seed: 1 });
      const y = randn([2, 3, 4], { seed: 2 });
      // Comparisons and equality need ties: round to quarters.
      const q = (t: Tensor) => fromArray(t.toTypedArray().map((v) => Math.round(v * 4) / 4) as Float32Array, t.shape);
      const xq = q(x);
      const yq = name === 'pow' ? q(rand([2, 3, 4], { seed: 3, low: 0.5, high: 2 })) : q(y);
      const xp = name === 'pow' ? abs(xq) : xq;
      let r = refBinary(xp, yq, (u, v) => f32(ref(u, v)));
      expectValues(op(xp, yq), r.shape, r.values, 5);
      // tensor with scalar, both sides
      r = refBinary(xp, scalar(0.75), (u, v) => f32(ref(u, v)));
      expectValues(op(xp, 0.75), r.shape, r.values, 5);
      r = refBinary(scalar(0.75), yq, (u, v) => f32(ref(u, v)));
      expectValues(op(0.75, yq), r.shape, r.values, 5);
      // [2,1,3] with [4,1] -> [2,4,3]
      const p = q(randn([2, 1, 3], { seed: 4 }));
      const s = q(rand([4, 1], { seed: 5, low: 0.5, high: 1.5 }));
      const pp = name === 'pow' ? abs(p) : p;
      r = refBinary(pp, s, (u, v) => f32(ref(u, v)));
      expect(r.shape).toEqual([2, 4, 3]);
      expectValues(op(pp, s), r.shape, r.values, 5);
      r = refBinary(s, pp, (u, v) => f32(ref(u, v)));
      expectValues(op(s, pp), r.shape, r.values, 5);
      // Non-contiguous operands: a transposed view, a strided slice and an expanded view.
      const t = xp.permute(2, 0, 1); // [4,2,3]
      const sl = q(randn([4, 4, 6], { seed: 6 })).slice([null, [-3, 4, 2], [0, 6, 2]]); // [4,2,3]
      const slp = name === 'pow' ? abs(sl) : sl;
      expect(t.isContiguous()).toBe(false);
      r = refBinary(t, slp, (u, v) => f32(ref(u, v)));
      expectValues(op(t, slp), r.shape, r.values, 5);
      const ex = q(rand([2, 1], { seed: 10, low: 0.5, high: 1.5 })).expand(2, 3); // stride-0 columns
      r = refBinary(t, ex, (u, v) => f32(ref(u, v)));
      expectValues(op(t, ex), r.shape, r.values, 5);
      // float64 keeps full precision
      const x64 = xp.astype('float64');
      const y64 = yq.astype('float64');
      const o64 = op(x64, y64);
      expect(o64.dtype).toBe('float64');
      r = refBinary(x64, y64, ref);
      expectValues(o64, r.shape, r.values, 12);
      expect(op(x64, 0.1).dtype).toBe('float64');
    });
  }

  it('a number takes the tensor dtype (float32 rounding of the scalar)', () => {
    const x = tensor([1]);
    expect(mul(x, 0.1).data[0]).toBe(f32(0.1));
    expect(mul(x.astype('float64'), 0.1).data[0]).toBe(0.1);
  });

  it('maximum/minimum propagate NaN; comparisons with NaN are false', () => {
    const x = tensor([NaN, 1, 2]);
    const y = tensor([0, NaN, 1]);
    expectValues(maximum(x, y), [3], [NaN, NaN, 2]);
    expectValues(minimum(x, y), [3], [NaN, NaN, 1]);
    expect(lt(x, y).toArray()).toEqual([0, 0, 0]);
    expect(ne(x, y).toArray()).toEqual([1, 1, 1]);
  });

  it('broadcasts to zero-size outputs and 0-d operands', () => {
    expect(add(tensor([], [0, 3]), tensor([1, 2, 3])).shape).toEqual([0, 3]);
    expect(add(scalar(2), scalar(3)).toArray()).toBe(5);
  });

  it('errors: shape mismatch, dtype mismatch, non-tensors', () => {
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(ShapeError);
    expect(() => mul(tensor([[1, 2, 3]]), tensor([[1], [2]]).expand(2, 2))).toThrow(/mul: shapes \[1,3\] and \[2,2\]/);
    expect(() => sub(tensor([1]), tensor([1], undefined, { dtype: 'float64' }))).toThrow(DTypeError);
    expect(() => add(1, 2)).toThrow(TensorError);
    expect(() => add([1, 2] as unknown as Tensor, 1)).toThrow(/add: a must be a Tensor/);
  });
});

describe('unary ops', () => {
  const xs = [-3, -0.5, 0, 0.25, 2, 50, -50];
  const refs: Array<[string, (x: Tensor) => Tensor, (x: number) => number]> = [
    ['neg', neg, (x) => -x],
    ['exp', exp, Math.exp],
    ['log', log, Math.log],
    ['sqrt', sqrt, Math.sqrt],
    ['rsqrt', rsqrt, (x) => 1 / Math.sqrt(x)],
    ['abs', abs, Math.abs],
    ['square', square, (x) => x * x],
    ['sign', sign, Math.sign],
    ['relu', relu, (x) => (x > 0 ? x : 0)],
    ['sigmoid', sigmoid, (x) => 1 / (1 + Math.exp(-x))],
    ['tanh', tanh, Math.tanh],
  ];
  for (const [name, op, ref] of refs) {
    it(`${name} matches the reference in float32 and float64, contiguous and strided`, () => {
      const x64 = tensor(xs, undefined, { dtype: 'float64' });
      expectValues(op(x64), [xs.length], xs.map(ref), 12);
      const x32 = tensor(xs);
      const out32 = op(x32);
      expect(out32.dtype).toBe('float32');
      expectValues(out32, [xs.length], xs.map((v) => f32(ref(f32(v)))), 6);
      // strided: every other element of a [2, 7] transposed
      const m = tensor([xs, xs.map((v) => v / 2)]).transpose(); // [7, 2], non-contiguous
      const want = [...indices(m.shape)].map((i) => ref(m.get(...i)));
      expectValues(op(m), [7, 2], want, 5);
    });
  }

  it('sigmoid is stable for large |x| and relu keeps NaN', () => {
    const s = sigmoid(tensor([-1000, 1000], undefined, { dtype: 'float64' }));
    expect(Array.from(s.data)).toEqual([0, 1]);
    expect(isFiniteAll(s)).toBe(true);
    expect(relu(tensor([NaN])).data[0]).toBeNaN();
    expect(Array.from(relu(tensor([-Infinity, Infinity, -0, -3e38, 3e38])).data)).toEqual([0, Infinity, 0, 0, Math.fround(3e38)]);
  });

  it('reluBackward passes dy where x > 0 and 0 elsewhere (x NaN or ≤ 0, whatever dy is), in one shape', () => {
    const x = tensor([[-1, 0, 2], [NaN, 3, -0]]);
    const dy = tensor([[5, 6, 7], [8, NaN, Infinity]]);
    expect(Array.from(reluBackward(dy, x).data)).toEqual([0, 0, 7, 0, NaN, 0]);
    // Views are read through their strides.
    const xt = tensor([[1, -1], [-2, 2]]).transpose();
    expect(Array.from(reluBackward(tensor([[1, 2], [3, 4]]), xt).data)).toEqual([1, 0, 0, 4]);
    expect(() => reluBackward(tensor([1, 2]), tensor([1, 2, 3]))).toThrow(ShapeError);
    expect(() => reluBackward(tensor([1]), tensor([1], undefined, { dtype: 'float64' }))).toThrow(DTypeError);
  });

  it('clamp with one or both bounds; NaN stays NaN', () => {
    const x = tensor([-2, -0.5, 0.5, 3, NaN]);
    expectValues(clamp(x, -1, 1), [5], [-1, -0.5, 0.5, 1, NaN]);
    expectValues(clamp(x, 0), [5], [0, 0, 0.5, 3, NaN]);
    expectValues(clamp(x, undefined, 0), [5], [-2, -0.5, 0, 0, NaN]);
    expectValues(clamp(x.reshape(5, 1).expand(5, 2), 0, 1).slice([null, [1, 2]]), [5, 1], [0, 0, 0.5, 1, NaN]);
    expect(() => clamp(x)).toThrow(/clamp: at least one/);
    expect(() => clamp(x, NaN)).toThrow(TensorError);
  });

  it('unary ops reject non-tensors', () => {
    expect(() => exp(3 as unknown as Tensor)).toThrow(/exp: x must be a Tensor, got number/);
  });
});

describe('where', () => {
  it('selects with broadcasting and number operands', () => {
    const cond = tensor([[1], [0]]); // [2,1]
    const a = tensor([10, 20, 30]); // [3]
    expect(where(cond, a, -1).toArray()).toEqual([[10, 20, 30], [-1, -1, -1]]);
    expect(where(tensor([0, 2, NaN]), 1, 0).toArray()).toEqual([0, 1, 1]);
    const b64 = tensor([1, 2, 3], undefined, { dtype: 'float64' });
    expect(where(tensor([1, 0, 1]), b64, 0).dtype).toBe('float64');
  });
  it('matches a reference on strided operands', () => {
    const c = gt(randn([3, 4], { seed: 7 }), 0).transpose(); // [4,3]
    const a = randn([4, 1], { seed: 8 });
    const b = randn([3], { seed: 9 });
    const out = where(c, a, b);
    const want = [...indices([4, 3])].map(([i, j]) => (c.get(i!, j!) ? a.get(i!, 0) : b.get(j!)));
    expectValues(out, [4, 3], want);
  });
  it('errors', () => {
    expect(() => where(tensor([1, 0]), tensor([1, 2, 3]), 0)).toThrow(ShapeError);
    expect(() => where(tensor([1, 0]), tensor([1, 2]), tensor([1, 2], undefined, { dtype: 'float64' }))).toThrow(DTypeError);
  });
});

describe('isFiniteAll', () => {
  it('detects NaN and infinities, on views too', () => {
    expect(isFiniteAll(arange(10))).toBe(true);
    expect(isFiniteAll(tensor([1, NaN]))).toBe(false);
    expect(isFiniteAll(tensor([1, -Infinity]))).toBe(false);
    const m = tensor([[1, Infinity], [2, 3]]);
    expect(isFiniteAll(m.slice([null, [0, 1]]))).toBe(true);
    expect(isFiniteAll(m.transpose())).toBe(false);
    expect(isFiniteAll(tensor([], [0]))).toBe(true);
  });
});

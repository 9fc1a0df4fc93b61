import { describe, expect, it } from 'vitest';
import { randn, tensor, zeros } from './creation.js';
import { DTypeError, ShapeError } from './errors.js';
import { matmul } from './ops/linalg.js';
import { getBackend } from './registry.js';
import { type DType, Tensor } from './tensor.js';
import { expectWorstRelError } from './test-utils/index.js';
// Only this file's kernels: the test must not depend on the other op families.
import './kernels/cpu/matmul.js';

/** Naive triple loop on materialized row-major copies, in float64. */
function naiveMatmul(a: Tensor, b: Tensor): { data: Float64Array; m: number; n: number } {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const ad = a.toTypedArray();
  const bd = b.toTypedArray();
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += ad[i * k + p]! * bd[p * n + j]!;
      out[i * n + j] = s;
    }
  }
  return { data: out, m, n };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: DType): void {
  // float32 inputs are rounded but accumulated in float64: the error is ~1e-7 of the magnitudes.
  expectWorstRelError(actual, expected, dtype === 'float64' ? 1e-10 : 1e-4);
}

const DTYPES: DType[] = ['float64', 'float32'];

describe('matmul 2-D', () => {
  // Sizes straddle the micro-tile (4), the small-product cutoff, and the MC/KC/NC block edges.
  const sizes: Array<[number, number, number]> = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 4, 4],
    [17, 33, 9],
    [37, 53, 29],
    [131, 300, 270],
    [65, 257, 5],
  ];
  for (const dtype of DTYPES) {
    for (const [m, k, n] of sizes) {
      it(`${m}x${k} @ ${k}x${n} (${dtype}) matches the naive loop`, () => {
        const a = randn([m, k], { seed: m * 7 + k, dtype });
        const b = randn([k, n], { seed: n * 13 + k, dtype });
        const out = matmul(a, b);
        expect(out.shape).toEqual([m, n]);
        expect(out.dtype).toBe(dtype);
        expectClose(out.toTypedArray(), naiveMatmul(a, b).data, dtype);
      });
    }
  }

  // The cpu kernel's contract. The wasm backend's SIMD GEMM accumulates in float32, as PyTorch's
  // and XNNPACK's do (docs/wasm-backend.md), so its rerun of this suite skips this one.
  it.skipIf(getBackend() !== 'cpu')('float32 accumulates in float64 (2^24 + many ones would stall in float32)', () => {
    const k = 5000;
    const av = new Float32Array(k).fill(1);
    av[0] = 2 ** 24; // in float32, 2^24 + 1 rounds back to 2^24
    const a = tensor(av, [1, k]);
    const b = tensor(new Float32Array(k).fill(1), [k, 1]);
    expect(matmul(a, b).item()).toBe(Math.fround(2 ** 24 + k - 1));
  });

  for (const [ta, tb] of [[true, false], [false, true], [true, true]] as const) {
    it(`transposeA=${ta} transposeB=${tb} equals multiplying materialized transposes`, () => {
      const [m, k, n] = [23, 70, 41];
      const a = randn(ta ? [k, m] : [m, k], { seed: 1, dtype: 'float64' });
      const b = randn(tb ? [n, k] : [k, n], { seed: 2, dtype: 'float64' });
      const out = matmul(a, b, { transposeA: ta, transposeB: tb });
      const aT = ta ? a.transpose().contiguous() : a;
      const bT = tb ? b.transpose().contiguous() : b;
      expect(out.shape).toEqual([m, n]);
      expectClose(out.toTypedArray(), naiveMatmul(aT, bT).data, 'float64');
    });
  }

  it('reads strided views (slices with steps, transposes) without requiring contiguity', () => {
    const base = randn([40, 60], { seed: 5, dtype: 'float64' });
    const a = base.slice([[1, 40, 3], [2, 50, 2]]); // 13 x 24, non-unit strides and an offset
    const b = randn([30, 24], { seed: 6, dtype: 'float64' }).transpose(); // 24 x 30
    const out = matmul(a, b);
    expectClose(out.toTypedArray(), naiveMatmul(a.contiguous(), b.contiguous()).data, 'float64');
  });

  it('handles K = 0 (zeros) and M = 0 (empty)', () => {
    const out = matmul(zeros([3, 0]), zeros([0, 4]));
    expect(out.shape).toEqual([3, 4]);
    expect([...out.toTypedArray()]).toEqual(new Array(12).fill(0));
    expect(matmul(zeros([0, 5]), zeros([5, 2])).shape).toEqual([0, 2]);
  });
});

describe('matmul 1-D and batched (torch.matmul semantics)', () => {
  it('vector · vector is a 0-d dot product', () => {
    const out = matmul(tensor([1, 2, 3]), tensor([4, 5, 6]));
    expect(out.shape).toEqual([]);
    expect(out.item()).toBe(32);
  });

  it('vector @ matrix and matrix @ vector drop the promoted axis', () => {
    const m = tensor([[1, 2], [3, 4], [5, 6]]);
    const vm = matmul(tensor([1, 1, 1]), m);
    expect(vm.shape).toEqual([2]);
    expect(vm.toArray()).toEqual([9, 12]);
    const mv = matmul(m, tensor([1, -1]));
    expect(mv.shape).toEqual([3]);
    expect(mv.toArray()).toEqual([-1, -1, -1]);
  });

  it('batched @ vector and vector @ batched', () => {
    const a = randn([2, 3, 4, 5], { seed: 9, dtype: 'float64' });
    const v = randn([5], { seed: 10, dtype: 'float64' });
    const out = matmul(a, v);
    expect(out.shape).toEqual([2, 3, 4]);
    const w = randn([4], { seed: 11, dtype: 'float64' });
    const out2 = matmul(w, a);
    expect(out2.shape).toEqual([2, 3, 5]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const ai = a.slice([[i, i + 1], [j, j + 1]]).reshape([4, 5]);
        expectClose(out.slice([[i, i + 1], [j, j + 1]]).toTypedArray(), naiveMatmul(ai, v.reshape([5, 1])).data, 'float64');
        expectClose(out2.slice([[i, i + 1], [j, j + 1]]).toTypedArray(), naiveMatmul(w.reshape([1, 4]), ai).data, 'float64');
      }
    }
  });

  it('broadcasts batch axes: (2,1,5,7) @ (3,7,4) → (2,3,5,4)', () => {
    const a = randn([2, 1, 5, 7], { seed: 3, dtype: 'float64' });
    const b = randn([3, 7, 4], { seed: 4, dtype: 'float64' });
    const out = matmul(a, b);
    expect(out.shape).toEqual([2, 3, 5, 4]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const ai = a.slice([[i, i + 1]]).reshape([5, 7]);
        const bj = b.slice([[j, j + 1]]).reshape([7, 4]);
        expectClose(out.slice([[i, i + 1], [j, j + 1]]).toTypedArray(), naiveMatmul(ai, bj).data, 'float64');
      }
    }
  });

  it('batched with transposeB (attention-style q @ kᵀ)', () => {
    const q = randn([3, 6, 8], { seed: 12, dtype: 'float32' });
    const k = randn([3, 9, 8], { seed: 13, dtype: 'float32' });
    const out = matmul(q, k, { transposeB: true });
    expect(out.shape).toEqual([3, 6, 9]);
    for (let i = 0; i < 3; i++) {
      const qi = q.slice([[i, i + 1]]).reshape([6, 8]);
      const kiT = k.slice([[i, i + 1]]).reshape([9, 8]).transpose().contiguous();
      expectClose(out.slice([[i, i + 1]]).toTypedArray(), naiveMatmul(qi, kiT).data, 'float32');
    }
  });
});

describe('matmul errors', () => {
  it('names the op and both shapes on an inner-dimension mismatch', () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(ShapeError);
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(/matmul: .*\[2,3\].*\[4,5\].*K = 3.*4/);
    expect(() => matmul(zeros([3, 2]), zeros([3, 5]), { transposeA: false })).toThrow(/matmul/);
  });

  it('rejects batch axes that do not broadcast', () => {
    expect(() => matmul(zeros([2, 3, 4]), zeros([3, 4, 5]))).toThrow(/matmul: batch dimensions \[2\] .* \[3\]/);
  });

  it('rejects 0-d operands and mixed dtypes', () => {
    expect(() => matmul(zeros([]), zeros([3]))).toThrow(ShapeError);
    expect(() => matmul(zeros([2, 2]), zeros([2, 2], { dtype: 'float64' }))).toThrow(DTypeError);
  });
});

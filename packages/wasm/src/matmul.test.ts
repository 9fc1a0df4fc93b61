import { Tensor, fallbackLog, clearFallbackLog, getBackend, matmul, randn, setBackend } from '@normlab/tensor';
import { afterEach, describe, expect, it } from 'vitest';
import { wasmInfo } from './index.js';

/** Run `fn` with backend `name` active. */
function on<T>(name: string, fn: () => T): T {
  const before = getBackend();
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(before);
  }
}

/** Max |a − b| / (1 + |b|): float32 sums against the cpu kernels' float64 sums. */
function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = a.contiguous().data;
  const y = b.contiguous().data;
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  return worst;
}

afterEach(() => setBackend('wasm'));

describe('backend wasm', () => {
  it('is active after import and runs matmul in wasm', () => {
    expect(getBackend()).toBe('wasm');
    clearFallbackLog();
    matmul(randn([3, 5], { seed: 1 }), randn([5, 7], { seed: 2 }));
    expect(fallbackLog().filter((f) => f.op === 'matmul')).toEqual([]);
    expect(wasmInfo().ready).toBe(true);
  });

  it('sends float64 to cpu, with the reason recorded', () => {
    clearFallbackLog();
    const y = matmul(randn([4, 4], { seed: 1, dtype: 'float64' }), randn([4, 4], { seed: 2, dtype: 'float64' }));
    expect(y.dtype).toBe('float64');
    expect(fallbackLog()).toContainEqual({ op: 'matmul', backend: 'wasm', reason: 'float64 tensors run on cpu (the wasm kernels are float32)' });
  });
});

describe('matmul on wasm matches cpu', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1], [3, 5, 7], [4, 8, 8], [5, 9, 17], [17, 300, 33], [64, 64, 64], [65, 257, 70], [130, 520, 9], [2, 0, 3],
  ];
  for (const [m, k, n] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`${m}×${k}·${k}×${n}${ta ? ' Aᵀ' : ''}${tb ? ' Bᵀ' : ''}`, () => {
          const a = randn(ta ? [k, m] : [m, k], { seed: m * 31 + k });
          const b = randn(tb ? [n, k] : [k, n], { seed: n * 17 + k });
          const want = on('cpu', () => matmul(a, b, { transposeA: ta, transposeB: tb }));
          const got = matmul(a, b, { transposeA: ta, transposeB: tb });
          expect(got.shape).toEqual(want.shape);
          expect(maxRelDiff(got, want)).toBeLessThan(1e-5 * Math.sqrt(k + 1));
        });
      }
    }
  }

  it('batched, with a broadcast batch operand and sliced views', () => {
    const a = randn([2, 3, 6, 10], { seed: 5 });
    const b = randn([3, 10, 11], { seed: 6 });
    const want = on('cpu', () => matmul(a, b));
    expect(maxRelDiff(matmul(a, b), want)).toBeLessThan(1e-5);
    const big = randn([20, 30], { seed: 7 });
    const slice = big.slice([[2, 12], [5, 25, 2]]);
    const w = randn([10, 4], { seed: 8 });
    expect(maxRelDiff(matmul(slice, w), on('cpu', () => matmul(slice, w)))).toBeLessThan(1e-5);
  });

  it('gives the same bits for every thread count (one thread in vitest: see test/threads-check.mjs)', () => {
    const a = randn([37, 45], { seed: 9 });
    const b = randn([45, 29], { seed: 10 });
    expect(Array.from(matmul(a, b).data)).toEqual(Array.from(matmul(a, b).data));
  });
});

import { describe, expect, it } from 'vitest';
import { randn, tensor, zeros } from './creation.js';
import { ShapeError, TensorError } from './errors.js';
import {
  type AvgPool2dOptions,
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool2d,
  maxPool2d,
  maxPool2dBackward,
} from './ops/pool.js';
import type { DType, Tensor } from './tensor.js';
import './kernels/cpu/pool.js';

type P = number | readonly [number, number];
const two = (v: P | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Naive pooling over explicit windows with bounds tests; max returns argmax plane positions. */
function naivePool(x: Tensor, o: { kernelSize: P; stride?: P; padding?: P; countIncludePad?: boolean }) {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [kh, kw] = two(o.kernelSize, 1);
  const [sh, sw] = two(o.stride, 0).map((s, i) => (s === 0 ? [kh, kw][i]! : s)) as [number, number];
  const [ph, pw] = two(o.padding, 0);
  const HO = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const WO = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const xd = x.toTypedArray();
  const max = new Float64Array(N * C * HO * WO);
  const arg = new Int32Array(N * C * HO * WO);
  const avg = new Float64Array(N * C * HO * WO);
  const windows: number[][] = []; // flat input positions of each output's window
  for (let p = 0; p < N * C; p++) {
    for (let oh = 0; oh < HO; oh++) {
      for (let ow = 0; ow < WO; ow++) {
        const oi = (p * HO + oh) * WO + ow;
        let best = -Infinity;
        let bi = -1;
        let s = 0;
        const win: number[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const ih = oh * sh - ph + i;
            const iw = ow * sw - pw + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = xd[p * H * W + ih * W + iw]!;
            win.push(p * H * W + ih * W + iw);
            s += v;
            if (v > best) {
              best = v;
              bi = ih * W + iw;
            }
          }
        }
        max[oi] = best;
        arg[oi] = bi;
        avg[oi] = s / (o.countIncludePad === false ? win.length : kh * kw);
        windows.push(win);
      }
    }
  }
  return { max, arg, avg, windows, shape: [N, C, HO, WO] };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: DType): void {
  expect(actual.length).toBe(expected.length);
  const tol = dtype === 'float64' ? 1e-12 : 1e-5;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    if (Math.abs(actual[i]! - e) > tol * (1 + Math.abs(e))) {
      expect.fail(`element ${i}: got ${actual[i]}, expected ${e}`);
    }
  }
}

const CASES: Array<{ x: [number, number, number, number]; o: AvgPool2dOptions }> = [
  { x: [2, 3, 8, 8], o: { kernelSize: 2 } },
  { x: [1, 2, 7, 9], o: { kernelSize: 3, stride: 2, padding: 1 } },
  { x: [2, 2, 9, 6], o: { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1] } },
  { x: [1, 3, 5, 5], o: { kernelSize: 3, stride: 1, padding: 1 } },
  { x: [1, 1, 7, 7], o: { kernelSize: 4, stride: 3, padding: 2 } },
];

describe('maxPool2d / avgPool2d against naive windows', () => {
  for (const dtype of ['float64', 'float32'] as DType[]) {
    for (const c of CASES) {
      const label = `${JSON.stringify(c.o)} on [${c.x}] (${dtype})`;
      it(`maxPool2d ${label}`, () => {
        const x = randn(c.x, { seed: 21, dtype });
        const ref = naivePool(x, c.o);
        const { output, indices } = maxPool2d(x, c.o);
        expect(output.shape).toEqual(ref.shape);
        expect(output.dtype).toBe(dtype);
        expectClose(output.toTypedArray(), ref.max, dtype);
        expect([...indices]).toEqual([...ref.arg]);

        // Backward: each gradient lands on its window's argmax; overlapping windows add up.
        const dy = randn(ref.shape, { seed: 22, dtype });
        const dx = maxPool2dBackward(dy, indices, c.x);
        const want = new Float64Array(x.size);
        const g = dy.toTypedArray();
        const plane = c.x[2] * c.x[3];
        for (let i = 0; i < g.length; i++) want[Math.floor(i / (ref.shape[2]! * ref.shape[3]!)) * plane + ref.arg[i]!] += g[i]!;
        expectClose(dx.toTypedArray(), want, dtype);
      });

      for (const countIncludePad of [true, false]) {
        it(`avgPool2d countIncludePad=${countIncludePad} ${label}`, () => {
          const o = { ...c.o, countIncludePad };
          const x = randn(c.x, { seed: 23, dtype });
          const ref = naivePool(x, o);
          const y = avgPool2d(x, o);
          expect(y.shape).toEqual(ref.shape);
          expectClose(y.toTypedArray(), ref.avg, dtype);

          const dy = randn(ref.shape, { seed: 24, dtype });
          const dx = avgPool2dBackward(dy, c.x, o);
          const want = new Float64Array(x.size);
          const g = dy.toTypedArray();
          const [kh, kw] = two(c.o.kernelSize as P, 1);
          ref.windows.forEach((win, i) => {
            for (const pos of win) want[pos] += g[i]! / (countIncludePad ? kh * kw : win.length);
          });
          expectClose(dx.toTypedArray(), want, dtype);
        });
      }
    }
  }

  it('maxPool2d: padding never wins, even when every value is negative', () => {
    const x = tensor([-5, -4, -3, -2], [1, 1, 2, 2]);
    const { output, indices } = maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 });
    expect(output.toArray()).toEqual([[[[-5, -4, -4], [-3, -2, -2], [-3, -2, -2]]]]);
    expect([...indices]).toEqual([0, 1, 1, 2, 3, 3, 2, 3, 3]);
  });

  it('maxPool2d propagates NaN like PyTorch', () => {
    const x = tensor([1, NaN, 3, 4, 5, 6, 7, 8], [1, 1, 2, 4]);
    const { output, indices } = maxPool2d(x, { kernelSize: 2 });
    const out = output.toTypedArray();
    expect(Number.isNaN(out[0])).toBe(true);
    expect(out[1]).toBe(8);
    expect([...indices]).toEqual([1, 7]);
  });

  // The 2×2/stride-2 and 3×3 kernels are unrolled compare chains that detect NaN by the window
  // sum; values drawn from {−∞, −1, 0, 1, +∞, NaN} make ties, +∞ + −∞ sums and NaN land at every
  // window position, against a scan with PyTorch's rule (first NaN wins, else first maximum).
  for (const o of [
    { kernelSize: 2 },
    { kernelSize: 3, stride: 2, padding: 1 },
    { kernelSize: 3, stride: 1, padding: 1 },
    { kernelSize: 3, stride: 3 },
  ] as AvgPool2dOptions[]) {
    it(`maxPool2d unrolled path ${JSON.stringify(o)}: ties, ±Infinity and NaN`, () => {
      const [N, C, H, W] = [2, 3, 9, 11];
      const pick = [-Infinity, -1, 0, 1, Infinity, NaN, 0, 1];
      let state = 12345;
      const vals = Array.from({ length: N * C * H * W }, () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        // Mostly finite values, NaN in about 1 of 8 positions.
        return pick[(state >>> 8) % pick.length]!;
      });
      const x = tensor(vals, [N, C, H, W]);
      const [kh, kw] = two(o.kernelSize, 1);
      const [sh, sw] = o.stride === undefined ? [kh, kw] : two(o.stride, 1);
      const [ph, pw] = two(o.padding, 0);
      const { output, indices } = maxPool2d(x, o);
      const [, , HO, WO] = output.shape as [number, number, number, number];
      const got = output.toTypedArray();
      let nanWindows = 0;
      for (let p = 0; p < N * C; p++) {
        for (let oh = 0; oh < HO; oh++) {
          for (let ow = 0; ow < WO; ow++) {
            let best = -Infinity;
            let bi = -1;
            let nan = false;
            for (let i = 0; i < kh && !nan; i++) {
              for (let j = 0; j < kw; j++) {
                const ih = oh * sh - ph + i;
                const iw = ow * sw - pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const v = vals[p * H * W + ih * W + iw]!;
                if (bi < 0 || v > best || Number.isNaN(v)) {
                  best = v;
                  bi = ih * W + iw;
                }
                if (Number.isNaN(v)) {
                  nan = true;
                  break;
                }
              }
            }
            const oi = (p * HO + oh) * WO + ow;
            if (nan) nanWindows++;
            expect(Object.is(got[oi], best) || (Number.isNaN(got[oi]) && nan), `output ${oi}`).toBe(true);
            expect(indices[oi], `index ${oi}`).toBe(bi);
          }
        }
      }
      expect(nanWindows).toBeGreaterThan(0);
    });
  }

  it('maxPool2d reads non-contiguous input', () => {
    const x = randn([2, 4, 6, 6], { seed: 30, dtype: 'float64' }).permute(1, 0, 2, 3);
    const ref = naivePool(x.contiguous(), { kernelSize: 2 });
    expectClose(maxPool2d(x, { kernelSize: 2 }).output.toTypedArray(), ref.max, 'float64');
  });
});

describe('globalAvgPool2d', () => {
  it('averages each plane in float64 to (N, C, 1, 1)', () => {
    const x = randn([3, 4, 5, 7], { seed: 31, dtype: 'float32' });
    const y = globalAvgPool2d(x);
    expect(y.shape).toEqual([3, 4, 1, 1]);
    const d = x.toTypedArray();
    const out = y.toTypedArray();
    for (let p = 0; p < 12; p++) {
      let s = 0;
      for (let i = 0; i < 35; i++) s += d[p * 35 + i]!;
      expect(out[p]).toBeCloseTo(s / 35, 6);
    }
  });
  it('is exact for a large constant plane in float32 (no float32 accumulation drift)', () => {
    const x = tensor(new Float32Array(512 * 512).fill(0.1), [1, 1, 512, 512]);
    expect(globalAvgPool2d(x).item()).toBe(Math.fround(0.1));
  });
  it('rejects rank != 4 and empty planes', () => {
    expect(() => globalAvgPool2d(zeros([2, 3, 4]))).toThrow(/globalAvgPool2d: input must have rank 4 .*\[2,3,4\]/);
    expect(() => globalAvgPool2d(zeros([2, 3, 0, 4]))).toThrow(ShapeError);
  });
});

describe('pooling errors', () => {
  const x = zeros([1, 2, 5, 5]);
  it('rejects rank != 4', () => {
    expect(() => maxPool2d(zeros([2, 5, 5]), { kernelSize: 2 })).toThrow(/maxPool2d: input must have rank 4 .*\[2,5,5\]/);
    expect(() => avgPool2d(zeros([5, 5]), { kernelSize: 2 })).toThrow(ShapeError);
  });
  it('rejects bad kernel, stride and padding', () => {
    expect(() => maxPool2d(x, { kernelSize: 0 })).toThrow(/maxPool2d: kernelSize must be an integer ≥ 1/);
    expect(() => maxPool2d(x, { kernelSize: 2, stride: 0 })).toThrow(/stride/);
    expect(() => avgPool2d(x, { kernelSize: 2, padding: 2 })).toThrow(/avgPool2d: padding \[2,2\] must be at most half the kernel size \[2,2\]/);
    expect(() => maxPool2d(x, { kernelSize: 7 })).toThrow(/maxPool2d: kernel \[7,7\] is larger than the padded input \[5,5\]/);
    expect(() => maxPool2d(x, undefined as unknown as { kernelSize: number })).toThrow(TensorError);
  });
  it('backward kernels validate gradOutput and indices', () => {
    const { output, indices } = maxPool2d(x, { kernelSize: 2 });
    expect(() => maxPool2dBackward(output, indices.subarray(1), [1, 2, 5, 5])).toThrow(/maxPool2dBackward: indices must be an Int32Array/);
    const bad = indices.slice();
    bad[0] = 25;
    expect(() => maxPool2dBackward(output, bad, [1, 2, 5, 5])).toThrow(/index 25 .* outside the 5×5 input plane/);
    expect(() => maxPool2dBackward(output, indices, [1, 3, 5, 5])).toThrow(ShapeError);
    expect(() => avgPool2dBackward(zeros([1, 2, 3, 3]), [1, 2, 5, 5], { kernelSize: 2 })).toThrow(/avgPool2dBackward: gradOutput must have the pooling's output shape \[1,2,2,2\], got \[1,2,3,3\]/);
  });
});

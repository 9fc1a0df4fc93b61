import { type Conv2dOptions, Tensor, clearFallbackLog, conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, fallbackLog, getBackend, randn, setBackend } from '@normlab/tensor';
import { afterEach, describe, expect, it } from 'vitest';
import './index.js';

function on<T>(name: string, fn: () => T): T {
  const before = getBackend();
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(before);
  }
}

/** Max |a − b| / (1 + |b|). */
function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = a.contiguous().data;
  const y = b.contiguous().data;
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  return worst;
}

afterEach(() => setBackend('wasm'));

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias: boolean;
  options: Conv2dOptions;
}

const cases: Case[] = [
  { name: '3×3 pad 1', x: [2, 3, 9, 9], w: [4, 3, 3, 3], bias: true, options: { padding: 1 } },
  { name: '3×3 stride 2 pad 1 (even input)', x: [3, 5, 14, 14], w: [7, 5, 3, 3], bias: false, options: { stride: 2, padding: 1 } },
  { name: '3×3 stride 2 pad 1, 4×4 input, 10 images (two chunks)', x: [10, 6, 4, 4], w: [9, 6, 3, 3], bias: true, options: { stride: 2, padding: 1 } },
  { name: '1×1', x: [2, 8, 5, 6], w: [3, 8, 1, 1], bias: true, options: {} },
  { name: '5×3 dilation 2, stride [1, 2], pad [2, 1]', x: [2, 3, 11, 10], w: [4, 3, 5, 3], bias: false, options: { stride: [1, 2], padding: [2, 1], dilation: 2 } },
  { name: 'groups 2', x: [2, 4, 7, 7], w: [6, 2, 3, 3], bias: true, options: { padding: 1, groups: 2 } },
  { name: 'depthwise', x: [2, 4, 6, 6], w: [4, 1, 3, 3], bias: false, options: { padding: 1, groups: 4 } },
  { name: 'many channels, 28×28 (cnn first layers)', x: [3, 16, 28, 28], w: [70, 16, 3, 3], bias: false, options: { padding: 1 } },
  { name: 'no padding, kernel as large as the input', x: [2, 2, 3, 3], w: [2, 2, 3, 3], bias: true, options: {} },
  { name: 'Winograd with several tile blocks (deep input, odd sizes)', x: [1, 260, 13, 11], w: [5, 260, 3, 3], bias: true, options: { padding: 1 } },
  { name: 'one image, 1 input channel', x: [1, 1, 28, 28], w: [32, 1, 3, 3], bias: false, options: { padding: 1 } },
];

describe('conv2d kernels on wasm match cpu', () => {
  for (const c of cases) {
    it(c.name, () => {
      const x = randn(c.x, { seed: 1 });
      const w = randn(c.w, { seed: 2 });
      const b = c.bias ? randn([c.w[0]], { seed: 3 }) : null;
      const yShape = conv2dOutputShape(c.x, c.w, c.options);
      const dy = randn(yShape, { seed: 4 });
      const tol = 2e-5 * Math.sqrt(c.w[1] * c.w[2] * c.w[3] + 1);
      clearFallbackLog();
      const y = conv2d(x, w, b, c.options);
      const dx = conv2dBackwardInput(dy, w, c.x, c.options);
      const dw = conv2dBackwardWeight(dy, x, c.w, c.options);
      expect(fallbackLog().filter((f) => f.op.startsWith('conv2d'))).toEqual([]);
      on('cpu', () => {
        expect(maxRelDiff(y, conv2d(x, w, b, c.options))).toBeLessThan(tol);
        expect(maxRelDiff(dx, conv2dBackwardInput(dy, w, c.x, c.options))).toBeLessThan(tol);
        // The weight gradient sums over N·Ho·Wo positions.
        const tolW = 2e-5 * Math.sqrt(c.x[0] * yShape[2]! * yShape[3]! + 1);
        expect(maxRelDiff(dw, conv2dBackwardWeight(dy, x, c.w, c.options))).toBeLessThan(tolW);
      });
    });
  }

  it('takes strided views (a permuted input) and empty batches', () => {
    const x = randn([2, 7, 7, 3], { seed: 5 }).permute(0, 3, 1, 2);
    const w = randn([4, 3, 3, 3], { seed: 6 });
    expect(maxRelDiff(conv2d(x, w, null, { padding: 1 }), on('cpu', () => conv2d(x, w, null, { padding: 1 })))).toBeLessThan(1e-5);
    const empty = randn([0, 3, 5, 5], { seed: 7 });
    expect(conv2d(empty, w, null, { padding: 1 }).shape).toEqual([0, 4, 5, 5]);
    const dw = conv2dBackwardWeight(randn([0, 4, 5, 5], { seed: 8 }), empty, [4, 3, 3, 3], { padding: 1 });
    expect(Array.from(dw.data)).toEqual(new Array(4 * 27).fill(0));
  });
});

import { describe, expect, it } from 'vitest';
import { randn, zeros } from './creation.js';
import { DTypeError, ShapeError, TensorError } from './errors.js';
import {
  type Conv2dOptions,
  col2im,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  im2col,
} from './ops/conv.js';
import { expectWorstRelError } from './test-utils/index.js';
import type { DType, Tensor } from './tensor.js';
import './kernels/cpu/conv.js';

interface Geo {
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; g: number;
}

function geo(o: Conv2dOptions): Geo {
  const p = (v: number | readonly [number, number] | undefined, d: number): [number, number] =>
    v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  const [sh, sw] = p(o.stride, 1);
  const [ph, pw] = p(o.padding, 0);
  const [dh, dw] = p(o.dilation, 1);
  return { sh, sw, ph, pw, dh, dw, g: o.groups ?? 1 };
}

/**
 * Direct convolution: for every output element, every tap, with explicit bounds tests; also
 * returns the input and weight gradients for a given output gradient by the same loops.
 */
function directConv(x: Tensor, w: Tensor, bias: Tensor | null, o: Conv2dOptions, dy?: Tensor) {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [F, Cg, KH, KW] = w.shape as [number, number, number, number];
  const { sh, sw, ph, pw, dh, dw, g: G } = geo(o);
  const HO = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const WO = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const xd = x.toTypedArray();
  const wd = w.toTypedArray();
  const bd = bias?.toTypedArray();
  const gd = dy?.toTypedArray();
  const out = new Float64Array(N * F * HO * WO);
  const dx = new Float64Array(N * C * H * W);
  const dwt = new Float64Array(F * Cg * KH * KW);
  const Fg = F / G;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const grp = Math.floor(f / Fg);
      for (let oh = 0; oh < HO; oh++) {
        for (let ow = 0; ow < WO; ow++) {
          const oi = ((n * F + f) * HO + oh) * WO + ow;
          let s = bd ? bd[f]! : 0;
          for (let c = 0; c < Cg; c++) {
            const ci = grp * Cg + c;
            for (let i = 0; i < KH; i++) {
              const ih = oh * sh - ph + i * dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * sw - pw + j * dw;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + ci) * H + ih) * W + iw;
                const wi = ((f * Cg + c) * KH + i) * KW + j;
                s += xd[xi]! * wd[wi]!;
                if (gd) {
                  dx[xi] += wd[wi]! * gd[oi]!;
                  dwt[wi] += xd[xi]! * gd[oi]!;
                }
              }
            }
          }
          out[oi] = s;
        }
      }
    }
  }
  return { out, shape: [N, F, HO, WO], dx, dw: dwt };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: DType): void {
  expectWorstRelError(actual, expected, dtype === 'float64' ? 1e-10 : 2e-4);
}

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  o: Conv2dOptions;
  bias?: boolean;
}

const CASES: Case[] = [
  { name: '3x3 pad 1', x: [2, 3, 7, 9], w: [5, 3, 3, 3], o: { padding: 1 }, bias: true },
  { name: '3x3 no pad, odd size', x: [1, 2, 11, 5], w: [3, 2, 3, 3], o: {} },
  { name: 'stride 2, pad 1', x: [2, 4, 9, 8], w: [6, 4, 3, 3], o: { stride: 2, padding: 1 }, bias: true },
  { name: 'stride [2,3], pad [1,2]', x: [1, 3, 10, 13], w: [4, 3, 3, 5], o: { stride: [2, 3], padding: [1, 2] } },
  { name: 'dilation 2, pad 2', x: [2, 2, 9, 10], w: [3, 2, 3, 3], o: { dilation: 2, padding: 2 } },
  { name: 'dilation [2,1] stride 2', x: [1, 3, 12, 7], w: [2, 3, 3, 2], o: { dilation: [2, 1], stride: 2, padding: [0, 1] } },
  { name: 'groups 2', x: [2, 4, 6, 7], w: [6, 2, 3, 3], o: { groups: 2, padding: 1 }, bias: true },
  { name: 'depthwise (groups = C)', x: [2, 5, 8, 6], w: [5, 1, 3, 3], o: { groups: 5, padding: 1, stride: 2 } },
  { name: 'groups 3 + dilation + stride', x: [1, 6, 11, 11], w: [9, 2, 2, 3], o: { groups: 3, dilation: 2, stride: [1, 2], padding: 1 } },
  { name: '1x1 pointwise (GEMM path)', x: [3, 8, 5, 7], w: [6, 8, 1, 1], o: {}, bias: true },
  { name: '1x1 pointwise, groups 2', x: [2, 8, 4, 5], w: [4, 4, 1, 1], o: { groups: 2 } },
  { name: '1x1 stride 2 (im2col path)', x: [2, 3, 7, 7], w: [4, 3, 1, 1], o: { stride: 2 } },
  { name: 'kernel equals padded input', x: [1, 2, 3, 4], w: [2, 2, 5, 6], o: { padding: 1 } },
  { name: 'many channels (multiple K blocks)', x: [1, 40, 6, 6], w: [9, 40, 3, 3], o: { padding: 1 } },
  // 3×3 stride 1 runs Winograd F(2×2,3×3): odd outputs (partial tiles), asymmetric padding, bias.
  { name: 'Winograd, odd output, padding [0,2]', x: [2, 5, 9, 6], w: [7, 5, 3, 3], o: { padding: [0, 2] }, bias: true },
  { name: 'Winograd, 1-pixel output', x: [1, 2, 3, 3], w: [3, 2, 3, 3], o: {} },
  { name: 'Winograd, several tile blocks (deep input)', x: [1, 200, 13, 14], w: [5, 200, 3, 3], o: { padding: 1 }, bias: true },
  // Small outputs (Ho·Wo < 256) run one GEMM over a chunk of images side by side: a 2×2 output
  // packs 64 images per chunk, so 70 images leave a 6-image remainder chunk; groups and bias too.
  { name: 'batch-merged GEMM, 2x2 output, 70 images (chunk + remainder)', x: [70, 3, 4, 4], w: [5, 3, 3, 3], o: { stride: 2, padding: 1 }, bias: true },
  { name: 'batch-merged GEMM, groups 2, stride 2', x: [9, 4, 5, 5], w: [6, 2, 3, 3], o: { groups: 2, stride: 2, padding: 1 }, bias: true },
  { name: 'batch-merged GEMM, 1x1 output', x: [5, 6, 3, 4], w: [7, 6, 3, 3], o: { stride: 2 } },
  // Ho·Wo ≥ 256 keeps one GEMM per image (implicit-im2col packer, per-image dW).
  { name: 'per-image GEMM, 5x3 kernel, 288 outputs', x: [2, 2, 18, 16], w: [3, 2, 5, 3], o: { padding: [2, 1] }, bias: true },
  { name: 'one input channel, 3x3 (im2col, not Winograd)', x: [2, 1, 28, 28], w: [4, 1, 3, 3], o: { padding: 1 }, bias: true },
  { name: 'Winograd fallback (group depth > 256)', x: [1, 257, 4, 3], w: [2, 257, 3, 3], o: { padding: 1 } },
];

describe('conv2d forward and backward against direct convolution', () => {
  for (const dtype of ['float64', 'float32'] as DType[]) {
    for (const c of CASES) {
      it(`${c.name} (${dtype})`, () => {
        const x = randn(c.x, { seed: 1, dtype });
        const w = randn(c.w, { seed: 2, dtype });
        const b = c.bias ? randn([c.w[0]], { seed: 3, dtype }) : null;
        const shape = conv2dOutputShape(c.x, c.w, c.o);
        const dy = randn(shape, { seed: 4, dtype });
        const ref = directConv(x, w, b, c.o, dy);
        expect(shape).toEqual(ref.shape);

        const y = conv2d(x, w, b, c.o);
        expect(y.shape).toEqual(ref.shape);
        expect(y.dtype).toBe(dtype);
        expectClose(y.toTypedArray(), ref.out, dtype);

        const dx = conv2dBackwardInput(dy, w, c.x, c.o);
        expect(dx.shape).toEqual(c.x);
        expectClose(dx.toTypedArray(), ref.dx, dtype);

        const dw = conv2dBackwardWeight(dy, x, c.w, c.o);
        expect(dw.shape).toEqual(c.w);
        expectClose(dw.toTypedArray(), ref.dw, dtype);
      });
    }
  }

  it('accepts non-contiguous inputs (a channel slice, a permuted weight)', () => {
    const big = randn([2, 6, 7, 7], { seed: 8, dtype: 'float64' });
    const x = big.slice([null, [1, 5]]);
    const w = randn([3, 3, 4, 5], { seed: 9, dtype: 'float64' }).permute(3, 2, 0, 1); // (5,4,3,3)
    const y = conv2d(x, w, null, { padding: 1 });
    expectClose(y.toTypedArray(), directConv(x.contiguous(), w.contiguous(), null, { padding: 1 }).out, 'float64');
  });

  it('handles a batch of zero images', () => {
    const y = conv2d(zeros([0, 3, 5, 5]), zeros([2, 3, 3, 3]), null, { padding: 1 });
    expect(y.shape).toEqual([0, 2, 5, 5]);
  });
});

describe('im2col / col2im', () => {
  const o = { stride: [2, 1] as [number, number], padding: 1, dilation: [1, 2] as [number, number] };

  it('im2col matches unfold layout (row c·kH·kW + i·kW + j, column oh·Wo + ow)', () => {
    const x = randn([2, 3, 6, 7], { seed: 11, dtype: 'float64' });
    const cols = im2col(x, [2, 3], o);
    const [ho, wo] = conv2dOutputShape([2, 3, 6, 7], [1, 3, 2, 3], o).slice(2) as [number, number];
    expect(cols.shape).toEqual([2, 3 * 2 * 3, ho * wo]);
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 3; j++) {
            for (let oh = 0; oh < ho; oh++) {
              for (let ow = 0; ow < wo; ow++) {
                const ih = oh * 2 - 1 + i;
                const iw = ow - 1 + j * 2;
                const v = ih >= 0 && ih < 6 && iw >= 0 && iw < 7 ? x.get(n, c, ih, iw) : 0;
                expect(cols.get(n, (c * 2 + i) * 3 + j, oh * wo + ow)).toBe(v);
              }
            }
          }
        }
      }
    }
  });

  for (const dtype of ['float64', 'float32'] as DType[]) {
    it(`col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)> (${dtype})`, () => {
      const x = randn([2, 3, 6, 7], { seed: 12, dtype });
      const cols = im2col(x, [2, 3], o);
      const c = randn(cols.shape, { seed: 13, dtype });
      const back = col2im(c, [6, 7], [2, 3], o);
      expect(back.shape).toEqual([2, 3, 6, 7]);
      const dot = (p: Tensor, q: Tensor) => {
        const a = p.toTypedArray();
        const b = q.toTypedArray();
        let s = 0;
        for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
        return s;
      };
      const lhs = dot(cols, c);
      const rhs = dot(x, back);
      expect(Math.abs(lhs - rhs) / (1 + Math.abs(lhs))).toBeLessThan(dtype === 'float64' ? 1e-12 : 1e-5);
    });
  }

  it('col2im validates the column count', () => {
    expect(() => col2im(zeros([1, 12, 5]), [4, 4], [2, 2])).toThrow(/col2im: columns \[1,12,5\] must have L = 3·3 = 9/);
    expect(() => col2im(zeros([1, 7, 9]), [4, 4], [2, 2])).toThrow(ShapeError);
  });
});

describe('conv2d errors', () => {
  const x = zeros([2, 4, 8, 8]);
  it('rejects rank != 4 with the shape', () => {
    expect(() => conv2d(zeros([4, 8, 8]), zeros([2, 4, 3, 3]))).toThrow(/conv2d: input must have rank 4 .*got shape \[4,8,8\]/);
    expect(() => conv2d(x, zeros([2, 4, 3]))).toThrow(/conv2d: weight must have rank 4/);
  });
  it('rejects a channel mismatch naming both shapes', () => {
    expect(() => conv2d(x, zeros([2, 3, 3, 3]))).toThrow(/conv2d: channel mismatch: input \[2,4,8,8\] has 4 channels, weight \[2,3,3,3\] expects 3/);
  });
  it('rejects groups that do not divide the channels', () => {
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { groups: 3 })).toThrow(/conv2d: groups 3 must divide the input channels 4/);
    expect(() => conv2d(x, zeros([3, 2, 3, 3]), null, { groups: 2 })).toThrow(/groups 2 must divide the output channels 3/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { groups: 0 })).toThrow(TensorError);
  });
  it('rejects a kernel larger than the padded input', () => {
    expect(() => conv2d(x, zeros([2, 4, 11, 3]), null, { padding: 1 })).toThrow(/conv2d: kernel height 11 .* larger than the padded input height 8 \+ 2·1 = 10/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { dilation: 5 })).toThrow(/dilated to 11/);
  });
  it('rejects bad stride, padding, dilation values', () => {
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { stride: 0 })).toThrow(/conv2d: stride must be an integer ≥ 1/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { padding: -1 })).toThrow(/padding must be an integer ≥ 0/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { dilation: 1.5 })).toThrow(/dilation/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), null, { stride: [1, 2, 3] as unknown as [number, number] })).toThrow(/stride/);
  });
  it('rejects a bias of the wrong shape and mixed dtypes', () => {
    expect(() => conv2d(x, zeros([2, 4, 3, 3]), zeros([3]))).toThrow(/conv2d: bias must have shape \[2\].*got \[3\]/);
    expect(() => conv2d(x, zeros([2, 4, 3, 3], { dtype: 'float64' }))).toThrow(DTypeError);
  });
  it('backward kernels reject a gradOutput of the wrong shape', () => {
    const w = zeros([2, 4, 3, 3]);
    expect(() => conv2dBackwardInput(zeros([2, 2, 6, 5]), w, [2, 4, 8, 8])).toThrow(/conv2dBackwardInput: gradOutput must have the convolution's output shape \[2,2,6,6\], got \[2,2,6,5\]/);
    expect(() => conv2dBackwardWeight(zeros([2, 2, 6, 6]), x, [2, 4, 3], {})).toThrow(/conv2dBackwardWeight: weightShape must be 4/);
  });
});

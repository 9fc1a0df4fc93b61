/**
 * Backend `gpu` kernels for matmul and conv2d (forward and both backward kernels): the tensor
 * glue around the gpu.js kernels of `kernel-sources.ts`. Arguments arrive validated by the ops.
 */
import { Tensor, type Conv2dParams } from '@normlab/tensor';
import {
  conv2dBackwardInputKernel,
  conv2dBackwardWeightKernel,
  conv2dForwardKernel,
  matmulKernel,
} from './kernel-sources.js';
import { flatResult, runGpuKernel } from './runtime.js';

/** A contiguous float32 copy-or-view of `t`'s elements in logical row-major order. */
export function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

const EMPTY = new Float32Array(1);

function outDim(input: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

function geometry(p: Conv2dParams): Record<string, number> {
  return { sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW, dh: p.dilationH, dw: p.dilationW };
}

export function conv2dGpu(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams): Tensor {
  const [n, cin, h, w] = x.shape as [number, number, number, number];
  const [cout, cg, kh, kw] = weight.shape as [number, number, number, number];
  const ho = outDim(h, kh, p.strideH, p.padH, p.dilationH);
  const wo = outDim(w, kw, p.strideW, p.padW, p.dilationW);
  const constants = {
    n, cin, h, w, cout, cg, kh, kw, ho, wo,
    coutG: cout / p.groups,
    hasBias: bias ? 1 : 0,
    ...geometry(p),
  };
  const out = runGpuKernel(
    { name: 'conv2d', fn: conv2dForwardKernel, constants, output: [ho * wo, n * cout], maxLoop: Math.max(cg, kh, kw) },
    [f32(x), f32(weight), bias ? f32(bias) : EMPTY],
  );
  return new Tensor(flatResult(out, n * cout * ho * wo), [n, cout, ho, wo]);
}

export function conv2dBackwardInputGpu(dy: Tensor, weight: Tensor, inputShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, cin, h, w] = inputShape as [number, number, number, number];
  const [cout, cg, kh, kw] = weight.shape as [number, number, number, number];
  const ho = dy.shape[2]!;
  const wo = dy.shape[3]!;
  const constants = { n, cin, h, w, cout, cg, kh, kw, ho, wo, coutG: cout / p.groups, ...geometry(p) };
  const out = runGpuKernel(
    {
      name: 'conv2dBackwardInput',
      fn: conv2dBackwardInputKernel,
      constants,
      output: [h * w, n * cin],
      maxLoop: Math.max(cout / p.groups, kh, kw),
    },
    [f32(dy), f32(weight)],
  );
  return new Tensor(flatResult(out, n * cin * h * w), [n, cin, h, w]);
}

export function conv2dBackwardWeightGpu(dy: Tensor, x: Tensor, weightShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, cin, h, w] = x.shape as [number, number, number, number];
  const [cout, cg, kh, kw] = weightShape as [number, number, number, number];
  const ho = dy.shape[2]!;
  const wo = dy.shape[3]!;
  const constants = { n, cin, h, w, cout, cg, kh, kw, ho, wo, coutG: cout / p.groups, ...geometry(p) };
  const out = runGpuKernel(
    {
      name: 'conv2dBackwardWeight',
      fn: conv2dBackwardWeightKernel,
      constants,
      output: [cg * kh * kw, cout],
      maxLoop: Math.max(n, ho, wo),
    },
    [f32(dy), f32(x)],
  );
  return new Tensor(flatResult(out, cout * cg * kh * kw), [cout, cg, kh, kw]);
}

export function matmulGpu(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor {
  const ra = a.rank;
  const rb = b.rank;
  const batchShape = a.shape.slice(0, ra - 2);
  const batch = batchShape.reduce((s, d) => s * d, 1);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  // The op broadcasts batch axes with stride-0 views; the kernel wants each operand dense.
  const out = runGpuKernel(
    {
      name: 'matmul',
      fn: matmulKernel,
      constants: { m, k, n, ta: transposeA ? 1 : 0, tb: transposeB ? 1 : 0 },
      output: [n, batch * m],
      maxLoop: k,
    },
    [f32(a), f32(b)],
  );
  return new Tensor(flatResult(out, batch * m * n), [...batchShape, m, n]);
}

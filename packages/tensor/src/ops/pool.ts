/** 2-D pooling on NCHW tensors: max (with indices), average, global average, and their gradients. */
import { ShapeError, TensorError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { type Tensor, checkTensor } from '../tensor.js';
import type { Pair } from './conv.js';

/** Window options of `maxPool2d` (and, extended, of `avgPool2d`). */
export interface Pool2dOptions {
  /** Window size: one number for a square window, or `[kH, kW]`. */
  kernelSize: Pair;
  /** Default: `kernelSize`. */
  stride?: Pair;
  /** Implicit padding on both sides (at most half the kernel, as PyTorch). Default 0. */
  padding?: Pair;
}

/** Options of `avgPool2d`: the window plus how the border is averaged. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by kH·kW even where the window covers padding (PyTorch default: true). */
  countIncludePad?: boolean;
}

/** Pooling geometry after validation, as the kernels receive it. */
export interface Pool2dParams {
  /** Window height. */
  kernelH: number;
  /** Window width. */
  kernelW: number;
  /** Vertical step between windows. */
  strideH: number;
  /** Horizontal step between windows. */
  strideW: number;
  /** Padding rows on the top and bottom (never the maximum; zeros in an average). */
  padH: number;
  /** Padding columns on the left and right. */
  padW: number;
  /** Average pooling divides by kH·kW even over padding (true) or by the covered count (false). */
  countIncludePad: boolean;
}

/** The result of `maxPool2d`: the pooled tensor and where each maximum came from. */
export interface MaxPool2dResult {
  /** (N, C, Ho, Wo): the maximum of each window. */
  output: Tensor;
  /** For each output element, the flat position `h·W + w` of its maximum within its (n, c) plane. */
  indices: Int32Array;
}

declare module '../registry.js' {
  interface KernelSignatures {
    /** x (N, C, H, W) → the window maxima (N, C, Ho, Wo) and their positions. */
    maxPool2d: (x: Tensor, p: Pool2dParams) => MaxPool2dResult;
    /** dy (N, C, Ho, Wo) added at `indices` into a zero tensor of `inputShape`. */
    maxPool2dBackward: (dy: Tensor, indices: Int32Array, inputShape: readonly number[]) => Tensor;
    /** x (N, C, H, W) → the window means (N, C, Ho, Wo). */
    avgPool2d: (x: Tensor, p: Pool2dParams) => Tensor;
    /** dy (N, C, Ho, Wo) spread evenly over each window → dx of `inputShape`. */
    avgPool2dBackward: (dy: Tensor, inputShape: readonly number[], p: Pool2dParams) => Tensor;
    /** x (N, C, H, W) → the plane means (N, C, 1, 1). */
    globalAvgPool2d: (x: Tensor) => Tensor;
  }
}

function pair(op: string, name: string, v: Pair | undefined, min: number): [number, number] {
  const [h, w] = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < min || w < min) {
    throw new TensorError(op, `${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return [h, w];
}

/** Validate pooling options against an input shape; returns the params and the output shape. */
export function pool2dParams(
  op: string,
  inputShape: readonly number[],
  options: AvgPool2dOptions,
): {
  /** The validated geometry, as the kernels take it. */
  params: Pool2dParams;
  /** (N, C, Ho, Wo). */
  outputShape: number[];
} {
  if (inputShape.length !== 4) {
    throw new ShapeError(op, `input must have rank 4 (N, C, H, W), got shape ${fmtShape(inputShape)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new TensorError(op, `options with kernelSize are required, got ${String(options)}`);
  }
  const [kernelH, kernelW] = pair(op, 'kernelSize', options.kernelSize, 1);
  const [strideH, strideW] = options.stride === undefined ? [kernelH, kernelW] : pair(op, 'stride', options.stride, 1);
  const [padH, padW] = options.padding === undefined ? [0, 0] : pair(op, 'padding', options.padding, 0);
  if (2 * padH > kernelH || 2 * padW > kernelW) {
    throw new TensorError(op, `padding [${padH},${padW}] must be at most half the kernel size [${kernelH},${kernelW}]`);
  }
  const [n, c, h, w] = inputShape as [number, number, number, number];
  if (kernelH > h + 2 * padH || kernelW > w + 2 * padW) {
    throw new ShapeError(
      op,
      `kernel [${kernelH},${kernelW}] is larger than the padded input [${h + 2 * padH},${w + 2 * padW}] of input ${fmtShape(inputShape)}`,
    );
  }
  const ho = Math.floor((h + 2 * padH - kernelH) / strideH) + 1;
  const wo = Math.floor((w + 2 * padW - kernelW) / strideW) + 1;
  const countIncludePad = options.countIncludePad ?? true;
  return { params: { kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad }, outputShape: [n, c, ho, wo] };
}

function checkInput(op: string, x: Tensor): void {
  checkTensor(op, 'input', x);
}

/**
 * Max pooling as `torch.nn.functional.max_pool2d(..., return_indices=True)`: padding never wins
 * (it reads as −∞) and a NaN in a window propagates.
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions): MaxPool2dResult {
  checkInput('maxPool2d', x);
  const { params } = pool2dParams('maxPool2d', x.shape, options);
  return runKernel('maxPool2d', x, params);
}

/** Gradient of `maxPool2d`: each output gradient is added at the input position its index names. */
export function maxPool2dBackward(dy: Tensor, indices: Int32Array, inputShape: readonly number[]): Tensor {
  const op = 'maxPool2dBackward';
  checkTensor(op, 'gradOutput', dy);
  if (!Array.isArray(inputShape) || inputShape.length !== 4) {
    throw new ShapeError(op, `inputShape must be (N, C, H, W), got ${Array.isArray(inputShape) ? fmtShape(inputShape) : String(inputShape)}`);
  }
  if (dy.rank !== 4 || dy.shape[0] !== inputShape[0] || dy.shape[1] !== inputShape[1]) {
    throw new ShapeError(op, `gradOutput ${fmtShape(dy.shape)} must be (N, C, Ho, Wo) with N, C of input ${fmtShape(inputShape)}`);
  }
  if (!(indices instanceof Int32Array) || indices.length !== dy.size) {
    throw new ShapeError(op, `indices must be an Int32Array with one entry per gradOutput element (${dy.size}), got ${indices instanceof Int32Array ? indices.length : typeof indices}`);
  }
  const plane = inputShape[2]! * inputShape[3]!;
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (k < 0 || k >= plane) throw new ShapeError(op, `index ${k} at position ${i} is outside the ${inputShape[2]}×${inputShape[3]} input plane`);
  }
  return runKernel('maxPool2dBackward', dy, indices, [...inputShape]);
}

/** Average pooling as `torch.nn.functional.avg_pool2d` (floor mode). */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  checkInput('avgPool2d', x);
  const { params } = pool2dParams('avgPool2d', x.shape, options);
  return runKernel('avgPool2d', x, params);
}

/** Gradient of `avgPool2d` with respect to its input of shape `inputShape`. */
export function avgPool2dBackward(dy: Tensor, inputShape: readonly number[], options: AvgPool2dOptions): Tensor {
  const op = 'avgPool2dBackward';
  checkTensor(op, 'gradOutput', dy);
  const { params, outputShape } = pool2dParams(op, inputShape, options);
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== outputShape[i])) {
    throw new ShapeError(op, `gradOutput must have the pooling's output shape ${fmtShape(outputShape)}, got ${fmtShape(dy.shape)}`);
  }
  return runKernel('avgPool2dBackward', dy, [...inputShape], params);
}

/** Mean over each (n, c) plane: (N, C, H, W) → (N, C, 1, 1), accumulated in float64. */
export function globalAvgPool2d(x: Tensor): Tensor {
  const op = 'globalAvgPool2d';
  checkInput(op, x);
  if (x.rank !== 4) throw new ShapeError(op, `input must have rank 4 (N, C, H, W), got shape ${fmtShape(x.shape)}`);
  if (x.shape[2] === 0 || x.shape[3] === 0) throw new ShapeError(op, `input planes must be non-empty, got shape ${fmtShape(x.shape)}`);
  return runKernel('globalAvgPool2d', x);
}

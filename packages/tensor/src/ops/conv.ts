/**
 * 2-D convolution on NCHW tensors (PyTorch's `conv2d`, cross-correlation), its two backward
 * kernels, and `im2col`/`col2im` (PyTorch's `unfold`/`fold`). Weights are (Cout, Cin/groups, kH, kW).
 */
import { DTypeError, ShapeError, TensorError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { type Tensor, checkSameDType, checkTensor } from '../tensor.js';

/** A per-axis option: one number for both axes, or `[h, w]`. */
export type Pair = number | readonly [number, number];

/** Options of `conv2d` and its backward ops, as `torch.nn.functional.conv2d`. */
export interface Conv2dOptions {
  /** Step between output positions (default 1). */
  stride?: Pair;
  /** Zero padding added on both sides of each spatial axis (default 0). */
  padding?: Pair;
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
  /**
   * Split input and output channels into this many groups convolved separately (default 1); both channel
   * counts must divide by it.
   */
  groups?: number;
}

/** Convolution geometry after validation, as the kernels receive it. */
export interface Conv2dParams {
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Zero rows added on the top and bottom. */
  padH: number;
  /** Zero columns added on the left and right. */
  padW: number;
  /** Vertical spacing between kernel taps. */
  dilationH: number;
  /** Horizontal spacing between kernel taps. */
  dilationW: number;
  /** Channel groups. */
  groups: number;
}

declare module '../registry.js' {
  interface KernelSignatures {
    /** x (N, Cin, H, W), weight (Cout, Cin/g, kH, kW), bias (Cout) or null → (N, Cout, Ho, Wo). */
    conv2d: (x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams) => Tensor;
    /** dy (N, Cout, Ho, Wo), weight → dx of `inputShape` (N, Cin, H, W). */
    conv2dBackwardInput: (dy: Tensor, weight: Tensor, inputShape: readonly number[], p: Conv2dParams) => Tensor;
    /** dy (N, Cout, Ho, Wo), x (N, Cin, H, W) → dweight of `weightShape`. */
    conv2dBackwardWeight: (dy: Tensor, x: Tensor, weightShape: readonly number[], p: Conv2dParams) => Tensor;
    /** x (N, C, H, W) → columns (N, C·kH·kW, Ho·Wo). Groups are ignored. */
    im2col: (x: Tensor, kernelH: number, kernelW: number, p: Conv2dParams) => Tensor;
    /** columns (N, C·kH·kW, Ho·Wo) → (N, C, H, W) of `inputShape`, overlapping entries summed. */
    col2im: (cols: Tensor, inputShape: readonly number[], kernelH: number, kernelW: number, p: Conv2dParams) => Tensor;
  }
}

function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const [h, w] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : [NaN, NaN];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h! < min || w! < min) {
    throw new TensorError(op, `${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return [h!, w!];
}

/** Validate `options` into kernel parameters (groups is checked against channels by the caller). */
export function conv2dParams(op: string, options: Conv2dOptions = {}): Conv2dParams {
  const [strideH, strideW] = pair(op, 'stride', options.stride, 1, 1);
  const [padH, padW] = pair(op, 'padding', options.padding, 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', options.dilation, 1, 1);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) {
    throw new TensorError(op, `groups must be a positive integer, got ${JSON.stringify(options.groups)}`);
  }
  return { strideH, strideW, padH, padW, dilationH, dilationW, groups };
}

function checkRank4(op: string, name: string, shape: readonly number[]): void {
  if (shape.length !== 4) {
    throw new ShapeError(op, `${name} must have rank 4 (${name === 'weight' ? 'Cout, Cin/groups, kH, kW' : 'N, C, H, W'}), got shape ${fmtShape(shape)}`);
  }
}

/** Output spatial size for one axis, throwing when the dilated kernel does not fit the padded input. */
function outSize(op: string, axis: string, input: number, kernel: number, stride: number, pad: number, dilation: number, inputShape: readonly number[]): number {
  const span = dilation * (kernel - 1) + 1;
  if (span > input + 2 * pad) {
    throw new ShapeError(
      op,
      `kernel ${axis} ${kernel} (dilated to ${span}) is larger than the padded input ${axis} ${input} + 2·${pad} = ${input + 2 * pad} of input ${fmtShape(inputShape)}`,
    );
  }
  return Math.floor((input + 2 * pad - span) / stride) + 1;
}

function outputShapeOf(op: string, inputShape: readonly number[], weightShape: readonly number[], p: Conv2dParams): number[] {
  checkRank4(op, 'input', inputShape);
  checkRank4(op, 'weight', weightShape);
  const [n, cin, h, w] = inputShape as [number, number, number, number];
  const [cout, cinG, kh, kw] = weightShape as [number, number, number, number];
  if (cin % p.groups !== 0) {
    throw new ShapeError(op, `groups ${p.groups} must divide the input channels ${cin} of input ${fmtShape(inputShape)}`);
  }
  if (cout % p.groups !== 0) {
    throw new ShapeError(op, `groups ${p.groups} must divide the output channels ${cout} of weight ${fmtShape(weightShape)}`);
  }
  if (cinG * p.groups !== cin) {
    throw new ShapeError(
      op,
      `channel mismatch: input ${fmtShape(inputShape)} has ${cin} channels, weight ${fmtShape(weightShape)} expects ${cinG}·groups(${p.groups}) = ${cinG * p.groups}`,
    );
  }
  if (kh < 1 || kw < 1) throw new ShapeError(op, `kernel size must be positive, got weight ${fmtShape(weightShape)}`);
  const ho = outSize(op, 'height', h, kh, p.strideH, p.padH, p.dilationH, inputShape);
  const wo = outSize(op, 'width', w, kw, p.strideW, p.padW, p.dilationW, inputShape);
  return [n, cout, ho, wo];
}

/** The (N, Cout, Ho, Wo) shape that `conv2d` gives for these shapes and options; throws when invalid. */
export function conv2dOutputShape(inputShape: readonly number[], weightShape: readonly number[], options: Conv2dOptions = {}): number[] {
  return outputShapeOf('conv2dOutputShape', inputShape, weightShape, conv2dParams('conv2dOutputShape', options));
}

function checkFloat(op: string, name: string, t: Tensor, other: Tensor): void {
  if (t.dtype !== other.dtype) throw new DTypeError(op, `${name} is ${t.dtype} but the input is ${other.dtype}`);
}

/**
 * 2-D convolution (cross-correlation) as `torch.nn.functional.conv2d`: `x` (N, Cin, H, W),
 * `weight` (Cout, Cin/groups, kH, kW), optional `bias` (Cout) → (N, Cout, Ho, Wo) with
 * Ho = ⌊(H + 2·padH − dilationH·(kH−1) − 1) / strideH⌋ + 1.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkTensor(op, 'input', x);
  checkTensor(op, 'weight', weight);
  const p = conv2dParams(op, options);
  outputShapeOf(op, x.shape, weight.shape, p);
  checkFloat(op, 'weight', weight, x);
  if (bias !== undefined && bias !== null) {
    checkTensor(op, 'bias', bias);
    checkFloat(op, 'bias', bias, x);
    if (bias.rank !== 1 || bias.shape[0] !== weight.shape[0]) {
      throw new ShapeError(op, `bias must have shape [${weight.shape[0]}] (the output channels of weight ${fmtShape(weight.shape)}), got ${fmtShape(bias.shape)}`);
    }
  }
  return runKernel('conv2d', x, weight, bias ?? null, p);
}

function checkDy(op: string, dy: Tensor, expected: readonly number[]): void {
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(op, `gradOutput must have the convolution's output shape ${fmtShape(expected)}, got ${fmtShape(dy.shape)}`);
  }
}

/** Gradient of `conv2d` with respect to its input, of shape `inputShape`. */
export function conv2dBackwardInput(dy: Tensor, weight: Tensor, inputShape: readonly number[], options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dBackwardInput';
  checkTensor(op, 'gradOutput', dy);
  checkTensor(op, 'weight', weight);
  checkShapeArg(op, 'inputShape', inputShape);
  const p = conv2dParams(op, options);
  checkDy(op, dy, outputShapeOf(op, inputShape, weight.shape, p));
  checkSameDType(op, dy, weight);
  return runKernel('conv2dBackwardInput', dy, weight, [...inputShape], p);
}

/** Gradient of `conv2d` with respect to its weight, of shape `weightShape`. */
export function conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: readonly number[], options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dBackwardWeight';
  checkTensor(op, 'gradOutput', dy);
  checkTensor(op, 'input', x);
  checkShapeArg(op, 'weightShape', weightShape);
  const p = conv2dParams(op, options);
  checkDy(op, dy, outputShapeOf(op, x.shape, weightShape, p));
  checkSameDType(op, dy, x);
  return runKernel('conv2dBackwardWeight', dy, x, [...weightShape], p);
}

function checkShapeArg(op: string, name: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(op, `${name} must be 4 non-negative integers, got ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}`);
  }
}

/** Options of `im2col` and `col2im`, as `torch.nn.functional.unfold`/`fold`. */
export interface Im2colOptions {
  /** Step between windows (default 1). */
  stride?: Pair;
  /** Zero padding on both sides of each spatial axis (default 0). */
  padding?: Pair;
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
}

/**
 * Sliding-window patches as `torch.nn.functional.unfold`: `x` (N, C, H, W) → (N, C·kH·kW, L)
 * with row `c·kH·kW + i·kW + j` and column `oh·Wo + ow` (L = Ho·Wo); padding reads as zero.
 */
export function im2col(x: Tensor, kernelSize: Pair, options: Im2colOptions = {}): Tensor {
  const op = 'im2col';
  checkTensor(op, 'input', x);
  const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1, 1);
  const p = conv2dParams(op, { ...options, groups: 1 });
  outputShapeOf(op, x.shape, [1, x.shape[1] ?? 0, kh, kw], p);
  return runKernel('im2col', x, kh, kw, p);
}

/**
 * The adjoint of `im2col`, as `torch.nn.functional.fold`: columns (N, C·kH·kW, L) → (N, C, H, W)
 * with `outputSize` = [H, W]; entries of overlapping windows are summed.
 */
export function col2im(cols: Tensor, outputSize: Pair, kernelSize: Pair, options: Im2colOptions = {}): Tensor {
  const op = 'col2im';
  checkTensor(op, 'columns', cols);
  const [h, w] = pair(op, 'outputSize', outputSize, 1, 1);
  const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1, 1);
  const p = conv2dParams(op, { ...options, groups: 1 });
  if (cols.rank !== 3 || cols.shape[1]! % (kh * kw) !== 0) {
    throw new ShapeError(op, `columns must have shape (N, C·${kh}·${kw}, L), got ${fmtShape(cols.shape)}`);
  }
  const c = cols.shape[1]! / (kh * kw);
  const inputShape = [cols.shape[0]!, c, h, w];
  const [, , ho, wo] = outputShapeOf(op, inputShape, [1, c, kh, kw], p);
  if (cols.shape[2] !== ho! * wo!) {
    throw new ShapeError(op, `columns ${fmtShape(cols.shape)} must have L = ${ho}·${wo} = ${ho! * wo!} windows for output size [${h},${w}], got ${cols.shape[2]}`);
  }
  return runKernel('col2im', cols, inputShape, kh, kw, p);
}

/**
 * Weight initializers, as `torch.nn.init`: each fills its target in place (a `Variable` gets a new
 * tensor of the same shape and dtype; a `Tensor` is overwritten) and returns it. Random ones draw
 * from `{rng}` or a fresh `{seed}` generator (else the global one, see `manualSeed`), so the same
 * seed gives the same weights bit for bit.
 */
import { Variable } from '@normlab/autograd';
import { type Shape, Tensor, TensorError, allocate, fmtShape } from '@normlab/tensor';
import { type RngOptions, checkNumber, describe, resolveRng } from './util.js';

/** What an initializer fills: a `Variable` (a parameter; given a new tensor) or a contiguous `Tensor` (overwritten). */
export type InitTarget = Tensor | Variable;

/** The activations `calculateGain` knows, with PyTorch's names. */
export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

/** The recommended gain for a nonlinearity, as `torch.nn.init.calculate_gain`. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      checkNumber('calculateGain', 'negative slope', slope);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new TensorError('calculateGain', `unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/**
 * (fanIn, fanOut) of a weight shape, as PyTorch: dim 1 and dim 0 times the receptive field
 * (the product of the remaining dims). Needs at least 2 dims.
 */
export function calculateFanInAndFanOut(shape: Shape): {
  /** shape[1] · receptive field: the inputs feeding each output. */
  fanIn: number;
  /** shape[0] · receptive field: the outputs each input feeds. */
  fanOut: number;
} {
  if (shape.length < 2) {
    throw new TensorError('calculateFanInAndFanOut', `fan in and fan out need a tensor with at least 2 dims, got shape ${fmtShape(shape)}`);
  }
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

function shapeOf(op: string, target: InitTarget): Shape {
  if (target instanceof Variable) return target.data.shape;
  if (target instanceof Tensor) return target.shape;
  throw new TensorError(op, `target must be a Tensor or Variable, got ${describe(target)}`);
}

/**
 * Write `fill(out)`'s values into the target. A Variable gets a fresh contiguous tensor; a Tensor
 * must be contiguous (a strided view would need a scatter, which no initializer needs).
 */
function write(op: string, target: InitTarget, fill: (out: Float32Array | Float64Array) => void): InitTarget {
  if (target instanceof Variable) {
    const out = allocate(target.data.dtype, target.data.size);
    fill(out);
    target.data = new Tensor(out, target.data.shape);
    return target;
  }
  if (!target.isContiguous()) {
    throw new TensorError(op, `a Tensor target must be contiguous to be filled in place; pass the Variable, or a contiguous tensor (shape ${fmtShape(target.shape)})`);
  }
  const view = target.data.subarray(target.offset, target.offset + target.size);
  fill(view);
  return target;
}

function fillUniform(op: string, target: InitTarget, low: number, high: number, options: RngOptions): InitTarget {
  const rng = resolveRng(op, options);
  return write(op, target, (out) => {
    const span = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + span * rng.uniform();
  });
}

function fillNormal(op: string, target: InitTarget, mean: number, std: number, options: RngOptions): InitTarget {
  const rng = resolveRng(op, options);
  return write(op, target, (out) => {
    for (let i = 0; i < out.length; i++) out[i] = rng.normal(mean, std);
  });
}

/** U(low, high), as `nn.init.uniform_`. */
export function uniform(target: InitTarget, low = 0, high = 1, options: RngOptions = {}): InitTarget {
  shapeOf('uniform', target);
  checkNumber('uniform', 'low', low);
  checkNumber('uniform', 'high', high, low);
  return fillUniform('uniform', target, low, high, options);
}

/** N(mean, std²), as `nn.init.normal_`. */
export function normal(target: InitTarget, mean = 0, std = 1, options: RngOptions = {}): InitTarget {
  shapeOf('normal', target);
  checkNumber('normal', 'mean', mean);
  checkNumber('normal', 'std', std, 0);
  return fillNormal('normal', target, mean, std, options);
}

/** Every element `value`. */
export function constant(target: InitTarget, value: number): InitTarget {
  shapeOf('constant', target);
  checkNumber('constant', 'value', value);
  return write('constant', target, (out) => out.fill(value));
}

/** Every element 0, as `nn.init.zeros_`. */
export function zeros(target: InitTarget): InitTarget {
  return constant(target, 0);
}

/** Every element 1, as `nn.init.ones_`. */
export function ones(target: InitTarget): InitTarget {
  return constant(target, 1);
}

/** Options of `kaimingUniform` and `kaimingNormal`, as PyTorch's. */
export interface KaimingOptions extends RngOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu only). Default 0. */
  a?: number;
  /** `fan_in` (default) preserves the forward variance, `fan_out` the backward one. */
  mode?: 'fan_in' | 'fan_out';
  /** Default `leaky_relu` (with `a = 0` that is ReLU's gain √2), as PyTorch. */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(op: string, shape: Shape, options: KaimingOptions): number {
  const mode = options.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new TensorError(op, `mode must be 'fan_in' or 'fan_out', got '${String(mode)}'`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(shape);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) throw new TensorError(op, `cannot initialize a tensor with zero ${mode} (shape ${fmtShape(shape)})`);
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return gain / Math.sqrt(fan);
}

/** U(-b, b) with b = gain·√(3 / fan), as `nn.init.kaiming_uniform_` (He et al. 2015). */
export function kaimingUniform(target: InitTarget, options: KaimingOptions = {}): InitTarget {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform', shapeOf('kaimingUniform', target), options);
  return fillUniform('kaimingUniform', target, -bound, bound, options);
}

/** N(0, std²) with std = gain / √fan, as `nn.init.kaiming_normal_`. */
export function kaimingNormal(target: InitTarget, options: KaimingOptions = {}): InitTarget {
  const std = kaimingStd('kaimingNormal', shapeOf('kaimingNormal', target), options);
  return fillNormal('kaimingNormal', target, 0, std, options);
}

/** Options of `xavierUniform` and `xavierNormal`. */
export interface XavierOptions extends RngOptions {
  /** Scale factor (default 1; `calculateGain` gives the usual ones). */
  gain?: number;
}

function xavierStd(op: string, shape: Shape, options: XavierOptions): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(shape);
  if (fanIn + fanOut === 0) throw new TensorError(op, `cannot initialize a tensor with zero fans (shape ${fmtShape(shape)})`);
  const gain = checkNumber(op, 'gain', options.gain ?? 1, 0);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** U(-b, b) with b = gain·√(6 / (fanIn + fanOut)), as `nn.init.xavier_uniform_` (Glorot & Bengio 2010). */
export function xavierUniform(target: InitTarget, options: XavierOptions = {}): InitTarget {
  const bound = Math.sqrt(3) * xavierStd('xavierUniform', shapeOf('xavierUniform', target), options);
  return fillUniform('xavierUniform', target, -bound, bound, options);
}

/** N(0, std²) with std = gain·√(2 / (fanIn + fanOut)), as `nn.init.xavier_normal_`. */
export function xavierNormal(target: InitTarget, options: XavierOptions = {}): InitTarget {
  const std = xavierStd('xavierNormal', shapeOf('xavierNormal', target), options);
  return fillNormal('xavierNormal', target, 0, std, options);
}

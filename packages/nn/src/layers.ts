/**
 * The basic layers, with PyTorch's names, defaults and initialization. Each `forward(x)` takes
 * and returns a `Variable` and calls the differentiable op of `@normlab/autograd`, so the layer
 * only owns its parameters, its options and the checks that name it in errors.
 */
import { F, Variable } from '@normlab/autograd';
import { type Rng, ShapeError, TensorError, fmtShape, zeros } from '@normlab/tensor';
import * as init from './init.js';
import { Module, Parameter } from './module.js';
import { type RngOptions, checkNumber, checkPair, checkPositiveInt, describe, resolveRng } from './util.js';

function checkInput(layer: string, x: unknown): asserts x is Variable {
  if (!(x instanceof Variable)) throw new TensorError(layer, `input must be a Variable, got ${describe(x)}`);
}

function check4d(layer: string, x: Variable, channels?: number): void {
  if (x.shape.length !== 4) throw new ShapeError(layer, `expected input of shape (N, C, H, W), got ${fmtShape(x.shape)}`);
  if (channels !== undefined && x.shape[1] !== channels) {
    throw new ShapeError(layer, `expected ${channels} input channels, got input of shape ${fmtShape(x.shape)}`);
  }
}

/** Modules applied in order; children are named `0`, `1`, … as in PyTorch. */
export class Sequential extends Module {
  private readonly layers: Module[] = [];

  /** The modules in order, as arguments or as one array. */
  constructor(...modules: Module[] | [Module[]]) {
    super();
    const list = (modules.length === 1 && Array.isArray(modules[0]) ? modules[0] : modules) as Module[];
    for (const m of list) this.append(m);
  }

  /** Add a module at the end (named by its index). */
  append(module: Module): this {
    if (!(module instanceof Module)) {
      throw new TensorError('Sequential', `element ${this.layers.length} must be a Module, got ${describe(module)}`);
    }
    this.registerModule(String(this.layers.length), module);
    this.layers.push(module);
    return this;
  }

  /** Number of modules. */
  get length(): number {
    return this.layers.length;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): Module {
    const n = this.layers.length;
    if (!Number.isInteger(index) || index < -n || index >= n) {
      throw new TensorError('Sequential', `index ${index} is out of range for ${n} modules`);
    }
    return this.layers[index < 0 ? index + n : index]!;
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  /** Each module applied to the previous one's output. */
  forward(x: Variable): Variable {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}

/** Options of `Linear`: the bias, and the generator of the initial weights. */
export interface LinearOptions extends RngOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
}

/**
 * y = x Wᵀ + b with W of shape (out, in), as `nn.Linear`. PyTorch's default init: W by
 * kaiming_uniform with a = √5, which is U(−1/√in, 1/√in), and b from the same range.
 */
export class Linear extends Module {
  /** Size of the input's last axis. */
  readonly inFeatures: number;
  /** Size of the output's last axis. */
  readonly outFeatures: number;
  /** (outFeatures, inFeatures). */
  weight: Parameter;
  /** (outFeatures), or null with `bias: false`. */
  bias: Parameter | null;

  /** Both sizes positive integers (TensorError otherwise); `options.seed`/`rng` make the init reproducible. */
  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = checkPositiveInt('Linear', 'inFeatures', inFeatures);
    this.outFeatures = checkPositiveInt('Linear', 'outFeatures', outFeatures);
    const rng = resolveRng('Linear', options);
    this.weight = new Parameter(zeros([outFeatures, inFeatures]));
    init.kaimingUniform(this.weight, { a: Math.sqrt(5), rng });
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : (init.uniform(new Parameter(zeros([outFeatures])), -bound, bound, { rng }) as Parameter);
  }

  /** x (…, inFeatures) → (…, outFeatures); ShapeError when the last axis does not match. */
  forward(x: Variable): Variable {
    checkInput('Linear', x);
    if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== this.inFeatures) {
      throw new ShapeError('Linear', `expected input with last dim ${this.inFeatures}, got shape ${fmtShape(x.shape)}`);
    }
    return F.linear(x, this.weight, this.bias ?? undefined);
  }
}

/** Options of `Conv2d`, as `nn.Conv2d`'s, plus weight standardization and the init generator. */
export interface Conv2dOptions extends RngOptions {
  /** Step between output positions, one number or `[h, w]` (default 1). */
  stride?: number | [number, number];
  /** Zero padding on both sides of each spatial axis (default 0). */
  padding?: number | [number, number];
  /** Spacing between kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Channel groups convolved separately (default 1); both channel counts must divide by it. */
  groups?: number;
  /** Learn a per-output-channel bias (default true). */
  bias?: boolean;
  /**
   * Standardize each output filter over (in, kh, kw) before the convolution: ŵ = (w − mean) /
   * √(var + ε), biased variance (Qiao et al. 2019, "Weight Standardization"; the GN+WS baseline).
   * It is part of the graph, so gradients flow through the standardization to w.
   */
  weightStandardization?: boolean;
  /** ε of weight standardization (default 1e-5). */
  wsEps?: number;
}

/**
 * 2-D convolution over NCHW input, as `nn.Conv2d`: weight (out, in/groups, kh, kw) with PyTorch's
 * default init (kaiming_uniform, a = √5: U(−1/√fanIn, 1/√fanIn)), bias U(−1/√fanIn, 1/√fanIn)
 * where fanIn = in/groups · kh · kw.
 */
export class Conv2d extends Module {
  /** Input channels C_in. */
  readonly inChannels: number;
  /** Output channels C_out. */
  readonly outChannels: number;
  /** Kernel [kh, kw]. */
  readonly kernelSize: [number, number];
  /** Stride [h, w]. */
  readonly stride: [number, number];
  /** Zero padding [h, w]. */
  readonly padding: [number, number];
  /** Dilation [h, w]. */
  readonly dilation: [number, number];
  /** Channel groups. */
  readonly groups: number;
  /** Whether the weight is standardized per output filter before each convolution. */
  readonly weightStandardization: boolean;
  /** ε of the weight standardization. */
  readonly wsEps: number;
  /** (outChannels, inChannels/groups, kh, kw). */
  weight: Parameter;
  /** (outChannels), or null with `bias: false`. */
  bias: Parameter | null;

  /**
   * Channel counts and kernel size positive integers, both channel counts divisible by `groups`
   * (TensorError otherwise).
   */
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dOptions = {}) {
    super();
    this.inChannels = checkPositiveInt('Conv2d', 'inChannels', inChannels);
    this.outChannels = checkPositiveInt('Conv2d', 'outChannels', outChannels);
    this.kernelSize = checkPair('Conv2d', 'kernelSize', kernelSize, 1);
    this.stride = checkPair('Conv2d', 'stride', options.stride ?? 1, 1);
    this.padding = checkPair('Conv2d', 'padding', options.padding ?? 0, 0);
    this.dilation = checkPair('Conv2d', 'dilation', options.dilation ?? 1, 1);
    this.groups = checkPositiveInt('Conv2d', 'groups', options.groups ?? 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new TensorError('Conv2d', `inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${this.groups}`);
    }
    this.weightStandardization = options.weightStandardization ?? false;
    this.wsEps = checkNumber('Conv2d', 'wsEps', options.wsEps ?? 1e-5, 0, Infinity, true);
    const rng = resolveRng('Conv2d', options);
    const [kh, kw] = this.kernelSize;
    this.weight = new Parameter(zeros([outChannels, inChannels / this.groups, kh, kw]));
    init.kaimingUniform(this.weight, { a: Math.sqrt(5), rng });
    const bound = 1 / Math.sqrt((inChannels / this.groups) * kh * kw);
    this.bias = options.bias === false ? null : (init.uniform(new Parameter(zeros([outChannels])), -bound, bound, { rng }) as Parameter);
  }

  /** The weight the convolution uses: standardized per output filter when WS is on, else `weight`. */
  effectiveWeight(): Variable {
    if (!this.weightStandardization) return this.weight;
    const w = this.weight;
    const axes = [1, 2, 3];
    const centered = F.sub(w, F.mean(w, axes, true));
    const variance = F.variance(w, axes, { unbiased: false, keepDims: true });
    return F.mul(centered, F.rsqrt(F.add(variance, this.wsEps)));
  }

  /** x (N, inChannels, H, W) → (N, outChannels, Ho, Wo); ShapeError for another rank or channel count. */
  forward(x: Variable): Variable {
    checkInput('Conv2d', x);
    check4d('Conv2d', x, this.inChannels);
    return F.conv2d(x, this.effectiveWeight(), this.bias ?? undefined, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/** max(x, 0) elementwise, as `nn.ReLU`. */
export class ReLU extends Module {
  /** max(x, 0), any shape. */
  forward(x: Variable): Variable {
    checkInput('ReLU', x);
    return F.relu(x);
  }
}

/** The identity (a placeholder where a layer is switched off, e.g. `norm: 'none'`). */
export class Identity extends Module {
  /** `x` itself. */
  forward(x: Variable): Variable {
    checkInput('Identity', x);
    return x;
  }
}

/** Options of `MaxPool2d` (and, extended, of `AvgPool2d`). */
export interface PoolOptions {
  /** Default: the kernel size. */
  stride?: number | [number, number];
  /** Implicit padding on both sides, at most half the kernel (default 0); padding is never a maximum. */
  padding?: number | [number, number];
}

function poolOptions(layer: string, kernelSize: number | [number, number], options: PoolOptions) {
  const k = checkPair(layer, 'kernelSize', kernelSize, 1);
  const stride = checkPair(layer, 'stride', options.stride ?? k, 1);
  const padding = checkPair(layer, 'padding', options.padding ?? 0, 0);
  if (padding[0] * 2 > k[0] || padding[1] * 2 > k[1]) {
    throw new TensorError(layer, `padding [${padding.join(',')}] must be at most half the kernel size [${k.join(',')}]`);
  }
  return { kernelSize: k, stride, padding };
}

/** Maximum over each window of NCHW input, as `nn.MaxPool2d` (floor mode). */
export class MaxPool2d extends Module {
  /** Window [kh, kw]. */
  readonly kernelSize: [number, number];
  /** Step between windows [h, w]. */
  readonly stride: [number, number];
  /** Padding [h, w]. */
  readonly padding: [number, number];

  /** Window size as one number or `[kh, kw]`; TensorError for padding over half the kernel. */
  constructor(kernelSize: number | [number, number], options: PoolOptions = {}) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = poolOptions('MaxPool2d', kernelSize, options));
  }

  /** x (N, C, H, W) → (N, C, Ho, Wo); ShapeError for another rank. */
  forward(x: Variable): Variable {
    checkInput('MaxPool2d', x);
    check4d('MaxPool2d', x);
    return F.maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding });
  }
}

/** Options of `AvgPool2d`. */
export interface AvgPoolOptions extends PoolOptions {
  /** Count padded zeros in the average (PyTorch's default, true). */
  countIncludePad?: boolean;
}

/** Mean over each window of NCHW input, as `nn.AvgPool2d` (floor mode). */
export class AvgPool2d extends Module {
  /** Window [kh, kw]. */
  readonly kernelSize: [number, number];
  /** Step between windows [h, w]. */
  readonly stride: [number, number];
  /** Zero padding [h, w]. */
  readonly padding: [number, number];
  /** Whether padded zeros count in the divisor. */
  readonly countIncludePad: boolean;

  /** Window size as one number or `[kh, kw]`; TensorError for padding over half the kernel. */
  constructor(kernelSize: number | [number, number], options: AvgPoolOptions = {}) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = poolOptions('AvgPool2d', kernelSize, options));
    this.countIncludePad = options.countIncludePad ?? true;
  }

  /** x (N, C, H, W) → (N, C, Ho, Wo); ShapeError for another rank. */
  forward(x: Variable): Variable {
    checkInput('AvgPool2d', x);
    check4d('AvgPool2d', x);
    return F.avgPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      countIncludePad: this.countIncludePad,
    });
  }
}

/** Mean over H and W: (N, C, H, W) → (N, C, 1, 1), as `nn.AdaptiveAvgPool2d(1)`. */
export class GlobalAvgPool2d extends Module {
  /** x (N, C, H, W) → (N, C, 1, 1). */
  forward(x: Variable): Variable {
    checkInput('GlobalAvgPool2d', x);
    check4d('GlobalAvgPool2d', x);
    return F.globalAvgPool2d(x);
  }
}

/** Merge dims startDim..endDim into one (default: all but the batch dim), as `nn.Flatten`. */
export class Flatten extends Module {
  /** First axis merged (negative counts from the end). */
  readonly startDim: number;
  /** Last axis merged, inclusive. */
  readonly endDim: number;

  /** Merge axes `startDim`..`endDim` (default: everything after the batch axis). */
  constructor(startDim = 1, endDim = -1) {
    super();
    if (!Number.isInteger(startDim) || !Number.isInteger(endDim)) {
      throw new TensorError('Flatten', `startDim and endDim must be integers, got ${describe(startDim)} and ${describe(endDim)}`);
    }
    this.startDim = startDim;
    this.endDim = endDim;
  }

  /** `x` with the axes merged, e.g. (N, C, H, W) → (N, C·H·W). */
  forward(x: Variable): Variable {
    checkInput('Flatten', x);
    return F.flatten(x, this.startDim, this.endDim);
  }
}

/**
 * Zero each element with probability p in training and scale the rest by 1/(1−p); the identity
 * in eval. The mask comes from the layer's own generator (`{seed}` or `{rng}`; else the global
 * one), so a seeded run drops the same units every time.
 */
export class Dropout extends Module {
  /** Probability of zeroing an element, in [0, 1). */
  readonly p: number;
  private readonly rng: Rng;

  /** `p` in [0, 1) (TensorError otherwise); `options.seed` or `rng` fix the masks. */
  constructor(p = 0.5, options: RngOptions = {}) {
    super();
    this.p = checkNumber('Dropout', 'p', p, 0, 1);
    if (p === 1) throw new TensorError('Dropout', 'p must be a probability in [0, 1), got 1 (every unit dropped)');
    this.rng = resolveRng('Dropout', options);
  }

  /** In training, `x` with the dropped elements zeroed and the rest scaled by 1/(1−p); in eval, `x`. */
  forward(x: Variable): Variable {
    checkInput('Dropout', x);
    if (!this.training || this.p === 0) return x;
    return F.dropout(x, this.p, { training: true, rng: this.rng });
  }
}

/**
 * The normalization layers as nn `Module`s, PyTorch names and semantics. Each validates its
 * input before touching anything, so a bad call never changes the running statistics; the
 * arithmetic is the fused ops of `functional.ts`.
 */
import { F, Variable } from '@normlab/autograd';
import { type BufferOptions, Module, Parameter } from '@normlab/nn';
import { type DType, type Tensor, fmtShape, full, ones, warnOnce, zeros } from '@normlab/tensor';
import { NormLayerError } from './errors.js';
import {
  type BlendParameterization,
  type GNPlusOrder,
  type SlotStats,
  gnPlus,
  groupedNorm,
  groupedNormBatch,
  hybridNorm,
  ncs,
  rsqrtStats,
} from './functional.js';
import type { GroupedLayout, Moments } from './kernels/index.js';

// ---------------------------------------------------------------------------------------------
// Validation helpers (shared by every layer)

function checkPositiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new NormLayerError(layer, `${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function checkEps(layer: string, eps: unknown): number {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw new NormLayerError(layer, `eps must be a finite number > 0, got ${String(eps)}`);
  }
  return eps;
}

function checkMomentum(layer: string, momentum: unknown, allowNull: boolean): number | null {
  if (momentum === null && allowNull) return null;
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw new NormLayerError(layer, `momentum must be a number in [0, 1]${allowNull ? ' or null' : ''}, got ${String(momentum)}`);
  }
  return momentum;
}

/** `momentum` of the layers that take null for a cumulative average; undefined means 0.1. */
function checkNullableMomentum(layer: string, momentum: number | null | undefined): number | null {
  return checkMomentum(layer, momentum === undefined ? 0.1 : momentum, true);
}

/** Positive `numGroups` and `numChannels`, the channels divisible into the groups. */
function checkGroups(layer: string, numGroups: number, numChannels: number): [groups: number, channels: number] {
  checkPositiveInt(layer, 'numGroups', numGroups);
  checkPositiveInt(layer, 'numChannels', numChannels);
  if (numChannels % numGroups !== 0) {
    throw new NormLayerError(layer, `numChannels ${numChannels} is not divisible by numGroups ${numGroups}`);
  }
  return [numGroups, numChannels];
}

function checkRhoInit(layer: string, rho0: number): number {
  if (!Number.isFinite(rho0)) throw new NormLayerError(layer, `rhoInit must be finite, got ${rho0}`);
  return rho0;
}

/** Batch statistics need two values per statistic when training; `count` is how many there are. */
function checkTrainingCount(layer: string, count: number, what: string, x: Variable): void {
  if (count === 1) {
    throw new NormLayerError(layer, `expected more than 1 ${what} when training, got input of shape ${fmtShape(x.shape)}`);
  }
}

/** Rank, channel count, non-empty, optionally every value finite. */
function checkInput(layer: string, x: unknown, ranks: readonly number[], channels: number, checkFinite: boolean): Variable {
  if (!(x instanceof Variable)) {
    throw new NormLayerError(layer, `input must be a Variable, got ${x === null ? 'null' : typeof x}`);
  }
  const shape = x.shape;
  if (!ranks.includes(shape.length)) {
    const want = ranks.map((r) => `${r}-D`).join(' or ');
    throw new NormLayerError(layer, `expected ${want} input, got ${shape.length}-D input of shape ${fmtShape(shape)}`);
  }
  if (shape[1] !== channels) {
    throw new NormLayerError(layer, `expected ${channels} channels (dim 1), got ${shape[1]} in input of shape ${fmtShape(shape)}`);
  }
  if (x.size === 0) throw new NormLayerError(layer, `input of shape ${fmtShape(shape)} is empty`);
  if (checkFinite) {
    const d = x.data.contiguous().data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      // v − v is NaN exactly for NaN and ±Infinity: one compare per element, no call.
      if (v - v !== 0) throw new NormLayerError(layer, `input has a non-finite value ${v} at flat index ${i}`);
    }
  }
  return x;
}

function affineParams(numChannels: number, affine: boolean, dtype: DType): { weight: Parameter | null; bias: Parameter | null } {
  if (!affine) return { weight: null, bias: null };
  return { weight: new Parameter(ones([numChannels], { dtype })), bias: new Parameter(zeros([numChannels], { dtype })) };
}

/** Values of a buffer as float64 (statistics for the kernels). */
function asFloat64(t: Tensor): Float64Array {
  return Float64Array.from(t.contiguous().data);
}

/**
 * The running-statistics buffers, in PyTorch's state-dict order: `running_mean` (zeros) and
 * `running_var` (ones) of length `size`, and `num_batches_tracked` (0: a float64 tensor saved as
 * int64, PyTorch's dtype). The layer registers them itself (`registerBuffer` is protected).
 */
function runningStatBuffers(size: number, dtype: DType): Array<[string, Tensor, BufferOptions]> {
  return [
    ['running_mean', zeros([size], { dtype }), {}],
    ['running_var', ones([size], { dtype }), {}],
    ['num_batches_tracked', full([], 0, { dtype: 'float64' }), { savedAs: 'int64' }],
  ];
}

/** The running mean and 1/sqrt(running_var + eps), float64: the statistics of eval. */
function runningStats(m: Module, eps: number): { mean: Float64Array; rstd: Float64Array } {
  return {
    mean: asFloat64(m.getBuffer('running_mean')!),
    rstd: rsqrtStats(asFloat64(m.getBuffer('running_var')!), eps),
  };
}

/** Normalize with the running statistics (eval): constant in x, one per slot of `layout`. */
function runningNorm(
  m: Module,
  layer: string,
  x: Variable,
  layout: GroupedLayout,
  eps: number,
  weight: Parameter | null,
  bias: Parameter | null,
): Variable {
  const { mean, rstd } = runningStats(m, eps);
  const stats: SlotStats = { layout, mean, rstd, k: null, constant: true };
  return groupedNorm(layer, x, stats, weight, bias);
}

/** What folding a batch into the running statistics needs of a layer. */
interface RunningStatsLayer extends Module {
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  skippedStatisticsUpdates: number;
}

/** The unbiased variance from the biased one over `count` values per slot. */
function unbiased(biasedVar: Float64Array, count: number): Float64Array {
  const f = count > 1 ? count / (count - 1) : 1;
  return biasedVar.map((v) => v * f);
}

/**
 * InstanceNorm's batch statistics per channel: the batch average of the per-instance mean and
 * unbiased variance (PyTorch's), from moments per (n, c) over `s` values.
 */
function instanceBatchStats(moments: Moments, n: number, c: number, s: number): { mean: Float64Array; variance: Float64Array } {
  const unbias = s > 1 ? s / (s - 1) : 1;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let ci = 0; ci < c; ci++) {
    let mm = 0;
    let vv = 0;
    for (let ni = 0; ni < n; ni++) {
      mm += moments.mean[ni * c + ci]!;
      vv += moments.variance[ni * c + ci]! * unbias;
    }
    mean[ci] = mm / n;
    variance[ci] = vv / n;
  }
  return { mean, variance };
}

/**
 * Why a batch's statistics cannot go into running buffers of `dtype` (a value that is not finite,
 * or not finite once rounded to float32), or null when they can. A convex combination of two
 * storable values is storable, so checking the batch's values suffices.
 */
function unstorableStatistic(
  mean: Float64Array,
  variance: Float64Array,
  dtype: DType,
  slot: string,
): { detail: string; overflow: boolean } | null {
  const fits = (v: number) => Number.isFinite(dtype === 'float32' ? Math.fround(v) : v);
  for (let i = 0; i < mean.length; i++) {
    const what = !fits(mean[i]!) ? 'mean' : !fits(variance[i]!) ? 'variance' : null;
    if (what === null) continue;
    const v = what === 'mean' ? mean[i]! : variance[i]!;
    const overflow = Number.isFinite(v);
    const value = overflow ? v.toPrecision(3) : String(v);
    const why = overflow ? "are beyond float32's range (3.4e38) of the running statistics" : 'are not finite';
    return { detail: `a training batch's statistics ${why} (the ${what} of ${slot} ${i} is ${value})`, overflow };
  }
  return null;
}

/**
 * Fold one training batch into the running statistics in place, PyTorch's convention:
 * `running ← (1 − f)·running + f·batch` with the batch's per-slot mean and unbiased variance,
 * f = momentum, or 1/num_batches_tracked (a cumulative average) when momentum is null.
 * `countBatch` advances num_batches_tracked (InstanceNorm's update does not, as PyTorch's).
 *
 * Unlike PyTorch, running statistics never become non-finite: a batch with any statistic that is
 * not finite in the buffers' dtype (NaN or ±Infinity from such input, or a float32 overflow: a
 * variance above 3.4e38, from values spread by about 1.8e19 or more) is not folded in, in any slot, and
 * num_batches_tracked stays. With `checkFinite` that is a NormLayerError; otherwise the layer
 * counts it in `skippedStatisticsUpdates` and warns once per layer kind and reason (`warnOnce`,
 * `setWarningHandler` of @normlab/tensor).
 * The whole batch rather than the bad slots: num_batches_tracked then stays the number of batches
 * in every slot's average (the cumulative average stays exact), and a non-finite input value
 * reaches every channel after a network's first convolution anyway.
 */
function foldRunningStats(
  m: RunningStatsLayer,
  layer: string,
  slot: 'channel' | 'group',
  momentum: number | null,
  mean: Float64Array,
  unbiasedVar: Float64Array,
  countBatch: boolean,
): void {
  const problem = unstorableStatistic(mean, unbiasedVar, m.getBuffer('running_mean')!.dtype, slot);
  if (problem !== null) {
    const hint = problem.overflow ? "; rescale the input, or keep the statistics in float64 (dtype: 'float64')" : '';
    if (m.checkFinite) throw new NormLayerError(layer, `${problem.detail}; the running statistics were left as they were${hint}`);
    m.skippedStatisticsUpdates++;
    warnOnce(
      `norm-layers:${layer}:${problem.overflow ? 'overflow' : 'non-finite'}`,
      `normlab norm-layers: ${layer}: ${problem.detail}; the running statistics were left as they were${hint}. ` +
        "Each such batch is counted in the layer's skippedStatisticsUpdates and not warned again; checkFinite: true makes it an error.",
    );
    return;
  }
  let f = momentum ?? 0;
  if (countBatch) {
    const tracked = m.getBuffer('num_batches_tracked')!;
    const nbt = tracked.data[0]! + 1;
    tracked.data[0] = nbt;
    f = momentum ?? 1 / nbt;
  }
  const rm = ownedBuffer(m, 'running_mean');
  const rv = ownedBuffer(m, 'running_var');
  for (let i = 0; i < mean.length; i++) {
    rm[i] = (1 - f) * rm[i]! + f * mean[i]!;
    rv[i] = (1 - f) * rv[i]! + f * unbiasedVar[i]!;
  }
}

/** A buffer's storage, made contiguous and owned first so in-place updates are safe. */
function ownedBuffer(m: Module, name: string): Float32Array | Float64Array {
  const b = m.getBuffer(name)!;
  if (b.offset !== 0 || b.data.length !== b.size || !b.isContiguous()) {
    const c = b.clone();
    m.setBuffer(name, c);
    return c.data;
  }
  return b.data;
}

/**
 * What a layer computes with its normalization switched off (`normalize = false`): the identity
 * plus the layer's per-channel affine, y = γ·x + β (the identity without affine). Plain autograd
 * ops: the window ablation runs it for a fraction of training, so it needs no fused kernel.
 */
function identityAffine(x: Variable, weight: Parameter | null, bias: Parameter | null): Variable {
  const shape = x.shape.map((d, i) => (i === 1 ? d : 1));
  let y = x;
  if (weight) y = F.mul(y, F.reshape(weight, shape));
  if (bias) y = F.add(y, F.reshape(bias, shape));
  return y;
}

/** Options every normalization layer takes. */
export interface CommonNormOptions {
  /**
   * ε for numerical stability (default 1e-5; must be > 0): added to the variance inside the square
   * root, 1/√(var + ε), or, in `GNPlus`, to the unbiased standard deviation, 1/(s + ε).
   */
  eps?: number;
  /** Learn a per-channel scale γ and shift β (default true; false for `InstanceNorm2d`, as PyTorch). */
  affine?: boolean;
  /**
   * Check every input value is finite before normalizing (a pass over the input), and make a
   * training batch whose statistics do not fit the running statistics an error instead of a
   * skipped, counted and warned update. Default false.
   */
  checkFinite?: boolean;
  /** Parameter and buffer dtype (default float32, as PyTorch). */
  dtype?: DType;
}

// ---------------------------------------------------------------------------------------------
// Batch normalization

/** Options of `BatchNorm2d` and `BatchNorm1d`. */
export interface BatchNormOptions extends CommonNormOptions {
  /** Running-statistics momentum in [0, 1]; null for a cumulative average. Default 0.1. */
  momentum?: number | null;
  /** Keep running statistics and normalize with them in eval (default true); false: batch statistics in eval too. */
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** Channels C: dim 1 of the input. */
  readonly numFeatures: number;
  /** ε added to the variance inside the square root: 1/√(var + ε). */
  readonly eps: number;
  /** Running-statistics momentum; null for a cumulative average. */
  readonly momentum: number | null;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /** Whether the layer keeps running statistics (and normalizes with them in eval). */
  readonly trackRunningStats: boolean;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine, running statistics untouched (see `setNormalizationLive`). */
  normalize = true;
  /**
   * Training batches not folded into the running statistics because a statistic was not finite
   * in the buffers' dtype (docs/norm-layers.md, "Running statistics under non-finite and huge
   * inputs"). Counted in this process, not saved: the state dict keeps PyTorch's keys.
   */
  skippedStatisticsUpdates = 0;
  /** The layer's name in errors and warnings. */
  protected abstract readonly layerName: string;
  /** The input ranks the layer accepts. */
  protected abstract readonly ranks: readonly number[];

  /** A BN layer named `layerName` over `numFeatures` channels; NormLayerError for a bad option. */
  constructor(layerName: string, numFeatures: number, options: BatchNormOptions = {}) {
    super();
    this.numFeatures = checkPositiveInt(layerName, 'numFeatures', numFeatures);
    this.eps = checkEps(layerName, options.eps ?? 1e-5);
    this.momentum = checkNullableMomentum(layerName, options.momentum);
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    this.checkFinite = options.checkFinite ?? false;
    const dtype = options.dtype ?? 'float32';
    ({ weight: this.weight, bias: this.bias } = affineParams(numFeatures, this.affine, dtype));
    if (this.trackRunningStats) {
      for (const [key, t, o] of runningStatBuffers(numFeatures, dtype)) this.registerBuffer(key, t, o);
    }
  }

  /** The `running_mean` buffer (C), or null without running statistics. */
  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_mean') : null;
  }

  /** The `running_var` buffer (C) of unbiased variances, or null without running statistics. */
  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_var') : null;
  }

  /** Training batches folded into the running statistics (`num_batches_tracked`); 0 without them. */
  get numBatchesTracked(): number {
    return this.trackRunningStats ? this.getBuffer('num_batches_tracked')!.data[0]! : 0;
  }

  /**
   * Normalize with the batch statistics in training (folding them into the running statistics)
   * or without running statistics, else with the running statistics. Output: the input shape.
   */
  forward(input: Variable): Variable {
    const x = checkInput(this.layerName, input, this.ranks, this.numFeatures, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, c, s } = ncs(x.shape);
    const layout: GroupedLayout = { n, c, s, groups: c, perSample: false };
    const useBatch = this.training || !this.trackRunningStats;
    if (useBatch) {
      if (this.training) checkTrainingCount(this.layerName, n * s, 'value per channel', x);
      const { y, moments: m } = groupedNormBatch(this.layerName, x, layout, this.eps, this.weight, this.bias);
      if (this.training && this.trackRunningStats) {
        foldRunningStats(this, this.layerName, 'channel', this.momentum, m.mean, unbiased(m.variance, n * s), true);
      }
      return y;
    }
    return runningNorm(this, this.layerName, x, layout, this.eps, this.weight, this.bias);
  }
}

/** `torch.nn.BatchNorm2d`: per-channel statistics over (N, H, W) of an (N, C, H, W) input. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly layerName = 'BatchNorm2d';
  protected readonly ranks = [4] as const;
  /** BN over `numFeatures` channels of (N, C, H, W) input; NormLayerError for a bad option. */
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, options);
  }
}

/** `torch.nn.BatchNorm1d`: (N, C) features (or (N, C, L), as PyTorch). */
export class BatchNorm1d extends BatchNormBase {
  protected readonly layerName = 'BatchNorm1d';
  protected readonly ranks = [2, 3] as const;
  /** BN over `numFeatures` channels of (N, C) or (N, C, L) input; NormLayerError for a bad option. */
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Group normalization and its special cases

/** Options of `GroupNorm` and `LayerNorm2d`: the common ones. */
export interface GroupNormOptions extends CommonNormOptions {}

/** `torch.nn.GroupNorm`: per (sample, group) statistics over (C/G, H, W); same in train and eval. */
export class GroupNorm extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** Groups G; C is a multiple of G. */
  readonly numGroups: number;
  /** Channels C: dim 1 of the input. */
  readonly numChannels: number;
  /** ε added to the variance inside the square root: 1/√(var + ε). */
  readonly eps: number;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine (see `setNormalizationLive`). */
  normalize = true;
  /** The layer's name in errors (`LayerNorm2d` for that subclass). */
  protected readonly layerName: string;

  /** `numChannels` split into `numGroups` groups (it must divide); `layerName` names it in errors. */
  constructor(numGroups: number, numChannels: number, options: GroupNormOptions = {}, layerName = 'GroupNorm') {
    super();
    this.layerName = layerName;
    [this.numGroups, this.numChannels] = checkGroups(layerName, numGroups, numChannels);
    this.eps = checkEps(layerName, options.eps ?? 1e-5);
    this.affine = options.affine ?? true;
    this.checkFinite = options.checkFinite ?? false;
    ({ weight: this.weight, bias: this.bias } = affineParams(numChannels, this.affine, options.dtype ?? 'float32'));
  }

  /** (N, C, H, W) → the same shape, normalized per (sample, group) in training and eval alike. */
  forward(input: Variable): Variable {
    const x = checkInput(this.layerName, input, [4], this.numChannels, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, c, s } = ncs(x.shape);
    const layout: GroupedLayout = { n, c, s, groups: this.numGroups, perSample: true };
    return groupedNormBatch(this.layerName, x, layout, this.eps, this.weight, this.bias).y;
  }
}

/** LayerNorm over (C, H, W) of each sample, with per-channel affine: GroupNorm with one group. */
export class LayerNorm2d extends GroupNorm {
  /** LayerNorm over `numChannels` channels of (N, C, H, W) input. */
  constructor(numChannels: number, options: GroupNormOptions = {}) {
    super(1, numChannels, options, 'LayerNorm2d');
  }
}

/** Options of `InstanceNorm2d`. */
export interface InstanceNormOptions extends CommonNormOptions {
  /** Running-statistics momentum in [0, 1] (default 0.1). */
  momentum?: number;
  /** Keep running statistics and normalize with them in eval (default false, as PyTorch). */
  trackRunningStats?: boolean;
}

/**
 * `torch.nn.InstanceNorm2d`: per (sample, channel) statistics over (H, W). As PyTorch: no affine
 * and no running statistics by default; with running statistics, training updates them with the
 * batch average of the per-instance mean and unbiased variance, and eval uses them.
 */
export class InstanceNorm2d extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** Channels C: dim 1 of the input. */
  readonly numFeatures: number;
  /** ε added to the variance inside the square root: 1/√(var + ε). */
  readonly eps: number;
  /** Running-statistics momentum. */
  readonly momentum: number;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /** Whether the layer keeps running statistics (and normalizes with them in eval). */
  readonly trackRunningStats: boolean;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine, statistics untouched (see `setNormalizationLive`). */
  normalize = true;
  /**
   * Training batches not folded into the running statistics because a statistic was not finite
   * in the buffers' dtype (docs/norm-layers.md, "Running statistics under non-finite and huge
   * inputs"). Counted in this process, not saved: the state dict keeps PyTorch's keys.
   */
  skippedStatisticsUpdates = 0;

  /** IN over `numFeatures` channels of (N, C, H, W) input; NormLayerError for a bad option. */
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super();
    const name = 'InstanceNorm2d';
    this.numFeatures = checkPositiveInt(name, 'numFeatures', numFeatures);
    this.eps = checkEps(name, options.eps ?? 1e-5);
    this.momentum = checkMomentum(name, options.momentum ?? 0.1, false)!;
    this.affine = options.affine ?? false;
    this.trackRunningStats = options.trackRunningStats ?? false;
    this.checkFinite = options.checkFinite ?? false;
    const dtype = options.dtype ?? 'float32';
    ({ weight: this.weight, bias: this.bias } = affineParams(numFeatures, this.affine, dtype));
    // PyTorch registers num_batches_tracked too (state-dict parity) but InstanceNorm never advances it.
    if (this.trackRunningStats) {
      for (const [key, t, o] of runningStatBuffers(numFeatures, dtype)) this.registerBuffer(key, t, o);
    }
  }

  /**
   * (N, C, H, W) → the same shape, each (sample, channel) plane normalized (or by the running statistics in
   * eval, when kept).
   */
  forward(input: Variable): Variable {
    const name = 'InstanceNorm2d';
    const x = checkInput(name, input, [4], this.numFeatures, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, c, s } = ncs(x.shape);
    if (this.training || !this.trackRunningStats) {
      if (this.training) checkTrainingCount(name, s, 'spatial element', x);
      const layout: GroupedLayout = { n, c, s, groups: c, perSample: true };
      const { y, moments: m } = groupedNormBatch(name, x, layout, this.eps, this.weight, this.bias);
      if (this.training && this.trackRunningStats) {
        const b = instanceBatchStats(m, n, c, s);
        foldRunningStats(this, name, 'channel', this.momentum, b.mean, b.variance, false);
      }
      return y;
    }
    const layout: GroupedLayout = { n, c, s, groups: c, perSample: false };
    return runningNorm(this, name, x, layout, this.eps, this.weight, this.bias);
  }
}

// ---------------------------------------------------------------------------------------------
// Batch-group normalization

/** Options of `BatchGroupNorm`. */
export interface BatchGroupNormOptions extends CommonNormOptions {
  /** Running-statistics momentum in [0, 1]; null for a cumulative average. Default 0.1. */
  momentum?: number | null;
}

/**
 * BatchGroupNorm (Zhou et al. 2020): per group statistics over (N, C/G, H, W); running mean and
 * unbiased running variance per group (buffers of length G) for eval.
 */
export class BatchGroupNorm extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** Groups G; C is a multiple of G. */
  readonly numGroups: number;
  /** Channels C: dim 1 of the input. */
  readonly numChannels: number;
  /** ε added to the variance inside the square root: 1/√(var + ε). */
  readonly eps: number;
  /** Running-statistics momentum; null for a cumulative average. */
  readonly momentum: number | null;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine, statistics untouched (see `setNormalizationLive`). */
  normalize = true;
  /**
   * Training batches not folded into the running statistics because a statistic was not finite
   * in the buffers' dtype (docs/norm-layers.md, "Running statistics under non-finite and huge
   * inputs"). Counted in this process, not saved: the state dict keeps PyTorch's keys.
   */
  skippedStatisticsUpdates = 0;

  /** `numChannels` split into `numGroups` groups (it must divide); NormLayerError for a bad option. */
  constructor(numGroups: number, numChannels: number, options: BatchGroupNormOptions = {}) {
    super();
    const name = 'BatchGroupNorm';
    [this.numGroups, this.numChannels] = checkGroups(name, numGroups, numChannels);
    this.eps = checkEps(name, options.eps ?? 1e-5);
    this.momentum = checkNullableMomentum(name, options.momentum);
    this.affine = options.affine ?? true;
    this.checkFinite = options.checkFinite ?? false;
    const dtype = options.dtype ?? 'float32';
    ({ weight: this.weight, bias: this.bias } = affineParams(numChannels, this.affine, dtype));
    for (const [key, t, o] of runningStatBuffers(numGroups, dtype)) this.registerBuffer(key, t, o);
  }

  /**
   * (N, C, H, W) → the same shape, normalized per group over the batch (training) or by the running statistics (eval).
   */
  forward(input: Variable): Variable {
    const name = 'BatchGroupNorm';
    const x = checkInput(name, input, [4], this.numChannels, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, c, s } = ncs(x.shape);
    const layout: GroupedLayout = { n, c, s, groups: this.numGroups, perSample: false };
    const count = n * (c / this.numGroups) * s;
    if (this.training) {
      checkTrainingCount(name, count, 'value per group', x);
      const { y, moments: m } = groupedNormBatch(name, x, layout, this.eps, this.weight, this.bias);
      foldRunningStats(this, name, 'group', this.momentum, m.mean, unbiased(m.variance, count), true);
      return y;
    }
    return runningNorm(this, name, x, layout, this.eps, this.weight, this.bias);
  }
}

// ---------------------------------------------------------------------------------------------
// GN+ (the paper's layer) and HybridNorm (our deployable form)

/** Options of `GNPlus`. */
export interface GNPlusOptions extends CommonNormOptions {
  /** Where the batch stage sits: after GN (`'gn-first'`, default), before it, or beside it (`'parallel'`). */
  order?: GNPlusOrder;
  /**
   * How the GN weight w comes from the learned `rho`: `'sigmoid'` (default, w = σ(ρ), ρ starts
   * at 1) or `'raw'` (w = ρ, starting at 0.5, as the stored revisions of the authors' code do).
   */
  parameterization?: BlendParameterization;
  /** Initial ρ (default 1 for sigmoid, 0.5 for raw). */
  rhoInit?: number;
}

/** Every GN+ stage order, the default first. */
export const GNPLUS_ORDERS: readonly GNPlusOrder[] = ['gn-first', 'bn-first', 'parallel'];

/**
 * The paper's GN+ ("Group Norm Plus"), as the authors' code computes it: GN with the unbiased
 * std and eps on the std, a batch stage over the batch axis alone at every (c, h, w), blended by
 * one learned scalar. No running statistics: eval uses the evaluated batch's statistics, so a
 * batch of one is an error in both modes. State dict: `weight`, `bias`, `rho`.
 */
export class GNPlus extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** The blend parameter (one scalar per layer, state-dict key `rho`). */
  rho: Parameter;
  /** Groups G; C is a multiple of G. */
  readonly numGroups: number;
  /** Channels C: dim 1 of the input. */
  readonly numChannels: number;
  /** ε added to the unbiased standard deviations: 1/(s + ε), as the authors' code. */
  readonly eps: number;
  /** Where the batch stage sits relative to GN. */
  readonly order: GNPlusOrder;
  /** How the GN weight comes from `rho`: σ(ρ) or ρ itself. */
  readonly parameterization: BlendParameterization;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine, statistics untouched (see `setNormalizationLive`). */
  normalize = true;

  /** `numChannels` split into `numGroups` groups (it must divide); NormLayerError for a bad option. */
  constructor(numGroups: number, numChannels: number, options: GNPlusOptions = {}) {
    super();
    const name = 'GNPlus';
    [this.numGroups, this.numChannels] = checkGroups(name, numGroups, numChannels);
    this.eps = checkEps(name, options.eps ?? 1e-5);
    const order = options.order ?? 'gn-first';
    if (!GNPLUS_ORDERS.includes(order)) {
      throw new NormLayerError(name, `order must be one of ${GNPLUS_ORDERS.join(', ')}, got ${JSON.stringify(order)}`);
    }
    this.order = order;
    const param = options.parameterization ?? 'sigmoid';
    if (param !== 'sigmoid' && param !== 'raw') {
      throw new NormLayerError(name, `parameterization must be 'sigmoid' or 'raw', got ${JSON.stringify(param)}`);
    }
    this.parameterization = param;
    this.affine = options.affine ?? true;
    this.checkFinite = options.checkFinite ?? false;
    const dtype = options.dtype ?? 'float32';
    ({ weight: this.weight, bias: this.bias } = affineParams(numChannels, this.affine, dtype));
    const rho0 = checkRhoInit(name, options.rhoInit ?? (param === 'raw' ? 0.5 : 1));
    this.rho = new Parameter(full([1], rho0, { dtype }));
  }

  /** The current GN weight w (σ(ρ) or ρ). */
  get gnWeight(): number {
    const r = this.rho.data.contiguous().data[0]!;
    return this.parameterization === 'raw' ? r : 1 / (1 + Math.exp(-r));
  }

  /**
   * (N, C, H, W) → the same shape, with the statistics of this batch in training and eval; NormLayerError
   * for a batch of one or a group of fewer than 2 values.
   */
  forward(input: Variable): Variable {
    const name = 'GNPlus';
    const x = checkInput(name, input, [4], this.numChannels, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, c, s } = ncs(x.shape);
    if (n < 2) {
      throw new NormLayerError(
        name,
        `the batch stage standardizes over the batch axis and needs at least 2 samples (in eval too: GN+ has no running statistics), got input of shape ${fmtShape(x.shape)}`,
      );
    }
    if ((c / this.numGroups) * s < 2) {
      throw new NormLayerError(name, `each group needs at least 2 values for the unbiased std, got ${(c / this.numGroups) * s} in input of shape ${fmtShape(x.shape)}`);
    }
    return gnPlus(name, x, { groups: this.numGroups, eps: this.eps, order: this.order }, this.weight, this.bias, {
      rho: this.rho,
      fixed: 0,
      parameterization: this.parameterization,
    });
  }
}

/** Options of `HybridNorm`. */
export interface HybridNormOptions extends CommonNormOptions {
  /** Running-statistics momentum in [0, 1]; null for a cumulative average. Default 0.1. */
  momentum?: number | null;
  /** `'layer'` (one learned ρ, default), `'channel'` (one per channel), or a fixed GN weight in [0, 1]. */
  blend?: 'layer' | 'channel' | number;
  /** Initial ρ (default 1, so the GN weight starts at σ(1) ≈ 0.73). */
  rhoInit?: number;
}

/**
 * HybridNorm: PyTorch's GN, then a per-channel BN stage over (N, H, W) on its output with
 * running statistics, blended `γ·(σ(ρ)·GN + (1 − σ(ρ))·BN) + β`. Eval uses the running
 * statistics, so predictions are per-sample and batch 1 works. State dict: `weight`, `bias`,
 * `rho` (absent for a fixed blend), `running_mean`, `running_var`, `num_batches_tracked`.
 */
export class HybridNorm extends Module {
  /** Per-channel scale γ (C), initialized to ones; null without `affine`. */
  weight: Parameter | null;
  /** Per-channel shift β (C), initialized to zeros; null without `affine`. */
  bias: Parameter | null;
  /** The blend parameter ρ: one scalar (`blend: 'layer'`), one per channel (`'channel'`), or null for a fixed blend. */
  rho: Parameter | null;
  /** Groups G; C is a multiple of G. */
  readonly numGroups: number;
  /** Channels C: dim 1 of the input. */
  readonly numChannels: number;
  /** ε added to the variance inside the square root: 1/√(var + ε). */
  readonly eps: number;
  /** Running-statistics momentum; null for a cumulative average. */
  readonly momentum: number | null;
  /** Whether the layer learns `weight` and `bias`. */
  readonly affine: boolean;
  /** How the GN and BN stages are blended: a learned ρ per layer or per channel, or this fixed GN weight. */
  readonly blend: 'layer' | 'channel' | number;
  /**
   * Whether inputs are checked for non-finite values, and unstorable batch statistics are an error (see
   * `CommonNormOptions.checkFinite`).
   */
  readonly checkFinite: boolean;
  /** false: identity plus affine, statistics untouched (see `setNormalizationLive`). */
  normalize = true;
  /**
   * Training batches not folded into the running statistics because a statistic was not finite
   * in the buffers' dtype (docs/norm-layers.md, "Running statistics under non-finite and huge
   * inputs"). Counted in this process, not saved: the state dict keeps PyTorch's keys.
   */
  skippedStatisticsUpdates = 0;

  /** `numChannels` split into `numGroups` groups (it must divide); NormLayerError for a bad option. */
  constructor(numGroups: number, numChannels: number, options: HybridNormOptions = {}) {
    super();
    const name = 'HybridNorm';
    [this.numGroups, this.numChannels] = checkGroups(name, numGroups, numChannels);
    this.eps = checkEps(name, options.eps ?? 1e-5);
    this.momentum = checkNullableMomentum(name, options.momentum);
    this.affine = options.affine ?? true;
    this.checkFinite = options.checkFinite ?? false;
    const blend = options.blend ?? 'layer';
    if (typeof blend === 'number') {
      if (!(blend >= 0 && blend <= 1)) throw new NormLayerError(name, `a fixed blend must be a GN weight in [0, 1], got ${blend}`);
    } else if (blend !== 'layer' && blend !== 'channel') {
      throw new NormLayerError(name, `blend must be 'layer', 'channel' or a number in [0, 1], got ${JSON.stringify(blend)}`);
    }
    this.blend = blend;
    const dtype = options.dtype ?? 'float32';
    ({ weight: this.weight, bias: this.bias } = affineParams(numChannels, this.affine, dtype));
    const rho0 = checkRhoInit(name, options.rhoInit ?? 1);
    this.rho = typeof blend === 'number' ? null : new Parameter(full([blend === 'layer' ? 1 : numChannels], rho0, { dtype }));
    for (const [key, t, o] of runningStatBuffers(numChannels, dtype)) this.registerBuffer(key, t, o);
  }

  /** (N, C, H, W) → the same shape; the BN stage uses the batch in training, the running statistics in eval. */
  forward(input: Variable): Variable {
    const name = 'HybridNorm';
    const x = checkInput(name, input, [4], this.numChannels, this.checkFinite);
    if (!this.normalize) return identityAffine(x, this.weight, this.bias);
    const { n, s } = ncs(x.shape);
    const spec = { rho: this.rho, fixed: typeof this.blend === 'number' ? this.blend : 0, parameterization: 'sigmoid' as const };
    const opts = { groups: this.numGroups, eps: this.eps };
    if (this.training) {
      checkTrainingCount(name, n * s, 'value per channel', x);
      const r = hybridNorm(name, x, opts, null, this.weight, this.bias, spec);
      const bm = r.batchMoments as Moments;
      foldRunningStats(this, name, 'channel', this.momentum, bm.mean, unbiased(bm.variance, n * s), true);
      return r.y;
    }
    return hybridNorm(name, x, opts, runningStats(this, this.eps), this.weight, this.bias, spec).y;
  }
}

/** The identity, for `createNorm('none', …)`: models keep one code path. */
export class NoNorm extends Module {
  /** Channels C (kept for symmetry with the other layers). */
  readonly numChannels: number;
  /** The identity for `numChannels`-channel input. */
  constructor(numChannels: number) {
    super();
    this.numChannels = checkPositiveInt('NoNorm', 'numChannels', numChannels);
  }
  /** The input itself. */
  forward(input: Variable): Variable {
    return input;
  }
}

const SWITCHABLE = [BatchNorm2d, BatchNorm1d, GroupNorm, InstanceNorm2d, BatchGroupNorm, GNPlus, HybridNorm] as const;

/** A layer whose normalization can be switched off (every norm layer here but `NoNorm`). */
export function isNormLayer(m: unknown): m is Module & {
  /** Whether the layer normalizes (true) or passes its input through its affine transform only. */
  normalize: boolean;
} {
  return SWITCHABLE.some((c) => m instanceof c);
}

/**
 * Switch the normalization of every norm layer in `model`'s tree on (`live = true`, the default
 * state) or off (identity plus affine; running statistics frozen; a blend ρ gets no gradient).
 * The window ablation keeps normalization live in one period of training only. Returns how many
 * layers were switched.
 */
export function setNormalizationLive(model: Module, live: boolean): number {
  if (!(model instanceof Module)) throw new NormLayerError('setNormalizationLive', `model must be a Module, got ${model === null ? 'null' : typeof model}`);
  if (typeof live !== 'boolean') throw new NormLayerError('setNormalizationLive', `live must be a boolean, got ${String(live)}`);
  let count = 0;
  for (const m of model.modules()) {
    if (!isNormLayer(m)) continue;
    m.normalize = live;
    count++;
  }
  return count;
}

/**
 * Training batches not folded into running statistics because their statistics were not finite
 * (see `foldRunningStats`), summed over the norm layers of `model`'s tree: what a training run
 * reports next to the one warning per reason.
 */
export function skippedStatisticsUpdates(model: Module): number {
  if (!(model instanceof Module)) throw new NormLayerError('skippedStatisticsUpdates', `model must be a Module, got ${model === null ? 'null' : typeof model}`);
  let total = 0;
  for (const m of model.modules()) {
    if (isNormLayer(m) && 'skippedStatisticsUpdates' in m && typeof m.skippedStatisticsUpdates === 'number') total += m.skippedStatisticsUpdates;
  }
  return total;
}

/**
 * The normalization layers in eval mode as ONNX nodes. Each layer's eval computation is per
 * sample with fixed statistics, so each maps to standard ops:
 *
 * | layer | eval | ONNX |
 * | --- | --- | --- |
 * | BatchNorm2d/1d | running statistics per channel | BatchNormalization |
 * | GroupNorm | per (sample, group) statistics | GroupNormalization (opset 21: per-channel scale, bias), or the LayerNormalization composition |
 * | LayerNorm2d | per sample over (C, H, W) | LayerNormalization, axis 1, scale/bias (C, 1, 1) |
 * | InstanceNorm2d | per (sample, channel); running statistics when tracked | InstanceNormalization; BatchNormalization |
 * | BatchGroupNorm | running statistics per group | BatchNormalization, each channel its group's statistics |
 * | HybridNorm | GN, then a BN stage with running statistics, blended | as GroupNorm, with the BN stage and blend folded into scale and bias |
 * | any, `normalize = false` | y = γ·x + β | Mul, Add |
 *
 * The GroupNorm family (GroupNorm, HybridNorm) is written with the op `GroupNormOp` names: the
 * standard `GroupNormalization`, or the same function composed of ops that onnxruntime computes
 * accurately, Reshape (N, G, C/G·H·W) → LayerNormalization over the last axis → Reshape back →
 * Mul, Add per channel. onnxruntime 1.30's CPU GroupNormalization takes the variance as
 * E[x²] − E[x]² in float32, which fails (NaN at mean/std = 10⁴) when a group's mean is large
 * against its spread; its LayerNormalization does not (see the README's measurements).
 *
 * GN+ (`GNPlus`) has no such form: its batch stage standardizes every (c, h, w) position over the
 * evaluated batch, with no running statistics. `exportRefusal` says so before anything is traced.
 */
import type { Module } from '@normlab/nn';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  isNormLayer,
} from '@normlab/norm-layers';
import type { Shape, Tensor } from '@normlab/tensor';
import { OnnxExportError } from './errors.js';
import type { GraphBuilder } from './proto.js';

/** The ONNX ops the GroupNorm family can be written with (`OnnxExportOptions.groupNorm`). */
export const GROUP_NORM_OPS = ['GroupNormalization', 'LayerNormalization'] as const;
/** The ONNX op GroupNorm and HybridNorm are written with; see `OnnxExportOptions.groupNorm`. */
export type GroupNormOp = (typeof GROUP_NORM_OPS)[number];

/**
 * Whether the export writes `m` with the op `OnnxExportOptions.groupNorm` chooses: a GroupNorm
 * (not LayerNorm2d, its subclass, which is LayerNormalization) or a HybridNorm that normalizes.
 */
export function isGroupNormFamily(m: Module): boolean {
  return ((m instanceof GroupNorm && !(m instanceof LayerNorm2d)) || m instanceof HybridNorm) && m.normalize;
}

/** Why the layer `m` (at `path`) cannot be exported in eval mode, or null when it can. */
export function exportRefusal(m: Module, path: string): string | null {
  if (!isNormLayer(m) || !m.normalize) return null;
  const where = path || 'the model';
  if (m instanceof GNPlus) {
    return (
      `${where} is GNPlus (GN+), which has no fixed-statistics form to export: its batch stage standardizes every (c, h, w) ` +
      `position over the evaluated batch and keeps no running statistics, so an output depends on the other samples in ` +
      `the batch and a batch of 1 is undefined. Use HybridNorm (--norm hybrid): GN followed by a BN stage with running ` +
      `statistics, which exports and runs at any batch size`
    );
  }
  if ((m instanceof BatchNorm2d || m instanceof BatchNorm1d) && !m.trackRunningStats) {
    return `${where} is ${m.constructor.name} with trackRunningStats: false, which normalizes with the statistics of the evaluated batch in eval too: there are no fixed statistics to export`;
  }
  return null;
}

function values(t: Tensor): Float64Array {
  return Float64Array.from(t.contiguous().data);
}

interface Affine {
  gamma: Float64Array;
  beta: Float64Array;
}

/** γ and β of a layer (ones and zeros without affine). */
function affineOf(m: { weight: { data: Tensor } | null; bias: { data: Tensor } | null }, c: number): Affine {
  return {
    gamma: m.weight ? values(m.weight.data) : new Float64Array(c).fill(1),
    beta: m.bias ? values(m.bias.data) : new Float64Array(c),
  };
}

/** [C, 1, …, 1]: a per-channel vector that broadcasts against an input of rank `rank`. */
function channelDims(c: number, rank: number): number[] {
  return [c, ...new Array<number>(Math.max(0, rank - 2)).fill(1)];
}

function batchNormalization(g: GraphBuilder, path: string, x: string, a: Affine, mean: Float64Array, variance: Float64Array, eps: number): string {
  const c = a.gamma.length;
  const inputs = [
    x,
    g.float(`${path}.scale`, [c], a.gamma),
    g.float(`${path}.bias`, [c], a.beta),
    g.float(`${path}.running_mean`, [c], mean),
    g.float(`${path}.running_var`, [c], variance),
  ];
  return g.node('BatchNormalization', inputs, { epsilon: { f: eps } }, path);
}

/**
 * GN over `groups` of the value `x` of shape `shape` (the batch axis first), then y = scale_c·u +
 * bias_c per channel, written with the op `op`.
 */
function groupNorm(g: GraphBuilder, op: GroupNormOp, path: string, x: string, shape: Shape, groups: number, scale: Float64Array, bias: Float64Array, eps: number): string {
  const c = scale.length;
  if (op === 'GroupNormalization') {
    const inputs = [x, g.float(`${path}.scale`, [c], scale), g.float(`${path}.bias`, [c], bias)];
    return g.node('GroupNormalization', inputs, { num_groups: { i: groups }, epsilon: { f: eps } }, path);
  }
  // Each (sample, group) is a row of (N, G, C/G·H·W), standardized by LayerNormalization over the
  // last axis without bias. Its scale, 1, has shape [1] (ONNX lets Scale broadcast): onnxruntime
  // 1.30 computes the statistics of a LayerNormalization whose scale broadcasts in float64, while
  // one whose scale has the row's shape subtracts a float32 mean (an error of about ulp(mean)/std,
  // 5e-4 at mean/std = 10⁴). 0 in the Reshape targets copies the batch size.
  const rows = g.node('Reshape', [x, g.int64(`${path}.group_shape`, [0, groups, -1])], {}, `${path}.groups`);
  const standardized = g.node('LayerNormalization', [rows, g.one()], { axis: { i: -1 }, epsilon: { f: eps } }, `${path}.standardize`);
  const u = g.node('Reshape', [standardized, g.int64(`${path}.shape`, [0, ...shape.slice(1)])], {}, `${path}.ungroup`);
  const dims = channelDims(c, shape.length);
  const scaled = g.node('Mul', [u, g.float(`${path}.scale`, dims, scale)], {}, `${path}.mul`);
  return g.node('Add', [scaled, g.float(`${path}.bias`, dims, bias)], {}, path);
}

/**
 * HybridNorm in eval, folded: with u = GN(x) (no affine), the BN stage v = (u − μ_c)·r_c uses
 * running statistics (r_c = 1/√(σ²_c + ε)), so y = γ_c(w_c·u + (1 − w_c)·v) + β_c is affine in u:
 * y = a_c·u + b_c with a_c = γ_c(w_c + (1 − w_c)r_c), b_c = β_c − γ_c(1 − w_c)r_c·μ_c (float64).
 */
function hybridScaleBias(m: HybridNorm, c: number): { scale: Float64Array; bias: Float64Array } {
  const { gamma, beta } = affineOf(m, c);
  const mean = values(m.getBuffer('running_mean')!);
  const variance = values(m.getBuffer('running_var')!);
  const rho = m.rho ? values(m.rho.data) : null;
  const scale = new Float64Array(c);
  const bias = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    // w = σ(ρ) per layer or per channel, or the fixed GN weight (as the layer's blendWeights).
    const w = rho ? 1 / (1 + Math.exp(-(rho.length === 1 ? rho[0]! : rho[i]!))) : (m.blend as number);
    const r = 1 / Math.sqrt(variance[i]! + m.eps);
    scale[i] = gamma[i]! * (w + (1 - w) * r);
    bias[i] = beta[i]! - gamma[i]! * (1 - w) * r * mean[i]!;
  }
  return { scale, bias };
}

/**
 * Add the nodes of norm layer `m` (module path `path`) applied to the value `x` of shape
 * `shape` (as traced: the batch axis first), the GroupNorm family with the op `groupNormOp`;
 * returns the output's name.
 */
export function emitNorm(g: GraphBuilder, m: Module, path: string, x: string, shape: Shape, groupNormOp: GroupNormOp): string {
  const refusal = exportRefusal(m, path);
  if (refusal) throw new OnnxExportError(refusal);
  if (!isNormLayer(m)) throw new OnnxExportError(`${path} (${m.constructor.name}) is not a normalization layer`);
  const c = shape[1]!;
  const rank = shape.length;
  const layer = m as unknown as Module & { weight: { data: Tensor } | null; bias: { data: Tensor } | null; eps: number };
  const a = affineOf(layer, c);
  if (!m.normalize) {
    // Switched off: y = γ·x + β with the layer's own parameters.
    let y = x;
    if (layer.weight) y = g.node('Mul', [y, g.float(`${path}.weight`, channelDims(c, rank), a.gamma)], {}, `${path}.mul`);
    if (layer.bias) y = g.node('Add', [y, g.float(`${path}.bias`, channelDims(c, rank), a.beta)], {}, `${path}.add`);
    return y;
  }
  const eps = layer.eps;
  if (m instanceof BatchNorm2d || m instanceof BatchNorm1d) {
    return batchNormalization(g, path, x, a, values(m.getBuffer('running_mean')!), values(m.getBuffer('running_var')!), eps);
  }
  if (m instanceof LayerNorm2d) {
    const dims = channelDims(c, rank);
    const inputs = [x, g.float(`${path}.scale`, dims, a.gamma), g.float(`${path}.bias`, dims, a.beta)];
    return g.node('LayerNormalization', inputs, { axis: { i: 1 }, epsilon: { f: eps } }, path);
  }
  if (m instanceof GroupNorm) return groupNorm(g, groupNormOp, path, x, shape, m.numGroups, a.gamma, a.beta, eps);
  if (m instanceof InstanceNorm2d) {
    if (m.trackRunningStats) {
      return batchNormalization(g, path, x, a, values(m.getBuffer('running_mean')!), values(m.getBuffer('running_var')!), eps);
    }
    const inputs = [x, g.float(`${path}.scale`, [c], a.gamma), g.float(`${path}.bias`, [c], a.beta)];
    return g.node('InstanceNormalization', inputs, { epsilon: { f: eps } }, path);
  }
  if (m instanceof BatchGroupNorm) {
    // Each channel normalized with its group's running statistics: BN with those repeated per channel.
    const groupMean = values(m.getBuffer('running_mean')!);
    const groupVar = values(m.getBuffer('running_var')!);
    const perGroup = c / m.numGroups;
    const mean = Float64Array.from({ length: c }, (_, i) => groupMean[Math.floor(i / perGroup)]!);
    const variance = Float64Array.from({ length: c }, (_, i) => groupVar[Math.floor(i / perGroup)]!);
    return batchNormalization(g, path, x, a, mean, variance, eps);
  }
  if (m instanceof HybridNorm) {
    const { scale, bias } = hybridScaleBias(m, c);
    return groupNorm(g, groupNormOp, path, x, shape, m.numGroups, scale, bias, eps);
  }
  throw new OnnxExportError(`${path}: no ONNX form for ${m.constructor.name}`);
}

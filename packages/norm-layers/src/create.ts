/** `createNorm(kind, numChannels, options)`: models take the norm as a parameter. */
import type { Module } from '@normlab/nn';
import { NormLayerError } from './errors.js';
import type { BlendParameterization, GNPlusOrder } from './functional.js';
import {
  BatchGroupNorm,
  BatchNorm2d,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  NoNorm,
} from './layers.js';
import type { DType } from '@normlab/tensor';

/**
 * A normalization layer by its short name: `bn` BatchNorm2d, `gn` GroupNorm, `ln` LayerNorm2d,
 * `in` InstanceNorm2d, `gnplus` GN+, `hybrid` HybridNorm, `bgn` BatchGroupNorm, `none` NoNorm.
 */
export type NormKind = 'bn' | 'gn' | 'ln' | 'in' | 'gnplus' | 'hybrid' | 'bgn' | 'none';
/** Every `NormKind`, in the order the CLI and the reports list them. */
export const NORM_KINDS: readonly NormKind[] = ['bn', 'gn', 'ln', 'in', 'gnplus', 'hybrid', 'bgn', 'none'];

/** Options of `createNorm`; each applies only to the kinds named, the others ignore it. */
export interface CreateNormOptions {
  /** Channel groups for gn, gnplus, hybrid, bgn (default 32; must divide numChannels). */
  groups?: number;
  /** ε for numerical stability, every kind (default 1e-5; see `CommonNormOptions.eps`). */
  eps?: number;
  /** bn, hybrid, bgn, in (running statistics). */
  momentum?: number | null;
  /** Learn a per-channel scale and shift, every kind (default true; in: false). */
  affine?: boolean;
  /** bn: keep running statistics (default true); in: default false, as PyTorch. */
  trackRunningStats?: boolean;
  /** gnplus. */
  order?: GNPlusOrder;
  /** gnplus: the GN weight as σ(ρ) (`'sigmoid'`, default) or ρ itself (`'raw'`). */
  parameterization?: BlendParameterization;
  /** hybrid. */
  blend?: 'layer' | 'channel' | number;
  /** Reject non-finite inputs and mismatched running updates, every kind (default false). */
  checkFinite?: boolean;
  /** Parameter and buffer dtype, every kind (default float32). */
  dtype?: DType;
}

/**
 * A new normalization layer of `kind` over `numChannels` channels (NCHW input). Throws
 * `NormLayerError` for an unknown kind or options the layer rejects (e.g. groups not dividing
 * numChannels).
 */
export function createNorm(kind: NormKind, numChannels: number, options: CreateNormOptions = {}): Module {
  const groups = options.groups ?? 32;
  const common = {
    ...(options.eps !== undefined ? { eps: options.eps } : {}),
    ...(options.affine !== undefined ? { affine: options.affine } : {}),
    ...(options.checkFinite !== undefined ? { checkFinite: options.checkFinite } : {}),
    ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
  };
  const momentum = options.momentum !== undefined ? { momentum: options.momentum } : {};
  switch (kind) {
    case 'bn':
      return new BatchNorm2d(numChannels, {
        ...common,
        ...momentum,
        ...(options.trackRunningStats !== undefined ? { trackRunningStats: options.trackRunningStats } : {}),
      });
    case 'gn':
      return new GroupNorm(groups, numChannels, common);
    case 'ln':
      return new LayerNorm2d(numChannels, common);
    case 'in': {
      if (options.momentum === null) throw new NormLayerError('createNorm', `kind 'in' needs a numeric momentum, got null`);
      return new InstanceNorm2d(numChannels, {
        ...common,
        ...(options.momentum !== undefined ? { momentum: options.momentum } : {}),
        ...(options.trackRunningStats !== undefined ? { trackRunningStats: options.trackRunningStats } : {}),
      });
    }
    case 'gnplus':
      return new GNPlus(groups, numChannels, {
        ...common,
        ...(options.order !== undefined ? { order: options.order } : {}),
        ...(options.parameterization !== undefined ? { parameterization: options.parameterization } : {}),
      });
    case 'hybrid':
      return new HybridNorm(groups, numChannels, {
        ...common,
        ...momentum,
        ...(options.blend !== undefined ? { blend: options.blend } : {}),
      });
    case 'bgn':
      return new BatchGroupNorm(groups, numChannels, { ...common, ...momentum });
    case 'none':
      return new NoNorm(numChannels);
    default:
      throw new NormLayerError('createNorm', `kind must be one of ${NORM_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
}

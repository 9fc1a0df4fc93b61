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

export type NormKind = 'bn' | 'gn' | 'ln' | 'in' | 'gnplus' | 'hybrid' | 'bgn' | 'none';
export const NORM_KINDS: readonly NormKind[] = ['bn', 'gn', 'ln', 'in', 'gnplus', 'hybrid', 'bgn', 'none'];

export interface CreateNormOptions {
  /** Channel groups for gn, gnplus, hybrid, bgn (default 32; must divide numChannels). */
  groups?: number;
  eps?: number;
  /** bn, hybrid, bgn, in (running statistics). */
  momentum?: number | null;
  affine?: boolean;
  /** bn: keep running statistics (default true); in: default false, as PyTorch. */
  trackRunningStats?: boolean;
  /** gnplus. */
  order?: GNPlusOrder;
  parameterization?: BlendParameterization;
  /** hybrid. */
  blend?: 'layer' | 'channel' | number;
  checkFinite?: boolean;
  dtype?: DType;
}

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

export { NormLayerError } from './errors.js';
export type {
  GroupedLayout,
  BlendLayout,
  Moments,
  GroupedBackwardResult,
  BlendBackwardResult,
} from './kernels/index.js';
export {
  groupedNorm,
  gnPlus,
  hybridNorm,
  rsqrtStats,
  stdEpsStats,
  type SlotStats,
  type BlendSpec,
  type BlendParameterization,
  type GNPlusOrder,
} from './functional.js';
export {
  BatchNorm2d,
  BatchNorm1d,
  GroupNorm,
  LayerNorm2d,
  InstanceNorm2d,
  BatchGroupNorm,
  GNPlus,
  GNPLUS_ORDERS,
  HybridNorm,
  NoNorm,
  isNormLayer,
  setNormalizationLive,
  skippedStatisticsUpdates,
  type CommonNormOptions,
  type BatchNormOptions,
  type GroupNormOptions,
  type InstanceNormOptions,
  type BatchGroupNormOptions,
  type GNPlusOptions,
  type HybridNormOptions,
} from './layers.js';
export { Distortion, DISTORTION_KINDS, type DistortionKind, type DistortionOptions } from './distortion.js';
export { createNorm, NORM_KINDS, type NormKind, type CreateNormOptions } from './create.js';

/**
 * What every model shares: the options (width, norm, groups, channels, classes, seed), the
 * resolved config a checkpoint stores to rebuild the model, and a builder that makes conv and
 * norm layers with He initialization from one seeded generator, so the same config and seed
 * give the same weights bit for bit.
 */
import { type Variable } from '@normlab/autograd';
import { Conv2d, Linear, Module, Parameter, init } from '@normlab/nn';
import {
  type CreateNormOptions,
  Distortion,
  type DistortionKind,
  type DistortionOptions,
  DISTORTION_KINDS,
  NORM_KINDS,
  type NormKind,
  createNorm,
} from '@normlab/norm-layers';
import { Rng, zeros } from '@normlab/tensor';
import { ModelError } from '../errors.js';

/**
 * Distortion after each norm layer (the analysis framework's sensitivity study): the kind and the
 * options of `Distortion` (its magnitudes; the generator comes from the model's seed, per step).
 */
export type DistortionConfig = { kind: DistortionKind } & Omit<DistortionOptions, 'seed' | 'rng'>;

/** Norm options passed through to `createNorm` (everything but the kind and groups). */
export type NormOptions = Omit<CreateNormOptions, 'groups' | 'dtype'>;

/** Options every model takes. */
export interface ModelOptions {
  /** Input channels (1 for MNIST, 3 for CIFAR-10). */
  inChannels?: number;
  numClasses?: number;
  /** Width multiplier: every layer's channel count is scaled by it (at least 1 channel). */
  width?: number;
  /** The normalization layer, by `createNorm` kind. */
  norm?: NormKind;
  /**
   * Channel groups of gn, gnplus, hybrid and bgn. A layer with fewer channels than `groups`
   * uses one group per channel; otherwise the count must divide the layer's channels.
   */
  groups?: number;
  normOptions?: NormOptions;
  /** Seed of the weight initialization (and of dropout / distortion streams). */
  seed?: number;
  /** Zero the weight of the last norm in each residual block (Goyal et al. 2017). */
  zeroInitResidual?: boolean;
  /** Distortion module after each norm layer (cnn, vgg11, resnets); active in training only. */
  distortion?: DistortionConfig | null;
  /** Height (= width) of the square input images: the mlp needs it; the conv nets record it. */
  imageSize?: number;
  /** Shorthand for `normOptions.order` (the gnplus order). */
  order?: CreateNormOptions['order'];
}

/** Everything needed to rebuild a model: its name and its options, defaults filled in. */
export interface ModelConfig extends ModelOptions {
  name: string;
  [key: string]: unknown;
}

export interface ResolvedCommon {
  inChannels: number;
  numClasses: number;
  width: number;
  norm: NormKind;
  groups: number;
  normOptions: NormOptions;
  seed: number;
  zeroInitResidual: boolean;
  distortion: DistortionConfig | null;
  imageSize?: number;
}

const COMMON_KEYS = ['inChannels', 'numClasses', 'width', 'norm', 'groups', 'normOptions', 'seed', 'zeroInitResidual', 'distortion', 'imageSize', 'order'];

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Check the common options (and that no unknown key is present); fill in the defaults. */
export function resolveCommon(model: string, options: Record<string, unknown>, ownKeys: readonly string[]): ResolvedCommon {
  if (options === null || typeof options !== 'object') throw new ModelError(model, `options must be an object, got ${String(options)}`);
  const known = new Set([...COMMON_KEYS, ...ownKeys, 'name']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new ModelError(model, `unknown option '${key}' (known: ${[...known].filter((k) => k !== 'name').join(', ')})`);
  }
  const o = options as ModelOptions;
  const inChannels = o.inChannels ?? 1;
  if (!isPositiveInt(inChannels)) throw new ModelError(model, `inChannels must be a positive integer, got ${String(inChannels)}`);
  const numClasses = o.numClasses ?? 10;
  if (!isPositiveInt(numClasses)) throw new ModelError(model, `numClasses must be a positive integer, got ${String(numClasses)}`);
  const width = o.width ?? 1;
  if (typeof width !== 'number' || !Number.isFinite(width) || width <= 0) {
    throw new ModelError(model, `width must be a positive number, got ${String(width)}`);
  }
  const norm = o.norm ?? 'bn';
  if (!NORM_KINDS.includes(norm)) throw new ModelError(model, `norm must be one of ${NORM_KINDS.join(', ')}, got ${JSON.stringify(norm)}`);
  const groups = o.groups ?? 32;
  if (!isPositiveInt(groups)) throw new ModelError(model, `groups must be a positive integer, got ${String(groups)}`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new ModelError(model, `seed must be an integer, got ${String(seed)}`);
  const normOptions: NormOptions = { ...(o.normOptions ?? {}) };
  if (o.order !== undefined) normOptions.order = o.order;
  if (o.imageSize !== undefined && !isPositiveInt(o.imageSize)) throw new ModelError(model, `imageSize must be a positive integer, got ${String(o.imageSize)}`);
  if (normOptions === null || typeof normOptions !== 'object') throw new ModelError(model, `normOptions must be an object, got ${String(normOptions)}`);
  if ('groups' in normOptions) throw new ModelError(model, `give groups as the 'groups' option, not inside normOptions`);
  const distortion = o.distortion ?? null;
  if (distortion !== null) {
    if (typeof distortion !== 'object' || !DISTORTION_KINDS.includes(distortion.kind)) {
      throw new ModelError(model, `distortion.kind must be one of ${DISTORTION_KINDS.join(', ')}, got ${JSON.stringify((distortion as { kind?: unknown })?.kind)}`);
    }
  }
  return {
    ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}),
    inChannels,
    numClasses,
    width,
    norm,
    groups,
    normOptions: { ...normOptions },
    seed,
    zeroInitResidual: o.zeroInitResidual ?? false,
    distortion: distortion ? { ...distortion } : null,
  };
}

/** Base of every model: keeps its config (for checkpoints) and names its classifier. */
export abstract class ClassifierModel extends Module {
  /** The resolved config: `buildModel(model.config)` rebuilds the same architecture. */
  readonly config: ModelConfig;

  protected constructor(config: ModelConfig) {
    super();
    this.config = config;
  }

  /** The last linear layer (the analysis framework reads its weight gradient). */
  abstract classifier(): Linear;

  abstract override forward(x: Variable): Variable;
}

/**
 * Makes layers for one model: convs (He-normal, fan-out, as torchvision's ResNets), norm layers
 * by kind with the group count fitted to the channels, distortion modules with their own
 * seeds, and the classifier. All draws come from one generator seeded by the model's seed.
 */
export class LayerFactory {
  readonly rng: Rng;
  private distortions = 0;

  constructor(
    readonly model: string,
    readonly common: ResolvedCommon,
  ) {
    this.rng = new Rng(common.seed);
  }

  /** `c` channels scaled by the width multiplier (at least 1). */
  ch(c: number): number {
    return Math.max(1, Math.round(c * this.common.width));
  }

  /** Whether convs before a norm carry a bias (only without normalization). */
  get convBias(): boolean {
    return this.common.norm === 'none';
  }

  conv(inC: number, outC: number, kernel: number, options: { stride?: number; padding?: number; bias?: boolean } = {}): Conv2d {
    // Built without a bias, which is added (zero) afterwards: the bias takes no draws from the
    // generator, so every norm, `none` included, gets the same weights from the same seed and
    // runs of one seed pair exactly across norms.
    const conv = new Conv2d(inC, outC, kernel, {
      stride: options.stride ?? 1,
      padding: options.padding ?? (kernel - 1) / 2,
      bias: false,
      rng: this.rng,
    });
    // He et al. 2015 for ReLU networks; fan-out as torchvision (keeps the backward variance).
    init.kaimingNormal(conv.weight, { mode: 'fan_out', nonlinearity: 'relu', rng: this.rng });
    if (options.bias ?? this.convBias) conv.bias = new Parameter(zeros([outC]));
    return conv;
  }

  /** The group count for a layer with `channels` channels; throws when it does not divide. */
  groupsFor(channels: number): number {
    const g = Math.min(this.common.groups, channels);
    if (channels % g !== 0) {
      throw new ModelError(this.model, `a layer has ${channels} channels, not divisible by groups ${g} (choose groups or width so they divide)`);
    }
    return g;
  }

  norm(channels: number): Module {
    return createNorm(this.common.norm, channels, { ...this.common.normOptions, groups: this.groupsFor(channels) });
  }

  /** A distortion module for a layer of `channels` channels, or null when none is configured. */
  distortion(channels: number): Distortion | null {
    const d = this.common.distortion;
    if (!d) return null;
    const { kind, groups, ...rest } = d;
    const g = Math.min(groups ?? 32, channels);
    if (channels % g !== 0) throw new ModelError(this.model, `distortion groups ${g} do not divide a layer's ${channels} channels`);
    // Each module gets its own stream; the training loop reseeds them per step for exact resumes.
    return new Distortion(kind, { ...rest, groups: g, seed: this.common.seed * 1000 + ++this.distortions });
  }

  linear(inF: number, outF: number): Linear {
    return new Linear(inF, outF, { rng: this.rng });
  }
}

/** Zero a norm layer's affine weight (no-op for layers without one, e.g. `none`). */
export function zeroNormWeight(norm: Module): void {
  const w = (norm as unknown as { weight?: unknown }).weight;
  if (w instanceof Parameter) w.data = zeros(w.data.shape, { dtype: w.data.dtype });
}

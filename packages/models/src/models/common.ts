/**
 * What every model shares: the options (width, norm, groups, channels, classes, seed), the
 * resolved config a checkpoint stores to rebuild the model, and a builder that makes conv and
 * norm layers with He initialization from one seeded generator, so the same config and seed
 * give the same weights bit for bit.
 */
import { type Variable } from '@normlab/autograd';
import { Conv2d, Linear, Module, Parameter, init } from '@normlab/nn';
import {
  type BlendParameterization,
  type CreateNormOptions,
  Distortion,
  type DistortionKind,
  type DistortionOptions,
  DISTORTION_KINDS,
  GNPLUS_ORDERS,
  NORM_KINDS,
  type NormKind,
  createNorm,
} from '@normlab/norm-layers';
import { Rng, Tensor, zeros } from '@normlab/tensor';
import { z } from 'zod';
import { ModelError } from '../errors.js';
import { describeIssues } from '../validate.js';

/**
 * Distortion after each norm layer (the analysis framework's sensitivity study): the kind and the
 * options of `Distortion` (its magnitudes; the generator comes from the model's seed, per step).
 */
export type DistortionConfig = {
  /** What the distortion does (see `Distortion`). */
  kind: DistortionKind;
} & Omit<DistortionOptions, 'seed' | 'rng'>;

/** Norm options passed through to `createNorm` (everything but the kind and groups). */
export type NormOptions = Omit<CreateNormOptions, 'groups' | 'dtype'>;

/** Options every model takes. */
export interface ModelOptions {
  /** Input channels (1 for MNIST, 3 for CIFAR-10). */
  inChannels?: number;
  /** Classes the classifier outputs (default 10). */
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
  /** Options of every norm layer (eps, momentum, affine, …), as `createNorm` takes them. */
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
  /** The model's `buildModel` name, e.g. `resnet20`. */
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

/** The most channels (or features) any one layer may have; also caps inChannels, numClasses, groups. */
export const MAX_CHANNELS = 65536;
/** The largest input image side (the mlp's input size depends on it). */
export const MAX_IMAGE_SIZE = 4096;
/** The most entries of `hidden` (mlp) and `channels` (cnn). */
export const MAX_LAYERS = 64;
/** The largest width multiplier (each layer's channels are capped by MAX_CHANNELS too). */
export const MAX_WIDTH = 1024;
/**
 * The most weights (conv and linear values) a model may have: 2^29 float32 values are 2 GiB, the
 * most a checkpoint file holds. Counted as the layers are made, before each is allocated.
 */
export const MAX_PARAMETERS = 2 ** 29;

/** A layer's channel or feature count (before the width multiplier). */
export const layerSize = z.int().min(1).max(MAX_CHANNELS);

/** `normOptions`: what `createNorm` takes besides kind, groups and dtype (ranges: the layers check them). */
const NORM_OPTIONS_SCHEMA = z.strictObject({
  eps: z.number().optional(),
  momentum: z.number().nullable().optional(),
  affine: z.boolean().optional(),
  trackRunningStats: z.boolean().optional(),
  order: z.enum(GNPLUS_ORDERS).optional(),
  parameterization: z.enum(['sigmoid', 'raw'] as const satisfies readonly BlendParameterization[]).optional(),
  blend: z.union([z.enum(['layer', 'channel']), z.number()]).optional(),
  checkFinite: z.boolean().optional(),
}) satisfies z.ZodType<NormOptions>;

/** `distortion`: a kind and the magnitudes of `Distortion` (its generator comes from the model's seed). */
const DISTORTION_SCHEMA = z.strictObject({
  kind: z.enum(DISTORTION_KINDS),
  mean: z.number().optional(),
  std: z.number().optional(),
  groups: layerSize.optional(),
  muRange: z.number().optional(),
  sigmaLow: z.number().optional(),
  sigmaHigh: z.number().optional(),
  meanJitter: z.number().optional(),
  scaleStd: z.number().optional(),
}) satisfies z.ZodType<DistortionConfig>;

/** The options every model takes, as a zod shape (all optional: defaults are filled by `resolveCommon`). */
const COMMON_SHAPE = {
  name: z.string().optional(),
  inChannels: layerSize.optional(),
  numClasses: layerSize.optional(),
  width: z.number().positive().max(MAX_WIDTH).optional(),
  norm: z.enum(NORM_KINDS).optional(),
  groups: layerSize.optional(),
  normOptions: NORM_OPTIONS_SCHEMA.optional(),
  seed: z.int().optional(),
  zeroInitResidual: z.boolean().optional(),
  distortion: DISTORTION_SCHEMA.nullable().optional(),
  imageSize: z.int().min(1).max(MAX_IMAGE_SIZE).optional(),
  order: z.enum(GNPLUS_ORDERS).optional(),
};

/**
 * The declared schema of one model's config: the common options plus the model's own, unknown keys
 * refused. Sizes are bounded (MAX_CHANNELS, MAX_IMAGE_SIZE, MAX_LAYERS, MAX_WIDTH), so a config
 * read from a file cannot ask for an absurd model.
 */
export function modelSchema<S extends z.ZodRawShape>(own: S) {
  return z.strictObject({ ...COMMON_SHAPE, ...own });
}

export type ModelSchema = ReturnType<typeof modelSchema>;

/** Options for models with no options of their own (the resnets). */
export const COMMON_SCHEMA = modelSchema({});

/** Check the options against the model's schema (a `ModelError` naming each wrong field); fill in the common defaults. */
export function resolveCommon(model: string, options: Record<string, unknown>, schema: ModelSchema): ResolvedCommon {
  const r = schema.safeParse(options);
  if (!r.success) throw new ModelError(model, describeIssues(r.error, options, { keyNoun: 'option' }));
  const o = options as ModelOptions;
  const normOptions: NormOptions = { ...(o.normOptions ?? {}) };
  if (o.order !== undefined) normOptions.order = o.order;
  const distortion = o.distortion ?? null;
  return {
    ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}),
    inChannels: o.inChannels ?? 1,
    numClasses: o.numClasses ?? 10,
    width: o.width ?? 1,
    norm: o.norm ?? 'bn',
    groups: o.groups ?? 32,
    normOptions,
    seed: o.seed ?? 0,
    zeroInitResidual: o.zeroInitResidual ?? false,
    distortion: distortion ? { ...distortion } : null,
  };
}

/** Base of every model: keeps its config (for checkpoints) and names its classifier. */
export abstract class ClassifierModel extends Module {
  /** The resolved config: `buildModel(model.config)` rebuilds the same architecture. */
  readonly config: ModelConfig;

  /** Subclasses pass their resolved config. */
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
  /** The generator every weight is drawn from, seeded by the model's seed. */
  readonly rng: Rng;
  private distortions = 0;
  /** Conv and linear values made so far (at most MAX_PARAMETERS). */
  private parameters = 0;
  /** Set while `shapeOnly` builds: layers get their names and shapes but no storage. */
  private readonly shapeOnly = shapeOnlyBuilds > 0;
  /** Shape-only norms are mirrors of one real norm per channel count. */
  private readonly normTemplates = new Map<number, Module>();

  /** A factory for the model named `model` (used in errors) with the resolved options `common`. */
  constructor(
    /** The model's name, used in errors. */
    readonly model: string,
    /** The model's options, defaults filled in. */
    readonly common: ResolvedCommon,
  ) {
    this.rng = new Rng(common.seed);
  }

  /** `c` channels scaled by the width multiplier (at least 1, at most MAX_CHANNELS). */
  ch(c: number): number {
    const out = Math.max(1, Math.round(c * this.common.width));
    if (out > MAX_CHANNELS) throw new ModelError(this.model, `width ${this.common.width} makes a layer ${out} channels wide, more than the ${MAX_CHANNELS} allowed`);
    return out;
  }

  /** Count `values` more weights; refuse the model before allocating past MAX_PARAMETERS. */
  private reserve(values: number): void {
    this.parameters += values;
    if (this.parameters > MAX_PARAMETERS) {
      throw new ModelError(this.model, `the model would have more than ${MAX_PARAMETERS} weights (2 GiB of float32, the most a checkpoint holds); reduce width, hidden, channels or imageSize`);
    }
  }

  /** Whether convs before a norm carry a bias (only without normalization). */
  get convBias(): boolean {
    return this.common.norm === 'none';
  }

  /**
   * A `kernel`×`kernel` conv from `inC` to `outC` channels, He-normal (fan-out). `stride` default
   * 1, `padding` default 0, `bias` default: only without normalization (`convBias`).
   */
  conv(
    inC: number,
    outC: number,
    kernel: number,
    options: {
      /** Stride in both directions (default 1). */
      stride?: number;
      /** Zero padding on every side (default 0). */
      padding?: number;
      /** Learn a bias (default `convBias`). */
      bias?: boolean;
    } = {},
  ): Conv2d {
    const bias = options.bias ?? this.convBias;
    this.reserve(outC * inC * kernel * kernel + (bias ? outC : 0));
    if (this.shapeOnly) return ShapeOnlyModule.layer([outC, inC, kernel, kernel], bias ? [outC] : null) as unknown as Conv2d;
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
    if (bias) conv.bias = new Parameter(zeros([outC]));
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

  /** The model's norm layer for `channels` channels, groups fitted by `groupsFor`. */
  norm(channels: number): Module {
    const make = () => createNorm(this.common.norm, channels, { ...this.common.normOptions, groups: this.groupsFor(channels) });
    if (!this.shapeOnly) return make();
    let template = this.normTemplates.get(channels);
    if (!template) this.normTemplates.set(channels, (template = make()));
    return ShapeOnlyModule.mirror(template);
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

  /** A linear layer from `inF` to `outF` features (with bias), initialized as `Linear` does. */
  linear(inF: number, outF: number): Linear {
    this.reserve(outF * inF + outF);
    if (this.shapeOnly) return ShapeOnlyModule.layer([outF, inF], [outF]) as unknown as Linear;
    return new Linear(inF, outF, { rng: this.rng });
  }
}

let shapeOnlyBuilds = 0;

/**
 * Run `build` with shape-only layers: every conv, linear and norm a `LayerFactory` makes has the
 * state-dict names and shapes of the real layer but no storage (stride-0 views of one element),
 * and no random draws. What the model's `stateDict()` then lists is what a real build would hold,
 * at the cost of a few small objects per layer whatever the widths: how a checkpoint's tensors
 * are checked against its config before anything is allocated. The result cannot run.
 */
export function shapeOnly<T>(build: () => T): T {
  shapeOnlyBuilds++;
  try {
    return build();
  } finally {
    shapeOnlyBuilds--;
  }
}

const ONE = new Float32Array(1);

/** A tensor of `shape` without storage: every element is the same one float. */
function shapeOnlyTensor(shape: readonly number[]): Tensor {
  return new Tensor(ONE, shape, shape.map(() => 0));
}

/** A stand-in for a layer in a shape-only build: parameters, buffers and children, names and shapes only. */
class ShapeOnlyModule extends Module {
  /** A conv or linear layer: `weight`, then `bias` (their order in `Conv2d` and `Linear`). */
  static layer(weight: readonly number[], bias: readonly number[] | null): ShapeOnlyModule {
    const m = new ShapeOnlyModule();
    m.addParameter('weight', weight);
    if (bias) m.addParameter('bias', bias);
    return m;
  }

  /** The same parameter, buffer and child names and shapes as `template`, recursively. */
  static mirror(template: Module): ShapeOnlyModule {
    const m = new ShapeOnlyModule();
    for (const [name, p] of Object.entries(template)) if (p instanceof Parameter) m.addParameter(name, p.data.shape);
    // Buffer names cannot contain '.', so the undotted ones are the template's own.
    for (const [name, b] of template.namedBuffers()) if (!name.includes('.')) m.registerBuffer(name, shapeOnlyTensor(b.shape));
    for (const [name, child] of template.namedChildren()) m.registerModule(name, ShapeOnlyModule.mirror(child));
    return m;
  }

  private addParameter(name: string, shape: readonly number[]): void {
    Object.defineProperty(this, name, { value: new Parameter(shapeOnlyTensor(shape)), enumerable: true, writable: true, configurable: true });
  }

  forward(): never {
    throw new ModelError('shapeOnly', 'a shape-only model has no weights and cannot run');
  }
}

/** Zero a norm layer's affine weight (no-op for layers without one, e.g. `none`). */
export function zeroNormWeight(norm: Module): void {
  const w = (norm as unknown as { weight?: unknown }).weight;
  if (w instanceof Parameter) w.data = zeros(w.data.shape, { dtype: w.data.dtype });
}

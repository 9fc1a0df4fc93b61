/**
 * The records the runner writes and the report reads. A run's identity is its `RunSpec`: every
 * hyperparameter that changes the numbers. Roles (sweep point, clean baseline, distorted run,
 * landscape run) are derived from the spec, so one run serves every role it fits.
 *
 * Each record type is declared twice, side by side: as an interface, which documents it and is
 * the name every function uses, and as a zod schema, which checks what is read back
 * (`parseRecord`); `schemaOf` stops compiling if the two ever differ. Objects are strict: an
 * unknown key (a typo, or `__proto__`) is an error naming it, never dropped or copied onto a
 * prototype.
 */
import { z } from 'zod';
import type { PlannedRun } from './profiles.js';
import type { RunStability } from './stability.js';

/**
 * A measured value. `JSON.stringify` writes NaN and ±Infinity (a diverged run's test loss) as
 * null; reading turns null back into NaN, so a record read back equals the one written.
 */
const measured = z.number().nullable().transform((v) => v ?? Number.NaN);
const count = z.number().int().min(0);
const positiveInt = z.number().int().min(1);

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/**
 * `schemaOf<T>()(schema)`: the schema typed as the validator of the interface `T` (so the docs and
 * every signature name `T`), where it stops compiling ("not assignable to parameter of type
 * never") unless what the schema parses to is exactly `T`: the interface and the schema cannot drift.
 */
function schemaOf<T>() {
  return <S extends z.ZodType>(schema: S & (Same<z.output<S>, T> extends true ? unknown : never)): z.ZodType<T> => schema as unknown as z.ZodType<T>;
}

/** Validates a {@link DatasetName}; its `options` list them. */
export const DatasetNameSchema = z.enum(['mnist', 'fashion-mnist', 'cifar10', 'synthetic']);
/** A dataset a run trains on: `synthetic` is generated images for smoke tests (`loadSplit`). */
export type DatasetName = z.infer<typeof DatasetNameSchema>;

/** Validates a {@link NormName}; its `options` list them in the order tables use. */
export const NormNameSchema = z.enum(['bn', 'gn', 'ln', 'in', 'gnplus', 'hybrid', 'bgn', 'none']);
/**
 * The normalization of a run's network: BatchNorm, GroupNorm, LayerNorm, InstanceNorm, GNPlus
 * (GN+), HybridNorm, batch-group norm, or none (identity, the unnormalized reference).
 */
export type NormName = z.infer<typeof NormNameSchema>;

/** Validates a {@link GNPlusOrder}. */
export const GNPlusOrderSchema = z.enum(['gn-first', 'bn-first', 'parallel']);
/** Where GNPlus puts its batch stage: after the group stage (`gn-first`, as published), before it, or beside it. */
export type GNPlusOrder = z.infer<typeof GNPlusOrderSchema>;

/** A distortion inserted after every norm layer of a run's network (the sensitivity analysis). */
export interface DistortionSpec {
  /** `additive`: Gaussian noise added per sample and group of channels; `santurkar`: Santurkar et al.'s noisy BN (random shift and scale). */
  kind: 'additive' | 'santurkar';
  /**
   * Scale of the distortion, ≥ 0. `additive`: n ~ N(0.5·m, 1.25·m), m = 1 being the authors'
   * setting; `santurkar`: the noisy-BN ranges of Santurkar et al. scaled by m (m = 1 as published).
   */
  magnitude: number;
}
/** Validates a {@link DistortionSpec}. */
export const DistortionSpecSchema = schemaOf<DistortionSpec>()(z.strictObject({ kind: z.enum(['additive', 'santurkar']), magnitude: z.number().min(0) }));

/** A regularizer added to a run's training (the sensitivity analysis), one of four kinds. */
export type RegularizerSpec =
  | {
      /** Dropout after every norm layer. */
      kind: 'dropout';
      /** Probability of dropping an activation, in [0, 1]. */
      p: number;
    }
  | {
      /** Weight decay on top of the spec's own `weightDecay`. */
      kind: 'weightDecay';
      /** The added L2 coefficient, ≥ 0. */
      value: number;
    }
  | {
      /** Label smoothing of the cross-entropy targets. */
      kind: 'labelSmoothing';
      /** The smoothing ε in [0, 1]: the probability mass spread over all classes. */
      value: number;
    }
  | {
      /** Random crop and horizontal flip of the training images. */
      kind: 'cropFlip';
      /** Zero padding in pixels on each side before the crop back to the original size. */
      padding: number;
    };
/** Validates a {@link RegularizerSpec}. */
export const RegularizerSpecSchema = schemaOf<RegularizerSpec>()(z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('dropout'), p: z.number().min(0).max(1) }),
  z.strictObject({ kind: z.literal('weightDecay'), value: z.number().min(0) }),
  z.strictObject({ kind: z.literal('labelSmoothing'), value: z.number().min(0).max(1) }),
  z.strictObject({ kind: z.literal('cropFlip'), padding: count }),
]));

/** Validates a {@link RunRole}; its `options` list them in report order. */
export const RunRoleSchema = z.enum(['sweep', 'stability', 'sensitivity', 'landscape', 'window']);
/** What a plan runs a run for: a point of the batch-size sweep, or a run of one of the analyses. */
export type RunRole = z.infer<typeof RunRoleSchema>;

/**
 * The window ablation: training cut into `periods` equal periods (`periodBounds`), normalization
 * live in period `live` (1-based) only, identity plus affine in the others.
 */
export interface WindowSpec {
  /** The period normalization is live in, 1..`periods`. */
  live: number;
  /** How many equal periods training is cut into, ≥ 1. */
  periods: number;
}
/** Validates a {@link WindowSpec}, `live` ≤ `periods` included. */
export const WindowSpecSchema = schemaOf<WindowSpec>()(z
  .strictObject({ live: positiveInt, periods: positiveInt })
  .refine((w) => w.live <= w.periods, { message: 'live must be a period in 1..periods', path: ['live'] }));

/** Everything that changes a run's numbers: its identity (`runId`). */
export interface RunSpec {
  /** The dataset it trains and tests on. */
  dataset: DatasetName;
  /** The architecture, a name `buildModel` of `@normlab/models` knows (`cnn`, `resnet20`, …). */
  model: string;
  /** Width multiplier of the model (1 = as published), > 0. */
  width: number;
  /** The normalization after each convolution. */
  norm: NormName;
  /** Groups of the group-based norms (GN, GNPlus, HybridNorm, BGN); the others ignore it. */
  groups: number;
  /** GNPlus only: where the batch stage sits (absent: `gn-first`). */
  order?: GNPlusOrder;
  /** Training batch size. */
  batchSize: number;
  /** `sgd` (with `momentum`) or `adam`. */
  optimizer: 'sgd' | 'adam';
  /** Initial learning rate, > 0. */
  lr: number;
  /** SGD momentum, ≥ 0 (Adam ignores it). */
  momentum: number;
  /** L2 weight decay of the optimizer, ≥ 0. */
  weightDecay: number;
  /** Passes over the (limited) training set. */
  epochs: number;
  /** LR ×0.1 at these fractions of training (the authors: [0.5, 0.75]); empty for constant LR. */
  milestones: number[];
  /** Training examples used, the first of the split (`ALL_EXAMPLES`: all). */
  trainLimit: number;
  /** Test examples evaluated, the first of the split (`ALL_EXAMPLES`: all). */
  testLimit: number;
  /** Seeds the initialization, the shuffling, dropout and the distortions' noise. */
  seed: number;
  /** A distortion after every norm layer (sensitivity runs); absent: none. */
  distortion?: DistortionSpec;
  /** A regularizer (sensitivity runs); absent: none. */
  regularizer?: RegularizerSpec;
  /** Landscape instrumentation: last-layer gradient change every step, Santurkar probe every k steps. */
  probes?: {
    /** Probe every this many steps (k ≥ 1). */
    santurkarEvery: number;
    /** How many step sizes each probe tries (`santurkarMultipliers(multipliers)`: spread over [1/2, 4]·lr). */
    multipliers: number;
  };
  /** Test-time Gaussian pixel noise levels (σ, in [0, 1] pixel units) evaluated after training. */
  evalNoise?: number[];
  /** Extra eval batch sizes evaluated after training (GNPlus's batch-dependent eval). */
  evalBatchSizes?: number[];
  /** Window ablation: normalization live in one period of training only. */
  window?: WindowSpec;
  /**
   * Training-set augmentation of every run of a setup (the authors' CIFAR-10 recipe: random crop
   * with `cropPadding` pixels of zero padding, then a horizontal flip with probability 1/2),
   * before the per-channel standardization. Absent: none.
   */
  augment?: {
    /** Zero padding in pixels on each side before the random crop; 0: no crop. */
    cropPadding: number;
    /** Whether to flip horizontally with probability 1/2. */
    flip: boolean;
  };
}
/** Validates a {@link RunSpec}. */
export const RunSpecSchema = schemaOf<RunSpec>()(z.strictObject({
  dataset: DatasetNameSchema,
  model: z.string().min(1),
  width: z.number().positive(),
  norm: NormNameSchema,
  groups: positiveInt,
  order: GNPlusOrderSchema.optional(),
  batchSize: positiveInt,
  optimizer: z.enum(['sgd', 'adam']),
  lr: z.number().positive(),
  momentum: z.number().min(0),
  weightDecay: z.number().min(0),
  epochs: positiveInt,
  milestones: z.array(z.number().min(0).max(1)),
  trainLimit: positiveInt,
  testLimit: positiveInt,
  seed: z.number().int(),
  distortion: DistortionSpecSchema.optional(),
  regularizer: RegularizerSpecSchema.optional(),
  probes: z.strictObject({ santurkarEvery: positiveInt, multipliers: positiveInt }).optional(),
  evalNoise: z.array(z.number().min(0)).optional(),
  evalBatchSizes: z.array(positiveInt).optional(),
  window: WindowSpecSchema.optional(),
  augment: z.strictObject({ cropPadding: z.number().int().min(0), flip: z.boolean() }).optional(),
}));

/** Validates a run id (`runId(spec)`): also a file name, so path separators and dot-only names are out. */
export const RunIdSchema = z.string().regex(/^(?!\.)[A-Za-z0-9._-]{1,200}$/, 'expected a run id (letters, digits, ".", "_", "-")');

/** Santurkar et al.'s landscape probe at one training step (see `santurkarProbe`). */
export interface SanturkarPoint {
  /** The 0-based training step, an index into `RunRecord.steps`. */
  step: number;
  /** max − min of the loss along −g over the probed step sizes (NaN: not finite). */
  lossVariation: number;
  /** max ‖∇L(w) − ∇L(w − ηg)‖₂ over the probed step sizes (NaN: not finite). */
  gradPredictiveness: number;
  /** Effective β-smoothness: max ‖∇L(w) − ∇L(w − ηg)‖₂ / ‖ηg‖₂ (NaN: not finite). */
  betaSmoothness: number;
}
/** Validates a {@link SanturkarPoint}. */
export const SanturkarPointSchema = schemaOf<SanturkarPoint>()(z.strictObject({
  step: count,
  lossVariation: measured,
  gradPredictiveness: measured,
  betaSmoothness: measured,
}));

/** Validates a `RunStability` (within-run stability; see `runStability`). */
export const RunStabilitySchema = schemaOf<RunStability>()(z.strictObject({ lossStd: measured, spikes: count, gradNormVar: measured, finalLoss: measured }));

/** One evaluation on the test set during training. */
export interface EvalPoint {
  /** Epochs completed when it was taken. */
  epoch: number;
  /** Training steps completed when it was taken. */
  step: number;
  /** Mean cross-entropy on the test set (NaN: not finite). */
  testLoss: number;
  /** Test accuracy, a fraction in [0, 1] (NaN: not finite). */
  testAccuracy: number;
}

/** Test accuracy of a trained network under Gaussian pixel noise. */
export interface NoiseAccuracy {
  /** Standard deviation of the noise, in [0, 1] pixel units (added before standardization, clamped to the pixel range). */
  sigma: number;
  /** Test accuracy under that noise, a fraction in [0, 1] (NaN: not finite). */
  testAccuracy: number;
}

/** Test accuracy of a trained network evaluated at one batch size (GNPlus's eval depends on it). */
export interface EvalBatchAccuracy {
  /** The eval batch size. */
  batchSize: number;
  /** Test accuracy at that batch size, a fraction in [0, 1] (NaN: not finite). */
  testAccuracy: number;
}

/** What a finished run measured: one line of results, `runs/<id>.json` of an output folder. */
export interface RunRecord {
  /** The run's id, `runId(spec)`. */
  id: string;
  /** The run's identity: everything that changes its numbers. */
  spec: RunSpec;
  /** What the plan ran it for: `sweep`, `stability`, `sensitivity`, `landscape`, `window`. */
  roles: RunRole[];
  /** `diverged`: training stopped at a non-finite loss (see `note`). */
  status: 'ok' | 'diverged';
  /** Per training step, one entry each (finite values only: a diverged step is not stored). */
  steps: {
    /** Training loss of the step's batch. */
    loss: number[];
    /** Training accuracy of the step's batch, a fraction in [0, 1]. */
    accuracy: number[];
    /** Global L2 norm of the gradient. */
    gradNorm: number[];
    /** Learning rate the step used. */
    lr: number[];
  };
  /** Per epoch evaluation, and a last one at the end of training. */
  evals: EvalPoint[];
  /** The trained network on the test set. */
  final: {
    /** Test accuracy at the end of training, a fraction in [0, 1] (NaN: not finite). */
    testAccuracy: number;
    /** The best test accuracy of `evals`. */
    bestTestAccuracy: number;
    /** Test loss at the end of training (NaN: not finite). */
    testLoss: number;
  };
  /** Within-run stability of the training loss and gradient norm. */
  stability: RunStability;
  /** Landscape measurements, when the spec has `probes`. */
  landscape?: {
    /** ‖g_t − g_{t−1}‖₂ of the last linear layer's weight gradient; entry i is for step i + 1. */
    gradChange: number[];
    /** Santurkar et al.'s probe every `probes.santurkarEvery` steps. */
    santurkar: SanturkarPoint[];
  };
  /** Test accuracy under each `evalNoise` level, when the spec has some. */
  noise?: NoiseAccuracy[];
  /** Test accuracy at each `evalBatchSizes` batch size, when the spec has some. */
  evalBatch?: EvalBatchAccuracy[];
  /** Why a run stopped early (a non-finite loss), if it did. */
  note?: string;
}
/** Validates a {@link RunRecord}. */
export const RunRecordSchema = schemaOf<RunRecord>()(z.strictObject({
  id: RunIdSchema,
  spec: RunSpecSchema,
  roles: z.array(RunRoleSchema),
  status: z.enum(['ok', 'diverged']),
  steps: z
    .strictObject({ loss: z.array(z.number()), accuracy: z.array(z.number()), gradNorm: z.array(z.number()), lr: z.array(z.number()) })
    .refine((s) => s.accuracy.length === s.loss.length && s.gradNorm.length === s.loss.length && s.lr.length === s.loss.length, {
      message: 'loss, accuracy, gradNorm and lr must have one entry per step each',
    }),
  evals: z.array(z.strictObject({ epoch: count, step: count, testLoss: measured, testAccuracy: measured })),
  final: z.strictObject({ testAccuracy: measured, bestTestAccuracy: measured, testLoss: measured }),
  stability: RunStabilitySchema,
  landscape: z.strictObject({ gradChange: z.array(measured), santurkar: z.array(SanturkarPointSchema) }).optional(),
  noise: z.array(z.strictObject({ sigma: z.number().min(0), testAccuracy: measured })).optional(),
  evalBatch: z.array(z.strictObject({ batchSize: positiveInt, testAccuracy: measured })).optional(),
  note: z.string().optional(),
}));

/** Wall time and machine facts of a run, kept apart from the records so results are reproducible bit for bit. */
export interface RunTiming {
  /** The run's id, `runId(spec)`. */
  id: string;
  /** Wall-clock seconds the run took, data loading and evaluations included. */
  wallSeconds: number;
  /** Training steps per wall-clock second. */
  stepsPerSecond: number;
  /** When the run started (ISO 8601); absent in timings.jsonl of older output folders. */
  startedAt?: string;
  /** The compute backend it ran on. */
  backend?: string;
  /** CPU time of the process while it trained the run (user + system, all threads); absent in older timings. */
  cpuSeconds?: number;
}
/** Validates a {@link RunTiming}. */
export const RunTimingSchema = schemaOf<RunTiming>()(z.strictObject({
  id: RunIdSchema,
  wallSeconds: z.number().min(0),
  stepsPerSecond: z.number().min(0),
  startedAt: z.iso.datetime().optional(),
  backend: z.string().optional(),
  cpuSeconds: z.number().min(0).optional(),
}));

/** Validates a `PlannedRun`: one run of a plan, its identity, what it trains, and what the report uses it for. */
export const PlannedRunSchema = schemaOf<PlannedRun>()(z.strictObject({ id: RunIdSchema, spec: RunSpecSchema, roles: z.array(RunRoleSchema).min(1) }));

/**
 * A selection of a profile's plan (`selectRuns`; `normlab reproduce --roles … --norms …
 * --batch-sizes … --seeds … --epochs …`): each filter keeps the runs it names, an absent one
 * keeps all. Norms are spelled as `variantName` spells them (`bn`, `gnplus:bn-first`);
 * `batchSizes` filters the sweep's runs only; `epochs` overrides the profile's epochs before the
 * plan is made, so its runs are other runs than the profile's (other specs, other ids).
 */
export interface Selection {
  /** Keep the runs that serve one of these roles. */
  roles?: RunRole[];
  /** Keep the runs of these norm variants (`variantName`). */
  norms?: string[];
  /** Keep the sweep runs at these batch sizes. */
  batchSizes?: number[];
  /** Keep the runs of these seeds. */
  seeds?: number[];
  /** Train every run for this many epochs instead of the profile's. */
  epochs?: number;
}
/** Validates a {@link Selection}: every filter present names at least one value. */
export const SelectionSchema = schemaOf<Selection>()(z.strictObject({
  roles: z.array(RunRoleSchema).min(1).optional(),
  norms: z.array(z.string().min(1)).min(1).optional(),
  batchSizes: z.array(positiveInt).min(1).optional(),
  seeds: z.array(z.number().int()).min(1).optional(),
  epochs: positiveInt.optional(),
}));

/**
 * A reproduction's plan (`plan.json` of its output folder, `normlab reproduce --plan`): the
 * profile it came from, the selection of it that was asked for (absent: the whole profile), the
 * periods its report uses, and the runs in plan order (the order shards are dealt from).
 */
export interface Plan {
  /** The profile's name (`PROFILE_NAMES`). */
  profile: string;
  /** The dataset the profile was planned for. */
  dataset: DatasetName;
  /** The selection of the profile's runs; absent: all of them. */
  selection?: Selection;
  /** Periods the report cuts training into (the profile's `periods`). */
  periods: number;
  /** The runs, in plan order. */
  runs: PlannedRun[];
}
/** Validates a {@link Plan}. */
export const PlanSchema = schemaOf<Plan>()(z.strictObject({
  profile: z.string().min(1),
  dataset: DatasetNameSchema,
  selection: SelectionSchema.optional(),
  periods: positiveInt,
  runs: z.array(PlannedRunSchema),
}));

/** The machine and the reproduction a report was made from (its "Environment" section). */
export interface Environment {
  /** The version of `@normlab/analysis` that made the report. */
  normlabVersion: string;
  /** The Node.js version (`process.version`). */
  node: string;
  /** Operating system, its release and the architecture (`linux 6.1.0 x64`). */
  platform: string;
  /** The CPU model. */
  cpus: string;
  /** Logical CPU cores. */
  cores: number;
  /** Total memory in GiB. */
  memoryGiB: number;
  /** The compute backend the runs used. */
  backend: string;
  /** The profile's name. */
  profile: string;
  /** The dataset's name. */
  dataset: string;
  /** Wall-clock seconds of the reproduction. */
  wallSeconds: number;
  /** When the reproduction started (ISO 8601). */
  startedAt: string;
  /** Runs in the report. */
  runs: number;
}

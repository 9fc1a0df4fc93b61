/**
 * The records the runner writes and the report reads. A run's identity is its `RunSpec`: every
 * hyperparameter that changes the numbers. Roles (sweep point, clean baseline, distorted run,
 * landscape run) are derived from the spec, so one run serves every role it fits.
 *
 * Each record type is declared once, as a zod schema, and its TypeScript type is derived from it:
 * what is read back (`parseRecord`) is checked against the same declaration the writer is typed
 * by. Objects are strict: an unknown key (a typo, or `__proto__`) is an error naming it, never
 * dropped or copied onto a prototype.
 */
import { z } from 'zod';
import type { RunStability } from './stability.js';

/**
 * A measured value. `JSON.stringify` writes NaN and ±Infinity (a diverged run's test loss) as
 * null; reading turns null back into NaN, so a record read back equals the one written.
 */
const measured = z.number().nullable().transform((v) => v ?? Number.NaN);
const count = z.number().int().min(0);
const positiveInt = z.number().int().min(1);

export const DatasetNameSchema = z.enum(['mnist', 'fashion-mnist', 'cifar10', 'synthetic']);
export type DatasetName = z.infer<typeof DatasetNameSchema>;

export const NormNameSchema = z.enum(['bn', 'gn', 'ln', 'in', 'gnplus', 'hybrid', 'bgn', 'none']);
export type NormName = z.infer<typeof NormNameSchema>;

export const GNPlusOrderSchema = z.enum(['gn-first', 'bn-first', 'parallel']);
export type GNPlusOrder = z.infer<typeof GNPlusOrderSchema>;

export const DistortionSpecSchema = z.strictObject({
  kind: z.enum(['additive', 'santurkar']),
  /**
   * Scale of the distortion. `additive`: n ~ N(0.5·m, 1.25·m), m = 1 being the authors' setting;
   * `santurkar`: the noisy-BN ranges of Santurkar et al. scaled by m (m = 1 as published).
   */
  magnitude: z.number().min(0),
});
export type DistortionSpec = z.infer<typeof DistortionSpecSchema>;

export const RegularizerSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('dropout'), p: z.number().min(0).max(1) }),
  z.strictObject({ kind: z.literal('weightDecay'), value: z.number().min(0) }),
  z.strictObject({ kind: z.literal('labelSmoothing'), value: z.number().min(0).max(1) }),
  z.strictObject({ kind: z.literal('cropFlip'), padding: count }),
]);
export type RegularizerSpec = z.infer<typeof RegularizerSpecSchema>;

export const RunRoleSchema = z.enum(['sweep', 'stability', 'sensitivity', 'landscape', 'window']);
export type RunRole = z.infer<typeof RunRoleSchema>;

/**
 * The window ablation: training cut into `periods` equal periods (`periodBounds`), normalization
 * live in period `live` (1-based) only, identity plus affine in the others.
 */
export const WindowSpecSchema = z
  .strictObject({ live: positiveInt, periods: positiveInt })
  .refine((w) => w.live <= w.periods, { message: 'live must be a period in 1..periods', path: ['live'] });
export type WindowSpec = z.infer<typeof WindowSpecSchema>;

export const RunSpecSchema = z.strictObject({
  dataset: DatasetNameSchema,
  model: z.string().min(1),
  /** Width multiplier of the model (1 = as published). */
  width: z.number().positive(),
  norm: NormNameSchema,
  groups: positiveInt,
  /** GNPlus only: where the batch stage sits. */
  order: GNPlusOrderSchema.optional(),
  batchSize: positiveInt,
  optimizer: z.enum(['sgd', 'adam']),
  lr: z.number().positive(),
  momentum: z.number().min(0),
  weightDecay: z.number().min(0),
  epochs: positiveInt,
  /** LR ×0.1 at these fractions of training (the authors: [0.5, 0.75]); empty for constant LR. */
  milestones: z.array(z.number().min(0).max(1)),
  trainLimit: positiveInt,
  testLimit: positiveInt,
  seed: z.number().int(),
  distortion: DistortionSpecSchema.optional(),
  regularizer: RegularizerSpecSchema.optional(),
  /** Landscape instrumentation: last-layer gradient change every step, Santurkar probe every k steps. */
  probes: z.strictObject({ santurkarEvery: positiveInt, multipliers: positiveInt }).optional(),
  /** Test-time Gaussian pixel noise levels evaluated after training. */
  evalNoise: z.array(z.number().min(0)).optional(),
  /** Extra eval batch sizes evaluated after training (GNPlus's batch-dependent eval). */
  evalBatchSizes: z.array(positiveInt).optional(),
  /** Window ablation: normalization live in one period of training only. */
  window: WindowSpecSchema.optional(),
  /**
   * Training-set augmentation of every run of a setup (the authors' CIFAR-10 recipe: random crop
   * with `cropPadding` pixels of zero padding, then a horizontal flip with probability 1/2),
   * before the per-channel standardization. Absent: none.
   */
  augment: z.strictObject({ cropPadding: z.number().int().min(0), flip: z.boolean() }).optional(),
});
export type RunSpec = z.infer<typeof RunSpecSchema>;

/** A run id (`runId(spec)`): also a file name, so path separators and dot-only names are out. */
export const RunIdSchema = z.string().regex(/^(?!\.)[A-Za-z0-9._-]{1,200}$/, 'expected a run id (letters, digits, ".", "_", "-")');

export const SanturkarPointSchema = z.strictObject({
  step: count,
  lossVariation: measured,
  gradPredictiveness: measured,
  betaSmoothness: measured,
});
export type SanturkarPoint = z.infer<typeof SanturkarPointSchema>;

export const RunStabilitySchema = z.strictObject({ lossStd: measured, spikes: count, gradNormVar: measured, finalLoss: measured });

export const RunRecordSchema = z.strictObject({
  id: RunIdSchema,
  spec: RunSpecSchema,
  /** What the plan ran it for: `sweep`, `stability`, `sensitivity`, `landscape`, `window`. */
  roles: z.array(RunRoleSchema),
  status: z.enum(['ok', 'diverged']),
  /** Per training step (finite values only: a diverged step is not stored). */
  steps: z
    .strictObject({ loss: z.array(z.number()), accuracy: z.array(z.number()), gradNorm: z.array(z.number()), lr: z.array(z.number()) })
    .refine((s) => s.accuracy.length === s.loss.length && s.gradNorm.length === s.loss.length && s.lr.length === s.loss.length, {
      message: 'loss, accuracy, gradNorm and lr must have one entry per step each',
    }),
  /** Per epoch evaluation. */
  evals: z.array(z.strictObject({ epoch: count, step: count, testLoss: measured, testAccuracy: measured })),
  final: z.strictObject({ testAccuracy: measured, bestTestAccuracy: measured, testLoss: measured }),
  stability: RunStabilitySchema,
  landscape: z
    .strictObject({
      /** ‖g_t − g_{t−1}‖₂ of the last linear layer's weight gradient; entry i is for step i + 1. */
      gradChange: z.array(measured),
      santurkar: z.array(SanturkarPointSchema),
    })
    .optional(),
  noise: z.array(z.strictObject({ sigma: z.number().min(0), testAccuracy: measured })).optional(),
  evalBatch: z.array(z.strictObject({ batchSize: positiveInt, testAccuracy: measured })).optional(),
  /** Why a run stopped early (a non-finite loss), if it did. */
  note: z.string().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** Wall time and machine facts of a run, kept apart from the records so results are reproducible bit for bit. */
export const RunTimingSchema = z.strictObject({
  id: RunIdSchema,
  wallSeconds: z.number().min(0),
  stepsPerSecond: z.number().min(0),
  /** When the run started (ISO 8601); absent in timings.jsonl of older output folders. */
  startedAt: z.iso.datetime().optional(),
  /** The compute backend it ran on. */
  backend: z.string().optional(),
  /** CPU time of the process while it trained the run (user + system, all threads); absent in older timings. */
  cpuSeconds: z.number().min(0).optional(),
});
export type RunTiming = z.infer<typeof RunTimingSchema>;

/** One run of a plan: its identity, what it trains, and what the report uses it for. */
export const PlannedRunSchema = z.strictObject({ id: RunIdSchema, spec: RunSpecSchema, roles: z.array(RunRoleSchema).min(1) });

/**
 * A selection of a profile's plan (`selectRuns`; `normlab reproduce --roles … --norms …
 * --batch-sizes … --seeds … --epochs …`): each filter keeps the runs it names, an absent one
 * keeps all. Norms are spelled as `variantName` spells them (`bn`, `gnplus:bn-first`);
 * `batchSizes` filters the sweep's runs only; `epochs` overrides the profile's epochs before the
 * plan is made, so its runs are other runs than the profile's (other specs, other ids).
 */
export const SelectionSchema = z.strictObject({
  roles: z.array(RunRoleSchema).min(1).optional(),
  norms: z.array(z.string().min(1)).min(1).optional(),
  batchSizes: z.array(positiveInt).min(1).optional(),
  seeds: z.array(z.number().int()).min(1).optional(),
  epochs: positiveInt.optional(),
});
export type Selection = z.infer<typeof SelectionSchema>;

/**
 * A reproduction's plan (`plan.json` of its output folder, `normlab reproduce --plan`): the
 * profile it came from, the selection of it that was asked for (absent: the whole profile), the
 * periods its report uses, and the runs in plan order (the order shards are dealt from).
 */
export const PlanSchema = z.strictObject({
  profile: z.string().min(1),
  dataset: DatasetNameSchema,
  selection: SelectionSchema.optional(),
  periods: positiveInt,
  runs: z.array(PlannedRunSchema),
});
export type Plan = z.infer<typeof PlanSchema>;

export interface Environment {
  normlabVersion: string;
  node: string;
  platform: string;
  cpus: string;
  cores: number;
  memoryGiB: number;
  backend: string;
  profile: string;
  dataset: string;
  wallSeconds: number;
  startedAt: string;
  runs: number;
}

// The schema and the stability module's type cannot drift apart: this line stops compiling if they do.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const stabilityMatches: Same<z.infer<typeof RunStabilitySchema>, RunStability> = true;
void stabilityMatches;

/**
 * The declared schemas of a checkpoint's metadata, in one place: the strings `saveCheckpoint`
 * writes into `__metadata__` and the JSON inside them (the model config, the optimizer's groups and
 * counters, the schedule, and `extra` with the keys the training loop and `normlab train` read
 * back). A wrong shape is a `CheckpointError` naming the field (`extra.history[0] must be an
 * object, got null`); integers are integers (`step` "1e2", "0x10" or "" are refused); a key named
 * `__proto__` is refused anywhere in the JSON.
 */
import { DATASET_NAMES } from '@normlab/datasets';
import { GNPLUS_ORDERS, NORM_KINDS } from '@normlab/norm-layers';
import type { ScheduleState } from '@normlab/nn';
import { z } from 'zod';
import { CheckpointError } from './errors.js';
import type { ModelConfig } from './models/common.js';
import { OPTIMIZER_NAMES, SCHEDULE_NAMES } from './names.js';
import { modelConfigProblems } from './registry.js';
import { describeIssues, protoKeyPath } from './validate.js';

/** The `format` string in a checkpoint's metadata; another value is refused. */
export const CHECKPOINT_FORMAT = 'normlab-checkpoint';
/** The checkpoint layout version this normlab writes and reads; another is refused. */
export const CHECKPOINT_VERSION = '1';

/** A count or index written as a string: decimal digits only, in the safe-integer range; else null. */
export function parseDecimal(text: string): number | null {
  return /^[0-9]+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : null;
}

const count = z.int().min(0);
const positiveCount = z.int().min(1);
const parameterIndex = z.string().refine((k) => parseDecimal(k) !== null, 'must be a parameter index in decimal digits');

/** `optimizer`: its name, each group's options and parameter indices, and per-parameter counters. */
const OPTIMIZER_SCHEMA = z.strictObject({
  name: z.string().nullable(),
  paramGroups: z.array(z.object({ params: z.array(count) }).catchall(z.union([z.number(), z.boolean(), z.array(z.number())]))),
  numbers: z.record(parameterIndex, z.record(z.string(), z.number())),
});
export type OptimizerMetadata = z.infer<typeof OPTIMIZER_SCHEMA>;

/** `scheduler`: an lr schedule's `stateDict()`. */
const SCHEDULER_SCHEMA = z.strictObject({ lastEpoch: count, baseLrs: z.array(z.number()) }) satisfies z.ZodType<ScheduleState>;

/** One epoch's evaluation, as `train` records it in `extra.history` (its `EpochMetrics`). */
const EPOCH_METRICS_SCHEMA = z.strictObject({
  /** Completed epochs (1 after the first). */  epoch: positiveCount,
  /** Optimizer steps completed at that evaluation. */  step: count,
  /** Mean cross-entropy over the epoch's steps. */  trainLoss: z.number(),
  /** Fraction of the epoch's training examples classified correctly, in [0, 1]. */  trainAccuracy: z.number().min(0).max(1),
  /** Mean test-set cross-entropy; null without a test loader. */  testLoss: z.number().nullable(),
  /** Test-set accuracy in [0, 1]; null without a test loader. */  testAccuracy: z.number().min(0).max(1).nullable(),
});

/** The running sums of the epoch in progress, as `train` records them in `extra.epochStats`. */
const EPOCH_STATS_SCHEMA = z.strictObject({
  /** Sum of the batch losses, each weighted by its batch size. */
  lossSum: z.number(),
  /** Training examples classified correctly so far. */
  correct: count,
  /** Training examples seen so far. */
  seen: count,
  /** Steps done in the epoch so far. */
  steps: count,
});

/**
 * The `normlab train` flags a checkpoint records in `extra.cli` (the defaults of `--resume`), with
 * the ranges the flags accept. `TRAIN_CLI_FLAGS` lists them.
 */
export const TRAIN_CLI_SCHEMA = z
  .strictObject({
    /** `--dataset`: the dataset name. */    dataset: z.enum(DATASET_NAMES),
    /** `--data-dir`: where the dataset files are. */    dataDir: z.string(),
    /** `--train-limit`: use only the first n training examples. */    trainLimit: positiveCount,
    /** `--test-limit`: use only the first n test examples. */    testLimit: positiveCount,
    /** `--model`: a `buildModel` name. */    model: z.string(),
    /** `--norm`: the normalization kind. */    norm: z.enum(NORM_KINDS),
    /** `--groups`: channel groups of gn, gnplus, hybrid, bgn. */    groups: positiveCount,
    /** `--order`: the GN+ stage order. */    order: z.enum(GNPLUS_ORDERS),
    /** `--width`: the width multiplier (> 0). */    width: z.number().positive(),
    /** `--dropout`: dropout probability in [0, 0.99] (vgg11). */    dropout: z.number().min(0).max(0.99),
    /** `--zero-init-residual`: zero the last norm weight of each residual block. */    zeroInitResidual: z.boolean(),
    /** `--batch-size`: training batch size. */    batchSize: positiveCount,
    /** `--eval-batch-size`: evaluation batch size. */    evalBatchSize: positiveCount,
    /** `--epochs`: epochs to train. */    epochs: positiveCount,
    /** `--optimizer`: sgd, adam or adamw. */    optimizer: z.enum(OPTIMIZER_NAMES),
    /** `--lr`: learning rate (> 0). */    lr: z.number().positive(),
    /** `--momentum`: sgd momentum in [0, 1]. */    momentum: z.number().min(0).max(1),
    /** `--nesterov`: Nesterov momentum (sgd). */    nesterov: z.boolean(),
    /** `--weight-decay`: L2 penalty (sgd, adam) or decoupled decay (adamw), ≥ 0. */    weightDecay: z.number().min(0),
    /** `--schedule`: the lr schedule name. */    schedule: z.enum(SCHEDULE_NAMES),
    /** `--milestones`: epochs where multistep decays the lr. */    milestones: z.array(z.number().min(0)),
    /** `--step-size`: epochs between decays of the step schedule (> 0). */    stepSize: z.number().positive(),
    /** `--gamma`: decay factor of step/multistep (≥ 0). */    gamma: z.number().min(0),
    /** `--warmup`: epochs of linear lr warmup (≥ 0). */    warmup: z.number().min(0),
    /** `--label-smoothing`: in [0, 1]. */    labelSmoothing: z.number().min(0).max(1),
    /** `--clip-grad-norm`: the most total gradient norm a step uses (> 0). */    clipGradNorm: z.number().positive(),
    /** `--augment`: random crop and flip of training images. */    augment: z.boolean(),
    /** `--seed`: seed of data order, initialization and augmentation. */    seed: z.int(),
  })
  .partial();
/** `normlab train`'s flags as a checkpoint records them (all optional). */
export type TrainCliFlags = z.infer<typeof TRAIN_CLI_SCHEMA>;
/** The names of every `TrainCliFlags` key. */
export const TRAIN_CLI_FLAGS = Object.keys(TRAIN_CLI_SCHEMA.shape) as ReadonlyArray<keyof TrainCliFlags>;

/**
 * `extra`: anything JSON the caller saved, plus the keys the training loop reads back on resume
 * (`seed`, `stepsPerEpoch`, `epochs`, `epochStats`, `history`) and `normlab train`'s `cli`.
 */
const EXTRA_SCHEMA = z.looseObject({
  /** The seed of the per-step dropout/distortion streams. */  seed: z.number().optional(),
  /** Batches per epoch of the run (a resume must match it). */  stepsPerEpoch: positiveCount.optional(),
  /** The epochs the run was asked for (the schedule spans them). */  epochs: positiveCount.optional(),
  /** The running sums of the epoch in progress at the checkpoint. */  epochStats: EPOCH_STATS_SCHEMA.optional(),
  /** Every epoch's evaluation so far. */  history: z.array(EPOCH_METRICS_SCHEMA).optional(),
  /** `normlab train`'s flags (the defaults of `--resume`). */  cli: TRAIN_CLI_SCHEMA.optional(),
});
/** A checkpoint's `extra`: any JSON keys, with the training loop's and `normlab train`'s checked. */
export type CheckpointExtra = z.infer<typeof EXTRA_SCHEMA>;

/** The checked contents of a checkpoint's metadata. */
export interface CheckpointMetadata {
  step: number;
  epoch: number;
  config: ModelConfig | null;
  optimizer: OptimizerMetadata | null;
  scheduler: ScheduleState | null;
  extra: CheckpointExtra;
}

/** Check every metadata string of a checkpoint against its declared schema; `path` names the file in errors. */
export function readCheckpointMetadata(path: string, metadata: Record<string, string>): CheckpointMetadata {
  const fail = (message: string): never => {
    throw new CheckpointError(path, message);
  };
  const get = (key: string): string | undefined => (Object.hasOwn(metadata, key) ? metadata[key] : undefined);
  const format = get('format');
  if (format !== undefined && format !== CHECKPOINT_FORMAT) fail(`metadata format is ${JSON.stringify(format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)}`);
  const version = get('version');
  if (version !== undefined && version !== CHECKPOINT_VERSION) {
    fail(`checkpoint version ${JSON.stringify(version)} is not supported (this normlab reads version ${CHECKPOINT_VERSION})`);
  }
  const counter = (key: string): number => {
    const text = get(key);
    if (text === undefined) return 0;
    return parseDecimal(text) ?? fail(`metadata ${key} must be a non-negative integer in decimal digits, got ${JSON.stringify(text)}`);
  };
  const json = (key: string): unknown => {
    const text = get(key);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      fail(`metadata ${key} is not valid JSON (${(e as Error).message})`);
    }
    const proto = protoKeyPath(value, key);
    if (proto !== null) fail(`metadata ${proto}: a key named __proto__ is not accepted`);
    return value;
  };
  const parsed = <S extends z.ZodType>(key: string, schema: S): z.infer<S> | null => {
    const value = json(key);
    if (value === undefined) return null;
    const r = schema.safeParse(value);
    if (!r.success) fail(`metadata ${describeIssues(r.error, value, { prefix: key })}`);
    return r.data as z.infer<S>;
  };

  const config = json('model_config');
  if (config !== undefined) {
    const problems = modelConfigProblems(config, 'model_config');
    if (problems !== null) fail(`metadata ${problems}`);
  }
  return {
    step: counter('step'),
    epoch: counter('epoch'),
    config: config === undefined ? null : (config as ModelConfig),
    optimizer: parsed('optimizer', OPTIMIZER_SCHEMA),
    scheduler: parsed('scheduler', SCHEDULER_SCHEMA),
    extra: parsed('extra', EXTRA_SCHEMA) ?? {},
  };
}

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

export const CHECKPOINT_FORMAT = 'normlab-checkpoint';
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
  epoch: positiveCount,
  step: count,
  trainLoss: z.number(),
  trainAccuracy: z.number().min(0).max(1),
  testLoss: z.number().nullable(),
  testAccuracy: z.number().min(0).max(1).nullable(),
});

/** The running sums of the epoch in progress, as `train` records them in `extra.epochStats`. */
const EPOCH_STATS_SCHEMA = z.strictObject({ lossSum: z.number(), correct: count, seen: count, steps: count });

/**
 * The `normlab train` flags a checkpoint records in `extra.cli` (the defaults of `--resume`), with
 * the ranges the flags accept. `TRAIN_CLI_FLAGS` lists them.
 */
export const TRAIN_CLI_SCHEMA = z
  .strictObject({
    dataset: z.enum(DATASET_NAMES),
    dataDir: z.string(),
    trainLimit: positiveCount,
    testLimit: positiveCount,
    model: z.string(),
    norm: z.enum(NORM_KINDS),
    groups: positiveCount,
    order: z.enum(GNPLUS_ORDERS),
    width: z.number().positive(),
    dropout: z.number().min(0).max(0.99),
    zeroInitResidual: z.boolean(),
    batchSize: positiveCount,
    evalBatchSize: positiveCount,
    epochs: positiveCount,
    optimizer: z.enum(OPTIMIZER_NAMES),
    lr: z.number().positive(),
    momentum: z.number().min(0).max(1),
    nesterov: z.boolean(),
    weightDecay: z.number().min(0),
    schedule: z.enum(SCHEDULE_NAMES),
    milestones: z.array(z.number().min(0)),
    stepSize: z.number().positive(),
    gamma: z.number().min(0),
    warmup: z.number().min(0),
    labelSmoothing: z.number().min(0).max(1),
    clipGradNorm: z.number().positive(),
    augment: z.boolean(),
    seed: z.int(),
  })
  .partial();
export type TrainCliFlags = z.infer<typeof TRAIN_CLI_SCHEMA>;
export const TRAIN_CLI_FLAGS = Object.keys(TRAIN_CLI_SCHEMA.shape) as ReadonlyArray<keyof TrainCliFlags>;

/**
 * `extra`: anything JSON the caller saved, plus the keys the training loop reads back on resume
 * (`seed`, `stepsPerEpoch`, `epochs`, `epochStats`, `history`) and `normlab train`'s `cli`.
 */
const EXTRA_SCHEMA = z.looseObject({
  seed: z.number().optional(),
  stepsPerEpoch: positiveCount.optional(),
  epochs: positiveCount.optional(),
  epochStats: EPOCH_STATS_SCHEMA.optional(),
  history: z.array(EPOCH_METRICS_SCHEMA).optional(),
  cli: TRAIN_CLI_SCHEMA.optional(),
});
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

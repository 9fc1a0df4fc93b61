/**
 * `normlab train`: train a model on a dataset from one command. With `--out DIR` the run writes
 * `DIR/model.safetensors` (after every epoch), `DIR/metrics.jsonl` (one line per step and per
 * evaluation) and `DIR/summary.json` (at the end); `--json` prints the summary on stdout.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DataLoader } from '@normlab/datasets';
import {
  MODEL_NAMES,
  OPTIMIZER_NAMES,
  SCHEDULE_NAMES,
  TRAIN_CLI_FLAGS,
  type Checkpoint,
  buildModel,
  checkResume,
  ensureDir,
  loadCheckpoint,
  train,
  writeFileAtomic,
  type ModelConfig,
  type OptimizerName,
  type ScheduleName,
} from '@normlab/models';
import { NORM_KINDS, GNPLUS_ORDERS, type NormKind, skippedStatisticsUpdates } from '@normlab/norm-layers';
import { getNumThreads, setWarningHandler } from '@normlab/tensor';
import {
  type CommonFlags,
  addCommonOptions,
  datasetStats,
  integer,
  loadSplit,
  makeTransforms,
  nonNegInt,
  number,
  numberList,
  oneOf,
  positiveInt,
  testLoader,
  useBackend,
} from '../common.js';
import { CliError } from '../errors.js';
import { Progress, formatDuration } from '../progress.js';

/** The parsed flags of `normlab train` (see `normlab train --help` for the defaults). */
export interface TrainFlags extends CommonFlags {
  /** `--model`: a `buildModel` name (or `resnet<6n+2>`). */
  model: string;
  /** `--norm`: the normalization kind. */
  norm: NormKind;
  /** `--groups`: channel groups of gn, gnplus, hybrid, bgn (capped at a layer's channels). */
  groups: number;
  /** `--order`: the GN+ stage order. */
  order?: string;
  /** `--width`: the width multiplier of every layer (> 0). */
  width: number;
  /** `--dropout`: vgg11's dropout after each stage, in [0, 0.99]. */
  dropout?: number;
  /** `--zero-init-residual`: zero the last norm weight of each residual block (resnets). */
  zeroInitResidual?: boolean;
  /** `--batch-size`: training batch size. */
  batchSize: number;
  /** `--eval-batch-size`: test batch size. */
  evalBatchSize: number;
  /** `--epochs`: epochs to train. */
  epochs: number;
  /** `--max-steps`: stop after this many steps (checkpointed; the schedule still spans the epochs). */
  maxSteps?: number;
  /** `--optimizer`: sgd, adam or adamw. */
  optimizer: OptimizerName;
  /** `--lr`: learning rate (default 0.1 for sgd, 0.001 for adam and adamw). */
  lr?: number;
  /** `--momentum`: sgd momentum, in [0, 1]. */
  momentum: number;
  /** Nesterov momentum for sgd (`--no-nesterov` makes it false). */
  nesterov: boolean;
  /** `--weight-decay`: L2 (sgd, adam) or decoupled (adamw) weight decay, ≥ 0. */
  weightDecay: number;
  /** `--schedule`: the lr schedule, stepped every iteration. */
  schedule: ScheduleName;
  /** `--milestones`: multistep's epochs (fractions allowed) where the lr is multiplied by `gamma`. */
  milestones?: number[];
  /** `--step-size`: epochs between decays of the step schedule. */
  stepSize?: number;
  /** `--gamma`: decay factor of step/multistep. */
  gamma: number;
  /** `--warmup`: linear lr warmup, in epochs. */
  warmup: number;
  /** `--label-smoothing`: in [0, 1]. */
  labelSmoothing: number;
  /** `--clip-grad-norm`: clip the total gradient norm to this (> 0). */
  clipGradNorm?: number;
  /** `--augment`: random crop (padding 4) and horizontal flip of training images. */
  augment?: boolean;
  /** `--seed`: seed of initialization, shuffling and augmentation. */
  seed: number;
  /** `--out`: the run's folder (model.safetensors, metrics.jsonl, summary.json). */
  out?: string;
  /** `--force`: overwrite a finished run in `out`. */
  force?: boolean;
  /** `--resume`: true to continue the run in `out`, or a checkpoint's path; its flags are the defaults. */
  resume?: string | boolean;
}

/**
 * The flags that define a run: saved in the checkpoint (`extra.cli`), and the defaults of a
 * `--resume`. Declared with their types and ranges in `@normlab/models`, which checks them when
 * a checkpoint is read.
 */
const RUN_FLAGS: ReadonlyArray<(typeof TRAIN_CLI_FLAGS)[number] & keyof TrainFlags> = TRAIN_CLI_FLAGS;

function modelName(v: string): string {
  if ((MODEL_NAMES as readonly string[]).includes(v)) return v;
  const m = /^resnet(\d+)$/.exec(v);
  if (m && Number(m[1]) >= 8 && (Number(m[1]) - 2) % 6 === 0) return v;
  throw new InvalidArgumentError(`--model must be one of ${MODEL_NAMES.join(', ')} (or resnet<6n+2>), got ${JSON.stringify(v)}`);
}

/** The `normlab train` subcommand, its flags declared with their defaults and checks. */
export function trainCommand(): Command {
  const cmd = new Command('train').description('train a model on a dataset; checkpoint, metrics and summary go to --out');
  addCommonOptions(cmd, { datasetDefault: 'mnist' });
  return cmd
    .option('--model <name>', `model: ${MODEL_NAMES.join(', ')} (or resnet<6n+2>)`, modelName, 'cnn')
    .option('--norm <kind>', `normalization: ${NORM_KINDS.join(', ')}`, oneOf('--norm', NORM_KINDS), 'bn')
    .option('--groups <n>', 'channel groups of gn, gnplus, hybrid, bgn (capped at a layer\'s channel count)', positiveInt('--groups'), 32)
    .option('--order <order>', `gnplus order: ${GNPLUS_ORDERS.join(', ')}`, oneOf('--order', GNPLUS_ORDERS))
    .option('--width <x>', 'width multiplier of every layer', number('--width', 0, { exclusive: true }), 1)
    .option('--dropout <p>', 'vgg11: dropout after each stage', number('--dropout', 0, { max: 0.99 }))
    .option('--zero-init-residual', 'resnets: zero the last norm weight of each residual block')
    .option('--batch-size <n>', 'training batch size', positiveInt('--batch-size'), 32)
    .option('--eval-batch-size <n>', 'test batch size (gnplus uses the statistics of the evaluated batch)', positiveInt('--eval-batch-size'), 500)
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'), 1)
    .option('--max-steps <n>', 'stop after n steps in total (checkpointed; the schedule still spans --epochs)', positiveInt('--max-steps'))
    .option('--optimizer <name>', `optimizer: ${OPTIMIZER_NAMES.join(', ')}`, oneOf('--optimizer', OPTIMIZER_NAMES), 'sgd')
    .option('--lr <x>', 'learning rate (default 0.1 for sgd, 0.001 for adam and adamw)', number('--lr', 0, { exclusive: true }))
    .option('--momentum <x>', 'sgd momentum', number('--momentum', 0, { max: 1 }), 0.9)
    .option('--no-nesterov', 'sgd: plain momentum instead of Nesterov')
    .option('--weight-decay <x>', 'L2 (sgd, adam) or decoupled (adamw) weight decay', number('--weight-decay', 0), 5e-4)
    .option('--schedule <name>', `lr schedule, stepped every iteration: ${SCHEDULE_NAMES.join(', ')}`, oneOf('--schedule', SCHEDULE_NAMES), 'cosine')
    .option('--milestones <epochs>', 'multistep: comma-separated epochs (fractions allowed) where the lr is multiplied by --gamma', numberList('--milestones'))
    .option('--step-size <epochs>', 'step: epochs between decays', number('--step-size', 0, { exclusive: true }))
    .option('--gamma <x>', 'step/multistep decay factor', number('--gamma', 0), 0.1)
    .option('--warmup <epochs>', 'linear lr warmup, in epochs', number('--warmup', 0), 0.05)
    .option('--label-smoothing <x>', 'label smoothing of the cross-entropy', number('--label-smoothing', 0, { max: 1 }), 0)
    .option('--clip-grad-norm <x>', 'clip the total gradient norm', number('--clip-grad-norm', 0, { exclusive: true }))
    .option('--augment', 'random crop (padding 4) and horizontal flip of training images (for cifar10)')
    .option('--seed <n>', 'seed of initialization, shuffling and augmentation', integer('--seed'), 0)
    .option('--out <dir>', 'write model.safetensors, metrics.jsonl and summary.json here')
    .option('--force', 'overwrite a finished run in --out')
    .option('--resume [checkpoint]', 'continue the run in --out (or from this checkpoint); its flags are the defaults')
    .action(async (flags: TrainFlags, command: Command) => {
      await runTrain(flags, command);
    });
}

interface OutState {
  finished: boolean;
  summary: Record<string, unknown> | null;
  hasCheckpoint: boolean;
}

function inspectOut(out: string): OutState {
  const summaryPath = join(out, 'summary.json');
  let summary: Record<string, unknown> | null = null;
  if (existsSync(summaryPath)) {
    try {
      summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
    } catch {
      summary = {};
    }
  }
  return { finished: summary !== null && summary.completed !== false, summary, hasCheckpoint: existsSync(join(out, 'model.safetensors')) };
}

/**
 * Run `normlab train` with parsed flags: train, write the checkpoint, metrics and summary to
 * `flags.out`. `command` tells which flags were given explicitly (they override a resumed run's).
 */
export async function runTrain(flags: TrainFlags, command?: Command): Promise<void> {
  const t0 = performance.now();
  const out = flags.out;
  let resumePath: string | null = null;
  let resumeFrom: Checkpoint | null = null;
  if (flags.resume !== undefined && flags.resume !== false) {
    if (typeof flags.resume === 'string') resumePath = flags.resume;
    else if (out) resumePath = join(out, 'model.safetensors');
    else throw new CliError('--resume needs --out DIR (the run to continue) or a checkpoint path');
    if (!existsSync(resumePath)) throw new CliError(`--resume: no checkpoint at ${resumePath}`);
    // The checkpoint's flags are the defaults: `normlab train --out runs/x --resume` needs no more.
    resumeFrom = loadCheckpoint(resumePath);
    const saved = resumeFrom.extra.cli;
    if (saved && command) {
      for (const key of RUN_FLAGS) {
        const src = command.getOptionValueSource(key);
        if ((src === undefined || src === 'default') && Object.hasOwn(saved, key)) (flags as unknown as Record<string, unknown>)[key] = saved[key];
      }
    }
  }
  if (out) {
    const state = inspectOut(out);
    if (!flags.force) {
      if (state.finished && (!resumePath || Number(state.summary?.epochs) >= flags.epochs)) {
        throw new CliError(`${out} holds a finished run (summary.json); use --force to overwrite it, or another --out`);
      }
      if (!resumePath && state.hasCheckpoint) {
        throw new CliError(`${out} holds an unfinished run (model.safetensors); add --resume to continue it or --force to start over`);
      }
    } else if (!resumePath) {
      for (const f of ['model.safetensors', 'metrics.jsonl', 'summary.json']) rmSync(join(out, f), { force: true });
    }
    ensureDir(out, 'train --out');
  }
  if (flags.order && flags.norm !== 'gnplus') throw new CliError(`--order applies to --norm gnplus, not ${flags.norm}`);
  if (flags.dropout !== undefined && flags.model !== 'vgg11') throw new CliError(`--dropout applies to --model vgg11, not ${flags.model}`);
  if (flags.schedule === 'multistep' && !flags.milestones) throw new CliError('--schedule multistep needs --milestones');
  if (flags.schedule === 'step' && flags.stepSize === undefined) throw new CliError('--schedule step needs --step-size');
  const backend = await useBackend(flags.backend, flags.gpuMode, { threads: flags.threads });

  const trainSet = loadSplit(flags, 'train');
  const testSet = loadSplit(flags, 'test');
  const stats = datasetStats(flags.dataset, trainSet);
  const trainLoader = new DataLoader(trainSet, {
    batchSize: flags.batchSize,
    shuffle: true,
    seed: flags.seed,
    // A last batch of a few examples would give batch norms noisy statistics (or none at size 1).
    dropLast: true,
    ...(flags.trainLimit ? { limit: flags.trainLimit } : {}),
    transforms: makeTransforms(stats, flags.augment ? { crop: 4, flip: true } : {}),
  });
  if (trainLoader.length === 0) {
    throw new CliError(`--batch-size ${flags.batchSize} is larger than the ${trainLoader.size} training images: no full batch to train on`);
  }
  const evalLoader = testLoader(testSet, flags.evalBatchSize, flags.testLimit, makeTransforms(stats));
  const config: ModelConfig = {
    name: flags.model,
    norm: flags.norm,
    groups: flags.groups,
    width: flags.width,
    inChannels: trainSet.channels,
    numClasses: trainSet.numClasses,
    imageSize: trainSet.height,
    seed: flags.seed,
    ...(flags.order ? { order: flags.order as ModelConfig['order'] } : {}),
    ...(flags.dropout !== undefined ? { dropout: flags.dropout } : {}),
    ...(flags.zeroInitResidual ? { zeroInitResidual: true } : {}),
  };
  // A resumed model must be the checkpoint's, with its tensors: checked before anything is allocated.
  if (resumeFrom) checkResume(resumeFrom, config);
  const model = buildModel(config);
  const progress = new Progress(Boolean(flags.quiet));
  // A warning during training (a skipped statistics update) clears the progress bar first.
  setWarningHandler((message) => progress.line(message));
  const cli: Record<string, unknown> = {};
  for (const key of RUN_FLAGS) if (flags[key] !== undefined) cli[key] = flags[key];
  const checkpointPath = out ? join(out, 'model.safetensors') : null;
  const result = train({
    model,
    trainLoader,
    testLoader: evalLoader,
    epochs: flags.epochs,
    ...(flags.maxSteps ? { maxSteps: flags.maxSteps } : {}),
    optimizer: flags.optimizer,
    ...(flags.lr !== undefined ? { lr: flags.lr } : {}),
    momentum: flags.momentum,
    nesterov: flags.optimizer === 'sgd' && flags.nesterov && flags.momentum > 0,
    weightDecay: flags.weightDecay,
    schedule: flags.schedule,
    ...(flags.milestones ? { milestones: flags.milestones } : {}),
    ...(flags.stepSize !== undefined ? { stepSize: flags.stepSize } : {}),
    gamma: flags.gamma,
    warmup: flags.warmup,
    labelSmoothing: flags.labelSmoothing,
    ...(flags.clipGradNorm !== undefined ? { clipGradNorm: flags.clipGradNorm } : {}),
    seed: flags.seed,
    metricsPath: out ? join(out, 'metrics.jsonl') : null,
    checkpointPath,
    resume: resumeFrom,
    checkpointExtra: { cli },
    onStep: (m) =>
      progress.step({ step: m.step, totalSteps: flags.maxSteps ? Math.min(flags.maxSteps, m.totalSteps) : m.totalSteps, epoch: m.epoch, epochs: flags.epochs, loss: m.loss, accuracy: m.accuracy, batchSize: m.batchSize }),
    onEpoch: (e) =>
      progress.line(
        `epoch ${e.epoch}/${flags.epochs}: train loss ${e.trainLoss.toFixed(4)} acc ${(100 * e.trainAccuracy).toFixed(2)}%` +
          (e.testAccuracy !== null ? `, test loss ${e.testLoss!.toFixed(4)} acc ${(100 * e.testAccuracy).toFixed(2)}%` : ''),
      ),
  });
  progress.finish();
  const seconds = (performance.now() - t0) / 1000;
  const summary = {
    dataset: flags.dataset,
    model: flags.model,
    norm: flags.norm,
    groups: flags.groups,
    batchSize: flags.batchSize,
    epochs: flags.epochs,
    seed: flags.seed,
    backend,
    threads: getNumThreads(),
    trainLoss: result.trainLoss,
    trainAccuracy: result.trainAccuracy,
    testLoss: result.testLoss,
    testAccuracy: result.testAccuracy,
    steps: result.steps,
    completed: result.stopped === 'completed',
    seconds,
    imagesPerSecond: result.imagesPerSecond,
    // Training batches whose non-finite statistics the norm layers did not fold into their running statistics (this process's steps).
    skippedStatisticsUpdates: skippedStatisticsUpdates(model),
    checkpoint: checkpointPath,
  };
  if (out) writeFileAtomic(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n', 'train');
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!flags.quiet) {
    const acc = result.testAccuracy === null ? 'no test set' : `test accuracy ${(100 * result.testAccuracy).toFixed(2)}% (loss ${result.testLoss!.toFixed(4)})`;
    process.stdout.write(
      `${flags.model} ${flags.norm} on ${flags.dataset}: ${acc} after ${result.steps} steps in ${formatDuration(seconds)} (${result.imagesPerSecond.toFixed(0)} img/s)` +
        (checkpointPath ? `; checkpoint ${checkpointPath}` : '') +
        '\n',
    );
  }
}

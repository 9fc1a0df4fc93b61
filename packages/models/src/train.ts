/**
 * The training loop: epochs over a `DataLoader`, cross-entropy, an optimizer and an lr schedule
 * made from plain options (or given), per-step metrics to a callback and to `metrics.jsonl`,
 * evaluation on the test loader after each epoch, checkpoints at each epoch end, and exact
 * resumption. It is synchronous: a step is CPU work with nothing to await.
 *
 * Determinism: the loader's order and augmentation of batch b of epoch e depend only on
 * (loader seed, e, b); every generator a model owns (dropout, distortion) is reseeded at each
 * step from (seed, step, module index). So a run's numbers depend only on its seed and options,
 * and a run resumed from a checkpoint at step s continues exactly as one that never stopped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { F, Variable, noGrad } from '@normlab/autograd';
import type { Batch, DataLoader } from '@normlab/datasets';
import {
  AdamW,
  CosineAnnealingLR,
  LinearWarmup,
  type LRScheduler,
  type Module,
  MultiStepLR,
  type Optimizer,
  SGD,
  StepLR,
  gradNorm as totalGradNorm,
} from '@normlab/nn';
import { Rng, Tensor } from '@normlab/tensor';
import { type Checkpoint, checkSameModel, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { TrainingError } from './errors.js';
import type { ModelConfig } from './models/common.js';
import { OPTIMIZER_NAMES, type OptimizerName, SCHEDULE_NAMES, type ScheduleName } from './names.js';
import { writeFileAtomic } from './files.js';
import { type MetricsLine, MetricsWriter, metricValue, readMetrics } from './metrics.js';

export { OPTIMIZER_NAMES, SCHEDULE_NAMES, type OptimizerName, type ScheduleName } from './names.js';

/** Metrics of one optimizer step (`step` counts from 1: the k-th update). */
export interface StepMetrics {
  /** Optimizer steps done, this one included. */
  step: number;
  /** The epoch (from 0) the step belongs to. */
  epoch: number;
  /** The batch's position within its epoch. */
  batch: number;
  /** Mean cross-entropy of the batch (label smoothing included). */
  loss: number;
  /** Fraction of the batch classified correctly. */
  accuracy: number;
  /** L2 norm of all gradients together, before any clipping. */
  gradNorm: number;
  /** The learning rate the step used. */
  lr: number;
  /** Examples in the batch. */
  batchSize: number;
  /** Batches per epoch. */
  stepsPerEpoch: number;
  /** Steps of the whole run, `epochs` × `stepsPerEpoch` (the schedule spans them; `maxSteps` may stop earlier). */
  totalSteps: number;
}

/** The test-set evaluation after an epoch. */
export interface EpochMetrics {
  /** Completed epochs (1 after the first). */
  epoch: number;
  /** Optimizer steps done at the evaluation. */
  step: number;
  /** Mean cross-entropy over the epoch's steps. */
  trainLoss: number;
  /** Fraction of the epoch's training examples classified correctly, in [0, 1]. */
  trainAccuracy: number;
  /** Mean test-set cross-entropy; null without a test loader. */
  testLoss: number | null;
  /** Test-set accuracy in [0, 1]; null without a test loader. */
  testAccuracy: number | null;
}

/**
 * An optimizer `train` can drive: any `Optimizer` whose groups have a learning rate (`SGD`,
 * `AdamW`, or one of your own).
 */
export type TrainingOptimizer = Optimizer<{
  /** The group's learning rate (the schedule changes it). */
  lr: number;
}>;

/** What `evaluate` (and `@normlab/onnx`'s `evaluateOnnx`) return. */
export interface Evaluation {
  /** Mean cross-entropy over the examples. */
  loss: number;
  /** Fraction of the examples classified correctly, in [0, 1]. */
  accuracy: number;
  /** Examples evaluated. */
  n: number;
}

/** What `onAfterBackward` gets: the state after backward, before the optimizer step. */
export interface AfterBackwardContext {
  /** The step about to be taken (from 1). */
  step: number;
  /** The epoch (from 0) it belongs to. */
  epoch: number;
  /** The model being trained (training mode, gradients filled). */
  model: Module;
  /** The batch of the step. */
  batch: Batch;
  /** The loss of this batch for the model's current weights, as a fresh graph (training mode,
   * same dropout/distortion draws as the step); the model's buffers are left as they were. */
  lossFn: () => Variable;
  /** The optimizer, before its step. */
  optimizer: TrainingOptimizer;
  /** The batch's mean loss (label smoothing included). */
  loss: number;
}

/** Options of `train`. */
export interface TrainOptions {
  /** The model to train (in place). */
  model: Module;
  /** The training batches; its seed fixes their order and augmentation per epoch. */
  trainLoader: DataLoader;
  /** Evaluated after every epoch; null or absent: no evaluation. */
  testLoader?: DataLoader | null;
  /** Epochs to train (≥ 1). */
  epochs: number;
  /** Stop after this many steps in total (a checkpoint is written there); the schedule still spans `epochs`. */
  maxSteps?: number;
  /** An optimizer by name (made on the model's parameters) or an instance. Default 'sgd'. */
  optimizer?: OptimizerName | TrainingOptimizer;
  /** Default 0.1 for sgd, 1e-3 for adam/adamw. */
  lr?: number;
  /** sgd momentum (default 0.9). */
  momentum?: number;
  /** sgd: Nesterov momentum (default false). */
  nesterov?: boolean;
  /** L2 penalty (sgd, adam) or decoupled decay (adamw). Default 0. */
  weightDecay?: number;
  /** adam/adamw: decay rates of the moment estimates (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Built-in schedules, stepped every iteration; their lengths are given in epochs. Default 'none'. */
  schedule?: ScheduleName;
  /** step: decay every `stepSize` epochs. */
  stepSize?: number;
  /** multistep: decay at these epochs (fractions allowed). */
  milestones?: number[];
  /** Decay factor of step/multistep (default 0.1). */
  gamma?: number;
  /** Linear warmup over this many epochs (fractions allowed), then the schedule. */
  warmup?: number;
  /** A schedule of your own, on the same optimizer (instead of `schedule`). */
  scheduler?: LRScheduler | null;
  /** When a given `scheduler` steps: every iteration or every epoch (default 'epoch'). */
  schedulerStep?: 'step' | 'epoch';
  /** Label smoothing of the cross-entropy, in [0, 1] (default 0). */
  labelSmoothing?: number;
  /** Clip the total gradient norm to this value before the step. */
  clipGradNorm?: number;
  /** Seed of the per-step dropout/distortion streams (default: the loader's seed). */
  seed?: number;
  /** Append one JSON line per step and per evaluation here (no timings, so runs compare byte for byte). */
  metricsPath?: string | null;
  /** Save a checkpoint here after every epoch and when stopping. */
  checkpointPath?: string | null;
  /** Continue from this checkpoint (a path or a loaded one). */
  resume?: string | Checkpoint | null;
  /** A non-finite loss or gradient: throw a `TrainingError` (default) or stop and report it. */
  onNonFinite?: 'throw' | 'stop';
  /** Called after every optimizer step. */
  onStep?: (m: StepMetrics) => void;
  /** Called after every epoch's evaluation. */
  onEpoch?: (m: EpochMetrics) => void;
  /** Called between backward and the optimizer step (the analysis framework reads gradients here). */
  onAfterBackward?: (ctx: AfterBackwardContext) => void;
  /** Extra JSON saved in each checkpoint's metadata (e.g. the dataset and CLI options). */
  checkpointExtra?: Record<string, unknown>;
}

/** What `train` returns. */
export interface TrainResult {
  /** Completed steps. */
  steps: number;
  /** Completed epochs. */
  epochs: number;
  /** Why training ended: all epochs done, `maxSteps` reached, or a non-finite value (`onNonFinite: 'stop'`). */
  stopped: 'completed' | 'maxSteps' | 'nonFinite';
  /** Why training stopped early on a non-finite value (with `onNonFinite: 'stop'`). */
  error: string | null;
  /** Mean loss and accuracy over the last (possibly partial) epoch's steps. */
  trainLoss: number | null;
  /** Training accuracy over the last epoch's steps, in [0, 1]; null when no step ran. */
  trainAccuracy: number | null;
  /** The last evaluation (at the end of training); null without a test loader. */
  testLoss: number | null;
  /** Test accuracy of the last evaluation, in [0, 1]; null without a test loader. */
  testAccuracy: number | null;
  /** Every epoch's evaluation, a resumed run's earlier epochs included. */
  history: EpochMetrics[];
  /** Wall time of this call. */
  seconds: number;
  /** Training images per second of step time (evaluation excluded). */
  imagesPerSecond: number;
  /** The optimizer used (made from the options, or the one given). */
  optimizer: TrainingOptimizer;
}

/** A 32-bit hash of integers: independent seeds per (seed, step, module). */
function mix(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Give every generator the model's modules own (dropout masks, distortion noise) a fresh state
 * derived from (seed, step, module index): what a step draws then depends on nothing before it,
 * which is what makes resuming exact.
 */
export function reseedModules(model: Module, seed: number, step: number): void {
  model.modules().forEach((m, i) => {
    for (const [key, v] of Object.entries(m)) {
      if (v instanceof Rng) (m as unknown as Record<string, unknown>)[key] = new Rng(mix(seed, step, i, key.length));
    }
  });
}

/** Index of the largest logit per row, compared with the labels. */
function countCorrect(logits: Tensor, labels: Int32Array): number {
  const [n, c] = logits.shape as [number, number];
  const d = logits.contiguous().data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = d[i * c]!;
    for (let j = 1; j < c; j++) {
      const v = d[i * c + j]!;
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Called after each batch: batches done, the loader's batches, that batch's examples (for progress). */
  onBatch?: (done: number, batches: number, examples: number) => void;
}

/** Test-set loss and accuracy, in eval mode and without a graph; the model's mode is restored. */
export function evaluate(model: Module, loader: DataLoader, options: EvaluateOptions = {}): Evaluation {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  let done = 0;
  try {
    noGrad(() => {
      // Epoch 0 always: evaluation must not depend on how often the loader was iterated.
      for (const batch of loader.iterate(0)) {
        const logits = model.forward(new Variable(batch.images));
        const loss = F.crossEntropy(logits, batch.labels, { reduction: 'sum' });
        lossSum += loss.item();
        correct += countCorrect(logits.data, batch.labels);
        n += batch.labels.length;
        options.onBatch?.(++done, loader.length, batch.labels.length);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  if (n === 0) throw new TrainingError('evaluate', 'the loader yielded no examples');
  return { loss: lossSum / n, accuracy: correct / n, n };
}

function checkNum(name: string, v: unknown, min: number, allowEqual = true): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (allowEqual ? v < min : v <= min)) {
    throw new TrainingError('train', `${name} must be a finite number ${allowEqual ? '>=' : '>'} ${min}, got ${String(v)}`);
  }
  return v;
}

function makeOptimizer(o: TrainOptions, model: Module): { optimizer: TrainingOptimizer; name: string; coupledDecay: number } {
  const spec = o.optimizer ?? 'sgd';
  if (typeof spec !== 'string') return { optimizer: spec, name: spec.constructor.name, coupledDecay: 0 };
  if (!OPTIMIZER_NAMES.includes(spec)) throw new TrainingError('train', `optimizer must be one of ${OPTIMIZER_NAMES.join(', ')}, got ${JSON.stringify(spec)}`);
  const params = model.parameters();
  if (params.length === 0) throw new TrainingError('train', 'the model has no parameters to train');
  const wd = checkNum('weightDecay', o.weightDecay ?? 0, 0);
  if (spec === 'sgd') {
    const lr = checkNum('lr', o.lr ?? 0.1, 0, false);
    const momentum = checkNum('momentum', o.momentum ?? 0.9, 0);
    return { optimizer: new SGD(params, { lr, momentum, nesterov: o.nesterov ?? false, weightDecay: wd }), name: 'sgd', coupledDecay: 0 };
  }
  const lr = checkNum('lr', o.lr ?? 1e-3, 0, false);
  const betas = o.betas ?? [0.9, 0.999];
  if (spec === 'adamw') return { optimizer: new AdamW(params, { lr, betas, weightDecay: wd }), name: 'adamw', coupledDecay: 0 };
  // Adam's weight decay is an L2 term added to the gradient (torch.optim.Adam), not AdamW's decay.
  return { optimizer: new AdamW(params, { lr, betas, weightDecay: 0 }), name: 'adam', coupledDecay: wd };
}

function makeSchedule(o: TrainOptions, optimizer: TrainingOptimizer, stepsPerEpoch: number, totalSteps: number): LRScheduler | null {
  const kind = o.schedule ?? 'none';
  if (!SCHEDULE_NAMES.includes(kind)) throw new TrainingError('train', `schedule must be one of ${SCHEDULE_NAMES.join(', ')}, got ${JSON.stringify(kind)}`);
  const toSteps = (epochs: number) => Math.max(1, Math.round(epochs * stepsPerEpoch));
  const gamma = checkNum('gamma', o.gamma ?? 0.1, 0);
  let s: LRScheduler | null = null;
  if (kind === 'step') {
    if (o.stepSize === undefined) throw new TrainingError('train', `schedule 'step' needs stepSize (epochs between decays)`);
    s = new StepLR(optimizer, toSteps(checkNum('stepSize', o.stepSize, 0, false)), { gamma });
  } else if (kind === 'multistep') {
    const ms = o.milestones;
    if (!Array.isArray(ms) || ms.length === 0) throw new TrainingError('train', `schedule 'multistep' needs milestones (epochs), got ${JSON.stringify(ms)}`);
    s = new MultiStepLR(optimizer, ms.map((m, i) => Math.round(checkNum(`milestones[${i}]`, m, 0) * stepsPerEpoch)), { gamma });
  } else if (kind === 'cosine') {
    s = new CosineAnnealingLR(optimizer, Math.max(1, totalSteps));
  }
  const warmup = checkNum('warmup', o.warmup ?? 0, 0);
  if (warmup > 0) s = new LinearWarmup(optimizer, { warmupSteps: toSteps(warmup), ...(s ? { after: s } : {}) });
  return s;
}

/**
 * Keep the metric lines of steps <= `step` (a resumed run rewrites what came after), byte for byte.
 * The file is checked first (`readMetrics`): a line that is not a metrics line is an error naming
 * it, never dropped; only a partial last line (a crash mid-append) is.
 */
function truncateMetrics(path: string, step: number): void {
  if (step === 0 || !existsSync(path)) {
    writeFileAtomic(path, '', 'train');
    return;
  }
  const { lines, completeBytes } = readMetrics(path, 'train');
  const cut = lines.find((l) => l.value.step > step)?.offset ?? completeBytes;
  writeFileAtomic(path, readFileSync(path).subarray(0, cut), 'train');
}

interface EpochStats {
  lossSum: number;
  correct: number;
  seen: number;
  steps: number;
}

/** Train `model`; see `TrainOptions`. */
export function train(options: TrainOptions): TrainResult {
  const t0 = performance.now();
  const { model, trainLoader } = options;
  const testLoader = options.testLoader ?? null;
  if (!model || typeof model.forward !== 'function' || typeof model.parameters !== 'function') {
    throw new TrainingError('train', 'model must be a Module');
  }
  if (!trainLoader || typeof trainLoader.batch !== 'function') throw new TrainingError('train', 'trainLoader must be a DataLoader');
  const epochs = options.epochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new TrainingError('train', `epochs must be a positive integer, got ${String(epochs)}`);
  const stepsPerEpoch = trainLoader.length;
  if (stepsPerEpoch < 1) {
    throw new TrainingError('train', `the training loader has no batches (${trainLoader.size} examples, batch size ${trainLoader.batchSize}${trainLoader.dropLast ? ', dropLast' : ''})`);
  }
  const totalSteps = epochs * stepsPerEpoch;
  const maxSteps = options.maxSteps;
  if (maxSteps !== undefined && (!Number.isInteger(maxSteps) || maxSteps < 1)) {
    throw new TrainingError('train', `maxSteps must be a positive integer, got ${String(maxSteps)}`);
  }
  const labelSmoothing = checkNum('labelSmoothing', options.labelSmoothing ?? 0, 0);
  if (labelSmoothing > 1) throw new TrainingError('train', `labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  const clip = options.clipGradNorm === undefined ? null : checkNum('clipGradNorm', options.clipGradNorm, 0, false);
  const seed = options.seed ?? trainLoader.seed;
  const onNonFinite = options.onNonFinite ?? 'throw';

  const { optimizer, name: optimizerName, coupledDecay } = makeOptimizer(options, model);
  let scheduler: LRScheduler | null;
  let schedulerStep: 'step' | 'epoch';
  if (options.scheduler) {
    scheduler = options.scheduler;
    schedulerStep = options.schedulerStep ?? 'epoch';
  } else {
    scheduler = makeSchedule(options, optimizer, stepsPerEpoch, totalSteps);
    schedulerStep = 'step';
  }
  const params = model.parameters();

  let step = 0;
  let epochStats: EpochStats = { lossSum: 0, correct: 0, seen: 0, steps: 0 };
  const history: EpochMetrics[] = [];
  if (options.resume) {
    const ckpt = typeof options.resume === 'string' ? loadCheckpoint(options.resume) : options.resume;
    const mine = (model as { config?: ModelConfig }).config;
    if (mine) checkSameModel(ckpt, mine);
    const ex = ckpt.extra;
    if (ex.stepsPerEpoch !== undefined && ex.stepsPerEpoch !== stepsPerEpoch) {
      throw new TrainingError('train', `cannot resume from ${ckpt.path}: it was trained with ${ex.stepsPerEpoch} steps per epoch, this loader has ${stepsPerEpoch} (batch size or dataset limit changed)`);
    }
    if (ex.seed !== undefined && ex.seed !== seed) throw new TrainingError('train', `cannot resume from ${ckpt.path}: it was trained with seed ${ex.seed}, this run has seed ${seed}`);
    if (ckpt.optimizerName && typeof options.optimizer === 'string' && ckpt.optimizerName !== optimizerName) {
      throw new TrainingError('train', `cannot resume from ${ckpt.path}: it was trained with optimizer ${ckpt.optimizerName}, this run uses ${optimizerName}`);
    }
    try {
      model.loadStateDict(ckpt.modelState);
      if (ckpt.optimizer) optimizer.loadStateDict(ckpt.optimizer);
      if (ckpt.scheduler && scheduler) scheduler.loadStateDict(ckpt.scheduler);
    } catch (e) {
      throw new TrainingError('train', `cannot resume from ${ckpt.path}: ${(e as Error).message}`);
    }
    step = ckpt.step;
    if (ex.epochStats) epochStats = { ...ex.epochStats };
    if (Array.isArray(ex.history)) history.push(...ex.history);
  }
  if (options.metricsPath) truncateMetrics(options.metricsPath, step);
  const metricsFile = options.metricsPath ? new MetricsWriter(options.metricsPath) : null;
  const writeMetric = (line: MetricsLine) => metricsFile?.write(line);

  const checkpoint = (epochDone: number) => {
    if (!options.checkpointPath) return;
    // The metric lines of the steps the checkpoint holds are on disk before it is.
    metricsFile?.sync();
    saveCheckpoint(options.checkpointPath, {
      model,
      optimizer,
      optimizerName,
      scheduler,
      step,
      epoch: epochDone,
      extra: { ...(options.checkpointExtra ?? {}), seed, stepsPerEpoch, epochs, epochStats, history },
    });
  };

  const forwardLoss = (batch: Batch) => {
    const logits = model.forward(new Variable(batch.images));
    const loss = F.crossEntropy(logits, batch.labels, { labelSmoothing });
    return { logits, loss };
  };

  let stopped: TrainResult['stopped'] = 'completed';
  let error: string | null = null;
  let stepMs = 0;
  let images = 0;
  let lastEval: { loss: number; accuracy: number } | null = null;
  if (history.length) {
    const h = history[history.length - 1]!;
    if (h.testLoss !== null && h.testAccuracy !== null) lastEval = { loss: h.testLoss, accuracy: h.testAccuracy };
  }
  let lastEvalStep = history.length ? history[history.length - 1]!.step : -1;
  model.train();
  try {
    outer: for (let epoch = Math.floor(step / stepsPerEpoch); epoch < epochs; epoch++) {
      if (maxSteps !== undefined && step >= maxSteps) {
        stopped = 'maxSteps';
        break;
      }
      const first = step - epoch * stepsPerEpoch;
      if (first === 0) epochStats = { lossSum: 0, correct: 0, seen: 0, steps: 0 };
      for (const batch of epochBatches(trainLoader, epoch, first)) {
        if (maxSteps !== undefined && step >= maxSteps) {
          stopped = 'maxSteps';
          break outer;
        }
        const b = batch.index;
        const ts = performance.now();
        const stepNo = step + 1;
        const lr = optimizer.lr;
        reseedModules(model, seed, stepNo);
        optimizer.zeroGrad();
        const { logits, loss } = forwardLoss(batch);
        const lossValue = loss.item();
        const correct = countCorrect(logits.data, batch.labels);
        let gn = NaN;
        if (Number.isFinite(lossValue)) {
          loss.backward();
          gn = totalGradNorm(params);
        }
        const n = batch.labels.length;
        const metrics: StepMetrics = {
          step: stepNo,
          epoch,
          batch: b,
          loss: lossValue,
          accuracy: correct / n,
          gradNorm: gn,
          lr,
          batchSize: n,
          stepsPerEpoch,
          totalSteps,
        };
        if (!Number.isFinite(lossValue) || !Number.isFinite(gn)) {
          writeMetric({ step: stepNo, epoch, loss: metricValue(lossValue), accuracy: correct / n, gradNorm: metricValue(gn), lr });
          options.onStep?.(metrics);
          const what = Number.isFinite(lossValue) ? `the gradient norm is ${gn}` : `the loss is ${lossValue}`;
          error = `training diverged: ${what} at step ${stepNo} (epoch ${epoch + 1}, batch ${b + 1}, lr ${lr}); try a lower learning rate, warmup or gradient clipping`;
          stopped = 'nonFinite';
          break outer;
        }
        if (options.onAfterBackward) {
          options.onAfterBackward({
            step: stepNo,
            epoch,
            model,
            batch,
            optimizer,
            loss: lossValue,
            lossFn: () => {
              const saved: Record<string, Tensor> = {};
              for (const [k, t] of model.namedBuffers()) saved[k] = t.clone();
              reseedModules(model, seed, stepNo);
              try {
                return forwardLoss(batch).loss;
              } finally {
                model.loadStateDict(saved, { strict: false });
              }
            },
          });
        }
        if (clip !== null) {
          const scale = clip / (gn + 1e-6);
          if (scale < 1) for (const p of params) if (p.grad) p.grad = scaleTensor(p.grad, scale);
        }
        if (coupledDecay > 0) for (const p of params) if (p.grad) p.grad = addScaled(p.grad, p.data, coupledDecay);
        optimizer.step();
        step = stepNo;
        if (scheduler && schedulerStep === 'step') scheduler.step();
        stepMs += performance.now() - ts;
        images += n;
        epochStats.lossSum += lossValue * n;
        epochStats.correct += correct;
        epochStats.seen += n;
        epochStats.steps++;
        writeMetric({ step: stepNo, epoch, loss: metricValue(lossValue), accuracy: correct / n, gradNorm: metricValue(gn), lr });
        options.onStep?.(metrics);
      }
      // The epoch is complete.
      if (scheduler && schedulerStep === 'epoch') scheduler.step();
      const ev = testLoader ? evaluate(model, testLoader) : null;
      const em: EpochMetrics = {
        epoch: epoch + 1,
        step,
        trainLoss: epochStats.lossSum / epochStats.seen,
        trainAccuracy: epochStats.correct / epochStats.seen,
        testLoss: ev ? ev.loss : null,
        testAccuracy: ev ? ev.accuracy : null,
      };
      if (ev) {
        lastEval = ev;
        lastEvalStep = step;
      }
      history.push(em);
      writeMetric({
        type: 'eval',
        epoch: em.epoch,
        step: em.step,
        trainLoss: metricValue(em.trainLoss),
        trainAccuracy: metricValue(em.trainAccuracy),
        testLoss: metricValue(em.testLoss),
        testAccuracy: metricValue(em.testAccuracy),
      });
      options.onEpoch?.(em);
      checkpoint(epoch + 1);
    }
    if (stopped === 'maxSteps') {
      checkpoint(Math.floor(step / stepsPerEpoch));
      if (testLoader && lastEvalStep !== step) lastEval = evaluate(model, testLoader);
    }
  } finally {
    metricsFile?.close();
  }
  if (stopped === 'nonFinite' && onNonFinite === 'throw') throw new TrainingError('train', error!);
  return {
    steps: step,
    epochs: Math.floor(step / stepsPerEpoch),
    stopped,
    error,
    trainLoss: epochStats.seen ? epochStats.lossSum / epochStats.seen : null,
    trainAccuracy: epochStats.seen ? epochStats.correct / epochStats.seen : null,
    testLoss: lastEval ? lastEval.loss : null,
    testAccuracy: lastEval ? lastEval.accuracy : null,
    history,
    seconds: (performance.now() - t0) / 1000,
    imagesPerSecond: stepMs > 0 ? (images * 1000) / stepMs : 0,
    optimizer,
  };
}

/** Batches `first`.. of epoch `epoch` (the loader's order is computed once per epoch when starting at 0). */
function* epochBatches(loader: DataLoader, epoch: number, first: number): Generator<Batch> {
  if (first === 0) {
    yield* loader.iterate(epoch);
    return;
  }
  for (let b = first; b < loader.length; b++) yield loader.batch(epoch, b);
}

function scaleTensor(t: Tensor, s: number): Tensor {
  const d = t.toTypedArray();
  for (let i = 0; i < d.length; i++) d[i] = d[i]! * s;
  return new Tensor(d, t.shape);
}

function addScaled(g: Tensor, w: Tensor, s: number): Tensor {
  const gd = g.toTypedArray();
  const wd = w.contiguous().data;
  for (let i = 0; i < gd.length; i++) gd[i] = gd[i]! + s * wd[i]!;
  return new Tensor(gd, g.shape);
}

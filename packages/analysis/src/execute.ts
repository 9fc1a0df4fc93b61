/**
 * The real executor: trains one planned run with `@normlab/models` and measures it. Distortions
 * and dropout are attached after every norm layer of the built model; the landscape probes run in
 * the training loop's `onAfterBackward` hook (after backward, before the optimizer step) and
 * restore every parameter, gradient and buffer they touch, so a probed run trains exactly as an
 * unprobed one.
 */
import { Variable } from '@normlab/autograd';
import {
  DataLoader,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  MNIST_MEAN,
  MNIST_STD,
  CIFAR10_MEAN,
  CIFAR10_STD,
  gaussianNoise,
  loadDataset,
  normalize,
  randomCrop,
  randomHorizontalFlip,
  syntheticImages,
  toFloat,
  type ImageDataset,
  type Transform,
} from '@normlab/datasets';
import { buildModel, evaluate, train, type DistortionConfig } from '@normlab/models';
import { Dropout, Linear, Module, type Parameter } from '@normlab/nn';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  setNormalizationLive,
} from '@normlab/norm-layers';
import { Tensor, fromArray } from '@normlab/tensor';
import { AnalysisError } from './errors.js';
import { GradientChangeTracker, santurkarMultipliers, santurkarProbe } from './landscape.js';
import { periodBounds } from './periods.js';
import type { PlannedRun } from './profiles.js';
import type { ExecuteContext } from './runner.js';
import { runStability } from './stability.js';
import type { DistortionSpec, RunRecord, RunSpec, SanturkarPoint, WindowSpec } from './types.js';

/** Synthetic images for the smoke profile: 12×12 keeps a run to a fraction of a second. */
const SYNTHETIC_SIZE = 12;

const datasetCache = new Map<string, ImageDataset>();

/**
 * The train or test split of a spec's dataset (`synthetic`: generated 12×12 images), read from
 * `dataDir` (default: the datasets' own lookup); cached per process, so the runs of a reproduction
 * load each split once.
 */
export function loadSplit(spec: RunSpec, split: 'train' | 'test', dataDir?: string): ImageDataset {
  const key = `${spec.dataset}\u0000${split}\u0000${dataDir ?? ''}\u0000${spec.trainLimit}\u0000${spec.testLimit}`;
  const have = datasetCache.get(key);
  if (have) return have;
  const ds =
    spec.dataset === 'synthetic'
      ? syntheticImages({ split, seed: 0, n: Math.min(split === 'train' ? spec.trainLimit : spec.testLimit, 20000), height: SYNTHETIC_SIZE, width: SYNTHETIC_SIZE })
      : loadDataset(spec.dataset, { split, ...(dataDir ? { dataDir } : {}) });
  datasetCache.set(key, ds);
  return ds;
}

/** uint8 → [0, 1], the training augmentation, optional pixel noise in those units (clamped to the pixel range), then the dataset's standardization. */
export function runTransforms(spec: RunSpec, options: { noise?: number; augment?: boolean } = {}): Transform[] {
  const [mean, std] =
    spec.dataset === 'mnist' ? [MNIST_MEAN, MNIST_STD] : spec.dataset === 'fashion-mnist' ? [FASHION_MNIST_MEAN, FASHION_MNIST_STD] : spec.dataset === 'cifar10' ? [CIFAR10_MEAN, CIFAR10_STD] : [[0.5], [0.25]];
  const out: Transform[] = [toFloat()];
  if (options.augment && spec.augment) {
    out.push(randomCrop(spec.augment.cropPadding));
    if (spec.augment.flip) out.push(randomHorizontalFlip());
  }
  if (options.augment && spec.regularizer?.kind === 'cropFlip') out.push(randomCrop(spec.regularizer.padding), randomHorizontalFlip());
  if (options.noise) out.push(gaussianNoise(options.noise, { min: 0, max: 1 }));
  out.push(normalize(mean, std));
  return out;
}

const NORM_CLASSES = [BatchNorm2d, BatchNorm1d, GroupNorm, LayerNorm2d, InstanceNorm2d, BatchGroupNorm, GNPlus, HybridNorm];

function isNormLayer(m: Module): boolean {
  return NORM_CLASSES.some((c) => m instanceof c);
}

/**
 * Make `after` run on every norm layer's output: the norm's `forward` is wrapped on the instance
 * and `after` registered as its child (so `train()`/`eval()` reach it). Works in any container,
 * `Sequential` included, without knowing the model's structure. Returns how many layers were wrapped.
 */
export function attachAfterNorms(model: Module, make: (channels: number, index: number) => Module): number {
  const norms = model.modules().filter(isNormLayer);
  norms.forEach((norm, i) => {
    const channels = (norm as unknown as { numChannels?: number; numFeatures?: number }).numChannels ?? (norm as unknown as { numFeatures?: number }).numFeatures;
    if (!channels) throw new AnalysisError('attachAfterNorms', `norm layer ${norm.constructor.name} exposes neither numChannels nor numFeatures`);
    const after = make(channels, i);
    norm.registerModule('after', after);
    const forward = norm.forward.bind(norm);
    norm.forward = (x: Variable) => after.forward(forward(x));
  });
  return norms.length;
}

/**
 * The distortion of a spec as the models' distortion config (placed after every norm layer):
 * magnitude m scales the published settings, m = 1 being additive N(0.5, 1.25) per sample and
 * group of channels, and Santurkar et al.'s μ ~ U(−0.5, 0.5), σ ~ U(1, 1.25), jitter 0.1.
 */
export function distortionConfig(d: DistortionSpec): DistortionConfig {
  const m = d.magnitude;
  if (!(m >= 0) || !Number.isFinite(m)) throw new AnalysisError('distortionConfig', `magnitude must be a finite number >= 0, got ${m}`);
  return d.kind === 'additive'
    ? { kind: d.kind, mean: 0.5 * m, std: 1.25 * m }
    : { kind: d.kind, muRange: 0.5 * m, sigmaLow: 1, sigmaHigh: 1 + 0.25 * m, meanJitter: 0.1 * m, scaleStd: 0.1 * m };
}

/** What `attachWindow` returns: the training loop tells it each step done. */
export interface WindowSwitch {
  /** Call after each training step with the number of steps completed (`onStep`'s `step`). */
  stepDone(step: number): void;
}

/**
 * The window ablation's switch: normalization live only in the loop steps of period `live` of
 * `totalSteps` (0-based step i lies in the period `periodBounds` puts it in), identity plus affine
 * elsewhere. `train()` has no step-start hook, so the model's `forward` is wrapped on the instance
 * and sets the mode at each training-mode forward from the steps completed so far, which
 * `stepDone` (called from `onStep`) advances; the probes' re-evaluations of a step run in that
 * step's mode. Evaluations (eval mode) keep the mode of the last trained step: the network is
 * tested as it was just trained, so the final test is in the last period's mode.
 */
export function attachWindow(model: Module, window: WindowSpec, totalSteps: number): WindowSwitch {
  const k = window?.periods;
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(window.live) || window.live < 1 || window.live > k) {
    throw new AnalysisError('attachWindow', `expected a live period in 1..periods, got ${JSON.stringify(window)}`);
  }
  const { start, end } = periodBounds(totalSteps, k)[window.live - 1]!;
  let done = 0;
  let live = done >= start && done < end;
  if (setNormalizationLive(model, live) === 0) {
    throw new AnalysisError('attachWindow', `model ${model.constructor.name} has no norm layer to switch; the window ablation needs a normalized network`);
  }
  const forward = model.forward.bind(model);
  model.forward = (x: Variable) => {
    if (model.training) {
      const want = done >= start && done < end;
      if (want !== live) {
        setNormalizationLive(model, want);
        live = want;
      }
    }
    return forward(x);
  };
  return {
    stepDone: (step: number) => {
      done = step;
    },
  };
}

/** The weight of the last linear layer: the layer the paper's gradient predictiveness is measured on. */
function lastLinearWeight(model: Module): Parameter {
  const cls = (model as unknown as { classifier?: () => Linear }).classifier;
  const linears = model.modules().filter((m): m is Linear => m instanceof Linear);
  const last = cls ? cls.call(model) : linears[linears.length - 1];
  if (!last) throw new AnalysisError('landscape', `model ${model.constructor.name} has no Linear layer to measure gradient predictiveness on`);
  return last.weight;
}

/**
 * Santurkar et al.'s probe on the model's current batch: parameters flattened to one float64
 * vector, `lossFn` re-run at each probed point. Everything it changes is put back.
 */
export function probeModel(model: Module, lossFn: () => Variable, lr: number, multipliers: number): Omit<SanturkarPoint, 'step'> {
  const params = model.parameters();
  const savedData = params.map((p) => p.data);
  const savedGrad = params.map((p) => p.grad);
  const savedBuffers = model.namedBuffers().map(([name, t]) => [name, t.clone()] as const);
  const sizes = params.map((p) => p.data.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const w0 = new Float64Array(total);
  let off = 0;
  for (const p of params) {
    w0.set(p.data.contiguous().toTypedArray() as ArrayLike<number>, off);
    off += p.data.size;
  }
  const lossAndGrad = (w: Float64Array) => {
    let o = 0;
    params.forEach((p, i) => {
      p.data = fromArray(Float32Array.from(w.subarray(o, o + sizes[i])), p.data.shape);
      o += sizes[i];
    });
    for (const p of params) p.grad = null;
    const loss = lossFn();
    loss.backward();
    const g = new Float64Array(total);
    let go = 0;
    params.forEach((p, i) => {
      if (p.grad) g.set(p.grad.contiguous().toTypedArray() as ArrayLike<number>, go);
      go += sizes[i];
    });
    return { loss: loss.item(), grad: g };
  };
  try {
    const r = santurkarProbe(lossAndGrad, w0, { lr, multipliers: santurkarMultipliers(multipliers) });
    return { lossVariation: r.lossVariation, gradPredictiveness: r.gradPredictiveness, betaSmoothness: r.betaSmoothness };
  } finally {
    params.forEach((p, i) => {
      p.data = savedData[i];
      p.grad = savedGrad[i];
    });
    const state = Object.fromEntries(savedBuffers) as Record<string, Tensor>;
    model.loadStateDict(state, { strict: false });
  }
}

/** Train one run and measure it. */
export async function executeRun(run: PlannedRun, ctx: ExecuteContext): Promise<RunRecord> {
  const { spec } = run;
  const trainSet = loadSplit(spec, 'train', ctx.dataDir);
  const testSet = loadSplit(spec, 'test', ctx.dataDir);
  const trainLoader = new DataLoader(trainSet, { batchSize: spec.batchSize, shuffle: true, seed: spec.seed, dropLast: true, limit: spec.trainLimit, transforms: runTransforms(spec, { augment: true }) });
  const testN = Math.min(spec.testLimit, testSet.n);
  // A last batch of one cannot be standardized over the batch axis (GNPlus): drop it, only then.
  const testLoader = (batchSize = 100, noise?: number) =>
    new DataLoader(testSet, { batchSize, shuffle: false, seed: spec.seed + 1, limit: spec.testLimit, dropLast: testN % batchSize === 1, transforms: runTransforms(spec, noise ? { noise } : {}) });

  const model = buildModel({
    name: spec.model,
    norm: spec.norm,
    groups: spec.groups,
    ...(spec.order ? { normOptions: { order: spec.order } } : {}),
    width: spec.width,
    inChannels: trainSet.channels,
    numClasses: trainSet.numClasses,
    seed: spec.seed,
    ...(spec.distortion ? { distortion: distortionConfig(spec.distortion) } : {}),
  });
  if (spec.regularizer?.kind === 'dropout') {
    const p = spec.regularizer.p;
    attachAfterNorms(model, (_c, i) => new Dropout(p, { seed: spec.seed * 1000 + 500 + i }));
  }
  const weightDecay = spec.weightDecay + (spec.regularizer?.kind === 'weightDecay' ? spec.regularizer.value : 0);
  const stepsPerEpoch = Math.floor(Math.min(spec.trainLimit, trainSet.n) / spec.batchSize);
  const totalSteps = spec.epochs * stepsPerEpoch;
  if (totalSteps < 1) throw new AnalysisError('executeRun', `run ${run.id} has no full batch: ${Math.min(spec.trainLimit, trainSet.n)} examples at batch ${spec.batchSize}`);

  const steps: RunRecord['steps'] = { loss: [], accuracy: [], gradNorm: [], lr: [] };
  const evals: RunRecord['evals'] = [];
  const tracker = spec.probes ? new GradientChangeTracker() : null;
  const santurkar: SanturkarPoint[] = [];
  const lastWeight = spec.probes ? lastLinearWeight(model) : null;
  const window = spec.window ? attachWindow(model, spec.window, totalSteps) : null;

  const result = train({
    model,
    trainLoader,
    testLoader: testLoader(),
    epochs: spec.epochs,
    optimizer: spec.optimizer,
    lr: spec.lr,
    momentum: spec.momentum,
    weightDecay,
    // The authors' schedule: ×0.1 at fractions of training, given to the loop in epochs.
    ...(spec.milestones.length ? { schedule: 'multistep' as const, milestones: spec.milestones.map((f) => f * spec.epochs) } : {}),
    ...(spec.regularizer?.kind === 'labelSmoothing' ? { labelSmoothing: spec.regularizer.value } : {}),
    seed: spec.seed,
    onNonFinite: 'stop',
    onStep: (m) => {
      window?.stepDone(m.step);
      // A diverged step is reported through the result, not stored (JSON has no NaN).
      if (!Number.isFinite(m.loss) || !Number.isFinite(m.gradNorm)) return;
      steps.loss.push(m.loss);
      steps.accuracy.push(m.accuracy);
      steps.gradNorm.push(m.gradNorm);
      steps.lr.push(m.lr);
      ctx.onStep(steps.loss.length, totalSteps);
    },
    onEpoch: (e) => {
      if (e.testLoss !== null && e.testAccuracy !== null) evals.push({ epoch: e.epoch, step: e.step, testLoss: e.testLoss, testAccuracy: e.testAccuracy });
    },
    ...(spec.probes
      ? {
          onAfterBackward: (c) => {
            const g = lastWeight!.grad;
            if (g) tracker!.push(g.contiguous().toTypedArray() as ArrayLike<number>);
            // Probe at loop steps s, 2s, … (counted from 1); recorded at its 0-based index in `steps`.
            if (c.step % spec.probes!.santurkarEvery === 0) {
              santurkar.push({ step: c.step - 1, ...probeModel(c.model, c.lossFn, c.optimizer.lr, spec.probes!.multipliers) });
            }
          },
        }
      : {}),
  });
  const note = result.stopped === 'nonFinite' ? (result.error ?? 'non-finite loss') : undefined;
  const finite = note === undefined;
  const finalEval = evaluate(model, testLoader());
  if (evals.length === 0 || evals[evals.length - 1].step !== steps.loss.length) {
    evals.push({ epoch: spec.epochs, step: steps.loss.length, testLoss: finalEval.loss, testAccuracy: finalEval.accuracy });
  }
  if (steps.loss.length === 0) throw new AnalysisError('executeRun', `run ${run.id} diverged at its first step: ${note}`);
  const record: RunRecord = {
    id: run.id,
    spec,
    roles: run.roles,
    status: finite ? 'ok' : 'diverged',
    steps,
    evals,
    final: {
      testAccuracy: finalEval.accuracy,
      bestTestAccuracy: Math.max(...evals.map((e) => e.testAccuracy)),
      testLoss: finalEval.loss,
    },
    stability: runStability(steps),
  };
  if (tracker) record.landscape = { gradChange: tracker.changes, santurkar };
  if (spec.evalNoise) record.noise = spec.evalNoise.map((sigma) => ({ sigma, testAccuracy: evaluate(model, testLoader(100, sigma)).accuracy }));
  if (spec.evalBatchSizes) record.evalBatch = spec.evalBatchSizes.map((b) => ({ batchSize: b, testAccuracy: evaluate(model, testLoader(b)).accuracy }));
  if (note) record.note = note;
  return record;
}

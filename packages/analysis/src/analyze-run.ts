/**
 * `normlab analyze --run runs/NAME`: the analysis of one trained run. From its `metrics.jsonl`:
 * stability (loss std around the moving average, spikes, gradient-norm variance) and the curves.
 * From its trained model, on batches of its data: Santurkar et al.'s landscape probe at the final
 * weights, test accuracy under Gaussian pixel noise, and — for norms whose eval uses the batch
 * (GNPlus) — test accuracy at several eval batch sizes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Variable, crossEntropy } from '@normlab/autograd';
import {
  CIFAR10_MEAN,
  CIFAR10_STD,
  DataLoader,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  MNIST_MEAN,
  MNIST_STD,
  channelStats,
  gaussianNoise,
  loadDataset,
  normalize,
  toFloat,
} from '@normlab/datasets';
import { ensureDir, evaluate, loadCheckpoint, loadModel, readMetrics, writeFileAtomic } from '@normlab/models';
import type { Module } from '@normlab/nn';
import type { Tensor } from '@normlab/tensor';
import type { TopLevelSpec } from 'vega-lite';
import { AnalysisError } from './errors.js';
import { probeModel } from './execute.js';
import { renderSvg } from './figures.js';
import { movingAverage, runStability, type RunStability } from './stability.js';
import { summarize } from './stats.js';
import type { EvalBatchAccuracy, NoiseAccuracy, SanturkarPoint } from './types.js';
import { fmtNum, fmtPct } from './verdicts.js';

/** One training step of a run's metrics.jsonl. */
export interface StepMetric {
  /** The optimizer step, counted from 1. */
  step: number;
  /** The epoch (from 0) it belongs to. */
  epoch: number;
  /** Training loss of the step's batch. */
  loss: number;
  /** Training accuracy of the step's batch, a fraction in [0, 1]. */
  accuracy: number;
  /** Global L2 norm of the gradient (NaN when not recorded). */
  gradNorm: number;
  /** Learning rate the step used. */
  lr: number;
}

/** One evaluation on the test set from a run's metrics.jsonl. */
export interface EvalMetric {
  /** Epochs completed when it was taken (from 1). */
  epoch: number;
  /** Mean cross-entropy on the test set (NaN when not recorded). */
  testLoss: number;
  /** Test accuracy, a fraction in [0, 1]. */
  testAccuracy: number;
}

/** The curves of a training run, from its metrics.jsonl. */
export interface RunMetrics {
  /** Per training step, diverged steps left out. */
  steps: StepMetric[];
  /** Per evaluation on the test set. */
  evals: EvalMetric[];
}

/**
 * Read a training run's metrics.jsonl: per-step lines and per-epoch eval lines, each checked
 * against its declared schema (`readMetrics` of `@normlab/models`). A diverged step (loss null)
 * and an eval without a test set are kept out of the curves.
 */
export function readRunMetrics(file: string): RunMetrics {
  const op = 'readRunMetrics';
  const steps: StepMetric[] = [];
  const evals: EvalMetric[] = [];
  for (const { value } of readMetrics(file, op).lines) {
    if ('type' in value) {
      if (value.testAccuracy !== null) evals.push({ epoch: value.epoch, testLoss: value.testLoss ?? Number.NaN, testAccuracy: value.testAccuracy });
    } else if (value.loss !== null) {
      steps.push({ step: value.step, epoch: value.epoch, loss: value.loss, accuracy: value.accuracy, gradNorm: value.gradNorm ?? Number.NaN, lr: value.lr });
    }
  }
  if (steps.length === 0) throw new AnalysisError(op, `${file} has no per-step lines (with step and loss); expected at least one`);
  return { steps, evals };
}

/** A batch of the run's data for the model-based measurements. */
export interface ProbeBatch {
  /** The images, standardized as in training, [N, C, H, W]. */
  images: Tensor;
  /** Class index of each image. */
  labels: Int32Array;
}

/** Santurkar et al.'s probe of a trained model on one batch (`probeTrainedModel`). */
export interface BatchProbe extends Omit<SanturkarPoint, 'step'> {
  /** The batch's index among the probed batches. */
  batch: number;
  /** The loss on the batch at the final weights. */
  loss: number;
}

/** The measurements of a trained model (`analyzeRunDir`). */
export interface TrainedModelAnalysis {
  /** Santurkar et al.'s probe at the final weights, one per training batch. */
  santurkar: BatchProbe[];
  /** The learning rate the probe's step sizes scale: the run's peak training lr. */
  lr: number;
  /** Test accuracy without noise, a fraction in [0, 1]. */
  cleanAccuracy: number;
  /** Test accuracy under each Gaussian pixel noise level. */
  noise: NoiseAccuracy[];
  /** Test accuracy at each eval batch size (GNPlus only; empty for other norms). */
  evalBatch: EvalBatchAccuracy[];
}

/** The analysis of one trained run, as written to its analysis folder. */
export interface RunAnalysis {
  /** The run's curves. */
  metrics: RunMetrics;
  /** Within-run stability of its training loss and gradient norm. */
  stability: RunStability;
  /** The trained model's measurements; null when the folder has no checkpoint. */
  trained: TrainedModelAnalysis | null;
  /** The text of report.md. */
  markdown: string;
  /** Names of the figures written, `figures/<name>.svg`. */
  figures: string[];
}

/**
 * Santurkar probes of a trained model on `batches` (train mode, that batch's norm statistics;
 * parameters, gradients and buffers are restored after each).
 */
export function probeTrainedModel(model: Module, batches: readonly ProbeBatch[], lr: number, multipliers = 4): BatchProbe[] {
  const wasTraining = model.training;
  model.train();
  try {
    return batches.map((b, i) => {
      const lossFn = () => crossEntropy(model.forward(new Variable(b.images)) as Variable, b.labels);
      const loss = lossFn().item();
      return { batch: i, loss, ...probeModel(model, lossFn, lr, multipliers) };
    });
  } finally {
    model.train(wasTraining);
  }
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Write `report.md` and figures for one run under `outDir`. */
export async function writeRunAnalysis(outDir: string, metrics: RunMetrics, trained: TrainedModelAnalysis | null, title: string): Promise<RunAnalysis> {
  const loss = metrics.steps.map((s) => s.loss);
  const gradNorm = metrics.steps.map((s) => (Number.isFinite(s.gradNorm) ? s.gradNorm : 0));
  const stability = runStability({ loss, gradNorm });
  const ma = movingAverage(loss);
  const figures: string[] = [];
  const specs: Array<[string, TopLevelSpec | null]> = [
    [
      'loss',
      {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: 'Training loss and its 50-step moving average',
        width: 560,
        height: 280,
        data: { values: metrics.steps.flatMap((s, i) => [{ step: s.step, value: s.loss, series: 'loss' }, { step: s.step, value: ma[i], series: 'moving average' }]) },
        mark: { type: 'line', strokeWidth: 1 },
        encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: 'training loss', scale: { type: 'log' } }, color: { field: 'series', type: 'nominal', title: null } },
      } as TopLevelSpec,
    ],
    [
      'grad-norm',
      {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: 'Gradient norm',
        width: 560,
        height: 220,
        data: { values: metrics.steps.map((s, i) => ({ step: s.step, value: gradNorm[i] })) },
        mark: { type: 'line', strokeWidth: 1 },
        encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: '‖g‖' } },
      } as TopLevelSpec,
    ],
    [
      'noise',
      trained && trained.noise.length
        ? ({
            $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
            title: 'Test accuracy under Gaussian pixel noise',
            width: 300,
            height: 220,
            data: { values: [{ sigma: 0, acc: 100 * trained.cleanAccuracy }, ...trained.noise.map((n) => ({ sigma: n.sigma, acc: 100 * n.testAccuracy }))] },
            mark: 'bar',
            encoding: { x: { field: 'sigma', type: 'ordinal', title: 'σ' }, y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)' } },
          } as TopLevelSpec)
        : null,
    ],
  ];
  ensureDir(path.join(outDir, 'figures'), 'analyze');
  for (const [name, spec] of specs) {
    if (!spec) continue;
    writeFileAtomic(path.join(outDir, 'figures', `${name}.svg`), await renderSvg(spec));
    figures.push(name);
  }
  const parts: string[] = [`# ${title}`, '', `Generated by \`normlab analyze\` from ${metrics.steps.length} training steps and ${metrics.evals.length} evaluations.`, '', '## Stability', ''];
  parts.push(
    table(
      ['loss std around MA(50)', 'loss spikes', 'grad-norm variance', 'final loss', 'final test accuracy'],
      [[fmtNum(stability.lossStd), String(stability.spikes), fmtNum(stability.gradNormVar), fmtNum(stability.finalLoss), metrics.evals.length ? fmtPct(metrics.evals[metrics.evals.length - 1].testAccuracy) : '—']],
    ),
    '',
    '![training loss](figures/loss.svg)',
    '',
    '![gradient norm](figures/grad-norm.svg)',
  );
  if (trained) {
    if (trained.santurkar.length) {
      const s = (f: 'lossVariation' | 'gradPredictiveness' | 'betaSmoothness') => summarize(trained.santurkar.map((p) => p[f]));
      const lv = s('lossVariation');
      const gp = s('gradPredictiveness');
      const bs = s('betaSmoothness');
      parts.push(
        '',
        "## Landscape at the final weights (Santurkar et al.'s protocol)",
        '',
        `Line search along −g at η ∈ [1/2, 4]·${fmtNum(trained.lr)} (the peak training lr) on ${trained.santurkar.length} training batches; mean ± std over batches.`,
        '',
        table(['loss variation', 'gradient predictiveness', 'effective β-smoothness'], [[`${fmtNum(lv.mean)} ± ${fmtNum(lv.std)}`, `${fmtNum(gp.mean)} ± ${fmtNum(gp.std)}`, `${fmtNum(bs.mean)} ± ${fmtNum(bs.std)}`]]),
      );
    }
    parts.push('', '## Sensitivity to test-time pixel noise', '', table(['σ', 'test accuracy', 'change (points)'], [['0', fmtPct(trained.cleanAccuracy), '—'], ...trained.noise.map((n) => [String(n.sigma), fmtPct(n.testAccuracy), (100 * (n.testAccuracy - trained.cleanAccuracy)).toFixed(2)])]));
    if (figures.includes('noise')) parts.push('', '![noise](figures/noise.svg)');
    if (trained.evalBatch.length) {
      parts.push('', '## Test accuracy against eval batch size', '', table(['eval batch', 'test accuracy'], trained.evalBatch.map((e) => [String(e.batchSize), fmtPct(e.testAccuracy)])));
    }
  }
  const markdown = parts.join('\n') + '\n';
  writeFileAtomic(path.join(outDir, 'report.md'), markdown);
  writeFileAtomic(path.join(outDir, 'analysis.json'), JSON.stringify({ stability, trained }, null, 1) + '\n');
  return { metrics, stability, trained, markdown, figures };
}

/** Where `analyzeRunDir` writes, and what it measures. */
export interface AnalyzeRunOptions {
  /** Output folder (default `<runDir>/analysis`). */
  outDir?: string;
  /** Dataset when the checkpoint does not record one (`extra.dataset`); default mnist. */
  dataset?: string;
  /** Where the dataset is read from (default: the checkpoint's `extra.dataDir`, else the datasets' own lookup). */
  dataDir?: string;
  /** Test-time Gaussian pixel noise levels (default 0.1, 0.2, 0.3). */
  noise?: number[];
  /** Training batches probed with Santurkar et al.'s line search (default 4). */
  probeBatches?: number;
  /** Batch size of the probed batches (default the run's, else 32). */
  batchSize?: number;
  /** Test examples evaluated (default 1000). */
  testLimit?: number;
  /** Eval batch sizes for batch-dependent norms (default 100, 10, 2). */
  evalBatchSizes?: number[];
}

/**
 * Analyze the output folder of `normlab train` (model.safetensors, metrics.jsonl): stability from
 * the metrics, and the landscape probe, pixel-noise sensitivity and (GNPlus) eval-batch
 * dependence from the trained model.
 */
export async function analyzeRunDir(runDir: string, options: AnalyzeRunOptions = {}): Promise<RunAnalysis> {
  const ckptPath = path.join(runDir, 'model.safetensors');
  const metricsPath = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) throw new AnalysisError('analyze', `${runDir} is not a folder; expected the output folder of normlab train`);
  const metrics = readRunMetrics(metricsPath);
  let trained: TrainedModelAnalysis | null = null;
  if (fs.existsSync(ckptPath)) {
    const ckpt = loadCheckpoint(ckptPath);
    const model = loadModel(ckpt);
    // `normlab train` keeps its flags under `extra.cli`; other callers may put them at the top level.
    const raw = ckpt.extra as Record<string, unknown>;
    const extra = ((raw.cli && typeof raw.cli === 'object' ? raw.cli : raw) ?? {}) as { dataset?: string; batchSize?: number; lr?: number; dataDir?: string };
    const dataset = extra.dataset ?? options.dataset ?? 'mnist';
    const dataDir = options.dataDir ?? extra.dataDir;
    const trainSet = loadDataset(dataset, { split: 'train', ...(dataDir ? { dataDir } : {}) });
    // The standardization `normlab train` used: the published statistics, else the training set's own.
    const { mean, std } =
      dataset === 'mnist'
        ? { mean: MNIST_MEAN, std: MNIST_STD }
        : dataset === 'fashion-mnist'
          ? { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD }
          : dataset === 'cifar10'
            ? { mean: CIFAR10_MEAN, std: CIFAR10_STD }
            : channelStats(trainSet);
    const tf = (noise?: number) => [toFloat(), ...(noise ? [gaussianNoise(noise, { min: 0, max: 1 })] : []), normalize(mean, std)];
    const testSet = loadDataset(dataset, { split: 'test', ...(dataDir ? { dataDir } : {}) });
    const testLimit = options.testLimit ?? 1000;
    const testN = Math.min(testLimit, testSet.n);
    const testLoader = (b: number, noise?: number) => new DataLoader(testSet, { batchSize: b, limit: testLimit, dropLast: testN % b === 1, transforms: tf(noise) });
    const batchSize = options.batchSize ?? extra.batchSize ?? 32;
    // The protocol's lr is the training lr: the schedule's peak, not its annealed end.
    const peak = Math.max(...metrics.steps.map((m) => (Number.isFinite(m.lr) ? m.lr : 0)));
    const lr = peak > 0 ? peak : (extra.lr ?? 0.01);
    const probeLoader = new DataLoader(trainSet, { batchSize, shuffle: true, seed: 12345, dropLast: true, transforms: tf() });
    const batches: ProbeBatch[] = [];
    const want = options.probeBatches ?? 4;
    for (const b of probeLoader) {
      if (batches.length >= want) break;
      batches.push({ images: b.images, labels: b.labels });
    }
    model.eval();
    const clean = evaluate(model, testLoader(100));
    const noise = (options.noise ?? [0.1, 0.2, 0.3]).map((sigma) => ({ sigma, testAccuracy: evaluate(model, testLoader(100, sigma)).accuracy }));
    const norm = (ckpt.config as { norm?: string } | null)?.norm;
    const evalBatch = norm === 'gnplus' ? (options.evalBatchSizes ?? [100, 10, 2]).map((b) => ({ batchSize: b, testAccuracy: evaluate(model, testLoader(b)).accuracy })) : [];
    const santurkar = probeTrainedModel(model, batches, lr);
    model.eval();
    trained = { santurkar, lr, cleanAccuracy: clean.accuracy, noise, evalBatch };
  }
  const outDir = options.outDir ?? path.join(runDir, 'analysis');
  return writeRunAnalysis(outDir, metrics, trained, `normlab analyze — ${path.basename(path.resolve(runDir))}`);
}

/**
 * One training run of the page, step by step: the `cnn` with the chosen norm, Adam, the subset's
 * batches in a seeded order, test accuracy every EVAL_EVERY steps and the activation probe every
 * PROBE_EVERY steps. It knows nothing of workers or pages, so it runs (and is tested) in Node too.
 *
 * Two sessions with the same seed start from the same weights (for the same model shape) and see
 * the training images in the same order; only the norm, groups and batch size differ.
 */
import { F, Variable, noGrad } from '@normlab/autograd';
import { DataLoader, MNIST_MEAN, MNIST_STD, normalize, toFloat, type Batch } from '@normlab/datasets';
import { type Cnn, cnn, evaluate, ModelError, TrainingError } from '@normlab/models';
import { AdamW, type Module } from '@normlab/nn';
import type { Tensor } from '@normlab/tensor';
import { forwardRecorder, groupHistograms } from './probe.js';
import { PLAYGROUND_NORMS, type ProbeResult, type RunConfig, type StepPoint, type SubsetData } from './protocol.js';

export const EVAL_EVERY = 50;
export const PROBE_EVERY = 25;
/** Test images per evaluation batch (BN and HybridNorm use running statistics there; GN+ the batch). */
export const EVAL_BATCH = 100;
/** The probe batch: the first test images. */
export const PROBE_IMAGES = 16;
/** The norm layer the probe watches: the second block's (after the first pool, stride 2). */
export const PROBE_LAYER = 'block2.norm';

const transforms = () => [toFloat(), normalize(MNIST_MEAN, MNIST_STD)];

/** Throws a ModelError naming the first option of `config` that the page cannot run. */
export function checkConfig(config: RunConfig): void {
  const bad = (what: string) => {
    throw new ModelError('playground', what);
  };
  if (!PLAYGROUND_NORMS.includes(config.norm)) bad(`norm must be one of ${PLAYGROUND_NORMS.join(', ')}, got ${JSON.stringify(config.norm)}`);
  for (const key of ['groups', 'batchSize', 'steps'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) bad(`${key} must be a positive integer, got ${config[key]}`);
  }
  if (!Number.isInteger(config.seed)) bad(`seed must be an integer, got ${config.seed}`);
  if (!(config.lr > 0 && Number.isFinite(config.lr))) bad(`lr must be a positive number, got ${config.lr}`);
  if (!(config.width > 0 && Number.isFinite(config.width))) bad(`width must be a positive number, got ${config.width}`);
}

export class TrainingSession {
  readonly config: RunConfig;
  readonly model: Cnn;
  private readonly optimizer: AdamW;
  private readonly loader: DataLoader;
  private readonly testLoader: DataLoader;
  private readonly probeImages: Tensor;
  private readonly probeLayer: Module;
  private readonly record: ReturnType<typeof forwardRecorder>;
  private batches: Iterator<Batch>;
  private epoch = 0;
  /** Completed optimizer steps. */
  step = 0;

  constructor(config: RunConfig, data: SubsetData) {
    checkConfig(config);
    this.config = { ...config };
    this.model = cnn({ norm: config.norm, groups: config.groups, width: config.width, seed: config.seed });
    this.optimizer = new AdamW(this.model.parameters(), { lr: config.lr, weightDecay: 0 });
    this.loader = new DataLoader(data.train, { batchSize: config.batchSize, shuffle: true, seed: config.seed, dropLast: true, transforms: transforms() });
    if (this.loader.length === 0) {
      throw new ModelError('playground', `batch size ${config.batchSize} is larger than the ${data.train.n} training images`);
    }
    this.testLoader = new DataLoader(data.test, { batchSize: EVAL_BATCH, transforms: transforms() });
    this.probeImages = new DataLoader(data.test, { batchSize: PROBE_IMAGES, transforms: transforms() }).batch(0, 0).images;
    const layer = this.model.namedModules().find(([name]) => name === PROBE_LAYER)?.[1];
    if (!layer) throw new ModelError('playground', `the cnn has no layer ${PROBE_LAYER}`);
    this.probeLayer = layer;
    this.record = forwardRecorder(layer);
    this.batches = this.loader.iterate(this.epoch);
    this.model.train();
  }

  get done(): boolean {
    return this.step >= this.config.steps;
  }

  /** One optimizer step on the next batch; returns its loss and accuracy. */
  trainStep(): StepPoint & { images: number } {
    let next = this.batches.next();
    if (next.done) {
      this.batches = this.loader.iterate(++this.epoch);
      next = this.batches.next();
    }
    const batch = next.value as Batch;
    this.optimizer.zeroGrad();
    const logits = this.model.forward(new Variable(batch.images));
    const loss = F.crossEntropy(logits, batch.labels);
    const lossValue = loss.item();
    if (!Number.isFinite(lossValue)) {
      throw new TrainingError('playground', `training diverged: the loss is ${lossValue} at step ${this.step + 1}; lower the learning rate`);
    }
    loss.backward();
    this.optimizer.step();
    this.step++;
    return { step: this.step, loss: lossValue, accuracy: countCorrect(logits.data, batch.labels) / batch.labels.length, images: batch.labels.length };
  }

  /** Test-set loss and accuracy, in eval mode. */
  evaluate(): { testAccuracy: number; testLoss: number } {
    const r = evaluate(this.model, this.testLoader);
    return { testAccuracy: r.accuracy, testLoss: r.loss };
  }

  /** The probed layer's input and output on the probe batch, in eval mode (what the test accuracy sees). */
  probe(): ProbeResult {
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      const { input, output } = this.record(() => noGrad(() => this.model.forward(new Variable(this.probeImages))));
      const channels = input.shape[1]!;
      // The layer's own groups (GN, GN+, HybridNorm cap them at its channels); the same split for
      // BN and no norm, so runs compare group by group.
      const groups = gcd(Math.min(this.config.groups, channels), channels);
      return {
        step: this.step,
        layer: `${PROBE_LAYER} (${this.probeLayer.constructor.name})`,
        channels,
        groups,
        before: groupHistograms(input, groups),
        after: groupHistograms(output, groups),
      };
    } finally {
      this.model.train(wasTraining);
    }
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function countCorrect(logits: Tensor, labels: Int32Array): number {
  const [n, c] = logits.shape as [number, number];
  const d = logits.contiguous().data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (d[i * c + j]! > d[i * c + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

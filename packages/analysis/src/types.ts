/**
 * The records the runner writes and the report reads. A run's identity is its `RunSpec`: every
 * hyperparameter that changes the numbers. Roles (sweep point, clean baseline, distorted run,
 * landscape run) are derived from the spec, so one run serves every role it fits.
 */
import type { RunStability } from './stability.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'synthetic';
export type NormName = 'bn' | 'gn' | 'ln' | 'in' | 'gnplus' | 'hybrid' | 'bgn' | 'none';
export type GNPlusOrder = 'gn-first' | 'bn-first' | 'parallel';

export interface DistortionSpec {
  kind: 'additive' | 'santurkar';
  /**
   * Scale of the distortion. `additive`: n ~ N(0.5·m, 1.25·m), m = 1 being the authors' setting;
   * `santurkar`: the noisy-BN ranges of Santurkar et al. scaled by m (m = 1 as published).
   */
  magnitude: number;
}

export type RegularizerSpec =
  | { kind: 'dropout'; p: number }
  | { kind: 'weightDecay'; value: number }
  | { kind: 'labelSmoothing'; value: number }
  | { kind: 'cropFlip'; padding: number };

export type RunRole = 'sweep' | 'stability' | 'sensitivity' | 'landscape' | 'window';

/**
 * The window ablation: training cut into `periods` equal periods (`periodBounds`), normalization
 * live in period `live` (1-based) only, identity plus affine in the others.
 */
export interface WindowSpec {
  live: number;
  periods: number;
}

export interface RunSpec {
  dataset: DatasetName;
  model: string;
  /** Width multiplier of the model (1 = as published). */
  width: number;
  norm: NormName;
  groups: number;
  /** GNPlus only: where the batch stage sits. */
  order?: GNPlusOrder;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  weightDecay: number;
  epochs: number;
  /** LR ×0.1 at these fractions of training (the authors: [0.5, 0.75]); empty for constant LR. */
  milestones: number[];
  trainLimit: number;
  testLimit: number;
  seed: number;
  distortion?: DistortionSpec;
  regularizer?: RegularizerSpec;
  /** Landscape instrumentation: last-layer gradient change every step, Santurkar probe every k steps. */
  probes?: { santurkarEvery: number; multipliers: number }; 
  /** Test-time Gaussian pixel noise levels evaluated after training. */
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
  augment?: { cropPadding: number; flip: boolean };
}

export interface SanturkarPoint {
  step: number;
  lossVariation: number;
  gradPredictiveness: number;
  betaSmoothness: number;
}

export interface RunRecord {
  id: string;
  spec: RunSpec;
  /** What the plan ran it for: `sweep`, `stability`, `sensitivity`, `landscape`. */
  roles: RunRole[];
  status: 'ok' | 'diverged';
  /** Per training step. */
  steps: { loss: number[]; accuracy: number[]; gradNorm: number[]; lr: number[] };
  /** Per epoch evaluation. */
  evals: Array<{ epoch: number; step: number; testLoss: number; testAccuracy: number }>;
  final: { testAccuracy: number; bestTestAccuracy: number; testLoss: number };
  stability: RunStability;
  landscape?: {
    /** ‖g_t − g_{t−1}‖₂ of the last linear layer's weight gradient; entry i is for step i + 1. */
    gradChange: number[];
    santurkar: SanturkarPoint[];
  };
  noise?: Array<{ sigma: number; testAccuracy: number }>;
  evalBatch?: Array<{ batchSize: number; testAccuracy: number }>;
  /** Why a run stopped early (a non-finite loss), if it did. */
  note?: string;
}

/** Wall time and machine facts of a run, kept apart from results.jsonl so results are reproducible bit for bit. */
export interface RunTiming {
  id: string;
  wallSeconds: number;
  stepsPerSecond: number;
}

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

/**
 * The reproduction profiles and the run plan they expand to. A profile names the paper's
 * experiments at some scale; `planRuns` turns it into the list of unique runs, each tagged with
 * the roles it serves (one run can be a sweep point and a stability run at once).
 */
import { AnalysisError } from './errors.js';
import { runId } from './spec.js';
import type { DatasetName, DistortionSpec, GNPlusOrder, NormName, RegularizerSpec, RunRole, RunSpec } from './types.js';

/** A train or test limit that keeps every example of the split (the report prints it as `all`). */
export const ALL_EXAMPLES = Number.MAX_SAFE_INTEGER;

/** Examples in each dataset's training split (the synthetic set is generated with at most 20000, `loadSplit`). */
export const TRAIN_EXAMPLES: Record<DatasetName, number> = { mnist: 60000, 'fashion-mnist': 60000, cifar10: 50000, synthetic: 20000 };

/** A norm as a profile lists it: GNPlus with its order (`variantName` spells it `gnplus:bn-first`). */
export interface NormVariant {
  /** The normalization. */
  norm: NormName;
  /** GNPlus only: where its batch stage sits (absent: `gn-first`). */
  order?: GNPlusOrder;
}

/**
 * The training hyperparameters shared by the runs of one part of a profile: the `RunSpec` fields of
 * the same names, documented there.
 */
export type TrainSetup = Pick<
  RunSpec,
  'model' | 'width' | 'optimizer' | 'momentum' | 'weightDecay' | 'epochs' | 'milestones' | 'trainLimit' | 'testLimit' | 'augment'
>;

/** The batch-size sweep of a profile: each norm at each batch size and seed. */
export interface SweepSetup extends TrainSetup {
  /** The norms swept. */
  norms: NormVariant[];
  /** The training batch sizes. */
  batchSizes: number[];
  /** The seeds, one run each per norm and batch size. */
  seeds: number[];
  /** The learning rate at batch 128; batch b trains at lrAt128 · b/128 (the linear scaling rule). */
  lrAt128: number;
}

/** The stability and sensitivity runs of a profile. */
export interface AnalysisSetup extends TrainSetup {
  /** The norms of the stability runs. */
  norms: NormVariant[];
  /** The training batch size. */
  batchSize: number;
  /** The learning rate. */
  lr: number;
  /** The seeds of the stability runs. */
  seeds: number[];
  /** Seeds of the distortion and regularizer runs (and their clean pairs): a prefix of `seeds` keeps the budget. */
  sensitivitySeeds: number[];
  /** The distortions, each a run per sensitivity norm and seed. */
  distortions: DistortionSpec[];
  /** Norms that get the distortion and regularizer runs (the claim compares GN with BN). */
  sensitivityNorms: NormVariant[];
  /** The regularizers, each a run per sensitivity norm and seed. */
  regularizers: RegularizerSpec[];
  /** Test-time Gaussian pixel noise levels (σ in [0, 1] pixel units) evaluated after training on every analysis run. */
  testNoise: number[];
  /** Eval batch sizes for the norms whose eval depends on the batch (GNPlus), and HybridNorm to compare. */
  evalBatchSizes: number[];
}

/**
 * The paper's landscape protocol: the same model at several learning rates, plus Santurkar
 * probes, for each seed (two seeds or more give the period claim its intervals).
 */
export interface LandscapeSetup extends TrainSetup {
  /** The norms compared (with `none`, the unnormalized reference). */
  norms: NormVariant[];
  /** The training batch size. */
  batchSize: number;
  /** The learning rates, one run each per norm and seed. */
  lrs: number[];
  /** The seeds. */
  seeds: number[];
  /** Santurkar probe every this many steps (`RunSpec.probes`). */
  santurkarEvery: number;
  /** Step sizes each probe tries (`RunSpec.probes`). */
  multipliers: number;
}

/**
 * The window ablation (docs/architecture.md, "The analysis framework" 4), in the analysis setup: for each norm and each of
 * the `periods` periods, a run with normalization live in that period only; references are the
 * analysis run of the same seed (always on) and the unnormalized network (`none`, never on).
 */
export interface WindowSetup {
  /** Whether the profile runs it (`--window-ablation` switches it). */
  enabled: boolean;
  /** The norms ablated. */
  norms: NormVariant[];
  /** The seeds. */
  seeds: number[];
}

/** A reproduction profile: the paper's experiments at some scale, on one dataset. */
export interface Profile {
  /** Its name (`PROFILE_NAMES`). */
  name: string;
  /** The dataset every run trains on. */
  dataset: DatasetName;
  /** Groups of the group-based norms. */
  groups: number;
  /** Periods the landscape is cut into. */
  periods: number;
  /** The batch-size sweep (the authors': SGD, momentum 0.9, wd 1e-4, lr = 0.1·b/128, ×0.1 at 1/2 and 3/4). */
  sweep: SweepSetup;
  /** Stability and sensitivity (the authors' analysis setup: Adam). */
  analysis: AnalysisSetup;
  /** The landscape runs. */
  landscape: LandscapeSetup;
  /** The window ablation. */
  window: WindowSetup;
}

const ALL_SWEEP: NormVariant[] = [
  { norm: 'bn' },
  { norm: 'gn' },
  { norm: 'gnplus', order: 'gn-first' },
  { norm: 'gnplus', order: 'bn-first' },
  { norm: 'gnplus', order: 'parallel' },
  { norm: 'hybrid' },
  { norm: 'bgn' },
];
const ANALYSIS: NormVariant[] = [{ norm: 'bn' }, { norm: 'gn' }, { norm: 'gnplus', order: 'gn-first' }, { norm: 'hybrid' }];
const BN_GN: NormVariant[] = [{ norm: 'bn' }, { norm: 'gn' }];
const LANDSCAPE: NormVariant[] = [{ norm: 'bn' }, { norm: 'gn' }, { norm: 'gnplus', order: 'gn-first' }, { norm: 'none' }];
const REGULARIZERS: RegularizerSpec[] = [
  { kind: 'dropout', p: 0.3 },
  { kind: 'weightDecay', value: 5e-4 },
  { kind: 'labelSmoothing', value: 0.1 },
  { kind: 'cropFlip', padding: 2 },
];
const DISTORTIONS = (mags: number[]): DistortionSpec[] => mags.flatMap((m) => [{ kind: 'additive' as const, magnitude: m }, { kind: 'santurkar' as const, magnitude: m }]);

/**
 * `smoke`: everything at toy size on synthetic 12×12 images, under a minute; tests use it.
 * Every role, claim and figure is exercised; the numbers mean nothing (two analysis seeds give
 * the stability and sensitivity claims intervals; the sweep and landscape have one seed, so
 * their claims read "insufficient data").
 */
function smoke(): Profile {
  const base = { model: 'cnn', width: 0.25, momentum: 0.9, weightDecay: 1e-4, epochs: 1, trainLimit: 192, testLimit: 64 };
  return {
    name: 'smoke',
    dataset: 'synthetic',
    groups: 2,
    periods: 2,
    sweep: { ...base, optimizer: 'sgd', milestones: [0.5, 0.75], norms: [{ norm: 'bn' }, { norm: 'gn' }, { norm: 'gnplus', order: 'gn-first' }, { norm: 'hybrid' }], batchSizes: [8, 32], seeds: [0], lrAt128: 0.4 },
    analysis: {
      ...base,
      optimizer: 'adam',
      weightDecay: 0,
      milestones: [],
      norms: ANALYSIS,
      batchSize: 16,
      lr: 2e-3,
      seeds: [0, 1],
      sensitivitySeeds: [0, 1],
      distortions: [{ kind: 'additive', magnitude: 0.5 }, { kind: 'santurkar', magnitude: 1 }],
      sensitivityNorms: BN_GN,
      regularizers: [{ kind: 'dropout', p: 0.3 }, { kind: 'labelSmoothing', value: 0.1 }],
      testNoise: [0.2],
      evalBatchSizes: [16, 2],
    },
    landscape: { ...base, trainLimit: 288, optimizer: 'adam', weightDecay: 0, milestones: [], norms: LANDSCAPE, batchSize: 16, lrs: [1e-3, 3e-3], seeds: [0], santurkarEvery: 3, multipliers: 2 },
    // Five runs of a fraction of a second each: cheap enough to exercise the ablation in tests.
    window: { enabled: true, norms: BN_GN, seeds: [0] },
  };
}

/**
 * `quick`: the README's main job, about 15 minutes on 2 cores on MNIST (or Fashion-MNIST): 106
 * runs of the small CNN at half width, one pass over 2304 training images each (budgeted from
 * measured run times: 1536 images per run took 9.2 min in all on an idle 2-core machine, so 2304
 * lands near 14 min; 2304 is a whole number of batches at 8, 16, 32 and 128). The sweep covers batch
 * 8/32/128 (the small end is where GN's and GN+'s advantage over BN is claimed); 3 seeds for the
 * stability comparison, 2 for the distortion and regularizer pairs.
 */
function quick(dataset: DatasetName): Profile {
  const base = { model: 'cnn', width: 0.5, momentum: 0.9, weightDecay: 1e-4, epochs: 1, trainLimit: 2304, testLimit: 1000 };
  return {
    name: 'quick',
    dataset,
    groups: 4,
    periods: 3,
    sweep: { ...base, optimizer: 'sgd', milestones: [0.5, 0.75], norms: ALL_SWEEP, batchSizes: [8, 32, 128], seeds: [0, 1], lrAt128: 0.1 },
    analysis: {
      ...base,
      optimizer: 'adam',
      weightDecay: 0,
      milestones: [],
      norms: ANALYSIS,
      batchSize: 16,
      lr: 1e-3,
      seeds: [0, 1, 2],
      sensitivitySeeds: [0, 1],
      distortions: DISTORTIONS([0.1, 0.5, 1]),
      sensitivityNorms: BN_GN,
      regularizers: REGULARIZERS,
      testNoise: [0.1, 0.2, 0.3],
      evalBatchSizes: [100, 10, 2],
    },
    landscape: { ...base, optimizer: 'adam', weightDecay: 0, milestones: [], norms: LANDSCAPE, batchSize: 16, lrs: [5e-4, 1e-3, 2e-3], seeds: [0], santurkarEvery: 8, multipliers: 4 },
    // Off by default (`--window-ablation`): 13 more runs, about 1.5 minutes (a window run measured 6.6 s).
    window: { enabled: false, norms: ANALYSIS, seeds: [0] },
  };
}

/**
 * `full`: the paper's grid. VGG-11 with Adam at 1e-4…5e-4 for the analysis, ResNet-50 with SGD on
 * CIFAR-10 for the sweep (batch 8…128, lr = 0.1·b/128, ×0.1 at 1/2 and 3/4), 3 seeds. Days of CPU.
 */
function full(dataset: DatasetName): Profile {
  const analysisBase = { model: 'vgg11', width: 1, momentum: 0.9, weightDecay: 0, epochs: 30, trainLimit: ALL_EXAMPLES, testLimit: ALL_EXAMPLES };
  return {
    name: 'full',
    dataset,
    groups: 32,
    periods: 3,
    sweep: {
      model: 'resnet50',
      width: 1,
      optimizer: 'sgd',
      momentum: 0.9,
      weightDecay: 1e-4,
      epochs: 100,
      milestones: [0.5, 0.75],
      trainLimit: ALL_EXAMPLES,
      testLimit: ALL_EXAMPLES,
      norms: ALL_SWEEP,
      batchSizes: [8, 16, 32, 64, 128],
      seeds: [0, 1, 2],
      lrAt128: 0.1,
    },
    analysis: {
      ...analysisBase,
      optimizer: 'adam',
      milestones: [],
      norms: ANALYSIS,
      batchSize: 32,
      lr: 3e-4,
      seeds: [0, 1, 2],
      sensitivitySeeds: [0, 1, 2],
      distortions: DISTORTIONS([0.1, 0.5, 1]),
      sensitivityNorms: ANALYSIS,
      regularizers: REGULARIZERS,
      testNoise: [0.1, 0.2, 0.3],
      evalBatchSizes: [100, 10, 2],
    },
    landscape: { ...analysisBase, optimizer: 'adam', milestones: [], norms: LANDSCAPE, batchSize: 32, lrs: [1e-4, 2e-4, 3e-4, 4e-4, 5e-4], seeds: [0, 1, 2], santurkarEvery: 50, multipliers: 4 },
    window: { enabled: true, norms: ANALYSIS, seeds: [0, 1, 2] },
  };
}

const FIVE_SEEDS = [0, 1, 2, 3, 4];

/** The standard profile's epochs per dataset: enough that BN at batch 32 has converged (see `standard`). */
export const STANDARD_EPOCHS: Record<DatasetName, number> = { 'fashion-mnist': 10, mnist: 10, cifar10: 30, synthetic: 10 };

/**
 * `standard`: evidence that can decide the claims, between quick and full. Every run trains on
 * the whole training set and is tested on the whole test set; 5 seeds for every comparison the
 * claims rest on (sweep, stability, sensitivity, landscape); the sweep spans batch 2…128, down
 * where BN degrades, with the authors' rule (SGD, momentum 0.9, weight decay 1e-4, lr = 0.1·b/128,
 * ×0.1 at 1/2 and 3/4 of training).
 *
 * MNIST and Fashion-MNIST: the half-width `cnn` as in quick, 10 epochs (`STANDARD_EPOCHS`; the
 * convergence check of BN at batch 32 is in packages/analysis/README.md), 405 runs, 26.8 million
 * training steps. Cost at the pure-TypeScript speed on 2 threads, measured on a sample of its runs
 * (12 timed steps of each of its 66 classes of runs — norm × batch size × optimizer ×
 * perturbation — in two rounds; `estimateProfileCost`, tools/profile-cost.mjs): about 236
 * CPU-hours (208–265 over the rounds), about 150 hours (6.4 days) of wall time on an idle 2-core
 * machine; the sweep is 65% of it, its batch-2 runs alone 19%. Measured on a shared machine under
 * load (548 CPU-hours as measured) and scaled by the quick profile priced at the same rates
 * against its idle-machine run (36 against 15.6 CPU-minutes, docs/performance.md). Its
 * run records come to about 1.5 GiB (every step of every run is recorded; a batch-2 run's line
 * is about 16 MiB).
 *
 * CIFAR-10 (`getProfile('standard', 'cifar10')`): ResNet-20 (He et al.'s CIFAR network, 8
 * groups), the authors' augmentation on every training batch (random crop with 4 pixels of zero
 * padding, horizontal flip, then per-channel standardization), 30 epochs; the analysis and
 * landscape runs use Adam at batch 32. Its convergence is not checked here: no CIFAR-10 data.
 */
function standard(dataset: DatasetName): Profile {
  const epochs = STANDARD_EPOCHS[dataset];
  const cifar = dataset === 'cifar10';
  const base = {
    model: cifar ? 'resnet20' : 'cnn',
    width: cifar ? 1 : 0.5,
    momentum: 0.9,
    weightDecay: 1e-4,
    epochs,
    trainLimit: ALL_EXAMPLES,
    testLimit: ALL_EXAMPLES,
    ...(cifar ? { augment: { cropPadding: 4, flip: true } } : {}),
  };
  const batchSize = cifar ? 32 : 16;
  // Steps per landscape run: 50000/32·30 (CIFAR-10) or 60000/16·10; a Santurkar probe (4 line-search points) every 250 steps adds about 2%.
  const santurkarEvery = 250;
  return {
    name: 'standard',
    dataset,
    groups: cifar ? 8 : 4,
    periods: 3,
    sweep: { ...base, optimizer: 'sgd', milestones: [0.5, 0.75], norms: ALL_SWEEP, batchSizes: [2, 4, 8, 16, 32, 64, 128], seeds: FIVE_SEEDS, lrAt128: 0.1 },
    analysis: {
      ...base,
      optimizer: 'adam',
      weightDecay: 0,
      milestones: [],
      norms: ANALYSIS,
      batchSize,
      lr: 1e-3,
      seeds: FIVE_SEEDS,
      sensitivitySeeds: FIVE_SEEDS,
      distortions: DISTORTIONS([0.5, 1]),
      sensitivityNorms: BN_GN,
      // With crop and flip already in every CIFAR-10 run, they are no perturbation there.
      regularizers: cifar ? REGULARIZERS.filter((r) => r.kind !== 'cropFlip') : REGULARIZERS,
      testNoise: [0.1, 0.2, 0.3],
      evalBatchSizes: [100, 10, 2],
    },
    landscape: { ...base, optimizer: 'adam', weightDecay: 0, milestones: [], norms: LANDSCAPE, batchSize, lrs: [5e-4, 1e-3, 2e-3], seeds: FIVE_SEEDS, santurkarEvery, multipliers: 4 },
    // Off by default (`--window-ablation`): 65 more runs.
    window: { enabled: false, norms: ANALYSIS, seeds: FIVE_SEEDS },
  };
}

/** The built-in profiles (`getProfile`), smallest first. */
export const PROFILE_NAMES = ['smoke', 'quick', 'standard', 'full'] as const;
/** The name of a built-in profile. */
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** A named profile; `dataset` overrides the profile's (quick and standard default to MNIST, full to CIFAR-10). */
export function getProfile(name: string, dataset?: DatasetName): Profile {
  switch (name) {
    case 'smoke': {
      const p = smoke();
      return dataset ? { ...p, dataset } : p;
    }
    case 'quick':
      return quick(dataset ?? 'mnist');
    case 'standard':
      return standard(dataset ?? 'mnist');
    case 'full':
      return full(dataset ?? 'cifar10');
    default:
      throw new AnalysisError('getProfile', `unknown profile ${JSON.stringify(name)}; expected one of ${PROFILE_NAMES.join(', ')}`);
  }
}

/** The profile with the window ablation switched on or off (`--window-ablation`). */
export function withWindowAblation(profile: Profile, enabled: boolean): Profile {
  if (typeof enabled !== 'boolean') throw new AnalysisError('withWindowAblation', `enabled must be a boolean, got ${String(enabled)}`);
  return { ...profile, window: { ...profile.window, enabled } };
}

/** One run of a plan: its identity, what it trains, and what the report uses it for. */
export interface PlannedRun {
  /** The run's id, `runId(spec)`. */
  id: string;
  /** Everything that changes the run's numbers. */
  spec: RunSpec;
  /** What the plan runs it for (at least one role; one run can serve several). */
  roles: RunRole[];
}

/** Training steps a spec runs on a training split of `trainSize` examples (by default the dataset's, `TRAIN_EXAMPLES`). */
export function plannedSteps(spec: RunSpec, trainSize = TRAIN_EXAMPLES[spec.dataset]): number {
  const n = Math.min(spec.trainLimit, trainSize);
  return spec.epochs * Math.floor(n / spec.batchSize);
}

/** Expand a profile into unique runs in a fixed order (the order of plan.json). */
export function planRuns(profile: Profile): PlannedRun[] {
  const out = new Map<string, PlannedRun>();
  const add = (spec: RunSpec, role: RunRole) => {
    const id = runId(spec);
    const have = out.get(id);
    if (have) {
      if (!have.roles.includes(role)) have.roles.push(role);
    } else out.set(id, { id, spec, roles: [role] });
  };
  const setup = (s: TrainSetup) => ({
    dataset: profile.dataset,
    model: s.model,
    width: s.width,
    groups: profile.groups,
    optimizer: s.optimizer,
    momentum: s.momentum,
    weightDecay: s.weightDecay,
    epochs: s.epochs,
    milestones: s.milestones,
    trainLimit: s.trainLimit,
    testLimit: s.testLimit,
    ...(s.augment ? { augment: s.augment } : {}),
  });
  const variant = (v: NormVariant) => (v.norm === 'gnplus' ? { norm: v.norm, order: v.order ?? 'gn-first' } : { norm: v.norm });

  const a = profile.analysis;
  const batchDependentEval = (v: NormVariant) => v.norm === 'gnplus' || v.norm === 'hybrid';
  const analysisSpec = (v: NormVariant, seed: number): RunSpec => ({
    ...setup(a),
    ...variant(v),
    batchSize: a.batchSize,
    lr: a.lr,
    seed,
    ...(a.testNoise.length ? { evalNoise: a.testNoise } : {}),
    ...(batchDependentEval(v) && a.evalBatchSizes.length ? { evalBatchSizes: a.evalBatchSizes } : {}),
  });
  for (const seed of a.seeds) {
    for (const v of a.norms) {
      const spec = analysisSpec(v, seed);
      add(spec, 'stability');
      if (a.sensitivitySeeds.includes(seed) && a.sensitivityNorms.some((s) => s.norm === v.norm && (s.order ?? 'gn-first') === (v.order ?? 'gn-first'))) add(spec, 'sensitivity');
    }
  }
  for (const seed of a.sensitivitySeeds) {
    for (const v of a.sensitivityNorms) {
      const base: RunSpec = { ...setup(a), ...variant(v), batchSize: a.batchSize, lr: a.lr, seed };
      for (const d of a.distortions) add({ ...base, distortion: d }, 'sensitivity');
      for (const r of a.regularizers) add({ ...base, regularizer: r }, 'sensitivity');
    }
  }
  const l = profile.landscape;
  for (const seed of l.seeds) {
    for (const lr of l.lrs) {
      for (const v of l.norms) {
        add({ ...setup(l), ...variant(v), batchSize: l.batchSize, lr, seed, probes: { santurkarEvery: l.santurkarEvery, multipliers: l.multipliers } }, 'landscape');
      }
    }
  }
  const s = profile.sweep;
  for (const seed of s.seeds) {
    for (const b of s.batchSizes) {
      for (const v of s.norms) {
        add({ ...setup(s), ...variant(v), batchSize: b, lr: (s.lrAt128 * b) / 128, seed }, 'sweep');
      }
    }
  }
  const w = profile.window;
  if (w?.enabled) {
    const k = profile.periods;
    if (!Number.isInteger(k) || k < 2) throw new AnalysisError('planRuns', `the window ablation needs at least 2 periods, got ${k}`);
    for (const v of w.norms) {
      if (v.norm === 'none') throw new AnalysisError('planRuns', `the window ablation switches a norm's normalization on and off; 'none' has none (it is the never-on reference)`);
    }
    for (const seed of w.seeds) {
      // The references are the analysis runs' specs, so the stability runs of the same seed serve as them.
      for (const v of w.norms) add(analysisSpec(v, seed), 'window');
      add(analysisSpec({ norm: 'none' }, seed), 'window');
      for (const v of w.norms) {
        for (let live = 1; live <= k; live++) add({ ...setup(a), ...variant(v), batchSize: a.batchSize, lr: a.lr, seed, window: { live, periods: k } }, 'window');
      }
    }
  }
  return [...out.values()];
}

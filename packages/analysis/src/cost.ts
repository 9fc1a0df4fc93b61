/**
 * What a profile costs, measured rather than guessed. The planned runs fall into classes that
 * cost the same per training step (same dataset, model, width, norm, batch size, optimizer,
 * distortion, regularizer and augmentation; seeds, learning rates, epochs and the window do not
 * change the work of a step). One short run of each class goes through the executor: the time per
 * step is taken between steps after a warm-up, the time of a Santurkar probe from a sample that
 * probes every other step, and the time per evaluated test image from the evaluations after the
 * last step. Those rates, times each class's planned steps, probes and test images, give the
 * profile's cost; `rounds` repeats every sample to show the spread.
 *
 * Two clocks: wall time, which says how long the profile takes on this machine as loaded as it
 * was during the measurement, and the process's CPU time (all its threads), which other work on
 * the machine inflates far less — the CPU-hours to budget, and divided by the threads, a floor on
 * the wall time of an otherwise idle machine.
 */
import * as os from 'node:os';
import { getBackend, getNumThreads } from '@normlab/tensor';
import { AnalysisError } from './errors.js';
import { planRuns, plannedSteps, type PlannedRun, type Profile } from './profiles.js';
import type { Executor } from './runner.js';
import { canonicalJson, runId } from './spec.js';
import { median } from './stats.js';
import type { RunRecord, RunRole, RunSpec } from './types.js';

/** Measured rates of one class, one entry per round; seconds. */
export interface CostRates {
  /** Per training step. */
  perStep: number[];
  /** Per Santurkar probe (null: the class has no probes). */
  perProbe: number[] | null;
  /** Per evaluated test image. */
  perEvalImage: number[];
}

/** Planned runs that cost the same per training step, and what one sample of them measured. */
export interface CostClass {
  /** What the class's runs share, e.g. `cnn×0.5 bn b32 sgd`; `key` is the same as canonical JSON. */
  label: string;
  /** The class's identity (`costClassKey`): what a step's cost depends on, as canonical JSON. */
  key: string;
  /** The spec the class was sampled with (the first planned run's, shortened). */
  sample: RunSpec;
  /** Planned runs in the class. */
  runs: number;
  /** Training steps planned over all runs of the class. */
  steps: number;
  /** Santurkar probes planned over all runs of the class. */
  probes: number;
  /** Test images evaluated over all runs of the class. */
  evalImages: number;
  /** Rates on the wall clock. */
  wall: CostRates;
  /** Rates on the process's CPU clock (all threads). */
  cpu: CostRates;
  /** Estimated bytes of the class's run records (runs/<id>.json). */
  recordBytes: number;
}

/** Hours of a set of runs over the measurement's rounds. */
export interface Hours {
  /** Each class at its fastest sample. */
  min: number;
  /** Each class at its median sample. */
  median: number;
  /** Each class at its slowest sample. */
  max: number;
}

/** Examples in a dataset's training and test splits. */
export interface SplitSizes {
  /** Training examples. */
  train: number;
  /** Test examples. */
  test: number;
}

/** Planned runs and their median CPU hours. */
export interface RunsCost {
  /** Planned runs. */
  runs: number;
  /** Their median CPU hours. */
  cpuHours: number;
}

/** The sweep's runs at one batch size and their median CPU hours. */
export interface BatchSizeCost extends RunsCost {
  /** The training batch size. */
  batchSize: number;
}

/** What a profile costs (`estimateProfileCost`), per class of runs and in all. */
export interface ProfileCost {
  /** The profile's name. */
  profile: string;
  /** The dataset's name. */
  dataset: string;
  /** Runs in the profile's plan. */
  runs: number;
  /** Training steps planned over all runs. */
  steps: number;
  /** The compute backend (`getBackend()`). */
  backend: string;
  /** Its intra-op threads (`getNumThreads()`). */
  threads: number;
  /** The machine's logical CPU cores. */
  cores: number;
  /** One-minute load average before and after the measurement (context for the wall clock). */
  load: {
    /** Before the first sample. */
    before: number;
    /** After the last sample. */
    after: number;
  };
  /** Times each class was sampled. */
  rounds: number;
  /** Hours of the whole profile run one run after another, on the wall clock at the measured load. */
  wallHours: Hours;
  /** The process's CPU time (all threads) for the whole profile. */
  cpuHours: Hours;
  /** Median CPU hours per role; a run serving several roles counts under its first. */
  byRole: Partial<Record<RunRole, RunsCost>>;
  /** Median CPU hours per batch size of the sweep. */
  sweepByBatch: BatchSizeCost[];
  /** Estimated size of the profile's run records (runs/*.json). */
  recordBytes: number;
  /** The classes of the plan's runs, each with its sample's rates. */
  classes: CostClass[];
}

/** How `estimateProfileCost` samples the classes. */
export interface CostOptions {
  /** Folder of the dataset files (as `--data-dir`). */
  dataDir?: string;
  /** Untimed steps before the timed ones (first calls compile and allocate; at least 1). Default 3. */
  warmupSteps?: number;
  /** Timed steps per sample. Default 20. */
  timedSteps?: number;
  /** Test images evaluated after a sample (twice: the epoch's evaluation and the final one). Default 200. */
  testImages?: number;
  /** Times each sample is repeated, all classes in turn per round. Default 1. */
  rounds?: number;
  /** Training and test set sizes; default: read from the dataset (`loadSplit`). */
  sizes?: SplitSizes;
  /** Trains a sample (default: the real `executeRun`). */
  executor?: Executor;
  /** Wall clock, milliseconds since some origin (default `performance.now`); tests pass a fake one. */
  clock?: () => number;
  /** CPU clock of the process, milliseconds (default user + system time of `process.cpuUsage()`). */
  cpuClock?: () => number;
  /** Called after each sample. */
  onSample?: (done: number, total: number, label: string) => void;
}

/** What a training step's cost depends on: everything but seed, learning rate, length, evaluations, probes and the window. */
export function costClassKey(spec: RunSpec): string {
  const { seed: _s, lr: _l, epochs: _e, milestones: _m, trainLimit: _t, testLimit: _tl, evalNoise: _n, evalBatchSizes: _b, probes: _p, window: _w, momentum: _mo, weightDecay: _wd, ...rest } = spec;
  // A distortion's or regularizer's magnitude does not change the work; its kind does.
  return canonicalJson({ ...rest, distortion: spec.distortion?.kind, regularizer: spec.regularizer?.kind });
}

function classLabel(spec: RunSpec): string {
  const parts = [`${spec.model}×${spec.width}`, spec.norm + (spec.order && spec.order !== 'gn-first' ? `(${spec.order})` : ''), `b${spec.batchSize}`, spec.optimizer];
  if (spec.distortion) parts.push(spec.distortion.kind);
  if (spec.regularizer) parts.push(spec.regularizer.kind);
  if (spec.augment) parts.push(`crop${spec.augment.cropPadding}${spec.augment.flip ? '+flip' : ''}`);
  return parts.join(' ');
}

/**
 * The sample run of a class: one epoch of `warmup + timed` steps and `testImages` test images,
 * no extra evaluations; a probed class probes every other step.
 */
export function costSampleSpec(spec: RunSpec, steps: number, testImages: number): RunSpec {
  const { evalNoise: _n, evalBatchSizes: _b, window: _w, ...rest } = spec;
  return {
    ...rest,
    epochs: 1,
    trainLimit: spec.batchSize * steps,
    testLimit: testImages,
    ...(spec.probes ? { probes: { ...spec.probes, santurkarEvery: 2 } } : {}),
  };
}

/** Test images a planned run evaluates: after each epoch, at the end, and once per noise level and extra eval batch size. */
function evalImages(spec: RunSpec, testSize: number): number {
  const passes = spec.epochs + 1 + (spec.evalNoise?.length ?? 0) + (spec.evalBatchSizes?.length ?? 0);
  return passes * Math.min(spec.testLimit, testSize);
}

type SizesOf = (spec: RunSpec) => SplitSizes;

/** The splits a run sees: `sizes` when given, else read (a synthetic set is generated at the size its limits ask for). */
async function splitSizes(options: Pick<CostOptions, 'sizes' | 'dataDir'>): Promise<SizesOf> {
  const fixed = options.sizes;
  if (fixed) return () => fixed;
  const { loadSplit } = await import('./execute.js');
  const cache = new Map<string, SplitSizes>();
  return (spec) => {
    const key = `${spec.dataset}\u0000${spec.trainLimit}\u0000${spec.testLimit}`;
    let s = cache.get(key);
    if (!s) cache.set(key, (s = { train: loadSplit(spec, 'train', options.dataDir).n, test: loadSplit(spec, 'test', options.dataDir).n }));
    return s;
  };
}

/** Hours of one planned run at some rates (each rate picked from its rounds by `pick`). */
function runHours(rates: CostRates, spec: RunSpec, sizesOf: SizesOf, pick: (xs: number[]) => number): number {
  const steps = plannedSteps(spec, sizesOf(spec).train);
  const probes = spec.probes ? Math.floor(steps / spec.probes.santurkarEvery) : 0;
  if (probes && !rates.perProbe) throw new AnalysisError('estimateProfileCost', `no probe was timed for the class of ${runId(spec)}`);
  const secs = steps * pick(rates.perStep) + probes * (probes ? pick(rates.perProbe!) : 0) + evalImages(spec, sizesOf(spec).test) * pick(rates.perEvalImage);
  return secs / 3600;
}

/** The hours of a plan, each class at its fastest, median and slowest round. */
function priceRuns(plan: readonly PlannedRun[], ratesOf: (spec: RunSpec) => CostRates, sizesOf: SizesOf): Hours {
  const sum = (pick: (xs: number[]) => number) => plan.reduce((h, r) => h + runHours(ratesOf(r.spec), r.spec, sizesOf, pick), 0);
  return { min: sum((xs) => Math.min(...xs)), median: sum(median), max: sum((xs) => Math.max(...xs)) };
}

/**
 * Another profile's cost at the rates `cost` measured, when every class of its runs was sampled
 * (quick's runs are all classes of standard's, for one): compare with a measured run of that
 * profile to see how the load during the measurement distorted it.
 */
export async function priceProfile(cost: ProfileCost, profile: Profile, options: Pick<CostOptions, 'sizes' | 'dataDir'> = {}): Promise<Pick<ProfileCost, 'runs' | 'wallHours' | 'cpuHours'>> {
  const byKey = new Map(cost.classes.map((c) => [c.key, c]));
  const plan = planRuns(profile);
  const classOf = (spec: RunSpec) => {
    const c = byKey.get(costClassKey(spec));
    if (!c) throw new AnalysisError('priceProfile', `profile ${profile.name} has runs like ${runId(spec)}, whose class (${classLabel(spec)}) the estimate did not sample`);
    return c;
  };
  const sizesOf = await splitSizes(options);
  return { runs: plan.length, wallHours: priceRuns(plan, (s) => classOf(s).wall, sizesOf), cpuHours: priceRuns(plan, (s) => classOf(s).cpu, sizesOf) };
}

/** Measure what `profile` costs on this machine: one short sample run per class of its runs, `rounds` times (see the file comment). */
export async function estimateProfileCost(profile: Profile, options: CostOptions = {}): Promise<ProfileCost> {
  const warmup = options.warmupSteps ?? 3;
  const timed = options.timedSteps ?? 20;
  const rounds = options.rounds ?? 1;
  const testImages = options.testImages ?? 200;
  for (const [name, v, min] of [['warmupSteps', warmup, 1], ['timedSteps', timed, 2], ['rounds', rounds, 1], ['testImages', testImages, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new AnalysisError('estimateProfileCost', `${name} must be an integer >= ${min}, got ${v}`);
  }
  const clock = options.clock ?? (() => performance.now());
  const cpuClock =
    options.cpuClock ??
    (() => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    });
  const loadBefore = os.loadavg()[0];
  const executor = options.executor ?? (await import('./execute.js')).executeRun;
  const plan = planRuns(profile);
  if (!plan.length) throw new AnalysisError('estimateProfileCost', `profile ${profile.name} plans no runs`);
  const sizesOf = await splitSizes(options);

  const classes = new Map<string, { runs: PlannedRun[]; cls: CostClass }>();
  for (const run of plan) {
    const key = costClassKey(run.spec);
    let c = classes.get(key);
    if (!c) {
      const sample = costSampleSpec(run.spec, warmup + timed, Math.min(testImages, run.spec.testLimit, sizesOf(run.spec).test));
      const rates = (): CostRates => ({ perStep: [], perProbe: null, perEvalImage: [] });
      c = { runs: [], cls: { label: classLabel(run.spec), key, sample, runs: 0, steps: 0, probes: 0, evalImages: 0, wall: rates(), cpu: rates(), recordBytes: 0 } };
      classes.set(key, c);
    }
    const steps = plannedSteps(run.spec, sizesOf(run.spec).train);
    c.runs.push(run);
    c.cls.runs++;
    c.cls.steps += steps;
    if (run.spec.probes) c.cls.probes += Math.floor(steps / run.spec.probes.santurkarEvery);
    c.cls.evalImages += evalImages(run.spec, sizesOf(run.spec).test);
  }
  // A class is probed in its sample when any of its runs is.
  for (const { runs, cls } of classes.values()) {
    const probed = runs.find((r) => r.spec.probes);
    if (probed && !cls.sample.probes) cls.sample = costSampleSpec(probed.spec, warmup + timed, cls.sample.testLimit);
    if (probed) {
      cls.wall.perProbe = [];
      cls.cpu.perProbe = [];
    }
  }

  const total = classes.size * rounds;
  let done = 0;
  const bytesPerStep = new Map<CostClass, { fixed: number; perStep: number; perProbedStep: number; perProbe: number }>();
  for (let round = 0; round < rounds; round++) {
    for (const { cls } of classes.values()) {
      const spec = cls.sample;
      const wallAt: number[] = [];
      const cpuAt: number[] = [];
      const record: RunRecord = await executor(
        { id: runId(spec), spec, roles: ['sweep'] },
        {
          onStep: (step) => {
            wallAt[step] = clock();
            cpuAt[step] = cpuClock();
          },
          ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        },
      );
      const wallEnd = clock();
      const cpuEnd = cpuClock();
      const last = warmup + timed;
      if (wallAt.length - 1 < last || wallAt[last] === undefined) {
        throw new AnalysisError('estimateProfileCost', `the sample of ${cls.label} ran ${Math.max(0, wallAt.length - 1)} steps, expected ${last} (it diverged, or the training set has fewer than ${spec.trainLimit} examples)`);
      }
      const measure = (at: number[], end: number, into: CostRates) => {
        // Step s took at[s] − at[s − 1]; with probes every other step, odd steps are plain and even steps carry a probe.
        const mean = (parity: 0 | 1) => {
          let sum = 0;
          let n = 0;
          for (let s = warmup + 1; s <= last; s++) {
            if (s % 2 === parity) {
              sum += (at[s] - at[s - 1]) / 1000;
              n++;
            }
          }
          return sum / n;
        };
        if (spec.probes) {
          const plain = mean(1);
          into.perStep.push(plain);
          into.perProbe!.push(Math.max(0, mean(0) - plain));
        } else {
          into.perStep.push((at[last] - at[warmup]) / 1000 / timed);
        }
        // After the last step: the epoch's evaluation and the final one, each over the sample's test images.
        into.perEvalImage.push((end - at[last]) / 1000 / (2 * spec.testLimit));
      };
      measure(wallAt, wallEnd, cls.wall);
      measure(cpuAt, cpuEnd, cls.cpu);
      if (round === 0) {
        // The record grows with the steps (the per-step series; a probed run's gradient changes too)
        // and the probes; the rest is fixed.
        const n = Math.max(1, record.steps.loss.length);
        const stepJson = JSON.stringify(record.steps).length;
        const gradJson = record.landscape ? JSON.stringify(record.landscape.gradChange).length : 0;
        const probeJson = record.landscape ? JSON.stringify(record.landscape.santurkar).length : 0;
        const probes = record.landscape?.santurkar.length ?? 0;
        bytesPerStep.set(cls, {
          fixed: JSON.stringify(record).length - stepJson - gradJson - probeJson + 64,
          perStep: stepJson / n,
          perProbedStep: gradJson / n,
          perProbe: probes ? probeJson / probes : 0,
        });
      }
      options.onSample?.(++done, total, cls.label);
    }
  }

  const hours = (clockOf: (c: CostClass) => CostRates): Hours => priceRuns(plan, (spec) => clockOf(classes.get(costClassKey(spec))!.cls), sizesOf);
  const byRole: ProfileCost['byRole'] = {};
  const byBatch = new Map<number, { runs: number; cpuHours: number }>();
  let recordBytes = 0;
  for (const { runs, cls } of classes.values()) {
    const b = bytesPerStep.get(cls)!;
    for (const r of runs) {
      const h = runHours(cls.cpu, r.spec, sizesOf, median);
      const role = r.roles[0];
      const e = byRole[role] ?? { runs: 0, cpuHours: 0 };
      byRole[role] = { runs: e.runs + 1, cpuHours: e.cpuHours + h };
      if (r.roles.includes('sweep')) {
        const s = byBatch.get(r.spec.batchSize) ?? { runs: 0, cpuHours: 0 };
        byBatch.set(r.spec.batchSize, { runs: s.runs + 1, cpuHours: s.cpuHours + h });
      }
      const steps = plannedSteps(r.spec, sizesOf(r.spec).train);
      const probed = r.spec.probes ? b.perProbedStep * steps + b.perProbe * Math.floor(steps / r.spec.probes.santurkarEvery) : 0;
      const bytes = b.fixed + b.perStep * steps + probed;
      cls.recordBytes += bytes;
      recordBytes += bytes;
    }
  }
  return {
    profile: profile.name,
    dataset: profile.dataset,
    runs: plan.length,
    steps: [...classes.values()].reduce((s, c) => s + c.cls.steps, 0),
    backend: getBackend(),
    threads: getNumThreads(),
    cores: os.cpus().length,
    load: { before: loadBefore, after: os.loadavg()[0] },
    rounds,
    wallHours: hours((c) => c.wall),
    cpuHours: hours((c) => c.cpu),
    byRole,
    sweepByBatch: [...byBatch].map(([batchSize, v]) => ({ batchSize, ...v })).sort((a, b) => a.batchSize - b.batchSize),
    recordBytes,
    classes: [...classes.values()].map((c) => c.cls),
  };
}

/** The estimate as Markdown: totals, per role, per sweep batch size, and the per-step rates measured. */
export function formatProfileCost(c: ProfileCost): string {
  const h = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const range = (r: Hours) => (c.rounds > 1 ? `${h(r.median)} (${h(r.min)}–${h(r.max)})` : h(r.median));
  const ms = (xs: number[]) => {
    const m = 1000 * median(xs);
    const s = m >= 100 ? m.toFixed(0) : m >= 10 ? m.toFixed(1) : m.toFixed(2);
    return c.rounds > 1 ? `${s} (${(1000 * Math.min(...xs)).toPrecision(3)}–${(1000 * Math.max(...xs)).toPrecision(3)})` : s;
  };
  const idle = c.cpuHours.median / c.threads;
  const lines = [
    `Profile ${c.profile} on ${c.dataset}: ${c.runs} runs, ${c.steps.toLocaleString('en-US')} training steps, measured on the ${c.backend} backend with ${c.threads} thread${c.threads === 1 ? '' : 's'} on ${c.cores} cores${c.rounds > 1 ? ` over ${c.rounds} rounds (median, fastest–slowest)` : ''}; load average ${c.load.before.toFixed(1)} before, ${c.load.after.toFixed(1)} after.`,
    '',
    `- CPU time (the process, all threads): ${range(c.cpuHours)} CPU-hours; divided by the ${c.threads} threads, at least ${h(idle)} hours (${(idle / 24).toFixed(1)} days) of wall time on an idle machine`,
    `- wall time at the load of the measurement, one run after another: ${range(c.wallHours)} hours (${(c.wallHours.median / 24).toFixed(1)} days)`,
    `- run records (runs/*.json): about ${(c.recordBytes / 2 ** 30).toFixed(2)} GiB`,
    '',
    '| role | runs | CPU-hours |',
    '| --- | --- | --- |',
    ...Object.entries(c.byRole).map(([role, v]) => `| ${role} | ${v!.runs} | ${h(v!.cpuHours)} |`),
    '',
    '| sweep batch size | runs | CPU-hours |',
    '| --- | --- | --- |',
    ...c.sweepByBatch.map((b) => `| ${b.batchSize} | ${b.runs} | ${h(b.cpuHours)} |`),
    '',
    '| class | runs | steps | CPU ms per step | per probe | per test image | wall ms per step |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...c.classes.map((k) => `| ${k.label} | ${k.runs} | ${k.steps.toLocaleString('en-US')} | ${ms(k.cpu.perStep)} | ${k.cpu.perProbe ? ms(k.cpu.perProbe) : '—'} | ${ms(k.cpu.perEvalImage)} | ${ms(k.wall.perStep)} |`),
  ];
  return lines.join('\n');
}

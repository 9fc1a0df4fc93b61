/**
 * Learning-rate schedules, as `torch.optim.lr_scheduler`: a schedule records each group's
 * initial lr when it is made, sets the lr for epoch 0, and each `step()` advances one epoch (or
 * one iteration, as you call it) and sets every group's lr from a closed form in the epoch. A
 * closed form (not PyTorch's recursive updates, which agree with it) lets schedules compose:
 * `LinearWarmup` multiplies any other schedule's value by its ramp.
 */
import { TensorError } from '@normlab/tensor';
import type { Optimizer } from './optim.js';
import { checkNonNegInt, checkNumber, checkPositiveInt, describe } from './util.js';

/**
 * A bad schedule argument (not an optimizer, a non-positive step size, a negative γ) or a state
 * dict that does not fit.
 */
export class ScheduleError extends TensorError {
  /** `op` names the schedule (and method); the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'ScheduleError';
  }
}

/** A schedule's saved state (`stateDict()`): enough to resume at the same lr. */
export interface ScheduleState {
  /** The epoch (or iteration) reached. */
  lastEpoch: number;
  /** Each group's initial lr. */
  baseLrs: number[];
}

type AnyOptimizer = Optimizer<{ lr: number }>;

/**
 * The base of the lr schedules: it sets each group's lr to `lrAt(epoch, baseLr)`, a closed form in
 * the epoch, at construction and at every `step()`.
 */
export abstract class LRScheduler {
  /** The optimizer whose groups' lr this schedule sets. */
  readonly optimizer: AnyOptimizer;
  /** Each group's lr when the schedule was made. */
  baseLrs: number[];
  /** The epoch (or iteration) the current lr belongs to; 0 after construction. */
  lastEpoch = 0;
  /** The schedule's name in errors. */
  protected readonly name: string;

  /** Record each group's lr of `optimizer` as its base lr; ScheduleError when it is not an optimizer. */
  protected constructor(name: string, optimizer: AnyOptimizer) {
    this.name = name;
    if (!optimizer || typeof optimizer !== 'object' || !Array.isArray((optimizer as AnyOptimizer).paramGroups)) {
      throw new ScheduleError(name, `expected an optimizer, got ${describe(optimizer)}`);
    }
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map((g) => g.options.lr);
  }

  /** The lr at `epoch` for a group whose initial lr is `baseLr`. */
  abstract lrAt(epoch: number, baseLr: number): number;

  /** Set every group's lr for the current epoch. Subclasses call it at the end of their constructor. */
  protected apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.options.lr = this.lrAt(this.lastEpoch, this.baseLrs[i]!)));
  }

  /** Advance one epoch and set the lr. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The first group's current lr. */
  get lr(): number {
    return this.optimizer.paramGroups[0]!.options.lr;
  }

  /** Every group's current lr. */
  lastLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.options.lr);
  }

  /** A copy of the epoch and the base lrs. */
  stateDict(): ScheduleState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restore the epoch and base lrs, and set the optimizer's lr to match. */
  loadStateDict(state: ScheduleState): void {
    const op = `${this.name}.loadStateDict`;
    if (!state || typeof state !== 'object') throw new ScheduleError(op, `expected {lastEpoch, baseLrs}, got ${describe(state)}`);
    checkNonNegInt(op, 'lastEpoch', state.lastEpoch);
    if (!Array.isArray(state.baseLrs) || state.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new ScheduleError(op, `baseLrs must have one entry per parameter group (${this.optimizer.paramGroups.length}), got ${describe(state.baseLrs)}`);
    }
    state.baseLrs.forEach((v, i) => checkNumber(op, `baseLrs[${i}]`, v, 0));
    this.lastEpoch = state.lastEpoch;
    this.baseLrs = [...state.baseLrs];
    this.apply();
  }
}

/** lr = base · γ^⌊epoch / stepSize⌋, as `StepLR`. */
export class StepLR extends LRScheduler {
  /** Epochs between decays. */
  readonly stepSize: number;
  /** The factor applied at each decay. */
  readonly gamma: number;

  /** Decay every `stepSize` epochs (a positive integer) by `gamma` (default 0.1). */
  constructor(optimizer: AnyOptimizer, stepSize: number, options: { gamma?: number } = {}) {
    super('StepLR', optimizer);
    this.stepSize = checkPositiveInt('StepLR', 'stepSize', stepSize);
    this.gamma = checkNumber('StepLR', 'gamma', options.gamma ?? 0.1, 0);
    this.apply();
  }

  lrAt(epoch: number, baseLr: number): number {
    return baseLr * Math.pow(this.gamma, Math.floor(epoch / this.stepSize));
  }
}

/** lr = base · γ^(number of milestones ≤ epoch), as `MultiStepLR`. */
export class MultiStepLR extends LRScheduler {
  /** The epochs at which the lr decays, sorted. */
  readonly milestones: number[];
  /** The factor applied at each milestone. */
  readonly gamma: number;

  /** Decay by `gamma` (default 0.1) at each of `milestones` (non-negative integers, any order). */
  constructor(optimizer: AnyOptimizer, milestones: number[], options: { gamma?: number } = {}) {
    super('MultiStepLR', optimizer);
    if (!Array.isArray(milestones)) throw new ScheduleError('MultiStepLR', `milestones must be an array, got ${describe(milestones)}`);
    milestones.forEach((m, i) => checkNonNegInt('MultiStepLR', `milestones[${i}]`, m));
    // Sorted, as PyTorch's Counter; a repeated milestone decays twice there too.
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.gamma = checkNumber('MultiStepLR', 'gamma', options.gamma ?? 0.1, 0);
    this.apply();
  }

  lrAt(epoch: number, baseLr: number): number {
    let k = 0;
    for (const m of this.milestones) if (m <= epoch) k++;
    return baseLr * Math.pow(this.gamma, k);
  }
}

/**
 * lr = ηmin + (base − ηmin)(1 + cos(π·epoch / tMax)) / 2, as `CosineAnnealingLR` (SGDR without
 * restarts; PyTorch's closed form). Past tMax the cosine continues, as PyTorch.
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Epochs of the half cosine period, from base to ηmin. */
  readonly tMax: number;
  /** The minimum lr ηmin. */
  readonly etaMin: number;

  /** Anneal over `tMax` epochs (a positive integer) down to `etaMin` (default 0). */
  constructor(optimizer: AnyOptimizer, tMax: number, options: { etaMin?: number } = {}) {
    super('CosineAnnealingLR', optimizer);
    this.tMax = checkPositiveInt('CosineAnnealingLR', 'tMax', tMax);
    this.etaMin = checkNumber('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0, 0);
    this.apply();
  }

  lrAt(epoch: number, baseLr: number): number {
    return this.etaMin + ((baseLr - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** Options of `LinearWarmup`. */
export interface LinearWarmupOptions {
  /** Epochs (or iterations) of warmup; from then on the factor is 1. */
  warmupSteps: number;
  /** The factor at epoch 0 (default 1 / warmupSteps); it rises linearly to 1 at warmupSteps. */
  startFactor?: number;
  /**
   * The schedule the warmup wraps (made on the same optimizer): the lr is its value at the same
   * epoch times the warmup factor, as PyTorch's `ChainedScheduler(LinearLR, …)`. Its epochs count
   * from the start of training (Goyal et al. 2017: warm up, then decay at absolute epochs).
   * Without it the lr after warmup is the constant initial lr.
   */
  after?: LRScheduler;
}

/**
 * Linear warmup: factor(epoch) = s + (1 − s)·min(epoch, W)/W with s = startFactor, times the
 * wrapped schedule (or the constant initial lr). `step()` advances the wrapped schedule too, so
 * step only the warmup.
 */
export class LinearWarmup extends LRScheduler {
  /** Epochs (or iterations) of warmup, W. */
  readonly warmupSteps: number;
  /** The factor at epoch 0, s. */
  readonly startFactor: number;
  /** The wrapped schedule, or null for a constant lr after warmup. */
  readonly after: LRScheduler | null;

  /** Warm up `optimizer`'s lr; `options.after` must be a schedule of the same optimizer. */
  constructor(optimizer: AnyOptimizer, options: LinearWarmupOptions) {
    super('LinearWarmup', optimizer);
    this.warmupSteps = checkPositiveInt('LinearWarmup', 'warmupSteps', options?.warmupSteps);
    this.startFactor = checkNumber('LinearWarmup', 'startFactor', options.startFactor ?? 1 / this.warmupSteps, 0, 1);
    this.after = options.after ?? null;
    if (this.after) {
      if (!(this.after instanceof LRScheduler)) throw new ScheduleError('LinearWarmup', `after must be a schedule, got ${describe(this.after)}`);
      if (this.after.optimizer !== optimizer) throw new ScheduleError('LinearWarmup', 'after must be a schedule of the same optimizer');
      // The wrapped schedule ran its epoch-0 update already; its base lrs are the initial ones.
      this.baseLrs = [...this.after.baseLrs];
      this.lastEpoch = this.after.lastEpoch;
    }
    this.apply();
  }

  /** The warmup factor at `epoch`: from `startFactor` at 0 linearly up to 1 at `warmupSteps`, then 1. */
  factor(epoch: number): number {
    return this.startFactor + ((1 - this.startFactor) * Math.min(epoch, this.warmupSteps)) / this.warmupSteps;
  }

  lrAt(epoch: number, baseLr: number): number {
    return this.factor(epoch) * (this.after ? this.after.lrAt(epoch, baseLr) : baseLr);
  }

  override step(): void {
    if (this.after) this.after.lastEpoch = this.lastEpoch + 1;
    super.step();
  }

  override loadStateDict(state: ScheduleState): void {
    super.loadStateDict(state);
    if (this.after) {
      this.after.lastEpoch = this.lastEpoch;
      this.after.baseLrs = [...this.baseLrs];
    }
  }
}

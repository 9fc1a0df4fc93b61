/**
 * From run records to the tables of the report: the batch-size sweep, stability per norm,
 * sensitivity per norm and perturbation, landscape per norm and period, GNPlus's eval batches.
 * Pure functions of the records; the verdicts (`verdicts.ts`) read only these tables.
 */
import { AnalysisError } from './errors.js';
import { lossBand, maxAcrossRuns } from './landscape.js';
import { helpsPerPeriod, majorityPerPeriod, periodBounds, perPeriod } from './periods.js';
import { cleanTrainingKey, normLabel, perturbationLabel } from './spec.js';
import { mean, summarize, tInterval, type MeanInterval, type Summary } from './stats.js';
import type { RunStability } from './stability.js';
import type { RunRecord, SanturkarPoint } from './types.js';

/** One run's value of some quantity, tagged with its seed: what paired comparisons pair on. */
export interface SeedValue {
  /** The run's seed. */
  seed: number;
  /** The run's value of the quantity. */
  value: number;
}

/** `a − b` for the seeds both arms have, in seed order. */
export interface SeedPairs {
  /** The seeds both arms have, ascending. */
  seeds: number[];
  /** The first arm's value for each seed. */
  a: number[];
  /** The second arm's value for each seed. */
  b: number[];
  /** `a − b` for each seed. */
  differences: number[];
}

/**
 * Pair two arms by seed. Runs of the same seed share the initial weights (the model seed) and the
 * data order (the loader seed), so their difference removes what the seed decides. A seed that
 * appears twice in one arm is an error: the records hold more than one plan's runs.
 */
export function pairBySeed(a: readonly SeedValue[], b: readonly SeedValue[], what = 'comparison'): SeedPairs {
  const index = (xs: readonly SeedValue[], arm: string) => {
    const m = new Map<number, number>();
    for (const x of xs) {
      if (m.has(x.seed)) throw new AnalysisError('pairBySeed', `${what}: ${arm} has two runs of seed ${x.seed}; expected one run per seed (are two profiles' results mixed?)`);
      m.set(x.seed, x.value);
    }
    return m;
  };
  const ma = index(a, 'the first arm');
  const mb = index(b, 'the second arm');
  const seeds = [...ma.keys()].filter((s) => mb.has(s)).sort((x, y) => x - y);
  const av = seeds.map((s) => ma.get(s)!);
  const bv = seeds.map((s) => mb.get(s)!);
  return { seeds, a: av, b: bv, differences: av.map((x, i) => x - bv[i]) };
}

/** The Student-t interval of the mean of `xs` (across seeds), or null below two values. */
export function intervalOrNull(xs: readonly number[], level = 0.95): MeanInterval | null {
  return xs.length >= 2 ? tInterval(xs, level) : null;
}

/** One norm at one batch size of the batch-size sweep. */
export interface SweepCell {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** The training batch size. */
  batchSize: number;
  /** Best test accuracy over the evaluations (the authors' measure), across seeds. */
  best: Summary;
  /** Its mean with the 95% Student-t interval across seeds (null with one seed): the figure's error bar. */
  bestInterval: MeanInterval | null;
  /** Test accuracy at the end of training, across seeds. */
  final: Summary;
  /** Per seed, for comparisons paired by seed. */
  perSeed: Array<{
    /** The run's seed. */
    seed: number;
    /** Its best test accuracy. */
    best: number;
    /** Its final test accuracy. */
    final: number;
  }>;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Norms in the order the report lists them. */
const NORM_ORDER = ['BN', 'GN', 'GNPlus', 'GNPlus(bn-first)', 'GNPlus(parallel)', 'HybridNorm', 'BGN', 'LN', 'IN', 'none'];
/** Sort order of norm labels: the report's order (BN, GN, GNPlus…, none), unknown labels last by name. */
export function compareNorms(a: string, b: string): number {
  const ia = NORM_ORDER.indexOf(a);
  const ib = NORM_ORDER.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The batch-size sweep table from the records' `sweep` runs: one cell per norm and batch size. */
export function sweepTable(records: readonly RunRecord[]): SweepCell[] {
  const sweep = records.filter((r) => r.roles.includes('sweep'));
  const groups = groupBy(sweep, (r) => `${normLabel(r.spec)}\u0000${r.spec.batchSize}`);
  const out: SweepCell[] = [];
  for (const runs of groups.values()) {
    const sorted = [...runs].sort((a, b) => a.spec.seed - b.spec.seed);
    const best = sorted.map((r) => r.final.bestTestAccuracy);
    out.push({
      norm: normLabel(runs[0].spec),
      batchSize: runs[0].spec.batchSize,
      best: summarize(best),
      bestInterval: intervalOrNull(best),
      final: summarize(sorted.map((r) => r.final.testAccuracy)),
      perSeed: sorted.map((r) => ({ seed: r.spec.seed, best: r.final.bestTestAccuracy, final: r.final.testAccuracy })),
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.batchSize - b.batchSize);
}

/** One norm at one batch size of the stability analysis. */
export interface StabilityRow {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** The training batch size. */
  batchSize: number;
  /** Seeds (runs) in the row. */
  seeds: number;
  /** Final test accuracy across seeds. */
  accuracy: Summary;
  /** Mean across seeds of `RunStability.lossStd`. */
  lossStd: number;
  /** Mean across seeds of `RunStability.spikes`. */
  spikes: number;
  /** Mean across seeds of `RunStability.gradNormVar`. */
  gradNormVar: number;
  /** Mean across seeds of `RunStability.finalLoss`. */
  finalLoss: number;
  /** Per seed, for comparisons paired by seed. */
  perSeed: Array<RunStability & {
    /** The run's seed. */
    seed: number;
    /** Its final test accuracy. */
    accuracy: number;
  }>;
}

/** The stability table from the records' `stability` runs: one row per norm and batch size. */
export function stabilityTable(records: readonly RunRecord[]): StabilityRow[] {
  const runs = records.filter((r) => r.roles.includes('stability'));
  const groups = groupBy(runs, (r) => `${normLabel(r.spec)}\u0000${r.spec.batchSize}`);
  const out: StabilityRow[] = [];
  for (const runs of groups.values()) {
    const g = [...runs].sort((a, b) => a.spec.seed - b.spec.seed);
    out.push({
      norm: normLabel(g[0].spec),
      batchSize: g[0].spec.batchSize,
      seeds: g.length,
      accuracy: summarize(g.map((r) => r.final.testAccuracy)),
      lossStd: mean(g.map((r) => r.stability.lossStd)),
      spikes: mean(g.map((r) => r.stability.spikes)),
      gradNormVar: mean(g.map((r) => r.stability.gradNormVar)),
      finalLoss: mean(g.map((r) => r.stability.finalLoss)),
      perSeed: g.map((r) => ({ seed: r.spec.seed, accuracy: r.final.testAccuracy, lossStd: r.stability.lossStd, spikes: r.stability.spikes, gradNormVar: r.stability.gradNormVar, finalLoss: r.stability.finalLoss })),
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.batchSize - b.batchSize);
}

/** One norm under one perturbation, against its clean runs of the same seeds. */
export interface SensitivityRow {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** `additive ×1`, `test noise σ=0.2`, `dropout p=0.3`, … */
  perturbation: string;
  /** What kind of perturbation: a distortion in training, Gaussian pixel noise at test time, or a regularizer. */
  family: 'distortion' | 'test noise' | 'regularizer';
  /** Seeds with both a perturbed and a clean run. */
  pairs: number;
  /** Mean final test accuracy of the clean runs. */
  cleanAccuracy: number;
  /** Mean final test accuracy of the perturbed runs. */
  accuracy: number;
  /** Mean over seeds of (perturbed − clean) test accuracy. */
  deltaAccuracy: Summary;
  /** The same with its 95% Student-t interval (paired by seed; null with one pair). */
  deltaInterval: MeanInterval | null;
  /** Mean over seeds of (perturbed − clean) loss std around the moving average (test noise: 0, training is the same). */
  deltaLossStd: number;
  /** Per seed, for comparisons between norms paired by seed. */
  perSeed: Array<{
    /** The seed of the pair. */
    seed: number;
    /** Perturbed − clean final test accuracy. */
    deltaAccuracy: number;
    /** Perturbed − clean loss std around the moving average. */
    deltaLossStd: number;
  }>;
}

/** The sensitivity table: each perturbed run paired with its clean run of the same seed, one row per norm and perturbation. */
export function sensitivityTable(records: readonly RunRecord[]): SensitivityRow[] {
  const clean = new Map<string, RunRecord>();
  for (const r of records) if (!r.spec.distortion && !r.spec.regularizer) clean.set(cleanTrainingKey(r.spec), r);
  type Pair = { norm: string; perturbation: string; family: SensitivityRow['family']; seed: number; clean: number; acc: number; dLossStd: number };
  const pairs: Pair[] = [];
  for (const r of records) {
    if (!r.roles.includes('sensitivity')) continue;
    if (r.spec.distortion || r.spec.regularizer) {
      const c = clean.get(cleanTrainingKey(r.spec));
      if (!c) continue;
      pairs.push({
        norm: normLabel(r.spec),
        perturbation: perturbationLabel(r.spec),
        family: r.spec.distortion ? 'distortion' : 'regularizer',
        seed: r.spec.seed,
        clean: c.final.testAccuracy,
        acc: r.final.testAccuracy,
        dLossStd: r.stability.lossStd - c.stability.lossStd,
      });
    } else if (r.noise) {
      for (const n of r.noise) {
        pairs.push({
          norm: normLabel(r.spec),
          perturbation: `test noise σ=${n.sigma}`,
          family: 'test noise',
          seed: r.spec.seed,
          clean: r.final.testAccuracy,
          acc: n.testAccuracy,
          dLossStd: 0,
        });
      }
    }
  }
  const out: SensitivityRow[] = [];
  for (const group of groupBy(pairs, (p) => `${p.norm}\u0000${p.perturbation}`).values()) {
    const g = [...group].sort((a, b) => a.seed - b.seed);
    const deltas = g.map((p) => p.acc - p.clean);
    out.push({
      norm: g[0].norm,
      perturbation: g[0].perturbation,
      family: g[0].family,
      pairs: g.length,
      cleanAccuracy: mean(g.map((p) => p.clean)),
      accuracy: mean(g.map((p) => p.acc)),
      deltaAccuracy: summarize(deltas),
      deltaInterval: intervalOrNull(deltas),
      deltaLossStd: mean(g.map((p) => p.dLossStd)),
      perSeed: g.map((p, i) => ({ seed: p.seed, deltaAccuracy: deltas[i], deltaLossStd: p.dLossStd })),
    });
  }
  const fam = { distortion: 0, 'test noise': 1, regularizer: 2 } as const;
  return out.sort((a, b) => fam[a.family] - fam[b.family] || (a.perturbation < b.perturbation ? -1 : a.perturbation > b.perturbation ? 1 : 0) || compareNorms(a.norm, b.norm));
}

/** Per-step landscape series of one norm and seed, from its runs at several learning rates. */
export interface LandscapeSeries {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** The seed of the runs. */
  seed: number;
  /** The learning rates of the runs, ascending. */
  lrs: number[];
  /** Training steps every run has (the shortest run's). */
  steps: number;
  /** The paper's protocol, per step: lowest training loss across the LR runs. */
  bandMin: number[];
  /** Highest training loss across the LR runs, per step. */
  bandMax: number[];
  /** `bandMax − bandMin`, per step. */
  bandWidth: number[];
  /** Mean across LR runs of ‖g_t − g_{t−1}‖ (entry t for step t + 1). */
  gradPredictiveness: number[];
  /** Max across LR runs of ‖g_t − g_{t−1}‖. */
  betaSmoothness: number[];
  /** Santurkar et al.'s protocol at the probed steps, averaged over the LR runs. */
  santurkar: SanturkarPoint[];
}

/** One series per norm and seed: the band and the maxima are taken across the learning rates of one seed. */
export function landscapeSeries(records: readonly RunRecord[]): LandscapeSeries[] {
  const runs = records.filter((r) => r.roles.includes('landscape') && r.landscape);
  const out: LandscapeSeries[] = [];
  for (const g of groupBy(runs, (r) => `${normLabel(r.spec)}\u0000${r.spec.seed}`).values()) {
    // A diverged run stops early: the band is drawn over the steps every run reached.
    const steps = Math.min(...g.map((r) => r.steps.loss.length));
    const changes = Math.min(...g.map((r) => r.landscape!.gradChange.length));
    if (steps < 2 || changes < 1) continue;
    const band = lossBand(g.map((r) => r.steps.loss.slice(0, steps)));
    const gc = g.map((r) => r.landscape!.gradChange.slice(0, changes));
    const meanGc: number[] = [];
    for (let t = 0; t < changes; t++) meanGc.push(mean(gc.map((x) => x[t])));
    const probes = groupBy(g.flatMap((r) => r.landscape!.santurkar), (p) => String(p.step));
    const sant = [...probes.values()]
      .filter((ps) => ps.length === g.length)
      .map((ps) => ({
        step: ps[0].step,
        lossVariation: mean(ps.map((p) => p.lossVariation)),
        gradPredictiveness: mean(ps.map((p) => p.gradPredictiveness)),
        betaSmoothness: mean(ps.map((p) => p.betaSmoothness)),
      }))
      .sort((a, b) => a.step - b.step);
    out.push({
      norm: normLabel(g[0].spec),
      seed: g[0].spec.seed,
      lrs: g.map((r) => r.spec.lr).sort((a, b) => a - b),
      steps,
      bandMin: band.map((b) => b.min),
      bandMax: band.map((b) => b.max),
      bandWidth: band.map((b) => b.width),
      gradPredictiveness: meanGc,
      betaSmoothness: maxAcrossRuns(gc),
      santurkar: sant,
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.seed - b.seed);
}

/** The three metrics of each protocol, as `PeriodRow` fields (lower is better for all six). */
export const PERIOD_METRICS = {
  /** The paper's: loss band width, gradient predictiveness, effective β-smoothness. */
  paper: ['bandWidth', 'gradPredictiveness', 'betaSmoothness'],
  /** Santurkar et al.'s: loss variation, gradient predictiveness, effective β-smoothness of the probes. */
  santurkar: ['lossVariation', 'santurkarGradPredictiveness', 'santurkarBetaSmoothness'],
} as const;
/** A landscape protocol: the paper's (loss band, gradient change) or Santurkar et al.'s (line-search probes). */
export type Protocol = keyof typeof PERIOD_METRICS;
/** One of the six period metrics, a numeric field of `PeriodRow`. */
export type PeriodMetric = (typeof PERIOD_METRICS)[Protocol][number];

/** The six period metrics, each reduced within the period (lower is better for all). */
interface PeriodValues {
  /** Mean loss band width (`LandscapeSeries.bandWidth`). */
  bandWidth: number;
  /** Mean gradient change across the LR runs (the paper's gradient predictiveness). */
  gradPredictiveness: number;
  /** Max gradient change across the LR runs (the paper's effective β-smoothness). */
  betaSmoothness: number;
  /** Mean Santurkar loss variation at the probed steps; null without a probe in the period. */
  lossVariation: number | null;
  /** Mean Santurkar gradient predictiveness at the probed steps; null without a probe in the period. */
  santurkarGradPredictiveness: number | null;
  /** Mean Santurkar effective β-smoothness at the probed steps; null without a probe in the period. */
  santurkarBetaSmoothness: number | null;
}

/**
 * Whether a norm helps in a period, from the paired differences norm − none of the protocol's
 * three metrics: `helps` when at least two intervals lie below zero, `hurts` when at least two lie
 * above, `insufficient data` when a metric has fewer than two seeds paired with `none`.
 */
export type PeriodOutcome = 'helps' | 'hurts' | 'not distinguishable' | 'insufficient data';

/** Whether a norm helps in a period on one protocol, with intervals. */
export interface PeriodTest {
  /** Per metric: norm − none paired by seed (`a`: the norm, `b`: none), with the Student-t interval at the table's level (null below two seeds). */
  comparisons: Array<
    SeedPairs & {
      /** The metric compared. */
      metric: PeriodMetric;
      /** Student-t interval of the mean difference; null below two seeds. */
      interval: MeanInterval | null;
    }
  >;
  /** What the three comparisons say together. */
  outcome: PeriodOutcome;
}

/** One norm in one period of training: the landscape metrics and whether the norm helps there. */
export interface PeriodRow extends PeriodValues {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** The period, 1-based. */
  period: number;
  /** Seeds of the landscape runs; the metric fields are their means (a Santurkar field is null when a seed has no probe in the period). */
  seeds: number;
  /** The metrics of each seed's runs, for comparisons paired by seed. */
  perSeed: Array<
    PeriodValues & {
      /** The seed. */
      seed: number;
    }
  >;
  /** Point comparison of the seed means: beats the unnormalized network on a majority of the protocol's three metrics; null for `none` itself. */
  helpsPaper: boolean | null;
  /** The same on Santurkar et al.'s three metrics (null also without probes). */
  helpsSanturkar: boolean | null;
  /** The same question with intervals, paired by seed with `none` (null for `none` itself or without `none`). */
  paper: PeriodTest | null;
  /** The same on Santurkar et al.'s metrics. */
  santurkar: PeriodTest | null;
}

/**
 * Landscape metrics per norm and period (means across seeds), and whether each norm helps there:
 * beats the unnormalized network (lower is better for all six metrics) on a majority of a
 * protocol's three. `helps*` compares the seed means; `paper`/`santurkar` pair each seed with
 * `none` of the same seed and decide with Student-t intervals that hold family-wise at 95% over
 * all of the protocol's comparisons in the table (Bonferroni: each at 1 − 0.05/m).
 */
export function periodTable(series: readonly LandscapeSeries[], k: number): PeriodRow[] {
  if (series.length === 0) return [];
  const steps = Math.min(...series.map((s) => s.steps));
  const changes = Math.min(...series.map((s) => s.gradPredictiveness.length));
  if (steps < k || changes < k) {
    throw new AnalysisError('periodTable', `expected at least ${k} steps per landscape run for ${k} periods, got ${Math.min(steps, changes)}`);
  }
  const bounds = periodBounds(steps, k);
  const santPeriod = (pts: LandscapeSeries['santurkar'], field: 'lossVariation' | 'gradPredictiveness' | 'betaSmoothness') =>
    bounds.map(({ start, end }) => {
      const xs = pts.filter((p) => p.step >= start && p.step < end).map((p) => p[field]);
      return xs.length ? mean(xs) : null;
    });
  // Per norm, per seed: the K periods' values.
  const byNorm = new Map<string, Array<{ seed: number; periods: PeriodValues[] }>>();
  for (const s of series) {
    const bw = perPeriod(s.bandWidth.slice(0, steps), k);
    const gp = perPeriod(s.gradPredictiveness.slice(0, changes), k);
    const beta = perPeriod(s.betaSmoothness.slice(0, changes), k);
    const lv = santPeriod(s.santurkar, 'lossVariation');
    const sg = santPeriod(s.santurkar, 'gradPredictiveness');
    const sb = santPeriod(s.santurkar, 'betaSmoothness');
    const periods = bw.map((_, i) => ({ bandWidth: bw[i], gradPredictiveness: gp[i], betaSmoothness: beta[i], lossVariation: lv[i], santurkarGradPredictiveness: sg[i], santurkarBetaSmoothness: sb[i] }));
    byNorm.set(s.norm, [...(byNorm.get(s.norm) ?? []), { seed: s.seed, periods }]);
  }
  const none = byNorm.get('none');
  const meanOrNull = (xs: Array<number | null>) => (xs.some((x) => x === null) ? null : mean(xs as number[]));
  const metricsOf = (protocol: Protocol) => PERIOD_METRICS[protocol];
  // Paired differences first, so the Bonferroni level can count every comparison of a protocol.
  type Draft = { norm: string; period: number; perSeed: PeriodRow['perSeed']; pairs: Record<Protocol, Array<{ metric: PeriodMetric; pairs: SeedPairs }> | null> };
  const drafts: Draft[] = [];
  for (const [norm, seeds] of byNorm) {
    for (let i = 0; i < k; i++) {
      const perSeed = seeds.map((s) => ({ seed: s.seed, ...s.periods[i] }));
      const pairsFor = (protocol: Protocol) => {
        if (!none || norm === 'none') return null;
        return metricsOf(protocol).map((metric) => {
          const arm = (xs: Array<{ seed: number; periods: PeriodValues[] }>) => xs.flatMap((s) => (s.periods[i][metric] === null ? [] : [{ seed: s.seed, value: s.periods[i][metric]! }]));
          return { metric, pairs: pairBySeed(arm(seeds), arm(none), `${norm} − none, ${metric} in period ${i + 1}`) };
        });
      };
      drafts.push({ norm, period: i + 1, perSeed, pairs: { paper: pairsFor('paper'), santurkar: pairsFor('santurkar') } });
    }
  }
  const level = (protocol: Protocol) => {
    const m = drafts.reduce((n, d) => n + (d.pairs[protocol] ?? []).filter((c) => c.pairs.seeds.length >= 2).length, 0);
    return m ? 1 - 0.05 / m : 0.95;
  };
  const levels = { paper: level('paper'), santurkar: level('santurkar') };
  const test = (protocol: Protocol, cs: Array<{ metric: PeriodMetric; pairs: SeedPairs }> | null): PeriodTest | null => {
    if (!cs) return null;
    const comparisons = cs.map((c) => ({ metric: c.metric, ...c.pairs, interval: intervalOrNull(c.pairs.differences, levels[protocol]) }));
    let outcome: PeriodOutcome;
    if (comparisons.some((c) => c.interval === null)) outcome = 'insufficient data';
    else {
      const below = comparisons.filter((c) => c.interval!.hi < 0).length;
      const above = comparisons.filter((c) => c.interval!.lo > 0).length;
      outcome = below * 2 > comparisons.length ? 'helps' : above * 2 > comparisons.length ? 'hurts' : 'not distinguishable';
    }
    return { comparisons, outcome };
  };
  const means = (d: Draft): PeriodValues => {
    const paper = (f: (typeof PERIOD_METRICS.paper)[number]) => mean(d.perSeed.map((s) => s[f]));
    const sant = (f: (typeof PERIOD_METRICS.santurkar)[number]) => meanOrNull(d.perSeed.map((s) => s[f]));
    return {
      bandWidth: paper('bandWidth'),
      gradPredictiveness: paper('gradPredictiveness'),
      betaSmoothness: paper('betaSmoothness'),
      lossVariation: sant('lossVariation'),
      santurkarGradPredictiveness: sant('santurkarGradPredictiveness'),
      santurkarBetaSmoothness: sant('santurkarBetaSmoothness'),
    };
  };
  const noneMeans = new Map(drafts.filter((d) => d.norm === 'none').map((d) => [d.period, means(d)]));
  const out: PeriodRow[] = drafts.map((d) => {
    const m = means(d);
    const n = noneMeans.get(d.period);
    const pointHelps = (protocol: Protocol): boolean | null => {
      if (!n || d.norm === 'none') return null;
      const vals = metricsOf(protocol).map((f) => [m[f], n[f]] as const);
      if (vals.some(([a, b]) => a === null || b === null)) return null;
      return majorityPerPeriod(vals.map(([a, b]) => helpsPerPeriod([a!], [b!])))[0];
    };
    return {
      norm: d.norm,
      period: d.period,
      seeds: d.perSeed.length,
      ...m,
      perSeed: d.perSeed,
      helpsPaper: pointHelps('paper'),
      helpsSanturkar: pointHelps('santurkar'),
      paper: test('paper', d.pairs.paper),
      santurkar: test('santurkar', d.pairs.santurkar),
    };
  });
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.period - b.period);
}

/** One norm evaluated at one batch size (GNPlus's eval depends on the batch). */
export interface EvalBatchRow {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** The batch size it was trained at. */
  trainBatchSize: number;
  /** The batch size it was evaluated at. */
  evalBatchSize: number;
  /** Test accuracy at that eval batch size, across seeds. */
  accuracy: Summary;
  /** Per seed (one run per seed, evaluated at each eval batch size): paired across eval batch sizes. */
  perSeed: SeedValue[];
}

/** Test accuracy at several eval batch sizes (GNPlus normalizes with the evaluated batch's statistics). */
export function evalBatchTable(records: readonly RunRecord[]): EvalBatchRow[] {
  const pts = records.flatMap((r) => (r.evalBatch ?? []).map((e) => ({ norm: normLabel(r.spec), train: r.spec.batchSize, seed: r.spec.seed, ...e })));
  const out: EvalBatchRow[] = [];
  for (const group of groupBy(pts, (p) => `${p.norm}\u0000${p.train}\u0000${p.batchSize}`).values()) {
    const g = [...group].sort((a, b) => a.seed - b.seed);
    out.push({ norm: g[0].norm, trainBatchSize: g[0].train, evalBatchSize: g[0].batchSize, accuracy: summarize(g.map((p) => p.testAccuracy)), perSeed: g.map((p) => ({ seed: p.seed, value: p.testAccuracy })) });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.trainBatchSize - b.trainBatchSize || b.evalBatchSize - a.evalBatchSize);
}

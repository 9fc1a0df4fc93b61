/**
 * From run records to the tables of the report: the batch-size sweep, stability per norm,
 * sensitivity per norm and perturbation, landscape per norm and period, GNPlus's eval batches.
 * Pure functions of the records; the verdicts (`verdicts.ts`) read only these tables.
 */
import { AnalysisError } from './errors.js';
import { lossBand, maxAcrossRuns } from './landscape.js';
import { helpsPerPeriod, majorityPerPeriod, periodBounds, perPeriod } from './periods.js';
import { cleanTrainingKey, normLabel, perturbationLabel } from './spec.js';
import { mean, summarize, type Summary } from './stats.js';
import type { RunRecord } from './types.js';

export interface SweepCell {
  norm: string;
  batchSize: number;
  /** Best test accuracy over the evaluations (the authors' measure), across seeds. */
  best: Summary;
  /** Test accuracy at the end of training, across seeds. */
  final: Summary;
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
export function compareNorms(a: string, b: string): number {
  const ia = NORM_ORDER.indexOf(a);
  const ib = NORM_ORDER.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
}

export function sweepTable(records: readonly RunRecord[]): SweepCell[] {
  const sweep = records.filter((r) => r.roles.includes('sweep'));
  const groups = groupBy(sweep, (r) => `${normLabel(r.spec)}\u0000${r.spec.batchSize}`);
  const out: SweepCell[] = [];
  for (const runs of groups.values()) {
    out.push({
      norm: normLabel(runs[0].spec),
      batchSize: runs[0].spec.batchSize,
      best: summarize(runs.map((r) => r.final.bestTestAccuracy)),
      final: summarize(runs.map((r) => r.final.testAccuracy)),
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.batchSize - b.batchSize);
}

export interface StabilityRow {
  norm: string;
  batchSize: number;
  seeds: number;
  accuracy: Summary;
  /** Means across seeds of the within-run metrics. */
  lossStd: number;
  spikes: number;
  gradNormVar: number;
  finalLoss: number;
}

export function stabilityTable(records: readonly RunRecord[]): StabilityRow[] {
  const runs = records.filter((r) => r.roles.includes('stability'));
  const groups = groupBy(runs, (r) => `${normLabel(r.spec)}\u0000${r.spec.batchSize}`);
  const out: StabilityRow[] = [];
  for (const g of groups.values()) {
    out.push({
      norm: normLabel(g[0].spec),
      batchSize: g[0].spec.batchSize,
      seeds: g.length,
      accuracy: summarize(g.map((r) => r.final.testAccuracy)),
      lossStd: mean(g.map((r) => r.stability.lossStd)),
      spikes: mean(g.map((r) => r.stability.spikes)),
      gradNormVar: mean(g.map((r) => r.stability.gradNormVar)),
      finalLoss: mean(g.map((r) => r.stability.finalLoss)),
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.batchSize - b.batchSize);
}

export interface SensitivityRow {
  norm: string;
  /** `additive ×1`, `test noise σ=0.2`, `dropout p=0.3`, … */
  perturbation: string;
  family: 'distortion' | 'test noise' | 'regularizer';
  /** Seeds with both a perturbed and a clean run. */
  pairs: number;
  cleanAccuracy: number;
  accuracy: number;
  /** Mean over seeds of (perturbed − clean) test accuracy. */
  deltaAccuracy: Summary;
  /** Mean over seeds of (perturbed − clean) loss std around the moving average (test noise: 0, training is the same). */
  deltaLossStd: number;
}

export function sensitivityTable(records: readonly RunRecord[]): SensitivityRow[] {
  const clean = new Map<string, RunRecord>();
  for (const r of records) if (!r.spec.distortion && !r.spec.regularizer) clean.set(cleanTrainingKey(r.spec), r);
  type Pair = { norm: string; perturbation: string; family: SensitivityRow['family']; clean: number; acc: number; dLossStd: number };
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
          clean: r.final.testAccuracy,
          acc: n.testAccuracy,
          dLossStd: 0,
        });
      }
    }
  }
  const out: SensitivityRow[] = [];
  for (const g of groupBy(pairs, (p) => `${p.norm}\u0000${p.perturbation}`).values()) {
    out.push({
      norm: g[0].norm,
      perturbation: g[0].perturbation,
      family: g[0].family,
      pairs: g.length,
      cleanAccuracy: mean(g.map((p) => p.clean)),
      accuracy: mean(g.map((p) => p.acc)),
      deltaAccuracy: summarize(g.map((p) => p.acc - p.clean)),
      deltaLossStd: mean(g.map((p) => p.dLossStd)),
    });
  }
  const fam = { distortion: 0, 'test noise': 1, regularizer: 2 } as const;
  return out.sort((a, b) => fam[a.family] - fam[b.family] || (a.perturbation < b.perturbation ? -1 : a.perturbation > b.perturbation ? 1 : 0) || compareNorms(a.norm, b.norm));
}

/** Per-step landscape series of one norm, from its runs at several learning rates. */
export interface LandscapeSeries {
  norm: string;
  lrs: number[];
  steps: number;
  /** The paper's protocol, per step. */
  bandMin: number[];
  bandMax: number[];
  bandWidth: number[];
  /** Mean across LR runs of ‖g_t − g_{t−1}‖ (entry t for step t + 1). */
  gradPredictiveness: number[];
  /** Max across LR runs of ‖g_t − g_{t−1}‖. */
  betaSmoothness: number[];
  /** Santurkar et al.'s protocol at the probed steps, averaged over the LR runs. */
  santurkar: Array<{ step: number; lossVariation: number; gradPredictiveness: number; betaSmoothness: number }>;
}

export function landscapeSeries(records: readonly RunRecord[]): LandscapeSeries[] {
  const runs = records.filter((r) => r.roles.includes('landscape') && r.landscape);
  const out: LandscapeSeries[] = [];
  for (const g of groupBy(runs, (r) => normLabel(r.spec)).values()) {
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
  return out.sort((a, b) => compareNorms(a.norm, b.norm));
}

export interface PeriodRow {
  norm: string;
  period: number;
  /** The paper's protocol: period means. */
  bandWidth: number;
  gradPredictiveness: number;
  betaSmoothness: number;
  /** Santurkar et al.'s protocol: period means of the probes (null when no probe fell in it). */
  lossVariation: number | null;
  santurkarGradPredictiveness: number | null;
  santurkarBetaSmoothness: number | null;
  /** Whether it beats the unnormalized network here, per protocol (majority of its three metrics); null for `none` itself. */
  helpsPaper: boolean | null;
  helpsSanturkar: boolean | null;
}

/**
 * Landscape metrics per period for each norm, and whether each norm helps there: beats the
 * unnormalized network (lower is better for all six metrics) on a majority of a protocol's three.
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
  const rows = new Map<string, Omit<PeriodRow, 'helpsPaper' | 'helpsSanturkar'>[]>();
  for (const s of series) {
    const bw = perPeriod(s.bandWidth.slice(0, steps), k);
    const gp = perPeriod(s.gradPredictiveness.slice(0, changes), k);
    const beta = perPeriod(s.betaSmoothness.slice(0, changes), k);
    const lv = santPeriod(s.santurkar, 'lossVariation');
    const sg = santPeriod(s.santurkar, 'gradPredictiveness');
    const sb = santPeriod(s.santurkar, 'betaSmoothness');
    rows.set(
      s.norm,
      bw.map((_, i) => ({
        norm: s.norm,
        period: i + 1,
        bandWidth: bw[i],
        gradPredictiveness: gp[i],
        betaSmoothness: beta[i],
        lossVariation: lv[i],
        santurkarGradPredictiveness: sg[i],
        santurkarBetaSmoothness: sb[i],
      })),
    );
  }
  const none = rows.get('none');
  const out: PeriodRow[] = [];
  for (const [norm, rs] of rows) {
    let paper: boolean[] | null = null;
    let sant: (boolean | null)[] | null = null;
    if (none && norm !== 'none') {
      const col = (xs: typeof rs, f: 'bandWidth' | 'gradPredictiveness' | 'betaSmoothness') => xs.map((r) => r[f]);
      paper = majorityPerPeriod([
        helpsPerPeriod(col(rs, 'bandWidth'), col(none, 'bandWidth')),
        helpsPerPeriod(col(rs, 'gradPredictiveness'), col(none, 'gradPredictiveness')),
        helpsPerPeriod(col(rs, 'betaSmoothness'), col(none, 'betaSmoothness')),
      ]);
      sant = rs.map((r, i) => {
        const n = none[i];
        const vals = [
          [r.lossVariation, n.lossVariation],
          [r.santurkarGradPredictiveness, n.santurkarGradPredictiveness],
          [r.santurkarBetaSmoothness, n.santurkarBetaSmoothness],
        ];
        if (vals.some(([a, b]) => a === null || b === null)) return null;
        return majorityPerPeriod(vals.map(([a, b]) => helpsPerPeriod([a!], [b!])))[0];
      });
    }
    rs.forEach((r, i) => out.push({ ...r, helpsPaper: paper ? paper[i] : null, helpsSanturkar: sant ? sant[i] : null }));
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.period - b.period);
}

export interface EvalBatchRow {
  norm: string;
  trainBatchSize: number;
  evalBatchSize: number;
  accuracy: Summary;
}

/** Test accuracy at several eval batch sizes (GNPlus normalizes with the evaluated batch's statistics). */
export function evalBatchTable(records: readonly RunRecord[]): EvalBatchRow[] {
  const pts = records.flatMap((r) => (r.evalBatch ?? []).map((e) => ({ norm: normLabel(r.spec), train: r.spec.batchSize, ...e })));
  const out: EvalBatchRow[] = [];
  for (const g of groupBy(pts, (p) => `${p.norm}\u0000${p.train}\u0000${p.batchSize}`).values()) {
    out.push({ norm: g[0].norm, trainBatchSize: g[0].train, evalBatchSize: g[0].batchSize, accuracy: summarize(g.map((p) => p.testAccuracy)) });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.trainBatchSize - b.trainBatchSize || b.evalBatchSize - a.evalBatchSize);
}

/**
 * The window ablation's table and sentences (docs/architecture.md, "The analysis framework" 4): final test accuracy per
 * norm with normalization live in one period only, against the same norm always on and the
 * unnormalized network (`none`, never on). Pure functions of the records.
 */
import { compareNorms, intervalOrNull, pairBySeed, type SeedValue } from './aggregate.js';
import { cleanTrainingKey, normLabel, withoutWindow } from './spec.js';
import { mean, summarize, type MeanInterval, type Summary } from './stats.js';
import type { RunRecord, RunSpec } from './types.js';
import { fmtInterval, fmtPct } from './verdicts.js';

/** A difference paired by seed: its mean with its 95% Student-t interval. */
export interface PairedDifference {
  /** Mean of the per-seed differences (0 when no seed is paired). */
  mean: number;
  /** Seeds paired. */
  seeds: number;
  /** The 95% Student-t interval of the mean; null below two paired seeds. */
  interval: MeanInterval | null;
}

/** One norm's row of the window ablation table. */
export interface WindowRow {
  /** The norm, as `normLabel` names it. */
  norm: string;
  /** Periods training was cut into. */
  periods: number;
  /** Seeds of the window runs. */
  seeds: number;
  /** Entry k − 1: final test accuracy across seeds with normalization live in period k only. */
  live: Summary[];
  /** Entry k − 1: how many of those runs diverged (stopped at a non-finite loss). */
  diverged: number[];
  /** The same run with normalization live throughout, same seeds; null when not in the records. */
  alwaysOn: Summary | null;
  /** The unnormalized network (`none`), same seeds; null when not in the records. */
  neverOn: Summary | null;
  /** The period (1-based) whose window gives the highest mean accuracy. */
  best: number;
  /** (best − never on) / (always on − never on): the share of normalization's gain the best window alone recovers. */
  recovered: number | null;
  /**
   * Entry k − 1: live in period k − never on, paired by seed, with its 95% Student-t interval
   * (null below two paired seeds); null without the never-on reference.
   */
  vsNone: PairedDifference[] | null;
  /** Periods (1-based) whose window beats the never-on network: interval above zero (with one seed: the mean above). */
  beatsNone: number[] | null;
  /** The best window − the runner-up, paired by seed, with its 95% interval (null below two seeds). */
  margin: PairedDifference;
  /** Per period, per seed: final test accuracy (entry k − 1), for pairing by seed. */
  perSeed: SeedValue[][];
}

/** What training sees apart from the seed and the window: one row groups the periods and seeds of a norm. */
function groupKey(spec: RunSpec): string {
  return cleanTrainingKey({ ...withoutWindow(spec), seed: 0 }) + `\u0000${spec.window!.periods}`;
}

/** The never-on reference of a spec: the same training without normalization. */
function noneKey(spec: RunSpec): string {
  const { order: _o, ...rest } = withoutWindow(spec);
  return cleanTrainingKey({ ...rest, norm: 'none' });
}

/** The window ablation's rows from the records: one per norm and period count, sorted by norm. */
export function windowTable(records: readonly RunRecord[]): WindowRow[] {
  // References by what training sees (post-training evals and probes don't change it); unperturbed only.
  const byKey = new Map<string, RunRecord>();
  for (const r of records) if (!r.spec.window && !r.spec.distortion && !r.spec.regularizer) byKey.set(cleanTrainingKey(r.spec), r);
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    if (!r.spec.window) continue;
    const k = groupKey(r.spec);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const out: WindowRow[] = [];
  for (const runs of groups.values()) {
    const k = runs[0].spec.window!.periods;
    if (k < 2) continue;
    const seeds = [...new Set(runs.map((r) => r.spec.seed))].sort((a, b) => a - b);
    const perPeriod = Array.from({ length: k }, (_, i) => runs.filter((r) => r.spec.window!.live === i + 1));
    // A row needs every window; a partial reproduction shows the norm once all its windows are in.
    if (perPeriod.some((p) => p.length === 0)) continue;
    const live = perPeriod.map((p) => summarize(p.map((r) => r.final.testAccuracy)));
    const perSeed = perPeriod.map((p) => p.map((r) => ({ seed: r.spec.seed, value: r.final.testAccuracy })).sort((a, b) => a.seed - b.seed));
    const refs = (key: (s: RunSpec) => string) => {
      const found = seeds.map((s) => byKey.get(key({ ...runs.find((r) => r.spec.seed === s)!.spec })));
      return found.every((r) => r !== undefined) ? found.map((r) => ({ seed: r!.spec.seed, value: r!.final.testAccuracy })) : null;
    };
    const alwaysOnSeeds = refs((s) => cleanTrainingKey(withoutWindow(s)));
    const neverOnSeeds = refs(noneKey);
    const alwaysOn = alwaysOnSeeds && summarize(alwaysOnSeeds.map((x) => x.value));
    const neverOn = neverOnSeeds && summarize(neverOnSeeds.map((x) => x.value));
    let best = 0;
    for (let i = 1; i < k; i++) if (live[i].mean > live[best].mean) best = i;
    let second = best === 0 ? 1 : 0;
    for (let i = 0; i < k; i++) if (i !== best && live[i].mean > live[second].mean) second = i;
    const paired = (a: SeedValue[], b: SeedValue[], what: string) => {
      const p = pairBySeed(a, b, `${normLabel(runs[0].spec)} window ${what}`);
      return { mean: p.differences.length ? mean(p.differences) : 0, seeds: p.seeds.length, interval: intervalOrNull(p.differences) };
    };
    const vsNone = neverOnSeeds ? perSeed.map((ps, i) => paired(ps, neverOnSeeds, `period ${i + 1} − never on`)) : null;
    const gain = alwaysOn && neverOn ? alwaysOn.mean - neverOn.mean : 0;
    out.push({
      norm: normLabel(runs[0].spec),
      periods: k,
      seeds: seeds.length,
      live,
      diverged: perPeriod.map((p) => p.filter((r) => r.status === 'diverged').length),
      alwaysOn,
      neverOn,
      best: best + 1,
      recovered: gain !== 0 ? (live[best].mean - neverOn!.mean) / gain : null,
      vsNone,
      beatsNone: vsNone ? vsNone.flatMap((d, i) => ((d.interval ? d.interval.lo > 0 : d.seeds > 0 && d.mean > 0) ? [i + 1] : [])) : null,
      margin: paired(perSeed[best], perSeed[second], `period ${best + 1} − period ${second + 1}`),
      perSeed,
    });
  }
  return out.sort((a, b) => compareNorms(a.norm, b.norm) || a.periods - b.periods);
}

/** One computed sentence per row, then one across norms: which window matters most. */
export function windowStatements(rows: readonly WindowRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const b = r.live[r.best - 1];
    const others = r.live.map((s, i) => [i + 1, s] as const).filter(([p]) => p !== r.best);
    let s = `${r.norm}: of its ${r.periods} single-period windows, normalization live in period ${r.best} gives the highest final test accuracy, ${fmtPct(b.mean)} (${others.map(([p, x]) => `period ${p}: ${fmtPct(x.mean)}`).join(', ')})`;
    if (r.margin.interval) {
      const m = r.margin.interval;
      s += `; over the runner-up by ${fmtInterval(m.mean, m, 'accuracy')} points (paired by seed, 95% interval, ${m.n} seeds: ${m.lo > 0 ? 'distinguishable' : 'not distinguishable at this scale'})`;
    } else s += ` (${r.seeds} seed${r.seeds === 1 ? '' : 's'}: no interval)`;
    if (r.alwaysOn) s += `; always on: ${fmtPct(r.alwaysOn.mean)}`;
    if (r.neverOn) s += `; never on (none): ${fmtPct(r.neverOn.mean)}`;
    if (r.recovered !== null) s += `; that window alone recovers ${(100 * r.recovered).toFixed(0)}% of normalization's gain`;
    if (r.beatsNone) {
      const how = r.vsNone!.some((d) => d.interval) ? ' (interval of the paired difference above zero)' : ' (on the mean; one seed)';
      s += r.beatsNone.length ? `; windows that beat the unnormalized network${how}: period${r.beatsNone.length > 1 ? 's' : ''} ${r.beatsNone.join(', ')} of ${r.periods}` : `; no window beats the unnormalized network${how}`;
    }
    out.push(s + '.');
  }
  if (rows.length > 1) {
    const bests = new Set(rows.map((r) => `${r.best}/${r.periods}`));
    out.push(
      bests.size === 1
        ? `Every norm gains most from normalization live in period ${rows[0].best} of ${rows[0].periods}.`
        : `The window that matters most differs by norm: ${rows.map((r) => `${r.norm} period ${r.best}`).join(', ')} (of ${[...new Set(rows.map((r) => r.periods))].join('/')}).`,
    );
  }
  return out;
}

/**
 * The window ablation's table and sentences (DESIGN.md, analysis §4): final test accuracy per
 * norm with normalization live in one period only, against the same norm always on and the
 * unnormalized network (`none`, never on). Pure functions of the records.
 */
import { compareNorms } from './aggregate.js';
import { cleanTrainingKey, normLabel, withoutWindow } from './spec.js';
import { summarize, type Summary } from './stats.js';
import type { RunRecord, RunSpec } from './types.js';
import { fmtPct } from './verdicts.js';

export interface WindowRow {
  norm: string;
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
  /** Periods (1-based) whose window beats the never-on network's mean accuracy. */
  beatsNone: number[] | null;
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
    const refs = (key: (s: RunSpec) => string) => {
      const found = seeds.map((s) => byKey.get(key({ ...runs.find((r) => r.spec.seed === s)!.spec })));
      return found.every((r) => r !== undefined) ? summarize(found.map((r) => r!.final.testAccuracy)) : null;
    };
    const alwaysOn = refs((s) => cleanTrainingKey(withoutWindow(s)));
    const neverOn = refs(noneKey);
    let best = 0;
    for (let i = 1; i < k; i++) if (live[i].mean > live[best].mean) best = i;
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
      beatsNone: neverOn ? live.flatMap((s, i) => (s.mean > neverOn.mean ? [i + 1] : [])) : null,
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
    const runnerUp = others.reduce((m, x) => (x[1].mean > m[1].mean ? x : m), others[0]);
    // Seed noise: the larger spread of the two windows compared (0 with one seed: no noise estimate).
    const noise = Math.max(b.std, runnerUp[1].std);
    const margin = b.mean - runnerUp[1].mean;
    let s = `${r.norm}: of its ${r.periods} single-period windows, normalization live in period ${r.best} gives the highest final test accuracy, ${fmtPct(b.mean)} (${others.map(([p, x]) => `period ${p}: ${fmtPct(x.mean)}`).join(', ')})`;
    s += r.seeds > 1 ? `, ${margin > noise ? 'beyond' : 'within'} seed noise (margin ${(100 * margin).toFixed(2)} points, std ${(100 * noise).toFixed(2)})` : '';
    if (r.alwaysOn) s += `; always on: ${fmtPct(r.alwaysOn.mean)}`;
    if (r.neverOn) s += `; never on (none): ${fmtPct(r.neverOn.mean)}`;
    if (r.recovered !== null) s += `; that window alone recovers ${(100 * r.recovered).toFixed(0)}% of normalization's gain`;
    if (r.beatsNone) s += r.beatsNone.length ? `; windows that beat the unnormalized network: period${r.beatsNone.length > 1 ? 's' : ''} ${r.beatsNone.join(', ')} of ${r.periods}` : `; no window beats the unnormalized network`;
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

/**
 * Figures: Vega-Lite specs compiled to Vega and rendered headless to SVG with `View.toSVG()` (the
 * SVG renderer needs no canvas; text widths are estimated). Each figure is a function from report
 * tables to a spec, so the specs can be inspected and tested apart from rendering.
 */
import type * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import type { LandscapeSeries, SensitivityRow, SweepCell } from './aggregate.js';
import type { RunRecord } from './types.js';
import { normLabel } from './spec.js';
import { AnalysisError } from './errors.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** At most this many points per series: keeps the SVG small while the curve shape survives. */
const MAX_POINTS = 400;

/** Indices 0..n−1 thinned to at most `max`, first and last kept. */
function thin(n: number, max = MAX_POINTS): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < max; i++) out.push(Math.round((i * (n - 1)) / (max - 1)));
  return out;
}

const normColor = { field: 'norm', type: 'nominal', title: 'norm', sort: null } as const;

/** Training loss against step, the mean across seeds as a line and the min–max across seeds as a band. */
export function lossCurvesSpec(records: readonly RunRecord[]): TopLevelSpec | null {
  const runs = records.filter((r) => r.roles.includes('stability'));
  if (!runs.length) return null;
  const byNorm = new Map<string, RunRecord[]>();
  for (const r of runs) byNorm.set(normLabel(r.spec), [...(byNorm.get(normLabel(r.spec)) ?? []), r]);
  const values: Array<Record<string, number | string>> = [];
  for (const [norm, rs] of byNorm) {
    const n = Math.min(...rs.map((r) => r.steps.loss.length));
    for (const t of thin(n)) {
      const ls = rs.map((r) => r.steps.loss[t]);
      values.push({ norm, step: t, mean: ls.reduce((a, b) => a + b, 0) / ls.length, lo: Math.min(...ls), hi: Math.max(...ls) });
    }
  }
  return {
    $schema: SCHEMA,
    title: 'Training loss (line: mean across seeds; band: min–max across seeds)',
    width: 560,
    height: 300,
    data: { values },
    encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, color: normColor },
    layer: [
      { mark: { type: 'area', opacity: 0.2 }, encoding: { y: { field: 'lo', type: 'quantitative', title: 'training loss', scale: { type: 'log' } }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 1.2 }, encoding: { y: { field: 'mean', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/**
 * Best test accuracy against batch size, one line per norm through the means across seeds, with
 * error bars of the 95% Student-t interval of each mean (none where a cell has one seed).
 */
export function accuracyVsBatchSpec(cells: readonly SweepCell[]): TopLevelSpec | null {
  if (!cells.length) return null;
  const values = cells.map((c) => ({
    norm: c.norm,
    batchSize: c.batchSize,
    acc: 100 * c.best.mean,
    ...(c.bestInterval ? { lo: 100 * c.bestInterval.lo, hi: 100 * c.bestInterval.hi } : {}),
  }));
  return {
    $schema: SCHEMA,
    title: 'Best test accuracy against batch size (mean across seeds; error bars: 95% Student-t interval)',
    width: 480,
    height: 300,
    data: { values },
    encoding: { x: { field: 'batchSize', type: 'quantitative', title: 'batch size', scale: { type: 'log', base: 2 } }, color: normColor },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } } } },
      { transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'rule' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  } as TopLevelSpec;
}

/** Per norm, the mean, min and max across seeds of a per-step series (over the steps every seed has). */
function acrossSeeds(series: readonly LandscapeSeries[], pick: (s: LandscapeSeries) => readonly number[]): Array<{ norm: string; seeds: number; mean: number[]; lo: number[]; hi: number[] }> {
  const byNorm = new Map<string, LandscapeSeries[]>();
  for (const s of series) byNorm.set(s.norm, [...(byNorm.get(s.norm) ?? []), s]);
  return [...byNorm].map(([norm, ss]) => {
    const n = Math.min(...ss.map((s) => pick(s).length));
    const at = (t: number) => ss.map((s) => pick(s)[t]);
    return {
      norm,
      seeds: ss.length,
      mean: Array.from({ length: n }, (_, t) => at(t).reduce((a, b) => a + b, 0) / ss.length),
      lo: Array.from({ length: n }, (_, t) => Math.min(...at(t))),
      hi: Array.from({ length: n }, (_, t) => Math.max(...at(t))),
    };
  });
}

/** The paper's protocol: the loss band across learning rates per norm (its ends averaged over seeds). */
export function lossBandSpec(series: readonly LandscapeSeries[]): TopLevelSpec | null {
  if (!series.length) return null;
  const lo = acrossSeeds(series, (s) => s.bandMin);
  const hi = acrossSeeds(series, (s) => s.bandMax);
  const values = lo.flatMap((l, i) => thin(l.mean.length).map((t) => ({ norm: l.norm, step: t, lo: l.mean[t], hi: hi[i].mean[t] })));
  const seeds = Math.max(...lo.map((l) => l.seeds));
  return {
    $schema: SCHEMA,
    title: `Loss landscape (paper's protocol): min–max training loss across learning rates${seeds > 1 ? `, each end the mean over ${seeds} seeds` : ''}`,
    width: 560,
    height: 300,
    data: { values },
    mark: { type: 'area', opacity: 0.35 },
    encoding: {
      x: { field: 'step', type: 'quantitative' },
      y: { field: 'lo', type: 'quantitative', title: 'training loss', scale: { type: 'log' } },
      y2: { field: 'hi' },
      color: normColor,
    },
  } as TopLevelSpec;
}

/**
 * One landscape metric against step per norm (log y: the norms differ by orders of magnitude):
 * the mean over seeds as a line, with the min–max across seeds as a band when there are several.
 */
export function landscapeMetricSpec(
  series: readonly LandscapeSeries[],
  metric: 'gradPredictiveness' | 'betaSmoothness' | 'lossVariation' | 'santurkarGradPredictiveness' | 'santurkarBetaSmoothness',
  title: string,
): TopLevelSpec | null {
  const values: Array<Record<string, number | string>> = [];
  const push = (norm: string, step: number, xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    if (mean > 0) values.push({ norm, step, value: mean, ...(xs.length > 1 && Math.min(...xs) > 0 ? { lo: Math.min(...xs), hi: Math.max(...xs) } : {}) });
  };
  if (metric === 'gradPredictiveness' || metric === 'betaSmoothness') {
    for (const s of acrossSeeds(series, (x) => x[metric])) {
      // Entry t is the change from step t to t + 1.
      for (const t of thin(s.mean.length)) push(s.norm, t + 1, series.filter((x) => x.norm === s.norm).map((x) => x[metric][t]));
    }
  } else {
    const field = metric === 'lossVariation' ? 'lossVariation' : metric === 'santurkarGradPredictiveness' ? 'gradPredictiveness' : 'betaSmoothness';
    // Probes fall on the same steps for every seed of a norm.
    const byKey = new Map<string, { norm: string; step: number; xs: number[] }>();
    for (const s of series) {
      for (const p of s.santurkar) {
        const key = `${s.norm}\u0000${p.step}`;
        const e = byKey.get(key) ?? { norm: s.norm, step: p.step, xs: [] };
        e.xs.push(p[field]);
        byKey.set(key, e);
      }
    }
    for (const e of byKey.values()) push(e.norm, e.step, e.xs);
  }
  if (!values.length) return null;
  const seeds = Math.max(...acrossSeeds(series, (s) => s.bandMin).map((x) => x.seeds));
  const line = { mark: { type: 'line', strokeWidth: 1, point: metric.startsWith('santurkar') || metric === 'lossVariation' }, encoding: { y: { field: 'value', type: 'quantitative', title, scale: { type: 'log' } }, color: normColor } };
  const band = { transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'area', opacity: 0.2 }, encoding: { y: { field: 'lo', type: 'quantitative', scale: { type: 'log' } }, y2: { field: 'hi' }, color: normColor } };
  return {
    $schema: SCHEMA,
    title: seeds > 1 ? `${title} (line: mean over ${seeds} seeds; band: min–max across seeds)` : title,
    width: 560,
    height: 260,
    data: { values },
    encoding: { x: { field: 'step', type: 'quantitative' } },
    layer: seeds > 1 ? [band, line] : [line],
    // The legend takes its symbols from the faint band too; keep them at full strength.
    config: { legend: { symbolOpacity: 1 } },
  } as TopLevelSpec;
}

/** Change in test accuracy against the clean run of the same seed, per perturbation and norm, with 95% Student-t error bars. */
export function sensitivitySpec(rows: readonly SensitivityRow[]): TopLevelSpec | null {
  if (!rows.length) return null;
  const values = rows.map((r) => ({
    norm: r.norm,
    perturbation: r.perturbation,
    delta: 100 * r.deltaAccuracy.mean,
    ...(r.deltaInterval ? { lo: 100 * r.deltaInterval.lo, hi: 100 * r.deltaInterval.hi } : {}),
  }));
  const x = { field: 'perturbation', type: 'nominal', title: null, sort: null, axis: { labelAngle: -35 } } as const;
  return {
    $schema: SCHEMA,
    title: 'Sensitivity: test accuracy change against the clean run (points; error bars: 95% Student-t interval, paired by seed)',
    width: { step: 14 },
    height: 280,
    data: { values },
    encoding: { x, xOffset: { field: 'norm', sort: null }, color: normColor },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'delta', type: 'quantitative', title: 'Δ test accuracy (points)' } } },
      { transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'rule', color: 'black' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  } as TopLevelSpec;
}

/**
 * Render a Vega-Lite spec to an SVG string, headless. Vega and Vega-Lite are loaded on the first
 * figure: importing them costs a process about 0.4 s of CPU, which every `normlab` command paid
 * at start-up while only a report draws figures.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ View, parse }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  let view: vega.View | undefined;
  try {
    const compiled = compile(spec).spec;
    view = new View(parse(compiled), { renderer: 'none' });
    return await view.toSVG();
  } catch (e) {
    throw new AnalysisError('renderSvg', `could not render figure '${String((spec as { title?: unknown }).title)}': ${(e as Error).message}`);
  } finally {
    view?.finalize();
  }
}

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

/** Best test accuracy (mean ± std over seeds) against batch size, one line per norm. */
export function accuracyVsBatchSpec(cells: readonly SweepCell[]): TopLevelSpec | null {
  if (!cells.length) return null;
  const values = cells.map((c) => ({ norm: c.norm, batchSize: c.batchSize, acc: 100 * c.best.mean, lo: 100 * (c.best.mean - c.best.std), hi: 100 * (c.best.mean + c.best.std) }));
  return {
    $schema: SCHEMA,
    title: 'Best test accuracy against batch size (mean ± std over seeds)',
    width: 480,
    height: 300,
    data: { values },
    encoding: { x: { field: 'batchSize', type: 'quantitative', title: 'batch size', scale: { type: 'log', base: 2 } }, color: normColor },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } } } },
      { mark: { type: 'rule' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  } as TopLevelSpec;
}

/** The paper's protocol: the loss band across learning rates per norm. */
export function lossBandSpec(series: readonly LandscapeSeries[]): TopLevelSpec | null {
  if (!series.length) return null;
  const values = series.flatMap((s) => thin(s.steps).map((t) => ({ norm: s.norm, step: t, lo: s.bandMin[t], hi: s.bandMax[t] })));
  return {
    $schema: SCHEMA,
    title: "Loss landscape (paper's protocol): min–max training loss across learning rates",
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

/** One landscape metric against step per norm (log y: the norms differ by orders of magnitude). */
export function landscapeMetricSpec(
  series: readonly LandscapeSeries[],
  metric: 'gradPredictiveness' | 'betaSmoothness' | 'lossVariation' | 'santurkarGradPredictiveness' | 'santurkarBetaSmoothness',
  title: string,
): TopLevelSpec | null {
  const values: Array<Record<string, number | string>> = [];
  for (const s of series) {
    if (metric === 'gradPredictiveness' || metric === 'betaSmoothness') {
      const xs = s[metric];
      // Entry t is the change from step t to t + 1.
      for (const t of thin(xs.length)) if (xs[t] > 0) values.push({ norm: s.norm, step: t + 1, value: xs[t] });
    } else {
      const field = metric === 'lossVariation' ? 'lossVariation' : metric === 'santurkarGradPredictiveness' ? 'gradPredictiveness' : 'betaSmoothness';
      for (const p of s.santurkar) if (p[field] > 0) values.push({ norm: s.norm, step: p.step, value: p[field] });
    }
  }
  if (!values.length) return null;
  return {
    $schema: SCHEMA,
    title,
    width: 560,
    height: 260,
    data: { values },
    mark: { type: 'line', strokeWidth: 1, point: metric.startsWith('santurkar') || metric === 'lossVariation' },
    encoding: {
      x: { field: 'step', type: 'quantitative' },
      y: { field: 'value', type: 'quantitative', title, scale: { type: 'log' } },
      color: normColor,
    },
  } as TopLevelSpec;
}

/** Change in test accuracy against the clean run of the same seed, per perturbation and norm. */
export function sensitivitySpec(rows: readonly SensitivityRow[]): TopLevelSpec | null {
  if (!rows.length) return null;
  const values = rows.map((r) => ({ norm: r.norm, perturbation: r.perturbation, delta: 100 * r.deltaAccuracy.mean }));
  return {
    $schema: SCHEMA,
    title: 'Sensitivity: test accuracy change against the clean run (points)',
    width: { step: 14 },
    height: 280,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'perturbation', type: 'nominal', title: null, sort: null, axis: { labelAngle: -35 } },
      xOffset: { field: 'norm', sort: null },
      y: { field: 'delta', type: 'quantitative', title: 'Δ test accuracy (points)' },
      color: normColor,
    },
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

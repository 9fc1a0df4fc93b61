/**
 * The report: `report.md` (tables, findings with computed verdicts, environment),
 * `results.json` (the same tables and findings as data) and `figures/*.svg`. Every sentence is
 * generated from the run records; nothing in the report is written by hand.
 */
import * as path from 'node:path';
import {
  evalBatchTable,
  landscapeSeries,
  periodTable,
  sensitivityTable,
  stabilityTable,
  sweepTable,
  compareNorms,
  type LandscapeSeries,
} from './aggregate.js';
import { AnalysisError } from './errors.js';
import { accuracyVsBatchSpec, landscapeMetricSpec, lossBandSpec, lossCurvesSpec, renderSvg, sensitivitySpec } from './figures.js';
import { ensureDir, writeFileAtomic } from '@normlab/models';
import type { Summary } from './stats.js';
import type { Environment, RunRecord } from './types.js';
import { computeFindings, evalBatchStatements, fmtNum, fmtPct, type Finding, type Tables } from './verdicts.js';
import { windowStatements, windowTable, type WindowRow } from './window.js';
import type { TopLevelSpec } from 'vega-lite';

export interface ReportOptions {
  /** Number of periods training is cut into for the landscape (default 3). */
  periods?: number;
  title?: string;
  environment?: Environment;
  /** Skip rendering SVGs (the Markdown still links none). */
  figures?: boolean;
  /** Planned runs without a record: the report says it is partial and names them. */
  missing?: readonly string[];
}

export interface Report {
  markdown: string;
  tables: Tables & { landscape: LandscapeSeries[]; window: WindowRow[] };
  findings: Finding[];
  figures: string[];
}

function pm(s: Summary, pct = true): string {
  const f = pct ? (x: number) => (100 * x).toFixed(2) : fmtNum;
  return s.n > 1 ? `${f(s.mean)} ± ${f(s.std)}` : `${f(s.mean)}`;
}

function table(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** Build the tables and findings from records (pure; no files). */
export function analyzeRecords(records: readonly RunRecord[], k = 3): Report['tables'] & { findings: Finding[] } {
  const landscape = landscapeSeries(records);
  const tables = {
    sweep: sweepTable(records),
    stability: stabilityTable(records),
    sensitivity: sensitivityTable(records),
    landscape,
    periods: periodTable(landscape, k),
    evalBatch: evalBatchTable(records),
    window: windowTable(records),
  };
  return { ...tables, findings: computeFindings(tables) };
}

function accuracySection(t: Report['tables']): string {
  if (!t.sweep.length) return '_No batch-size sweep runs in this results file._';
  const norms = [...new Set(t.sweep.map((c) => c.norm))].sort(compareNorms);
  const batches = [...new Set(t.sweep.map((c) => c.batchSize))].sort((a, b) => a - b);
  const seeds = Math.max(...t.sweep.map((c) => c.best.n));
  const rows = norms.map((n) => [n, ...batches.map((b) => {
    const c = t.sweep.find((x) => x.norm === n && x.batchSize === b);
    return c ? pm(c.best) : '—';
  })]);
  return `Best test accuracy (%), mean ± std over ${seeds} seed${seeds > 1 ? 's' : ''}; learning rate scaled linearly with the batch size.\n\n${table(['norm', ...batches.map((b) => `batch ${b}`)], rows)}`;
}

function stabilitySection(t: Report['tables']): string {
  if (!t.stability.length) return '_No stability runs in this results file._';
  return table(
    ['norm', 'batch', 'seeds', 'final test acc (%)', 'loss std around MA(50)', 'loss spikes', 'grad-norm variance', 'final loss'],
    t.stability.map((r) => [r.norm, String(r.batchSize), String(r.seeds), pm(r.accuracy), fmtNum(r.lossStd), fmtNum(r.spikes), fmtNum(r.gradNormVar), fmtNum(r.finalLoss)]),
  );
}

function sensitivitySection(t: Report['tables']): string {
  if (!t.sensitivity.length) return '_No sensitivity runs in this results file._';
  return `Change against the clean run of the same seed (perturbed − clean), mean over seeds.\n\n${table(
    ['perturbation', 'kind', 'norm', 'pairs', 'clean acc (%)', 'perturbed acc (%)', 'Δ acc (points)', 'Δ loss std'],
    t.sensitivity.map((r) => [r.perturbation, r.family, r.norm, String(r.pairs), (100 * r.cleanAccuracy).toFixed(2), (100 * r.accuracy).toFixed(2), pm(r.deltaAccuracy), fmtNum(r.deltaLossStd)]),
  )}`;
}

function landscapeSection(t: Report['tables'], k: number): string {
  if (!t.periods.length) return '_No landscape runs in this results file._';
  const lrs = t.landscape.map((s) => `${s.norm}: ${s.lrs.join(', ')}`).join('; ');
  const yn = (b: boolean | null) => (b === null ? '—' : b ? 'yes' : 'no');
  const opt = (x: number | null) => (x === null ? '—' : fmtNum(x));
  return `Training cut into ${k} equal periods; values are period means. *The paper's protocol*: band width = max − min training loss across the learning rates (${lrs}); gradient predictiveness = ‖g_t − g_{t−1}‖ of the last linear layer's weight gradient (mean across those runs); effective β-smoothness = its max across the runs. *Santurkar et al.'s protocol*: line search along −g at η ∈ [1/2, 4]·lr on the current batch. A norm *helps* in a period when it beats the unnormalized network (lower) on at least two of a protocol's three metrics.\n\n${table(
    ['norm', 'period', 'band width', 'grad predictiveness', 'β-smoothness', 'helps (paper)', 'loss variation', 'grad predictiveness (S)', 'β-smoothness (S)', 'helps (Santurkar)'],
    t.periods.map((r) => [r.norm, String(r.period), fmtNum(r.bandWidth), fmtNum(r.gradPredictiveness), fmtNum(r.betaSmoothness), yn(r.helpsPaper), opt(r.lossVariation), opt(r.santurkarGradPredictiveness), opt(r.santurkarBetaSmoothness), yn(r.helpsSanturkar)]),
  )}`;
}

function findingsSection(findings: readonly Finding[], t: Report['tables']): string {
  const parts: string[] = [];
  for (const f of findings) {
    const ev = f.evidence.map((e) => {
      const vals = Object.entries(e.values).map(([k, v]) => `${k} ${/accuracy/.test(e.what) ? fmtPct(v) : fmtNum(v)}`).join(' vs ');
      const dir = e.supports === null ? 'tie' : e.supports ? 'supports' : 'contradicts';
      const noise = e.beyondNoise === null ? '' : e.beyondNoise ? ', beyond seed noise' : ', within seed noise';
      return `  - ${e.what}: ${vals} — ${dir}${noise}`;
    });
    parts.push(`- **${f.claim}** — verdict: **${f.verdict}**. ${f.summary}${ev.length ? '\n' + ev.join('\n') : ''}`);
  }
  const eb = evalBatchStatements(t.evalBatch);
  if (eb.length) {
    parts.push(`- **What GNPlus's batch-dependent eval costs** (it normalizes with the evaluated batch's statistics):\n${eb.map((s) => `  - ${s}`).join('\n')}`);
  }
  return parts.join('\n');
}

function evalBatchSection(t: Report['tables']): string {
  if (!t.evalBatch.length) return '';
  return `\n\n### Test accuracy against eval batch size\n\n${table(
    ['norm', 'train batch', 'eval batch', 'test acc (%)'],
    t.evalBatch.map((r) => [r.norm, String(r.trainBatchSize), String(r.evalBatchSize), pm(r.accuracy)]),
  )}`;
}

function windowSection(t: Report['tables']): string {
  if (!t.window.length) return '';
  const k = Math.max(...t.window.map((r) => r.periods));
  const cell = (s: WindowRow['live'][number], diverged = 0) => pm(s) + (diverged ? ` (${diverged} diverged)` : '');
  const rows = t.window.map((r) => [
    r.norm,
    String(r.seeds),
    ...Array.from({ length: k }, (_, i) => (i < r.periods ? cell(r.live[i]!, r.diverged[i]) : '—')),
    r.alwaysOn ? pm(r.alwaysOn) : '—',
    r.neverOn ? pm(r.neverOn) : '—',
    `period ${r.best}`,
  ]);
  return `\n\n## Window ablation

Final test accuracy (%) with normalization live in one period of training only (identity plus the layer's affine in the others; training cut into equal periods by step; the test is run in the mode of the last period), mean ± std over seeds; references: the same norm live throughout (always on) and the network without normalization (never on, \`none\`).

${table(['norm', 'seeds', ...Array.from({ length: k }, (_, i) => `live in period ${i + 1}`), 'always on', 'never on (none)', 'best window'], rows)}

${windowStatements(t.window).map((s) => `- ${s}`).join('\n')}`;
}

function environmentSection(env: Environment | undefined, records: readonly RunRecord[]): string {
  const rows: string[][] = [];
  if (env) {
    rows.push(['profile', env.profile], ['dataset', env.dataset], ['runs', String(env.runs)], ['wall time', `${(env.wallSeconds / 60).toFixed(1)} min`], ['started', env.startedAt]);
    rows.push(['normlab', env.normlabVersion], ['node', env.node], ['backend', env.backend], ['platform', env.platform], ['CPU', `${env.cpus} (${env.cores} cores)`], ['memory', `${env.memoryGiB.toFixed(1)} GiB`]);
  } else {
    rows.push(['runs', String(records.length)]);
  }
  const models = [...new Set(records.map((r) => `${r.spec.model} (width ×${r.spec.width}) on ${r.spec.dataset}, ${r.spec.optimizer}`))];
  rows.push(['models', models.join('; ') || '—']);
  const limits = [...new Set(records.map((r) => `train ${r.spec.trainLimit}, test ${r.spec.testLimit}, ${r.spec.epochs} epoch(s)`))];
  rows.push(['data per run', limits.join('; ') || '—']);
  return table(['', ''], rows);
}

/** Build the report from records and write it under `outDir`: report.md, results.json, figures/*.svg. */
export async function writeReport(records: readonly RunRecord[], outDir: string, options: ReportOptions = {}): Promise<Report> {
  const k = options.periods ?? 3;
  if (records.length === 0) throw new AnalysisError('writeReport', `no run records to report on in ${outDir}; expected at least one`);
  const a = analyzeRecords(records, k);
  const { findings, ...tables } = a;
  const specs: Array<[string, TopLevelSpec | null]> = [
    ['loss-curves', lossCurvesSpec(records)],
    ['accuracy-vs-batch', accuracyVsBatchSpec(tables.sweep)],
    ['landscape-loss-band', lossBandSpec(tables.landscape)],
    ['landscape-grad-predictiveness', landscapeMetricSpec(tables.landscape, 'gradPredictiveness', "gradient predictiveness ‖g_t − g_{t−1}‖ (paper's protocol)")],
    ['landscape-beta-smoothness', landscapeMetricSpec(tables.landscape, 'betaSmoothness', "effective β-smoothness (paper's protocol)")],
    ['santurkar-loss-variation', landscapeMetricSpec(tables.landscape, 'lossVariation', 'loss variation (Santurkar et al.)')],
    ['santurkar-grad-predictiveness', landscapeMetricSpec(tables.landscape, 'santurkarGradPredictiveness', 'gradient predictiveness (Santurkar et al.)')],
    ['santurkar-beta-smoothness', landscapeMetricSpec(tables.landscape, 'santurkarBetaSmoothness', 'effective β-smoothness (Santurkar et al.)')],
    ['sensitivity', sensitivitySpec(tables.sensitivity)],
  ];
  const figures: string[] = [];
  if (options.figures ?? true) {
    ensureDir(path.join(outDir, 'figures'), 'writeReport');
    for (const [name, spec] of specs) {
      if (!spec) continue;
      writeFileAtomic(path.join(outDir, 'figures', `${name}.svg`), await renderSvg(spec));
      figures.push(name);
    }
  }
  const fig = (name: string, alt: string) => (figures.includes(name) ? `\n\n![${alt}](figures/${name}.svg)` : '');
  const title = options.title ?? `normlab reproduction${options.environment ? ` — ${options.environment.profile} profile, ${options.environment.dataset}` : ''}`;
  const md = `# ${title}

Generated by \`@normlab/analysis\` from ${records.length} run records. Every number and verdict below
is computed from those records; rerun \`normlab analyze --results\` on them to regenerate this file.
Paper: Gunawan, Yin, Zhang, "Understanding and Improving Group Normalization" (2022), arXiv:2207.01972.
${options.missing?.length ? `\n**Partial**: ${options.missing.length} planned run${options.missing.length > 1 ? 's have' : ' has'} no record yet: ${options.missing.join(', ')}.\n` : ''}
## Findings

${findingsSection(findings, tables)}

## Accuracy per norm and batch size

${accuracySection(tables)}${fig('accuracy-vs-batch', 'test accuracy against batch size')}${evalBatchSection(tables)}

## Stability

Within a run: RMS deviation of the training loss from its centered 50-step moving average, steps with loss above twice the median of the previous 50, variance of the gradient norm; means over seeds.

${stabilitySection(tables)}${fig('loss-curves', 'training loss curves')}

## Sensitivity to distortion

${sensitivitySection(tables)}${fig('sensitivity', 'sensitivity bars')}

## Optimization landscape per period

${landscapeSection(tables, k)}${fig('landscape-loss-band', 'loss band')}${fig('landscape-grad-predictiveness', 'gradient predictiveness')}${fig('landscape-beta-smoothness', 'beta smoothness')}${fig('santurkar-loss-variation', 'loss variation')}${fig('santurkar-grad-predictiveness', 'gradient predictiveness (Santurkar)')}${fig('santurkar-beta-smoothness', 'beta smoothness (Santurkar)')}${windowSection(tables)}

## Environment

${environmentSection(options.environment, records)}
`;
  writeFileAtomic(path.join(outDir, 'report.md'), md);
  writeFileAtomic(path.join(outDir, 'results.json'), JSON.stringify({ environment: options.environment ?? null, periods: k, tables, findings }, null, 1) + '\n');
  return { markdown: md, tables, findings, figures };
}

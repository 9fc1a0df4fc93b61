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
  type PeriodRow,
} from './aggregate.js';
import { AnalysisError } from './errors.js';
import { accuracyVsBatchSpec, landscapeMetricSpec, lossBandSpec, lossCurvesSpec, renderSvg, sensitivitySpec } from './figures.js';
import { ensureDir, writeFileAtomic } from '@normlab/models';
import { ALL_EXAMPLES } from './profiles.js';
import { formatIntList, selectionFlags } from './selection.js';
import { mean, type Summary } from './stats.js';
import type { Environment, RunRecord, RunRole, Selection } from './types.js';
import { computeFindings, evalBatchStatements, FAMILY_LEVEL, fmtInterval, fmtLevel, fmtNum, fmtPct, fmtSeeds, VERDICT_RULE, type Evidence, type Finding, type Tables } from './verdicts.js';
import { windowStatements, windowTable, type WindowRow } from './window.js';
import type { TopLevelSpec } from 'vega-lite';

/**
 * What a reproduction ran, for the report's "Scale" section (`mergeReproduction` fills it from
 * the plan, the records and the timings).
 */
export interface Scale {
  /** The profile's name. */
  profile: string;
  /** The dataset's name. */
  dataset: string;
  /** The selection of the profile's plan; null: all of it. */
  selection: Selection | null;
  /** Runs in the plan. */
  planned: number;
  /** Runs of the plan recorded. */
  recorded: number;
  /** Recorded runs per role (a run serving two roles counts in both). */
  byRole: Array<{
    /** The role. */
    role: RunRole;
    /** Recorded runs serving it. */
    runs: number;
  }>;
  /** Seeds of the recorded runs, ascending. */
  seeds: number[];
  /** Epoch counts of the recorded runs, ascending. */
  epochs: number[];
  /** Training steps of the recorded runs. */
  steps: number;
  /** Recorded runs with a timing. */
  timed: number;
  /** Of those, runs with their CPU time (timings of older normlab versions have none). */
  cpuTimed: number;
  /** Summed over the `cpuTimed` runs: CPU seconds of the process that trained each (all threads). */
  cpuSeconds: number;
  /** Summed over the `timed` runs: wall-clock seconds, one run after another. */
  wallSeconds: number;
  /** From the earliest start to the latest finish: less than `wallSeconds` when shards ran at once; null without start times. */
  elapsedSeconds: number | null;
  /** The compute backends the timed runs ran on. */
  backends: string[];
}

/** What `writeReport` adds to the records. */
export interface ReportOptions {
  /** Number of periods training is cut into for the landscape (default 3). */
  periods?: number;
  /** The report's heading (default: `normlab reproduction — <profile> profile, <dataset>`). */
  title?: string;
  /** The machine and reproduction: the report's "Environment" section (none without it). */
  environment?: Environment;
  /** What was run: the report's "Scale" section (none without it). */
  scale?: Scale;
  /** Skip rendering SVGs (the Markdown still links none). */
  figures?: boolean;
  /** Planned runs without a record: the report says it is partial and names them. */
  missing?: readonly string[];
}

/** Every table of a report: the findings' tables and the landscape's and window ablation's. */
export interface ReportTables extends Tables {
  /** Per-step landscape series per norm and seed (`landscapeSeries`). */
  landscape: LandscapeSeries[];
  /** The window ablation (`windowTable`). */
  window: WindowRow[];
}

/** The report's tables and findings, as `analyzeRecords` computes them. */
export interface RecordsAnalysis extends ReportTables {
  /** The paper's claims with their verdicts. */
  findings: Finding[];
}

/** A written report. */
export interface Report {
  /** The text of report.md. */
  markdown: string;
  /** The tables (also in results.json). */
  tables: ReportTables;
  /** The paper's claims with their verdicts. */
  findings: Finding[];
  /** Names of the figures written, `figures/<name>.svg`. */
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

/**
 * Build the tables and findings from records (pure; no files). `scope` says where a claim
 * without runs looked for them (`in this selection`; default `in these records`).
 */
export function analyzeRecords(records: readonly RunRecord[], k = 3, scope?: string): RecordsAnalysis {
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
  return { ...tables, findings: computeFindings(tables, scope) };
}

function accuracySection(t: Report['tables'], scope: string): string {
  if (!t.sweep.length) return `_No batch-size sweep runs ${scope}._`;
  const norms = [...new Set(t.sweep.map((c) => c.norm))].sort(compareNorms);
  const batches = [...new Set(t.sweep.map((c) => c.batchSize))].sort((a, b) => a - b);
  const seeds = Math.max(...t.sweep.map((c) => c.best.n));
  const rows = norms.map((n) => [n, ...batches.map((b) => {
    const c = t.sweep.find((x) => x.norm === n && x.batchSize === b);
    return c ? pm(c.best) : '—';
  })]);
  return `Best test accuracy (%), mean ± std over ${seeds} seed${seeds > 1 ? 's' : ''}; learning rate scaled linearly with the batch size.\n\n${table(['norm', ...batches.map((b) => `batch ${b}`)], rows)}`;
}

function stabilitySection(t: Report['tables'], scope: string): string {
  if (!t.stability.length) return `_No stability runs ${scope}._`;
  return table(
    ['norm', 'batch', 'seeds', 'final test acc (%)', 'loss std around MA(50)', 'loss spikes', 'grad-norm variance', 'final loss'],
    t.stability.map((r) => [r.norm, String(r.batchSize), String(r.seeds), pm(r.accuracy), fmtNum(r.lossStd), fmtNum(r.spikes), fmtNum(r.gradNormVar), fmtNum(r.finalLoss)]),
  );
}

function sensitivitySection(t: Report['tables'], scope: string): string {
  if (!t.sensitivity.length) return `_No sensitivity runs ${scope}._`;
  return `Change against the clean run of the same seed (perturbed − clean), mean over seeds with its 95% Student-t interval (paired by seed; none with one pair).\n\n${table(
    ['perturbation', 'kind', 'norm', 'pairs', 'clean acc (%)', 'perturbed acc (%)', 'Δ acc (points) [95% interval]', 'Δ loss std'],
    t.sensitivity.map((r) => [r.perturbation, r.family, r.norm, String(r.pairs), (100 * r.cleanAccuracy).toFixed(2), (100 * r.accuracy).toFixed(2), fmtInterval(r.deltaAccuracy.mean, r.deltaInterval, 'accuracy', r.pairs), fmtNum(r.deltaLossStd)]),
  )}`;
}

function landscapeSection(t: Report['tables'], k: number, scope: string): string {
  if (!t.periods.length) return `_No landscape runs ${scope}._`;
  const lrs = [...new Map(t.landscape.map((s) => [s.norm, s.lrs.join(', ')])).entries()].map(([n, l]) => `${n}: ${l}`).join('; ');
  const seeds = Math.max(...t.periods.map((r) => r.seeds));
  const withTests = t.periods.some((r) => r.paper?.outcome && r.paper.outcome !== 'insufficient data');
  // With two seeds or more the paired decision; without an interval, what the point comparison of the means says.
  const helps = (test: PeriodRow['paper'], point: boolean | null) => (point === null || !test ? '—' : test.outcome !== 'insufficient data' ? test.outcome : point ? 'lower (no interval)' : 'not lower (no interval)');
  const opt = (x: number | null) => (x === null ? '—' : fmtNum(x));
  // Every interval of a protocol in the table has the same (Bonferroni) level.
  const level = (p: 'paper' | 'santurkar') => t.periods.flatMap((r) => r[p]?.comparisons ?? []).find((c) => c.interval)?.interval!.level;
  const how = withTests
    ? `A norm *helps* in a period when, paired by seed with the unnormalized network, at least two of a protocol's three metrics have Student-t intervals of norm − none below zero (*hurts*: two above zero; otherwise *not distinguishable*); the intervals hold family-wise at 95% over each protocol's comparisons in this table (Bonferroni: ${fmtLevel(level('paper') ?? 0.95)} each for the paper's protocol, ${fmtLevel(level('santurkar') ?? 0.95)} for Santurkar et al.'s).`
    : `With one landscape seed there are no intervals: the helps columns say whether the norm's means are lower than the unnormalized network's on at least two of a protocol's three metrics, a point comparison that cannot tell an effect from seed noise.`;
  return `Training cut into ${k} equal periods; values are period means, averaged over ${seeds} seed${seeds > 1 ? 's' : ''}. *The paper's protocol*: band width = max − min training loss across the learning rates (${lrs}); gradient predictiveness = ‖g_t − g_{t−1}‖ of the last linear layer's weight gradient (mean across those runs); effective β-smoothness = its max across the runs. *Santurkar et al.'s protocol*: line search along −g at η ∈ [1/2, 4]·lr on the current batch. ${how}\n\n${table(
    ['norm', 'period', 'seeds', 'band width', 'grad predictiveness', 'β-smoothness', 'helps (paper)', 'loss variation', 'grad predictiveness (S)', 'β-smoothness (S)', 'helps (Santurkar)'],
    t.periods.map((r) => [r.norm, String(r.period), String(r.seeds), fmtNum(r.bandWidth), fmtNum(r.gradPredictiveness), fmtNum(r.betaSmoothness), helps(r.paper, r.helpsPaper), opt(r.lossVariation), opt(r.santurkarGradPredictiveness), opt(r.santurkarBetaSmoothness), helps(r.santurkar, r.helpsSanturkar)]),
  )}`;
}

/** How the verdicts are reached, stated once above them. */
export const METHOD_NOTE = `Each comparison pairs runs by seed. Runs of the same seed start from the same initial weights in every layer the two networks share (one generator, seeded by the run's seed, draws the convolution and linear weights in the same order whatever the norm) and see the same data order, augmentation, dropout and distortion draws (seeded by the run's seed too). Where the norms differ in parameters, the initial weights differ in those only, and those start at constants: the norm's affine weight and bias (1 and 0), GNPlus's and HybridNorm's blend weight ρ, the unnormalized network's convolution biases (0). A cell is the mean over seeds of the paired difference a − b with its Student-t interval (the t quantile with n − 1 degrees of freedom, n the paired seeds, computed from the regularized incomplete beta function). The intervals of one claim hold together at ${fmtLevel(FAMILY_LEVEL)}: with m cells, each is a 1 − 0.05/m interval (Bonferroni). A cell is *for* the claim when its interval lies on the side of zero the claim predicts, *against* when it lies on the other side, *not distinguishable* when it contains zero, *insufficient data* with fewer than two paired seeds. Verdicts — ${VERDICT_RULE}. Accuracy differences are in percentage points. Intervals outside the findings (sensitivity table, eval batches, window ablation) are 95% per comparison; error bars in the figures are 95% Student-t intervals across seeds.`;

/** A finding's cells with their effect sizes; a finding judged on parts shows each cell as what it says about the norm (lower than none: helps). */
function evidenceTable(evidence: readonly Evidence[], onParts: boolean): string {
  const val = (e: Evidence, name: string) => (name in e.values ? `${name} ${e.kind === 'accuracy' ? fmtPct(e.values[name]) : fmtNum(e.values[name])}` : `${name} —`);
  const diff = (e: Evidence) => (e.seeds.length ? fmtInterval(mean(e.differences), e.interval, e.kind, e.seeds.length) + (e.kind === 'accuracy' ? ' points' : '') : '—');
  const reading = (e: Evidence) => (e.outcome === 'for' ? 'lower: helps' : e.outcome === 'against' ? 'higher: hurts' : e.outcome);
  return onParts
    ? table(['comparison', 'a', 'b', 'a − b: mean [interval]', 'seeds', 'reading'], evidence.map((e) => [e.what, val(e, e.a), val(e, e.b), diff(e), String(e.seeds.length), reading(e)]))
    : table(
        ['comparison', 'a', 'b', 'a − b: mean [interval]', 'seeds', 'claim expects', 'outcome'],
        evidence.map((e) => [e.what, val(e, e.a), val(e, e.b), diff(e), String(e.seeds.length), e.claimed === 'positive' ? '> 0' : '< 0', e.outcome]),
      );
}

function findingsSection(findings: readonly Finding[], t: Report['tables']): string {
  const parts: string[] = [METHOD_NOTE];
  const counts = (f: Finding) => {
    const items: ReadonlyArray<{ outcome: string }> = f.parts ?? f.evidence;
    const n = (o: string) => items.filter((e) => e.outcome === o).length;
    return items.length ? `${n('for')} / ${n('against')} / ${n('not distinguishable')}${f.parts ? ` (of its ${f.parts.length} parts)` : ''}` : '—';
  };
  parts.push(
    table(
      ['claim', 'verdict', 'cells for / against / not distinguishable', 'paired seeds per cell'],
      findings.map((f) => [f.claim, `**${f.verdict}**`, counts(f), f.seeds.max ? fmtSeeds(f.seeds) : '—']),
    ),
  );
  for (const f of findings) {
    let s = `### ${f.claim}\n\nVerdict: **${f.verdict}**. ${f.summary}`;
    if (f.parts) s += `\n\n${f.parts.map((p) => `- ${p.what} — ${p.outcome}`).join('\n')}`;
    if (f.evidence.length) s += `\n\n${evidenceTable(f.evidence, Boolean(f.parts))}`;
    parts.push(s);
  }
  const eb = evalBatchStatements(t.evalBatch);
  if (eb.length) {
    parts.push(`### What GNPlus's batch-dependent eval costs\n\nIt normalizes with the evaluated batch's statistics.\n\n${eb.map((s) => `- ${s}`).join('\n')}`);
  }
  return parts.join('\n\n');
}

/** The closing note: each claim's verdict with its intervals, in one list. */
function closingSection(findings: readonly Finding[]): string {
  return findings
    .map((f) => {
      const cells = f.evidence
        .filter((e) => e.seeds.length)
        .map((e) => `${e.what}: ${e.a} − ${e.b} ${fmtInterval(mean(e.differences), e.interval, e.kind, e.seeds.length)}${e.kind === 'accuracy' ? ' points' : ''}`);
      const level = f.level === null ? '' : `; intervals at ${fmtLevel(f.level)} each, ${fmtLevel(FAMILY_LEVEL)} family-wise`;
      const seeds = f.seeds.max ? `${fmtSeeds(f.seeds)} seed${f.seeds.max === 1 ? '' : 's'}${level}` : 'no paired seeds';
      const body = [...(f.parts ?? []).map((p) => `${p.what}: ${p.outcome}`), ...cells].join('; ');
      return `- ${f.claim} — **${f.verdict}** (${seeds})${body ? `: ${body}` : ''}.`;
    })
    .join('\n');
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

/** `42 s`, `12.5 min`, `7.1 h`. */
function fmtDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The "Scale" section: what was run (profile, selection, runs, seeds, epochs) and what it took. */
function scaleSection(s: Scale): string {
  const list = (xs: readonly number[]) => formatIntList(xs).replace(/,/g, ', ').replace(/(\d)-(\d)/g, '$1–$2');
  const flags = s.selection ? selectionFlags(s.selection) : null;
  const what = flags
    ? `a selection of the ${s.profile} profile on ${s.dataset}, \`${flags}\``
    : `the whole ${s.profile} profile on ${s.dataset}`;
  const override = s.selection?.epochs === undefined ? '' : ` The epochs override makes these other runs than the profile's (every spec, and so every run id, has ${s.selection.epochs} epochs).`;
  const untimed = (n: number) => (n < s.recorded ? ` (${n} of the ${s.recorded} runs; the others' timings do not have it)` : '');
  const rows: string[][] = [
    ['profile', `${s.profile} on ${s.dataset}`],
    ['selection', flags ? `\`${flags}\`` : 'none: the whole profile'],
    ['runs', `${s.recorded} of ${s.planned} planned${s.byRole.length ? ` (${s.byRole.map((r) => `${r.role} ${r.runs}`).join(', ')})` : ''}`],
    ['seeds', s.seeds.length ? list(s.seeds) : '—'],
    ['epochs per run', s.epochs.length ? s.epochs.join(', ') : '—'],
    ['training steps', s.steps.toLocaleString('en-US')],
    ['CPU time', s.cpuTimed ? `${fmtDuration(s.cpuSeconds)}${untimed(s.cpuTimed)}` : 'not recorded'],
    ['wall time', s.timed ? `${fmtDuration(s.wallSeconds)} run after run${untimed(s.timed)}${s.elapsedSeconds === null ? '' : `; ${fmtDuration(s.elapsedSeconds)} from the first start to the last finish`}` : 'not recorded'],
    ['backend', s.backends.join(', ') || '—'],
  ];
  return `What was run: ${what}.${override}\n\n${table(['', ''], rows)}`;
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
  const limit = (n: number) => (n >= ALL_EXAMPLES ? 'all' : String(n));
  const limits = [...new Set(records.map((r) => `train ${limit(r.spec.trainLimit)}, test ${limit(r.spec.testLimit)}, ${r.spec.epochs} epoch(s)`))];
  rows.push(['data per run', limits.join('; ') || '—']);
  return table(['', ''], rows);
}

/** Build the report from records and write it under `outDir`: report.md, results.json, figures/*.svg. */
export async function writeReport(records: readonly RunRecord[], outDir: string, options: ReportOptions = {}): Promise<Report> {
  const k = options.periods ?? 3;
  if (records.length === 0) throw new AnalysisError('writeReport', `no run records to report on in ${outDir}; expected at least one`);
  const scope = options.scale?.selection ? 'in this selection' : 'in these records';
  const a = analyzeRecords(records, k, scope);
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
  const title = options.title ?? `normlab reproduction${options.environment ? ` — ${options.environment.profile} profile${options.scale?.selection ? ' (a selection)' : ''}, ${options.environment.dataset}` : ''}`;
  const md = `# ${title}

Generated by \`@normlab/analysis\` from ${records.length} run records. Every number and verdict below
is computed from those records; rerun \`normlab analyze --results\` on them to regenerate this file.
Paper: Gunawan, Yin, Zhang, "Understanding and Improving Group Normalization" (2022), arXiv:2207.01972.
${options.missing?.length ? `\n**Partial**: ${options.missing.length} planned run${options.missing.length > 1 ? 's have' : ' has'} no record yet: ${options.missing.join(', ')}.\n` : ''}${options.scale ? `\n## Scale\n\n${scaleSection(options.scale)}\n` : ''}
## Findings

${findingsSection(findings, tables)}

## Accuracy per norm and batch size

${accuracySection(tables, scope)}${fig('accuracy-vs-batch', 'test accuracy against batch size')}${evalBatchSection(tables)}

## Stability

Within a run: RMS deviation of the training loss from its centered 50-step moving average, steps with loss above twice the median of the previous 50, variance of the gradient norm; means over seeds.

${stabilitySection(tables, scope)}${fig('loss-curves', 'training loss curves')}

## Sensitivity to distortion

${sensitivitySection(tables, scope)}${fig('sensitivity', 'sensitivity bars')}

## Optimization landscape per period

${landscapeSection(tables, k, scope)}${fig('landscape-loss-band', 'loss band')}${fig('landscape-grad-predictiveness', 'gradient predictiveness')}${fig('landscape-beta-smoothness', 'beta smoothness')}${fig('santurkar-loss-variation', 'loss variation')}${fig('santurkar-grad-predictiveness', 'gradient predictiveness (Santurkar)')}${fig('santurkar-beta-smoothness', 'beta smoothness (Santurkar)')}${windowSection(tables)}

## Environment

${environmentSection(options.environment, records)}

## Closing note: the verdicts

${closingSection(findings)}
`;
  writeFileAtomic(path.join(outDir, 'report.md'), md);
  writeFileAtomic(path.join(outDir, 'results.json'), JSON.stringify({ environment: options.environment ?? null, scale: options.scale ?? null, periods: k, tables, findings }, null, 1) + '\n');
  return { markdown: md, tables, findings, figures };
}

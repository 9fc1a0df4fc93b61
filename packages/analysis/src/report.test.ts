import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getProfile, planRuns } from './profiles.js';
import { analyzeRecords, writeReport } from './report.js';
import { DEFAULT_TRAITS, fakeExecutor } from './test-utils/fake.js';
import { computeFindings, fmtDiff, fmtInterval, fmtLevel, outcomeOf, verdictOf, VERDICTS, type Outcome, type Tables } from './verdicts.js';
import type { SweepCell } from './aggregate.js';
import type { Profile } from './profiles.js';
import { summarize } from './stats.js';
import type { RunRecord } from './types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-analysis-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The smoke plan with six seeds wherever runs are paired, so the fake's effects clear the intervals. */
function sixSeeds(): Profile {
  const p = getProfile('smoke');
  const seeds = [0, 1, 2, 3, 4, 5];
  return { ...p, sweep: { ...p.sweep, seeds }, analysis: { ...p.analysis, seeds, sensitivitySeeds: seeds }, landscape: { ...p.landscape, seeds } };
}

function records(traits = DEFAULT_TRAITS, profile = sixSeeds()): RunRecord[] {
  const exec = fakeExecutor(traits);
  return planRuns(profile).map((p) => exec(p, { onStep: () => {} }));
}

/** Tables with one sweep cell pair per batch size: GNPlus − GN best accuracy per seed as given. */
function sweepTables(diffs: Record<number, number[]>): Tables {
  const sweep: SweepCell[] = [];
  for (const [b, ds] of Object.entries(diffs)) {
    const cell = (norm: string, acc: number[]): SweepCell => ({
      norm,
      batchSize: Number(b),
      best: summarize(acc),
      bestInterval: null,
      final: summarize(acc),
      perSeed: acc.map((a, seed) => ({ seed, best: a, final: a })),
    });
    const gn = ds.map((_, i) => 0.8 + 0.01 * i);
    sweep.push(cell('GN', gn), cell('GNPlus', gn.map((g, i) => g + ds[i])));
  }
  return { sweep, stability: [], sensitivity: [], periods: [], evalBatch: [] };
}

describe('verdicts', () => {
  it('supports each claim when the data go the claimed way', () => {
    const a = analyzeRecords(records(), 2);
    const v = Object.fromEntries(a.findings.map((f) => [f.id, f.verdict]));
    // Loss std and gradient-norm variance go the claimed way; no run has a spike, so that cell cannot decide.
    expect(v['gn-less-stable']).toBe('partly supported');
    expect(v['gn-more-sensitive']).toBe('supported');
    expect(v['gn-helps-in-a-period-paper']).toBe('supported');
    expect(v['gn-helps-in-a-period-santurkar']).toBe('supported');
    expect(v['GNPlus-beats-gn']).toBe('supported');
    expect(v['HybridNorm-more-stable']).toBe('partly supported');
    for (const f of a.findings) {
      expect(f.seeds).toEqual({ min: 6, max: 6 });
      for (const e of f.evidence) expect(e.interval!.n).toBe(6);
    }
  });
  it('contradicts them when the data go the other way', () => {
    const swapped = {
      noise: { ...DEFAULT_TRAITS.noise, bn: 0.08, gn: 0.02, gnplus: 0.1, hybrid: 0.1 },
      accuracy: { ...DEFAULT_TRAITS.accuracy, gnplus: 0.8, hybrid: 0.8 },
      sensitivity: { ...DEFAULT_TRAITS.sensitivity, bn: 0.06, gn: 0.01 },
      landscape: { ...DEFAULT_TRAITS.landscape, gn: [1, 1, 1] as [number, number, number] },
    };
    const a = analyzeRecords(records(swapped), 2);
    const v = Object.fromEntries(a.findings.map((f) => [f.id, f.verdict]));
    expect(v['gn-less-stable']).toBe('contradicted');
    expect(v['gn-more-sensitive']).toBe('contradicted');
    expect(v['gn-helps-in-a-period-paper']).toBe('mixed'); // BN's part holds, GN helps in every period
    expect(v['GNPlus-beats-gn']).toBe('contradicted');
    expect(v['HybridNorm-more-stable']).toBe('contradicted');
  });
  it('says "insufficient data" below two paired seeds', () => {
    const oneSeed = getProfile('smoke');
    const one = { ...oneSeed, sweep: { ...oneSeed.sweep, seeds: [0] }, analysis: { ...oneSeed.analysis, seeds: [0], sensitivitySeeds: [0] }, landscape: { ...oneSeed.landscape, seeds: [0] } };
    const a = analyzeRecords(records(DEFAULT_TRAITS, one), 2);
    for (const f of a.findings) {
      expect(f.verdict).toBe('insufficient data');
      expect(f.level).toBeNull();
    }
    expect(a.findings.find((f) => f.id === 'gn-helps-in-a-period-paper')!.summary).toMatch(/^Insufficient data: the landscape runs have 1 seed.*On the seed means, BN beats the unnormalized network in periods 1, 2 of 2/);
  });
  it('a difference inside the seed-to-seed spread is not distinguishable, not contradicted', () => {
    // The example: GN+ against GN at three batch sizes, signs mixed, every difference within noise.
    const f = computeFindings(sweepTables({ 8: [0.004, -0.01, 0.012, 0.002, -0.003], 32: [-0.006, 0.009, -0.011, 0.001, 0.002], 128: [-0.02, 0.015, 0.004, -0.012, 0.006] })).find((x) => x.id === 'GNPlus-beats-gn')!;
    expect(f.verdict).toBe('not distinguishable at this scale');
    expect(f.evidence.every((e) => e.outcome === 'not distinguishable')).toBe(true);
    expect(f.summary).toContain('Bonferroni over 3 cells: 98.33% each');
  });
  it('pairs by seed and gives each of m cells a 1 − 0.05/m Student-t interval', () => {
    const d8 = [0.01, 0.012, 0.009, 0.011, 0.01];
    const f = computeFindings(sweepTables({ 8: d8, 32: [-0.005, 0.004, 0.001, -0.002, 0.003] })).find((x) => x.id === 'GNPlus-beats-gn')!;
    expect(f.level).toBeCloseTo(0.975, 15);
    const e = f.evidence[0];
    expect(e.seeds).toEqual([0, 1, 2, 3, 4]);
    expect(e.differences.map((d, i) => d - d8[i]).every((x) => Math.abs(x) < 1e-15)).toBe(true);
    const m = d8.reduce((a, b) => a + b) / 5;
    const s = Math.sqrt(d8.reduce((a, x) => a + (x - m) ** 2, 0) / 4);
    // t(1 − 0.025/2, 4) = 3.4954059325164417 (scipy.stats.t.ppf(0.9875, 4)).
    expect(e.interval!.hi - m).toBeCloseTo((3.4954059325164417 * s) / Math.sqrt(5), 12);
    expect(e.outcome).toBe('for');
    expect(f.evidence[1].outcome).toBe('not distinguishable');
    expect(f.verdict).toBe('partly supported');
    // A seed only one arm has is left out of the pairs.
    const t = sweepTables({ 8: d8 });
    t.sweep[0].perSeed.push({ seed: 9, best: 0.5, final: 0.5 });
    expect(computeFindings(t).find((x) => x.id === 'GNPlus-beats-gn')!.evidence[0].seeds).toEqual([0, 1, 2, 3, 4]);
    // Two runs of one seed in one arm: the records mix two plans.
    t.sweep[0].perSeed.push({ seed: 9, best: 0.5, final: 0.5 });
    t.sweep[1].perSeed.push({ seed: 9, best: 0.5, final: 0.5 });
    expect(() => computeFindings(t)).toThrow(/two runs of seed 9/);
  });
  it('grades the cells', () => {
    const e = (outcome: Outcome) => ({ outcome });
    expect(verdictOf([])).toBe('insufficient data');
    expect(verdictOf([e('insufficient data')])).toBe('insufficient data');
    expect(verdictOf([e('for'), e('for'), e('insufficient data')])).toBe('supported');
    expect(verdictOf([e('for'), e('not distinguishable')])).toBe('partly supported');
    expect(verdictOf([e('for'), e('against')])).toBe('mixed');
    expect(verdictOf([e('not distinguishable'), e('against')])).toBe('contradicted');
    expect(verdictOf([e('not distinguishable'), e('not distinguishable')])).toBe('not distinguishable at this scale');
    expect(outcomeOf({ mean: 1, lo: 0.5, hi: 1.5, n: 3, level: 0.95 }, 'positive')).toBe('for');
    expect(outcomeOf({ mean: 1, lo: 0.5, hi: 1.5, n: 3, level: 0.95 }, 'negative')).toBe('against');
    expect(outcomeOf({ mean: 0, lo: 0, hi: 0, n: 3, level: 0.95 }, 'negative')).toBe('not distinguishable');
    expect(outcomeOf(null, 'negative')).toBe('insufficient data');
    expect(VERDICTS).toContain('not distinguishable at this scale');
  });
});

describe('formatting', () => {
  it('levels and signed differences', () => {
    expect([0.95, 0.975, 1 - 0.05 / 3, 0.99, 1 - 0.05 / 27, 1 - 1e-7].map(fmtLevel)).toEqual(['95%', '97.50%', '98.33%', '99%', '99.81%', '99.99%']);
    expect([fmtDiff(0.0015, 'accuracy'), fmtDiff(-0.02, 'accuracy'), fmtDiff(0, 'accuracy'), fmtDiff(0.25, 'value')]).toEqual(['+0.15', '-2.00', '0.00', '+0.250']);
    expect(fmtInterval(0.01, { mean: 0.01, lo: -0.005, hi: 0.025, n: 5, level: 0.95 }, 'accuracy')).toBe('+1.00 [-0.50, +2.50]');
    expect(fmtInterval(0.01, null, 'accuracy', 1)).toBe('+1.00 (1 seed, no interval)');
  });
});

describe('report', () => {
  it('writes report.md, results.json and SVG figures from records', async () => {
    const out = path.join(tmp, 'report');
    const rep = await writeReport(records(), out, { periods: 2 });
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    for (const h of ['## Findings', '## Accuracy per norm and batch size', '## Stability', '## Sensitivity to distortion', '## Optimization landscape per period', '## Environment']) {
      expect(md).toContain(h);
    }
    expect(md).toContain('### GN trains less stably than BN\n\nVerdict: **partly supported**.');
    expect(md).toContain('Each comparison pairs runs by seed.');
    expect(md).toContain('| training-loss std around its moving average (batch 16) | GN ');
    expect(md).toMatch(/\| GN \| 2 \| 6 \|/); // a period row: norm, period, seeds
    expect(md).toMatch(/GNPlus trained at batch 16: [\d.]+% test accuracy at eval batch 16; [\d.]+% at eval batch 2 \([-+][\d.]+ \[[-+][\d.]+, [-+][\d.]+\] points\)/);
    // The closing note: each claim, its verdict and its intervals.
    const closing = md.slice(md.indexOf('## Closing note: the verdicts'));
    for (const f of rep.findings) expect(closing).toContain(`- ${f.claim} — **${f.verdict}** (6 seeds; intervals at`);
    expect(closing).toMatch(/GNPlus beats GN at every batch size — \*\*supported\*\* \(6 seeds; intervals at 97\.50% each, 95% family-wise\): best test accuracy at batch 8: GNPlus − GN \+[\d.]+ \[\+[\d.]+, \+[\d.]+\] points;/);
    // Error bars: the sweep's and the sensitivity's intervals are in the figure data.
    const { accuracyVsBatchSpec, sensitivitySpec } = await import('./figures.js');
    const bars = (spec: unknown) => (spec as { data: { values: Array<{ lo?: number; hi?: number }> } }).data.values;
    expect(bars(accuracyVsBatchSpec(rep.tables.sweep)).every((v) => v.lo! < v.hi!)).toBe(true);
    expect(bars(sensitivitySpec(rep.tables.sensitivity)).every((v) => v.lo !== undefined)).toBe(true);
    // The landscape lines are seed means with a min–max band.
    const { landscapeMetricSpec } = await import('./figures.js');
    const gp = landscapeMetricSpec(rep.tables.landscape, 'gradPredictiveness', 'gradient predictiveness')!;
    expect((gp as { title: string }).title).toContain('line: mean over 6 seeds; band: min–max across seeds');
    expect(bars(gp).every((v) => v.lo! <= v.hi!)).toBe(true);
    expect(rep.figures).toEqual(expect.arrayContaining(['loss-curves', 'accuracy-vs-batch', 'landscape-loss-band', 'landscape-beta-smoothness', 'santurkar-loss-variation', 'sensitivity']));
    for (const f of rep.figures) {
      const svg = fs.readFileSync(path.join(out, 'figures', `${f}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('</svg>');
      expect(md).toContain(`figures/${f}.svg`);
    }
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(json.findings.length).toBe(rep.findings.length);
    expect(json.findings[0].evidence[0].interval).toMatchObject({ n: 6 });
    expect(new Set(json.findings.map((f: { verdict: string }) => f.verdict)).size).toBeGreaterThan(1);
    for (const f of json.findings) expect(VERDICTS).toContain(f.verdict);
  });
});

describe('progress', () => {
  it('shows runs done, the current run and the time left from the step rate', async () => {
    const { progressLine, fmtDuration } = await import('./progress.js');
    const line = progressLine({ runsDone: 3, runsTotal: 10, current: 'cnn-gn-b8', stepsDone: 100, stepsTotal: 400, elapsedSeconds: 50 }, 8);
    expect(line).toBe('[##......] 3/10 runs  cnn-gn-b8  50s elapsed, 2m30s left');
    expect(fmtDuration(3725)).toBe('1h02m');
  });
});

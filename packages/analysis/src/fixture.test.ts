/**
 * Report generation from a recorded smoke reproduction (test-utils/fixtures/smoke-results.jsonl,
 * written by `reproduce({profile: 'smoke'})`): the tables and verdicts are recomputed from the raw
 * records here and compared with what the report says.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from './report.js';
import { readResults } from './results.js';
import { normLabel } from './spec.js';
import { mean, std } from './stats.js';
import { verdictOf } from './verdicts.js';

const fixture = fileURLToPath(new URL('./test-utils/fixtures/smoke-results.jsonl', import.meta.url));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-fixture-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('report from a recorded smoke result', () => {
  it('states the numbers of the records and verdicts that follow from its evidence', async () => {
    const records = readResults(fixture);
    expect(records.length).toBe(40);
    const rep = await writeReport(records, out, { periods: 2 });
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');

    // Every sweep cell is the record's best test accuracy (one seed in smoke).
    for (const r of records.filter((x) => x.roles.includes('sweep'))) {
      const cell = rep.tables.sweep.find((c) => c.norm === normLabel(r.spec) && c.batchSize === r.spec.batchSize)!;
      expect(cell.best.mean).toBe(r.final.bestTestAccuracy);
      expect(md).toContain((100 * r.final.bestTestAccuracy).toFixed(2));
    }
    // The stability row of GN is the mean over its seeds of the records' within-run metrics.
    const gn = records.filter((r) => r.roles.includes('stability') && r.spec.norm === 'gn');
    const row = rep.tables.stability.find((s) => s.norm === 'GN')!;
    expect(row.seeds).toBe(gn.length);
    expect(row.lossStd).toBeCloseTo(mean(gn.map((r) => r.stability.lossStd)), 12);
    // Each sensitivity delta pairs a perturbed run with the clean run of the same seed.
    const add = rep.tables.sensitivity.find((s) => s.norm === 'BN' && s.perturbation === 'additive ×0.5')!;
    const pairs = [0, 1].map((seed) => {
      const clean = records.find((r) => r.spec.norm === 'bn' && r.spec.seed === seed && r.roles.includes('stability'))!;
      const pert = records.find((r) => r.spec.norm === 'bn' && r.spec.seed === seed && r.spec.distortion?.kind === 'additive')!;
      return pert.final.testAccuracy - clean.final.testAccuracy;
    });
    expect(add.deltaAccuracy.mean).toBeCloseTo(mean(pairs), 12);
    // Each stability cell is GN − BN paired by seed, with the Bonferroni t interval of its claim.
    const cell = rep.findings.find((f) => f.id === 'gn-less-stable')!.evidence.find((e) => e.what.startsWith('training-loss std'))!;
    const bySeed = (norm: string) => records.filter((r) => r.roles.includes('stability') && r.spec.norm === norm).sort((a, b) => a.spec.seed - b.spec.seed);
    const diffs = bySeed('gn').map((g, i) => g.stability.lossStd - bySeed('bn')[i].stability.lossStd);
    expect(cell.seeds).toEqual([0, 1]);
    expect(cell.differences).toEqual(diffs);
    expect(cell.interval!.level).toBeCloseTo(1 - 0.05 / 3, 15);
    // t(1 − 0.05/6, 1) = tan(π(0.5 − 0.05/6)) (one degree of freedom: the Cauchy quantile).
    expect(cell.interval!.hi - cell.interval!.mean).toBeCloseTo((Math.tan(Math.PI * (0.5 - 0.05 / 6)) * std(diffs)) / Math.sqrt(2), 12);
    // Verdicts follow from their evidence (or parts), and the report prints each.
    for (const f of rep.findings) {
      expect(f.verdict).toBe(verdictOf(f.parts ?? f.evidence));
      expect(md).toContain(`### ${f.claim}\n\nVerdict: **${f.verdict}**`);
    }
    // One sweep seed and one landscape seed: those claims cannot be decided.
    for (const id of ['GNPlus-beats-gn', 'gn-helps-in-a-period-paper']) expect(rep.findings.find((f) => f.id === id)!.verdict).toBe('insufficient data');
    expect(rep.findings.map((f) => f.id)).toEqual([
      'gn-less-stable',
      'gn-more-sensitive',
      'gn-helps-in-a-period-paper',
      'gn-helps-in-a-period-santurkar',
      'GNPlus-beats-gn',
      'GNPlus-more-stable',
      'HybridNorm-beats-gn',
      'HybridNorm-more-stable',
    ]);
    // The landscape table has both protocols for every norm and period, and `none` as the reference.
    expect(rep.tables.periods.filter((p) => p.norm === 'none').every((p) => p.helpsPaper === null)).toBe(true);
    expect(rep.tables.periods.filter((p) => p.norm !== 'none').every((p) => p.helpsPaper !== null && p.helpsSanturkar !== null)).toBe(true);
    expect(rep.figures.length).toBe(9);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getProfile, planRuns } from './profiles.js';
import { analyzeRecords, writeReport } from './report.js';
import { DEFAULT_TRAITS, fakeExecutor } from './test-utils/fake.js';
import { verdictOf } from './verdicts.js';
import type { RunRecord } from './types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-analysis-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function records(traits = DEFAULT_TRAITS): RunRecord[] {
  const exec = fakeExecutor(traits);
  return planRuns(getProfile('smoke')).map((p) => exec(p, { onStep: () => {} }));
}

describe('verdicts', () => {
  it('supports each claim when the data go the claimed way', () => {
    const a = analyzeRecords(records(), 2);
    const v = Object.fromEntries(a.findings.map((f) => [f.id, f.verdict]));
    expect(v['gn-less-stable']).toBe('supported');
    expect(v['gn-more-sensitive']).toBe('supported');
    expect(v['gn-helps-in-a-period-paper']).toBe('supported');
    expect(v['GNPlus-beats-gn']).toBe('supported');
    expect(v['HybridNorm-more-stable']).toBe('supported');
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
    expect(v['gn-helps-in-a-period-paper']).not.toBe('supported');
    expect(v['GNPlus-beats-gn']).toBe('contradicted');
    expect(v['HybridNorm-more-stable']).toBe('contradicted');
  });
  it('grades partial agreement', () => {
    const e = (s: boolean | null) => ({ what: '', values: {}, supports: s, beyondNoise: null });
    expect(verdictOf([])).toBe('insufficient data');
    expect(verdictOf([e(true), e(true), e(false)])).toBe('mostly supported');
    expect(verdictOf([e(true), e(false)])).toBe('mixed');
    expect(verdictOf([e(null), e(false)])).toBe('contradicted');
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
    expect(md).toMatch(/GN trains less stably than BN\*\* — verdict: \*\*supported\*\*/);
    expect(md).toMatch(/\| GN \| 2 \|/); // a period row
    expect(md).toContain('GNPlus trained at batch 16');
    expect(rep.figures).toEqual(expect.arrayContaining(['loss-curves', 'accuracy-vs-batch', 'landscape-loss-band', 'landscape-beta-smoothness', 'santurkar-loss-variation', 'sensitivity']));
    for (const f of rep.figures) {
      const svg = fs.readFileSync(path.join(out, 'figures', `${f}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('</svg>');
      expect(md).toContain(`figures/${f}.svg`);
    }
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(json.findings.length).toBe(rep.findings.length);
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

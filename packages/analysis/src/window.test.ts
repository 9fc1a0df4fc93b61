/**
 * The window ablation: the plan it adds, the switch in real training (normalization live in one
 * period only), the table and sentences of the report, and the runner's option.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataLoader, syntheticImages, toFloat } from '@normlab/datasets';
import { buildModel, train } from '@normlab/models';
import { BatchNorm2d } from '@normlab/norm-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisError } from './errors.js';
import { attachWindow, executeRun } from './execute.js';
import { getProfile, planRuns, withWindowAblation } from './profiles.js';
import { analyzeRecords, writeReport } from './report.js';
import { reproduce } from './runner.js';
import { DEFAULT_TRAITS, fakeExecutor } from './test-utils/fake.js';
import type { RunRecord } from './types.js';
import { windowStatements, windowTable } from './window.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-window-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const fakeRecords = (profile = getProfile('smoke')): RunRecord[] => {
  const exec = fakeExecutor(DEFAULT_TRAITS);
  return planRuns(profile).map((p) => exec(p, { onStep: () => {} }));
};

describe('window ablation plan', () => {
  it('adds one run per norm and live period, sharing the always-on references with the analysis runs', () => {
    const plan = planRuns(getProfile('smoke'));
    const win = plan.filter((p) => p.spec.window);
    expect(win.map((p) => `${p.spec.norm}:${p.spec.window!.live}/${p.spec.window!.periods}`)).toEqual(['bn:1/2', 'bn:2/2', 'gn:1/2', 'gn:2/2']);
    expect(win.every((p) => p.id.includes(`-w${p.spec.window!.live}of2-`) && p.roles.join() === 'window')).toBe(true);
    // The references: the stability runs of seed 0 (one run, two roles) and an unnormalized run.
    const refs = plan.filter((p) => !p.spec.window && p.roles.includes('window'));
    expect(refs.map((p) => p.spec.norm)).toEqual(['bn', 'gn', 'none']);
    expect(refs[0]!.roles).toEqual(['stability', 'sensitivity', 'window']);
    expect(new Set(plan.map((p) => p.id)).size).toBe(plan.length);

    const quick = getProfile('quick');
    expect(quick.window.enabled).toBe(false);
    expect(planRuns(quick).some((p) => p.roles.includes('window'))).toBe(false);
    const quickOn = planRuns(withWindowAblation(quick, true));
    expect(quickOn.length - planRuns(quick).length).toBe(4 * 3 + 1);
    expect(getProfile('full').window.enabled).toBe(true);
  });

  it('rejects a window ablation that cannot be run', () => {
    const p = getProfile('smoke');
    expect(() => planRuns({ ...p, periods: 1 })).toThrow(/at least 2 periods, got 1/);
    expect(() => planRuns({ ...p, window: { ...p.window, norms: [{ norm: 'none' }] } })).toThrow(AnalysisError);
    expect(() => withWindowAblation(p, 'yes' as unknown as boolean)).toThrow(AnalysisError);
  });
});

describe('window switch in training', () => {
  it('keeps normalization live in its period only: BN statistics advance exactly there', () => {
    const data = syntheticImages({ split: 'train', seed: 0, n: 72, height: 12, width: 12 });
    const loader = new DataLoader(data, { batchSize: 8, shuffle: true, seed: 0, dropLast: true, transforms: [toFloat()] });
    const totalSteps = 9;
    for (const live of [1, 2, 3]) {
      const model = buildModel({ name: 'cnn', norm: 'bn', width: 0.25, inChannels: data.channels, numClasses: data.numClasses, seed: 0 });
      const bns = model.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
      expect(bns.length).toBeGreaterThan(0);
      const sw = attachWindow(model, { live, periods: 3 }, totalSteps);
      const modes: boolean[] = [];
      train({
        model,
        trainLoader: loader,
        epochs: 1,
        optimizer: 'adam',
        lr: 1e-3,
        onAfterBackward: () => modes.push(bns[0]!.normalize),
        onStep: (m) => sw.stepDone(m.step),
      });
      expect(modes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => Math.floor(i / 3) === live - 1));
      for (const bn of bns) {
        expect(bn.numBatchesTracked).toBe(3);
        expect(bn.normalize).toBe(live === 3);
      }
    }
    const plain = buildModel({ name: 'cnn', norm: 'none', width: 0.25, inChannels: 1, numClasses: 10, seed: 0 });
    expect(() => attachWindow(plain, { live: 1, periods: 2 }, 4)).toThrow(/no norm layer/);
    expect(() => attachWindow(plain, { live: 3, periods: 2 }, 4)).toThrow(/live period in 1..periods/);
  });

  it('a run live in period 1 trains as the always-on run there and differently after', async () => {
    const plan = planRuns(getProfile('smoke'));
    const onRun = plan.find((p) => p.spec.norm === 'gn' && p.roles.includes('window') && !p.spec.window)!;
    const winRun = plan.find((p) => p.spec.norm === 'gn' && p.spec.window?.live === 1)!;
    const [on, win] = [await executeRun(onRun, { onStep: () => {} }), await executeRun(winRun, { onStep: () => {} })];
    const n = on.steps.loss.length;
    const firstPeriod = Math.ceil(n / 2);
    expect(win.steps.loss.slice(0, firstPeriod)).toEqual(on.steps.loss.slice(0, firstPeriod));
    expect(win.steps.loss[firstPeriod]).not.toBe(on.steps.loss[firstPeriod]);
    expect(win.status).toBe('ok');
  });
});

describe('window ablation table and report', () => {
  it('states each norm × live period against the always-on and never-on references', async () => {
    const records = fakeRecords();
    const rows = windowTable(records);
    expect(rows.map((r) => r.norm)).toEqual(['BN', 'GN']);
    const acc = (pred: (r: RunRecord) => boolean) => records.find(pred)!.final.testAccuracy;
    for (const row of rows) {
      const norm = row.norm.toLowerCase();
      expect(row.live.map((s) => s.mean)).toEqual([1, 2].map((k) => acc((r) => r.spec.norm === norm && r.spec.window?.live === k)));
      expect(row.alwaysOn!.mean).toBe(acc((r) => r.spec.norm === norm && !r.spec.window && r.spec.seed === 0 && !r.spec.distortion && !r.spec.regularizer && r.roles.includes('stability')));
      expect(row.neverOn!.mean).toBe(acc((r) => r.spec.norm === 'none' && r.roles.includes('window')));
      expect(row.recovered).toBeCloseTo((row.live[row.best - 1]!.mean - row.neverOn!.mean) / (row.alwaysOn!.mean - row.neverOn!.mean), 12);
    }
    // The fake's traits: BN gains most from period 1, GN from period 2.
    expect(rows.map((r) => r.best)).toEqual([1, 2]);
    const sentences = windowStatements(rows);
    expect(sentences[0]).toMatch(/^BN: of its 2 single-period windows, normalization live in period 1 gives the highest final test accuracy/);
    expect(sentences[1]).toContain('GN: of its 2 single-period windows, normalization live in period 2');
    expect(sentences[2]).toBe('The window that matters most differs by norm: BN period 1, GN period 2 (of 2).');

    const out = path.join(tmp, 'report');
    const rep = await writeReport(records, out, { periods: 2, figures: false });
    expect(rep.markdown).toContain('## Window ablation');
    expect(rep.markdown).toContain('| norm | seeds | live in period 1 | live in period 2 | always on | never on (none) | best window |');
    expect(rep.markdown).toMatch(/\| GN \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| period 2 \|/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')).tables.window.length).toBe(2);

    // A norm with a window missing (a partial reproduction) gets no row; no window runs, no section.
    expect(windowTable(records.filter((r) => !(r.spec.norm === 'gn' && r.spec.window?.live === 2))).map((r) => r.norm)).toEqual(['BN']);
    expect(analyzeRecords(records.filter((r) => !r.spec.window), 2).window).toEqual([]);
  });

  it('pairs each window with never-on and the runner-up by seed, with 95% intervals', () => {
    const smoke = getProfile('smoke');
    const seeds = [0, 1, 2];
    const records = fakeRecords({ ...smoke, analysis: { ...smoke.analysis, seeds }, window: { ...smoke.window, seeds } });
    const rows = windowTable(records);
    for (const row of rows) {
      expect(row.seeds).toBe(3);
      // live in period k − never on, per seed, from the records.
      const acc = (pred: (r: RunRecord) => boolean) => seeds.map((seed) => records.find((r) => r.spec.seed === seed && pred(r))!.final.testAccuracy);
      const none = acc((r) => r.spec.norm === 'none' && r.roles.includes('window'));
      const live1 = acc((r) => r.spec.norm === row.norm.toLowerCase() && r.spec.window?.live === 1);
      const d = live1.map((x, i) => x - none[i]);
      expect(row.vsNone![0].seeds).toBe(3);
      expect(row.vsNone![0].interval!.mean).toBeCloseTo(d.reduce((a, b) => a + b) / 3, 12);
      expect(row.vsNone![0].interval!.level).toBe(0.95);
      expect(row.beatsNone).toEqual(row.vsNone!.flatMap((v, i) => (v.interval!.lo > 0 ? [i + 1] : [])));
      expect(row.margin.interval!.n).toBe(3);
    }
    expect(windowStatements(rows)[0]).toMatch(/over the runner-up by \+[\d.]+ \[[-+][\d.]+, \+[\d.]+\] points \(paired by seed, 95% interval, 3 seeds: (distinguishable|not distinguishable at this scale)\)/);
    // One seed: no interval, and the statement says so.
    expect(windowStatements(windowTable(fakeRecords()))[0]).toContain('(1 seed: no interval)');
  });

  it('the runner option switches it on for a profile that has it off, reusing finished references', async () => {
    const out = path.join(tmp, 'runner');
    const exec = fakeExecutor(DEFAULT_TRAITS);
    const off = await reproduce({ profile: 'smoke', outDir: out, executor: exec, figures: false, progress: false, windowAblation: false });
    expect(off.records.some((r) => r.spec.window)).toBe(false);
    expect(off.report!.markdown).not.toContain('## Window ablation');
    const on = await reproduce({ profile: 'smoke', outDir: out, executor: exec, figures: false, progress: false, windowAblation: true });
    // Only the window runs and the unnormalized reference are new; the stability runs serve as references.
    expect(on.ran.length).toBe(5);
    expect(on.records.find((r) => r.spec.norm === 'bn' && !r.spec.window && r.roles.includes('stability') && r.spec.seed === 0)!.roles).toContain('window');
    expect(on.report!.tables.window.every((r) => r.alwaysOn !== null && r.neverOn !== null)).toBe(true);
  });
});

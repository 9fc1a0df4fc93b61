/**
 * Selections of a profile's plan: the filters keep exactly the runs they name, the epochs override
 * makes other runs, a filter the profile cannot satisfy is an `AnalysisError` naming what it has;
 * shards of a selection merge into the records of one process, and the report states the scale.
 * On the smoke profile with the deterministic stand-in for training.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisError } from './errors.js';
import { getProfile, planRuns, withWindowAblation } from './profiles.js';
import { mergeReproduction, reproduce, reproductionPlan, runCostEstimate, shardOf } from './runner.js';
import { formatIntList, parseVariant, selectRuns, selectionFlags, variantName, withEpochs } from './selection.js';
import { fakeExecutor } from './test-utils/fake.js';
import type { Selection } from './types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-selection-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const quiet = { figures: false, progress: false } as const;

describe('selectRuns', () => {
  it('keeps exactly the runs of the selected roles, norms, sweep batch sizes and seeds, with their roles cut to the selected ones', () => {
    const smoke = getProfile('smoke');
    const all = planRuns(smoke);
    const { selection, runs } = selectRuns(smoke, { roles: ['stability', 'sweep', 'sensitivity'], norms: ['GN', 'bn', 'gnplus', 'bn'], batchSizes: [32], seeds: [1, 0] });
    // Canonical: deduplicated, ordered, GN+ with its order.
    expect(selection).toEqual({ roles: ['sweep', 'stability', 'sensitivity'], norms: ['bn', 'gn', 'gnplus:gn-first'], batchSizes: [32], seeds: [0, 1] });
    const expected = all.flatMap((r) => {
      const roles = r.roles.filter((role) => ['sweep', 'stability', 'sensitivity'].includes(role) && (role !== 'sweep' || r.spec.batchSize === 32));
      const normOk = ['bn', 'gn'].includes(r.spec.norm) || (r.spec.norm === 'gnplus' && r.spec.order === 'gn-first');
      return normOk && roles.length ? [{ ...r, roles }] : [];
    });
    expect(runs).toEqual(expected);
    // What that is on smoke: the sweep's batch-32 runs of 3 norms (1 seed), the analysis runs of 3 norms × 2 seeds, BN's and GN's sensitivity runs.
    const count = (role: string) => runs.filter((r) => r.roles.includes(role as never)).length;
    expect([count('sweep'), count('stability'), count('sensitivity')]).toEqual([3, 6, 2 * 2 * (1 + 2 + 2)]);
    expect(runs.some((r) => r.spec.norm === 'hybrid' || r.spec.norm === 'none' || r.roles.includes('landscape') || r.roles.includes('window'))).toBe(false);
    // The stability run of GN at seed 0 is also a sensitivity pair's clean run; without sensitivity, it serves stability only.
    const only = selectRuns(smoke, { roles: ['stability'], norms: ['gn'], seeds: [0] }).runs;
    expect(only.map((r) => r.roles)).toEqual([['stability']]);
    expect(all.find((r) => r.id === only[0]!.id)!.roles).toEqual(['stability', 'sensitivity', 'window']);
  });

  it('without filters is the whole plan; an epochs override makes other runs, with other ids', () => {
    const smoke = getProfile('smoke');
    expect(selectRuns(smoke)).toEqual({ selection: undefined, runs: planRuns(smoke) });
    expect(selectRuns(smoke, {})).toEqual({ selection: undefined, runs: planRuns(smoke) });
    const { selection, runs } = selectRuns(smoke, { epochs: 2, roles: ['sweep'] });
    expect(selection).toEqual({ roles: ['sweep'], epochs: 2 });
    expect(runs).toEqual(planRuns(withEpochs(smoke, 2)).filter((r) => r.roles.includes('sweep')).map((r) => ({ ...r, roles: ['sweep'] })));
    expect(runs.every((r) => r.spec.epochs === 2)).toBe(true);
    const ids = new Set(planRuns(smoke).map((r) => r.id));
    expect(runs.some((r) => ids.has(r.id))).toBe(false);
  });

  it('names variants one way, and reads the selection back as flags', () => {
    expect(parseVariant('gnplus')).toEqual({ norm: 'gnplus', order: 'gn-first' });
    expect(parseVariant('GNPlus:bn-first')).toEqual({ norm: 'gnplus', order: 'bn-first' });
    expect(variantName({ norm: 'gnplus' })).toBe('gnplus:gn-first');
    expect(variantName({ norm: 'hybrid' })).toBe('hybrid');
    expect(formatIntList([4, 0, 1, 2, 3, 7, 9, 10])).toBe('0-4,7,9,10');
    const s: Selection = { roles: ['sweep'], norms: ['bn', 'gnplus:gn-first'], batchSizes: [2, 8], seeds: [0, 1, 2], epochs: 3 };
    expect(selectionFlags(s)).toBe('--roles sweep --norms bn,gnplus:gn-first --batch-sizes 2,8 --seeds 0-2 --epochs 3');
  });

  it('a filter the profile cannot satisfy is an AnalysisError naming what it has', () => {
    const smoke = getProfile('smoke');
    const bad: Array<[Selection, RegExp]> = [
      [{ norms: ['bgn'] }, /^selectRuns: norms: the smoke profile on synthetic has no bgn runs; it has bn, gn, gnplus:gn-first, hybrid, none$/],
      [{ norms: ['gnplus:parallel'] }, /has no gnplus:parallel runs; it has bn, gn, gnplus:gn-first, hybrid, none$/],
      [{ norms: ['gnplus:sideways'] }, /^selectRuns: norms: "gnplus:sideways" is not a norm; expected one of bn, gn, ln, in, gnplus, hybrid, bgn, none, with GN\+'s order as gnplus:gn-first, gnplus:bn-first, gnplus:parallel/],
      [{ batchSizes: [16] }, /^selectRuns: batchSizes: the sweep of the smoke profile on synthetic has no batch size 16; it has 8, 32$/],
      [{ roles: ['stability'], batchSizes: [8] }, /batchSizes: the batch sizes select among the sweep's runs, and the selected roles \(stability\) leave out the sweep/],
      [{ seeds: [0, 5] }, /^selectRuns: seeds: the smoke profile on synthetic has no runs of seed 5; its seeds are 0,1$/],
      [{ roles: ['landscape'], norms: ['hybrid'] }, /^selectRuns: the selection --roles landscape --norms hybrid leaves no run of the smoke profile on synthetic; it has sweep runs of bn, gn, gnplus:gn-first, hybrid; .*landscape runs of bn, gn, gnplus:gn-first, none/],
      [{ epochs: 0 }, /^selectRuns: epochs must be an integer >= 1, got 0$/],
      [{ roles: [] }, /^selectRuns: roles: .*expected \{roles\?, norms\?, batchSizes\?, seeds\?, epochs\?\}, each list non-empty$/],
      [{ roles: ['sweeps' as never] }, /^selectRuns: roles\.0: /],
    ];
    for (const [selection, message] of bad) {
      let caught: unknown;
      try {
        selectRuns(smoke, selection);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(selection)).toBeInstanceOf(AnalysisError);
      expect((caught as Error).message, JSON.stringify(selection)).toMatch(message);
    }
    expect(() => selectRuns(withWindowAblation(getProfile('quick'), false), { roles: ['window'] })).toThrow(/roles: the quick profile on mnist has no window runs \(its window ablation is off\); it has sweep, stability, sensitivity, landscape$/);
  });
});

describe('shards of a selection', () => {
  it('deal by estimated cost: round-robin when runs cost the same, no shard stuck with the small batches', () => {
    // Equal costs (one batch size, one setup): round-robin.
    const even = selectRuns(getProfile('smoke'), { roles: ['sweep'], batchSizes: [8] }).runs;
    for (const index of [0, 1, 2]) expect(shardOf(even, { index, count: 3 })).toEqual(even.filter((_, j) => j % 3 === index));
    // One norm at batch 2 and 128: by position, shard 0 of 2 would get every batch-2 run.
    const runs = selectRuns(getProfile('standard', 'fashion-mnist'), { roles: ['sweep'], norms: ['gn'], batchSizes: [2, 128] }).runs;
    expect(runs.filter((_, j) => j % 2 === 0).every((r) => r.spec.batchSize === 2)).toBe(true);
    const shards = [0, 1].map((index) => shardOf(runs, { index, count: 2 }));
    expect(shards.flat().map((r) => r.id).sort()).toEqual(runs.map((r) => r.id).sort());
    for (const s of shards) expect(s).toEqual(runs.filter((r) => s.includes(r))); // plan order
    const load = shards.map((s) => s.reduce((n, r) => n + runCostEstimate(r.spec), 0));
    // List scheduling: the loads differ by at most one run's cost.
    expect(Math.abs(load[0]! - load[1]!)).toBeLessThanOrEqual(Math.max(...runs.map((r) => runCostEstimate(r.spec))));
    for (const s of shards) expect(s.filter((r) => r.spec.batchSize === 2).length).toBeGreaterThanOrEqual(2);
    // The first run of each shard is one of the plan's first `count` runs.
    expect(shards.map((s) => s[0]!.id)).toEqual(runs.slice(0, 2).map((r) => r.id));
  });

  it('merge into the records of one process; the plan records the selection, and a shard with another is refused', async () => {
    const selection: Selection = { roles: ['sweep', 'stability'], norms: ['bn', 'gn', 'gnplus'], seeds: [0, 1] };
    const single = path.join(tmp, 'single');
    const one = await reproduce({ profile: 'smoke', selection, outDir: single, executor: fakeExecutor(), ...quiet });
    expect(one.complete).toBe(true);
    expect(one.plan.selection).toEqual({ roles: ['sweep', 'stability'], norms: ['bn', 'gn', 'gnplus:gn-first'], seeds: [0, 1] });
    expect(one.plan.runs).toEqual(reproductionPlan({ profile: 'smoke', selection }).plan.runs);
    // The sweep's 2 batch sizes × 3 norms (smoke's sweep has seed 0 only), the stability runs of 3 norms × 2 seeds.
    expect(one.plan.runs.length).toBe(2 * 3 + 3 * 2);

    const shared = path.join(tmp, 'shared');
    const shards = [];
    for (const index of [0, 1]) shards.push(await reproduce({ profile: 'smoke', selection, outDir: shared, executor: fakeExecutor(), shard: { index, count: 2 }, ...quiet }));
    expect(shards[0]!.report).toBeNull();
    expect(shards[1]!.complete).toBe(true);
    const names = (d: string) => fs.readdirSync(path.join(d, 'runs')).sort();
    expect(names(shared)).toEqual(names(single));
    for (const n of names(single)) expect(fs.readFileSync(path.join(shared, 'runs', n), 'utf8')).toBe(fs.readFileSync(path.join(single, 'runs', n), 'utf8'));
    expect(fs.readFileSync(path.join(shared, 'plan.json'), 'utf8')).toBe(fs.readFileSync(path.join(single, 'plan.json'), 'utf8'));
    const merged = await mergeReproduction(shared, { reportDir: path.join(tmp, 'merged'), figures: false });
    expect(merged.records).toEqual(one.records);
    expect(merged.report!.tables).toEqual(one.report!.tables);
    expect(merged.report!.findings).toEqual(one.report!.findings);

    // The same flags in another order are the same selection; another selection is refused.
    await reproduce({ profile: 'smoke', selection: { seeds: [1, 0], norms: ['gnplus:gn-first', 'gn', 'bn'], roles: ['stability', 'sweep'] }, outDir: shared, executor: fakeExecutor(), shard: { index: 0, count: 2 }, ...quiet });
    await expect(reproduce({ profile: 'smoke', selection: { ...selection, seeds: [0] }, outDir: shared, executor: fakeExecutor(), shard: { index: 0, count: 2 }, ...quiet })).rejects.toThrow(
      /plan\.json holds another plan \(profile smoke on synthetic \(selection --roles sweep,stability --norms bn,gn,gnplus:gn-first --seeds 0,1\), 12 runs; this one: smoke on synthetic \(selection --roles sweep,stability --norms bn,gn,gnplus:gn-first --seeds 0\), 9 runs, 3 differing\)/,
    );
  });
});

describe('the report of a selection', () => {
  it('states the scale, and gives claims whose runs were not selected insufficient data with the reason', async () => {
    const out = path.join(tmp, 'report');
    const selection: Selection = { roles: ['sweep'], norms: ['bn', 'gn', 'gnplus'], batchSizes: [8], epochs: 2 };
    const res = await reproduce({ profile: 'smoke', selection, outDir: out, executor: fakeExecutor(), ...quiet });
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    const flags = '--roles sweep --norms bn,gn,gnplus:gn-first --batch-sizes 8 --epochs 2';
    expect(md).toMatch(/^# normlab reproduction — smoke profile \(a selection\), synthetic\n/);
    expect(md).toContain(`## Scale\n\nWhat was run: a selection of the smoke profile on synthetic, \`${flags}\`. The epochs override makes these other runs than the profile's (every spec, and so every run id, has 2 epochs).`);
    expect(md).toContain(`| selection | \`${flags}\` |`);
    expect(md).toContain('| runs | 3 of 3 planned (sweep 3) |');
    expect(md).toContain('| seeds | 0 |');
    expect(md).toContain('| epochs per run | 2 |');
    const steps = res.records.reduce((n, r) => n + r.steps.loss.length, 0);
    expect(md).toContain(`| training steps | ${steps} |`);
    expect(md).toMatch(/\| CPU time \| \d+ s \|/);
    expect(md).toMatch(/\| wall time \| \d+ s run after run; \d+ s from the first start to the last finish \|/);
    expect(md).toContain('| backend | cpu |');
    const scale = (JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { scale: Record<string, unknown> }).scale;
    expect(scale).toMatchObject({ profile: 'smoke', dataset: 'synthetic', selection: { roles: ['sweep'], norms: ['bn', 'gn', 'gnplus:gn-first'], batchSizes: [8], epochs: 2 }, planned: 3, recorded: 3, seeds: [0], epochs: [2], steps, timed: 3, cpuTimed: 3, backends: ['cpu'] });

    const summary = Object.fromEntries(res.report!.findings.map((f) => [f.id, `${f.verdict}: ${f.summary}`]));
    expect(summary['gn-less-stable']).toBe('insufficient data: Insufficient data: no stability runs in this selection.');
    expect(summary['gn-more-sensitive']).toBe('insufficient data: Insufficient data: no sensitivity runs in this selection.');
    expect(summary['gn-helps-in-a-period-paper']).toBe(
      "insufficient data: Insufficient data: no landscape runs in this selection; the claim compares BN's and GN's landscapes with the unnormalized network's.",
    );
    expect(summary['GNPlus-more-stable']).toBe('insufficient data: Insufficient data: no stability runs in this selection.');
    // One seed: the sweep claim has its cell, without an interval.
    expect(summary['GNPlus-beats-gn']).toMatch(/^insufficient data: Insufficient data: 0 of 1 cells for the claim, .*1 without two paired seeds/);
    expect(md).toContain('_No stability runs in this selection._');

    // Some landscape runs, but not the unnormalized network's: the reason names what is missing.
    const land = await reproduce({ profile: 'smoke', selection: { roles: ['landscape'], norms: ['bn', 'gn'] }, outDir: path.join(tmp, 'landscape'), executor: fakeExecutor(), ...quiet });
    expect(land.report!.findings.find((f) => f.id === 'gn-helps-in-a-period-paper')!.summary).toBe(
      "Insufficient data: no landscape runs of the unnormalized network (none) in this selection; the claim compares BN's and GN's landscapes with the unnormalized network's.",
    );
    // The whole profile: no selection stated.
    const whole = await reproduce({ profile: 'smoke', outDir: path.join(tmp, 'whole'), executor: fakeExecutor(), maxRuns: 2, ...quiet });
    expect(whole.report!.markdown).toContain('What was run: the whole smoke profile on synthetic.');
    expect(whole.report!.markdown).toContain('| runs | 2 of 45 planned (stability 2, sensitivity 2, window 2) |');
  });
});

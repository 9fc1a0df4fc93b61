/**
 * The cost estimate's arithmetic, on clocks the test controls: every training step costs 1 ms of
 * wall time, a probe 2 ms more, the evaluations after the last step 10 ms, and the CPU clock runs
 * at three times the wall clock (three busy threads). No real clock is read.
 */
import { describe, expect, it } from 'vitest';
import { costSampleSpec, estimateProfileCost, formatProfileCost, priceProfile } from './cost.js';
import { getProfile, planRuns, plannedSteps } from './profiles.js';
import type { Executor } from './runner.js';
import { fakeExecutor } from './test-utils/fake.js';

describe('estimateProfileCost', () => {
  it('extrapolates the measured rates to every planned step, probe and test image', async () => {
    let now = 0;
    const fake = fakeExecutor();
    const executor: Executor = (run, ctx) => {
      const rec = fake(run, { onStep: (s, total) => ((now += run.spec.probes && s % 2 === 0 ? 3 : 1), ctx.onStep(s, total)) });
      now += 10;
      return rec;
    };
    const profile = getProfile('smoke');
    const sizes = { train: 10_000, test: 500 };
    const samples: string[] = [];
    const cost = await estimateProfileCost(profile, { executor, clock: () => now, cpuClock: () => 3 * now, sizes, timedSteps: 6, warmupSteps: 2, testImages: 40, rounds: 2, onSample: (_d, _t, label) => samples.push(label) });
    const plan = planRuns(profile);
    expect(cost.runs).toBe(plan.length);
    expect(cost.steps).toBe(plan.reduce((n, r) => n + plannedSteps(r.spec, sizes.train), 0));
    // Runs that cost the same per step share a sample: fewer classes than runs, each sampled once per round.
    expect(cost.classes.length).toBeLessThan(plan.length);
    expect(samples.length).toBe(2 * cost.classes.length);
    const round = (xs: number[]) => xs.map((x) => +x.toFixed(12));
    for (const c of cost.classes) {
      expect(round(c.wall.perStep)).toEqual([0.001, 0.001]);
      expect(round(c.cpu.perStep)).toEqual([0.003, 0.003]);
      expect(round(c.wall.perEvalImage)).toEqual([0.01 / 80, 0.01 / 80]); // 10 ms over two passes of 40 images
      if (c.wall.perProbe) expect(round(c.wall.perProbe)).toEqual([0.002, 0.002]);
    }
    expect(cost.classes.some((c) => c.cpu.perProbe)).toBe(true);
    // The total: 1 ms a step, 2 ms a probe, 0.125 ms a test image (the epochs' evaluations, the final one, noise and eval batches).
    let seconds = 0;
    for (const { spec } of plan) {
      const steps = plannedSteps(spec, sizes.train);
      const probes = spec.probes ? Math.floor(steps / spec.probes.santurkarEvery) : 0;
      const passes = spec.epochs + 1 + (spec.evalNoise?.length ?? 0) + (spec.evalBatchSizes?.length ?? 0);
      seconds += 0.001 * steps + 0.002 * probes + (0.01 / 80) * passes * Math.min(spec.testLimit, sizes.test);
    }
    expect(cost.wallHours.median).toBeCloseTo(seconds / 3600, 12);
    expect(cost.wallHours.min).toBeCloseTo(cost.wallHours.max, 12);
    expect(cost.cpuHours.median).toBeCloseTo((3 * seconds) / 3600, 12);
    const byRole = Object.values(cost.byRole).reduce((a, r) => a + r!.cpuHours, 0);
    expect(byRole).toBeCloseTo(cost.cpuHours.median, 12);
    expect(cost.sweepByBatch.map((b) => b.batchSize)).toEqual([8, 32]);
    // The records' size, extrapolated from the samples, against the records the runs really write.
    const written = plan.reduce((n, run) => n + JSON.stringify(fake(run, { onStep: () => {} })).length + 1, 0);
    expect(Math.abs(cost.recordBytes - written) / written).toBeLessThan(0.1);
    // Pricing the same profile again gives the same hours; a profile with a class the estimate never sampled is refused.
    const again = await priceProfile(cost, profile, { sizes });
    expect(again.cpuHours.median).toBeCloseTo(cost.cpuHours.median, 12);
    expect(again.runs).toBe(plan.length);
    await expect(priceProfile(cost, getProfile('quick'), { sizes })).rejects.toThrow(/whose class \(cnn×0\.5 [^)]*\) the estimate did not sample/);
    const md = formatProfileCost(cost);
    expect(md).toContain(`Profile smoke on synthetic: ${plan.length} runs`);
    expect(md).toMatch(/\| cnn×0.25 bn b8 sgd \| 1 \| 24 \| 3\.00 \(3\.00–3\.00\) \| — \| [\d.]+ \([\d.]+–[\d.]+\) \| 1\.00 \(1\.00–1\.00\) \|/);
  });

  it('samples one short epoch without extra evaluations, probing every other step', () => {
    const landscape = planRuns(getProfile('quick')).find((r) => r.spec.probes && r.spec.evalNoise === undefined)!.spec;
    const s = costSampleSpec({ ...landscape, evalNoise: [0.1], window: { live: 1, periods: 3 } }, 23, 200);
    expect(s).toMatchObject({ epochs: 1, trainLimit: landscape.batchSize * 23, testLimit: 200, probes: { santurkarEvery: 2, multipliers: landscape.probes!.multipliers } });
    expect(s.evalNoise).toBeUndefined();
    expect(s.window).toBeUndefined();
  });

  it('rejects settings that cannot time anything', async () => {
    await expect(estimateProfileCost(getProfile('smoke'), { timedSteps: 1 })).rejects.toThrow(/timedSteps must be an integer >= 2, got 1/);
    await expect(estimateProfileCost(getProfile('smoke'), { warmupSteps: 0 })).rejects.toThrow(/warmupSteps must be an integer >= 1/);
  });
});

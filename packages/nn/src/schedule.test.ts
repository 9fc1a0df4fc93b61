import { zeros } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { Parameter } from './module.js';
import { SGD } from './optim.js';
import { CosineAnnealingLR, type LRScheduler, LinearWarmup, MultiStepLR, ScheduleError, StepLR } from './schedule.js';

/*
 * Expected lrs from /usr/bin/python3 + torch 1.13: SGD([p], lr=0.1), then for each epoch
 * record opt.param_groups[0]['lr'], opt.step(), sched.step().
 */
const TORCH = {
  step: [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125], // StepLR(3, gamma=0.5)
  multistep: [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001], // MultiStepLR([2, 5], gamma=0.1)
  // CosineAnnealingLR(T_max=10, eta_min=0.001)
  cosine: [
    0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011,
    0.02140463001152259, 0.010453658778440109, 0.0034227024433899004, 0.001, 0.0034227024433899004,
  ],
  // ChainedScheduler([LinearLR(start_factor=0.25, total_iters=4), MultiStepLR([6, 8], gamma=0.1)])
  warmupMultistep: [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
};

const optimizer = () => new SGD([new Parameter(zeros([1]))], { lr: 0.1 });

function lrs(s: LRScheduler, n: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < n; e++) {
    out.push(s.lr);
    s.step();
  }
  return out;
}

function expectClose(a: number[], b: number[]): void {
  expect(a).toHaveLength(b.length);
  a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 14));
}

describe('schedules match torch.optim.lr_scheduler', () => {
  it('StepLR', () => expectClose(lrs(new StepLR(optimizer(), 3, { gamma: 0.5 }), 10), TORCH.step));
  it('MultiStepLR (milestones in any order)', () => expectClose(lrs(new MultiStepLR(optimizer(), [5, 2]), 8), TORCH.multistep));
  it('CosineAnnealingLR', () => expectClose(lrs(new CosineAnnealingLR(optimizer(), 10, { etaMin: 0.001 }), 12), TORCH.cosine));
  it('LinearWarmup wrapping MultiStepLR', () => {
    const opt = optimizer();
    const inner = new MultiStepLR(opt, [6, 8]);
    expectClose(lrs(new LinearWarmup(opt, { warmupSteps: 4, startFactor: 0.25, after: inner }), 10), TORCH.warmupMultistep);
  });
  it('LinearWarmup to a constant, default start factor 1/W', () => {
    expectClose(lrs(new LinearWarmup(optimizer(), { warmupSteps: 4 }), 6), [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1]);
  });
});

describe('schedule behaviour', () => {
  it('sets the optimizer lr, per group from each base lr', () => {
    const a = new Parameter(zeros([1]));
    const b = new Parameter(zeros([1]));
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
    const s = new StepLR(opt, 1, { gamma: 0.5 });
    s.step();
    s.step();
    expect(s.lastLrs()).toEqual([0.025, 0.25]);
    expect(opt.lr).toBe(0.025);
  });

  it('resumes from a state dict', () => {
    const opt = optimizer();
    const s = new LinearWarmup(opt, { warmupSteps: 3, after: new CosineAnnealingLR(opt, 10) });
    const full = lrs(s, 8);
    const opt2 = optimizer();
    const s2 = new LinearWarmup(opt2, { warmupSteps: 3, after: new CosineAnnealingLR(opt2, 10) });
    lrs(s2, 4);
    const saved = s2.stateDict();
    const opt3 = optimizer();
    const s3 = new LinearWarmup(opt3, { warmupSteps: 3, after: new CosineAnnealingLR(opt3, 10) });
    s3.loadStateDict(saved);
    expectClose(lrs(s3, 4), full.slice(4));
  });

  it('rejects bad arguments', () => {
    expect(() => new StepLR(optimizer(), 0)).toThrow(/stepSize must be a positive integer/);
    expect(() => new MultiStepLR(optimizer(), [1, -2])).toThrow(/milestones\[1\]/);
    expect(() => new CosineAnnealingLR(optimizer(), 1.5)).toThrow(/tMax/);
    expect(() => new LinearWarmup(optimizer(), { warmupSteps: 2, startFactor: 2 })).toThrow(/startFactor/);
    expect(() => new LinearWarmup(optimizer(), { warmupSteps: 2, after: new StepLR(optimizer(), 2) })).toThrow(/same optimizer/);
    expect(() => new StepLR({} as never, 1)).toThrow(ScheduleError);
    expect(() => new StepLR(optimizer(), 1).loadStateDict({ lastEpoch: 1, baseLrs: [1, 2] })).toThrow(/one entry per parameter group/);
  });
});

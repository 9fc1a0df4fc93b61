import { mnist, subset } from '@normlab/datasets';
import { ModelError } from '@normlab/models';
import { NormLayerError } from '@normlab/norm-layers';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type RunConfig, type SubsetData } from './protocol.js';
import { PROBE_IMAGES, TrainingSession } from './session.js';

const data: SubsetData = { train: subset(mnist({ split: 'train' }), 0, 400), test: subset(mnist({ split: 'test' }), 0, 100) };
const config = (o: Partial<RunConfig> = {}): RunConfig => ({ ...DEFAULT_CONFIG, ...o });
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('TrainingSession', () => {
  it('trains: the loss falls, the test accuracy rises above chance, and it stops at its step count', () => {
    const s = new TrainingSession(config({ norm: 'gn', batchSize: 8, steps: 60 }), data);
    const losses: number[] = [];
    while (!s.done) losses.push(s.trainStep().loss);
    expect(losses).toHaveLength(60);
    expect(mean(losses.slice(-10))).toBeLessThan(0.85 * mean(losses.slice(0, 10)));
    const { testAccuracy, testLoss } = s.evaluate();
    expect(testAccuracy).toBeGreaterThan(0.2);
    expect(Number.isFinite(testLoss)).toBe(true);
  });

  it('is deterministic: the same config gives the same losses; epochs continue past the subset', () => {
    const small: SubsetData = { train: subset(data.train, 0, 64), test: data.test };
    const run = (o: Partial<RunConfig>) => {
      const s = new TrainingSession(config({ batchSize: 8, steps: 12, ...o }), small);
      return Array.from({ length: 12 }, () => s.trainStep().loss); // 8 batches per epoch
    };
    expect(run({ norm: 'bn' })).toEqual(run({ norm: 'bn' }));
    expect(run({ norm: 'bn' })).not.toEqual(run({ norm: 'gn' }));
  });

  it('probes the second block: GN standardizes each group, BN at initialization (running statistics 0 and 1) passes it through', () => {
    const gn = new TrainingSession(config({ norm: 'gn', groups: 4 }), data).probe();
    expect(gn.layer).toBe('block2.norm (GroupNorm)');
    expect([gn.channels, gn.groups, gn.step]).toEqual([16, 4, 0]);
    for (const h of gn.after) {
      // γ = 1, β = 0: every image's group has mean 0 and variance var/(var + ε).
      expect(Math.abs(h.mean)).toBeLessThan(1e-5);
      expect(h.std).toBeGreaterThan(0.99);
      expect(h.std).toBeLessThanOrEqual(1);
      expect(h.counts.reduce((a, b) => a + b)).toBe(PROBE_IMAGES * 4 * 7 * 7);
    }
    const bn = new TrainingSession(config({ norm: 'bn', groups: 4 }), data).probe();
    expect(bn.layer).toBe('block2.norm (BatchNorm2d)');
    bn.after.forEach((h, g) => {
      expect(h.mean).toBeCloseTo(bn.before[g]!.mean, 4);
      expect(h.std).toBeCloseTo(bn.before[g]!.std, 4);
    });
    const none = new TrainingSession(config({ norm: 'none' }), data).probe();
    expect(none.after).toEqual(none.before);
  });

  it('leaves the model in training mode and its running statistics as they were after a probe', () => {
    const s = new TrainingSession(config({ norm: 'bn', steps: 5 }), data);
    s.trainStep();
    const before = s.model.stateDict();
    s.probe();
    s.evaluate();
    expect(s.model.training).toBe(true);
    const after = s.model.stateDict();
    for (const [k, t] of Object.entries(before)) expect(Array.from(after[k]!.data)).toEqual(Array.from(t.data));
  });

  it('names bad settings: an unknown norm, a batch larger than the data, GN+ at batch 1', () => {
    expect(() => new TrainingSession(config({ norm: 'ln' as never }), data)).toThrow(ModelError);
    expect(() => new TrainingSession(config({ norm: 'ln' as never }), data)).toThrow(/norm must be one of bn, gn, gnplus, hybrid, none, got "ln"/);
    expect(() => new TrainingSession(config({ batchSize: 0 }), data)).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new TrainingSession(config({ batchSize: 512 }), data)).toThrow(/batch size 512 is larger than the 400 training images/);
    expect(() => new TrainingSession(config({ lr: -1 }), data)).toThrow(/lr must be a positive number, got -1/);
    const gnplus = new TrainingSession(config({ norm: 'gnplus', batchSize: 1 }), data);
    expect(() => gnplus.trainStep()).toThrow(NormLayerError);
  });
});

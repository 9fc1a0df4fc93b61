/**
 * A deterministic stand-in for training, for the runner's and the report's tests: a record whose
 * loss curve, accuracy and landscape series follow from the spec through a seeded generator, with
 * knobs that make a norm noisier or more accurate so the verdicts have a known answer.
 */
import { Rng } from '@normlab/tensor';
import type { PlannedRun } from '../profiles.js';
import type { ExecuteContext } from '../runner.js';
import { runStability } from '../stability.js';
import type { RunRecord } from '../types.js';

export interface FakeTraits {
  /** Loss noise amplitude per norm label key (spec.norm). */
  noise: Record<string, number>;
  /** Final accuracy per norm. */
  accuracy: Record<string, number>;
  /** Accuracy lost under a perturbation, per norm. */
  sensitivity: Record<string, number>;
  /** Gradient change level per norm, per period third (for the landscape). */
  landscape: Record<string, [number, number, number]>;
  /** Final accuracy per norm with normalization live in period k only (entry k − 1). */
  window?: Record<string, number[]>;
}

export const DEFAULT_TRAITS: FakeTraits = {
  noise: { bn: 0.02, gn: 0.08, gnplus: 0.03, hybrid: 0.025, bgn: 0.05, none: 0.1 },
  accuracy: { bn: 0.9, gn: 0.85, gnplus: 0.88, hybrid: 0.89, bgn: 0.86, none: 0.7 },
  sensitivity: { bn: 0.02, gn: 0.06, gnplus: 0.03, hybrid: 0.03, bgn: 0.04, none: 0.05 },
  landscape: { bn: [1, 1, 1], gn: [1, 1, 3], gnplus: [1, 1, 1.5], hybrid: [1, 1.2, 1.2], bgn: [1, 2, 2], none: [2, 2, 2] },
  window: { bn: [0.86, 0.8, 0.78], gn: [0.74, 0.82, 0.77], gnplus: [0.8, 0.84, 0.8], hybrid: [0.85, 0.82, 0.8] },
};

export function fakeExecutor(traits: FakeTraits = DEFAULT_TRAITS, calls: string[] = []) {
  return (run: PlannedRun, ctx: ExecuteContext): RunRecord => {
    calls.push(run.id);
    const { spec } = run;
    const rng = new Rng(spec.seed * 7919 + spec.batchSize * 31 + Math.round(spec.lr * 1e6));
    const steps = spec.epochs * Math.floor(spec.trainLimit / spec.batchSize);
    const noise = traits.noise[spec.norm] ?? 0.05;
    const lvl = traits.landscape[spec.norm] ?? [1, 1, 1];
    const third = (t: number) => lvl[Math.min(2, Math.floor((3 * t) / steps))];
    const loss: number[] = [];
    const gradNorm: number[] = [];
    for (let t = 0; t < steps; t++) {
      // Landscape runs: the loss spreads with the learning rate as the norm's landscape level says
      // (so the band across learning rates follows the traits), with little seed noise.
      const landscape = spec.probes ? third(t) * spec.lr * 100 : 0;
      loss.push(2.3 * Math.exp((-3 * t) / steps) + 0.1 + landscape + (spec.probes ? 0.01 : 1) * noise * Math.abs(rng.normal()));
      gradNorm.push(1 + 5 * noise * Math.abs(rng.normal()));
      ctx.onStep(t + 1, steps);
    }
    const perturbed = spec.distortion || spec.regularizer ? (traits.sensitivity[spec.norm] ?? 0.03) * (spec.distortion?.magnitude ?? 1) : 0;
    const clean = traits.accuracy[spec.norm] ?? 0.8;
    const acc = (spec.window ? (traits.window?.[spec.norm]?.[spec.window.live - 1] ?? clean - 0.05) : clean) - perturbed + 0.005 * rng.normal() + 0.0001 * Math.log2(spec.batchSize);
    const record: RunRecord = {
      id: run.id,
      spec,
      roles: run.roles,
      status: 'ok',
      steps: { loss, accuracy: loss.map((l) => Math.max(0, 1 - l / 2.4)), gradNorm, lr: loss.map(() => spec.lr) },
      evals: [{ epoch: 1, step: steps, testLoss: loss[steps - 1], testAccuracy: acc }],
      final: { testAccuracy: acc, bestTestAccuracy: acc, testLoss: loss[steps - 1] },
      stability: runStability({ loss, gradNorm }),
    };
    if (spec.probes) {
      const gradChange = Array.from({ length: steps - 1 }, (_, t) => third(t + 1) * (1 + 0.001 * Math.abs(rng.normal())) * spec.lr * 1000);
      const santurkar = [];
      for (let t = 0; t < steps; t += spec.probes.santurkarEvery) {
        santurkar.push({ step: t, lossVariation: third(t) * 0.1, gradPredictiveness: third(t), betaSmoothness: third(t) * 10 });
      }
      record.landscape = { gradChange, santurkar };
    }
    if (spec.evalNoise) record.noise = spec.evalNoise.map((sigma) => ({ sigma, testAccuracy: acc - sigma * (traits.sensitivity[spec.norm] ?? 0.03) * 5 }));
    if (spec.evalBatchSizes) record.evalBatch = spec.evalBatchSizes.map((b) => ({ batchSize: b, testAccuracy: spec.norm === 'gnplus' ? acc - 0.1 / b : acc }));
    return record;
  };
}

import { describe, expect, it } from 'vitest';
import { Rng } from '@normlab/tensor';
import { AnalysisError } from './errors.js';
import { GradientChangeTracker, gradientChanges, lossBand, maxAcrossRuns, santurkarMultipliers, santurkarProbe, type LossAndGrad } from './landscape.js';
import { helpsPerPeriod, majorityPerPeriod, periodBounds, perPeriod } from './periods.js';
import { gradNormVariance, lossSpikes, lossStdAroundMovingAverage, movingAverage, runStability } from './stability.js';
import { geomspace, median, std, summarize, variance } from './stats.js';

describe('stats', () => {
  it('mean, unbiased std and median on known values', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.std).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(variance([2, 4, 4, 4, 5, 5, 7, 9], { unbiased: false })).toBe(4);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(std([7])).toBe(0);
  });
  it('is stable for a large offset', () => {
    expect(variance([1e9 + 1, 1e9 + 2, 1e9 + 3], { unbiased: false })).toBeCloseTo(2 / 3, 6);
  });
  it('rejects empty and non-finite input', () => {
    expect(() => summarize([])).toThrow(AnalysisError);
    expect(() => summarize([1, NaN])).toThrow(/finite values, got NaN at index 1/);
  });
  it('geomspace spans [1/2, 4] geometrically', () => {
    expect(geomspace(0.5, 4, 4).map((x) => +x.toFixed(12))).toEqual([0.5, 1, 2, 4]);
    expect(santurkarMultipliers(4)[3]).toBe(4);
  });
});

describe('stability', () => {
  it('a constant loss has zero std around its moving average and no spikes', () => {
    const losses = new Array(200).fill(0.7);
    expect(lossStdAroundMovingAverage(losses)).toBe(0);
    expect(lossSpikes(losses)).toEqual([]);
  });
  it('a linear trend is its own centered moving average, so the residual std is 0', () => {
    const losses = Array.from({ length: 300 }, (_, t) => 2.3 - 0.005 * t);
    const ma = movingAverage(losses, 50);
    for (let t = 0; t < 300; t++) expect(ma[t]).toBeCloseTo(losses[t], 10);
    expect(lossStdAroundMovingAverage(losses)).toBeLessThan(1e-12);
  });
  it('alternating ±d around a level gives a residual std of about d', () => {
    const d = 0.1;
    const losses = Array.from({ length: 1000 }, (_, t) => 1 + (t % 2 ? d : -d));
    // The 51-step window averages to ±d/51, so the residual is d(1 ∓ 1/51).
    expect(lossStdAroundMovingAverage(losses, 50)).toBeCloseTo(d, 2);
  });
  it('counts a loss above twice the running median as a spike', () => {
    const losses = Array.from({ length: 120 }, () => 1);
    losses[60] = 2.5; // spike
    losses[90] = 1.9; // below 2× median: not a spike
    expect(lossSpikes(losses)).toEqual([60]);
    // With the window, a late spike on a fallen loss is still caught.
    const falling: number[] = Array.from({ length: 200 }, (_, t) => (t < 100 ? 2 : 0.2));
    falling[180] = 0.5;
    expect(lossSpikes(falling)).toEqual([180]);
  });
  it('gradient-norm variance is the population variance', () => {
    expect(gradNormVariance([1, 3])).toBe(1);
    const r = runStability({ loss: [1, 1, 1, 1], gradNorm: [2, 2, 2, 2] });
    expect(r).toEqual({ lossStd: 0, spikes: 0, gradNormVar: 0, finalLoss: 1 });
    expect(() => runStability({ loss: [1], gradNorm: [] })).toThrow(AnalysisError);
  });
});

/** ½wᵀAw on a symmetric A: gradient Aw. */
function quadratic(a: number[][]): LossAndGrad {
  const n = a.length;
  return (w) => {
    const g = new Float64Array(n);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i][j] * w[j];
      g[i] = s;
      loss += 0.5 * w[i] * s;
    }
    return { loss, grad: g };
  };
}

describe('landscape: Santurkar et al. protocol', () => {
  // A = Q diag(5, 2, 0.5) Qᵀ with a rotation Q, so the test does not rely on a diagonal A.
  const c = Math.cos(0.7);
  const s = Math.sin(0.7);
  const q = [
    [c, -s, 0],
    [s, c, 0],
    [0, 0, 1],
  ];
  const lam = [5, 2, 0.5];
  const a = q.map((_, i) => q.map((__, j) => lam.reduce((acc, l, k) => acc + q[i][k] * l * q[j][k], 0)));

  it('effective β-smoothness of a quadratic along an eigenvector is that eigenvalue (the largest for the top one)', () => {
    const top = [q[0][0], q[1][0], q[2][0]].map((x) => 3 * x);
    const r = santurkarProbe(quadratic(a), top, { lr: 0.01 });
    expect(r.betaSmoothness).toBeCloseTo(5, 10);
    // ‖∇L(w) − ∇L(w − ηg)‖ = η‖Ag‖ = η·5·‖g‖, largest at η = 4·lr.
    expect(r.gradPredictiveness).toBeCloseTo(0.04 * 5 * r.gradNorm, 10);
    expect(r.etas.map((e) => +e.toFixed(12))).toEqual([0.005, 0.01, 0.02, 0.04]);
  });
  it('for any w it is ‖Ag‖/‖g‖, never above the largest eigenvalue', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 5; trial++) {
      const w = [rng.normal(), rng.normal(), rng.normal()];
      const { grad } = quadratic(a)(Float64Array.from(w));
      const ag = quadratic(a)(Float64Array.from(grad)).grad;
      const expected = Math.hypot(...Array.from(ag)) / Math.hypot(...Array.from(grad));
      const r = santurkarProbe(quadratic(a), w, { lr: 0.1, multipliers: [0.5, 1, 4] });
      expect(r.betaSmoothness).toBeCloseTo(expected, 10);
      expect(r.betaSmoothness).toBeLessThanOrEqual(5 + 1e-12);
      expect(r.betaSmoothness).toBeGreaterThanOrEqual(0.5 - 1e-12);
    }
  });
  it('loss variation of a quadratic is max − min of L(w − ηg) over the probed η', () => {
    const w = [1, -2, 0.5];
    const f = quadratic(a);
    const r = santurkarProbe(f, w, { lr: 0.05 });
    const g = f(Float64Array.from(w)).grad;
    const ls = r.etas.map((eta) => f(Float64Array.from(w.map((x, i) => x - eta * g[i]))).loss);
    expect(r.losses).toEqual(ls);
    expect(r.lossVariation).toBeCloseTo(Math.max(...ls) - Math.min(...ls), 14);
    expect(r.lossVariation).toBeGreaterThan(0);
  });
  it('a constant loss has zero variation, predictiveness and smoothness', () => {
    const r = santurkarProbe(() => ({ loss: 3, grad: new Float64Array(4) }), [1, 2, 3, 4], { lr: 0.1 });
    expect(r.lossVariation).toBe(0);
    expect(r.gradPredictiveness).toBe(0);
    expect(r.betaSmoothness).toBe(0);
  });
  it('a linear loss (constant gradient) has zero β-smoothness but nonzero variation', () => {
    const g = Float64Array.from([1, 2]);
    const r = santurkarProbe((w) => ({ loss: w[0] + 2 * w[1], grad: g }), [0, 0], { lr: 1, multipliers: [0.5, 4] });
    expect(r.betaSmoothness).toBe(0);
    expect(r.lossVariation).toBeCloseTo((4 - 0.5) * 5, 12);
  });
  it('validates its arguments', () => {
    expect(() => santurkarProbe(quadratic(a), [1, 2, 3], { lr: 0 })).toThrow(/positive finite lr, got 0/);
    expect(() => santurkarProbe(() => ({ loss: 1, grad: [1] }), [1, 2], { lr: 1 })).toThrow(/gradient of 1 elements for 2/);
  });
});

describe("landscape: the paper's protocol", () => {
  it('the loss band is the per-step min and max across LR runs', () => {
    const band = lossBand([
      [3, 2, 1],
      [2, 2.5, 0.5],
      [4, 1, 0.75],
    ]);
    expect(band.map((b) => [b.min, b.max, b.width])).toEqual([
      [2, 4, 2],
      [1, 2.5, 1.5],
      [0.5, 1, 0.5],
    ]);
    expect(() => lossBand([[1, 2], [1]])).toThrow(/run 0 has 2 steps but run 1 has 1/);
  });
  it('gradient predictiveness is ‖g_t − g_{t−1}‖ and β-smoothness its max across runs', () => {
    const grads = [
      [0, 0],
      [3, 4],
      [3, 4],
      [0, 0],
    ];
    expect(gradientChanges(grads)).toEqual([5, 0, 5]);
    const tr = new GradientChangeTracker();
    expect(grads.map((g) => tr.push(Float32Array.from(g)))).toEqual([null, 5, 0, 5]);
    expect(maxAcrossRuns([[5, 0, 5], [1, 2, 3]])).toEqual([5, 2, 5]);
  });
});

describe('periods', () => {
  it('cuts steps into K near-equal contiguous periods', () => {
    expect(periodBounds(10, 3).map((p) => [p.start, p.end])).toEqual([
      [0, 4],
      [4, 7],
      [7, 10],
    ]);
    expect(() => periodBounds(2, 3)).toThrow(AnalysisError);
    expect(perPeriod([1, 2, 3, 4, 5, 6], 3)).toEqual([1.5, 3.5, 5.5]);
    expect(perPeriod([1, 9, 3, 4, 5, 6], 2, 'max')).toEqual([9, 6]);
  });
  it('a norm helps in a period when it beats the unnormalized run there', () => {
    // BN lower than none everywhere; GN only in the first period.
    const none = [4, 3, 2];
    expect(helpsPerPeriod([1, 1, 1], none)).toEqual([true, true, true]);
    expect(helpsPerPeriod([2, 3.5, 2.5], none)).toEqual([true, false, false]);
    expect(helpsPerPeriod([3.9, 1, 1], none, { tolerance: 0.1 })).toEqual([false, true, true]);
    expect(helpsPerPeriod([5, 1], [4, 2], { lowerIsBetter: false })).toEqual([true, false]);
    expect(majorityPerPeriod([[true, false], [true, true], [false, false]])).toEqual([true, false]);
  });
});

describe('README example', () => {
  it('gives the numbers the README states', () => {
    const s = runStability({ loss: [2.3, 1.9, 1.7, 3.9, 1.4, 1.3], gradNorm: [5, 4, 4, 9, 3, 3] });
    const quad = (w: Float64Array) => ({ loss: 2 * w[0] ** 2 + 0.5 * w[1] ** 2, grad: [4 * w[0], w[1]] });
    const p = santurkarProbe(quad, [1, 0], { lr: 0.01 });
    expect(s.spikes).toBe(1);
    expect(p.betaSmoothness).toBeCloseTo(4, 12);
    expect(helpsPerPeriod(perPeriod([1, 1, 2, 2, 3, 3], 3), perPeriod([2, 2, 2, 2, 2, 2], 3))).toEqual([true, false, false]);
  });
});

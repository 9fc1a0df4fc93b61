/**
 * Student's t machinery against published quantiles and closed forms. Reference values from
 * scipy 1.17 (`scipy.stats.t.ppf`, `scipy.stats.t.cdf`, `scipy.special.betainc`, `gammaln`).
 */
import { describe, expect, it } from 'vitest';
import { AnalysisError } from './errors.js';
import { logGamma, regularizedIncompleteBeta, studentTCdf, studentTQuantile, tInterval } from './stats.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('Student t', () => {
  it('quantiles match the tables', () => {
    // The values the lead asked for, to the digits given.
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.7764451, 7);
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062047, 7);
    expect(studentTQuantile(0.975, 29)).toBeCloseTo(2.0452296, 7);
    const scipy: Array<[number, number, number]> = [
      [0.975, 2, 4.302652729749462],
      [0.975, 4, 2.7764451051977934],
      [0.995, 4, 4.604094871349992],
      [0.9995, 3, 12.923978636687961],
      [0.999, 1, 318.30883898555015],
      [0.99, 1000, 2.330082674755513],
      [0.6, 7, 0.2631668613520229],
      [0.025, 4, -2.7764451051977943],
      [1 - 0.05 / 26, 4, 6.015429375012811],
      [0.9999999, 5, 39.341819621052615],
      [0.975, 0.5, 164.55767348048818],
      [0.975, 2.5, 3.5746548420036817],
    ];
    for (const [p, df, t] of scipy) expect(rel(studentTQuantile(p, df), t)).toBeLessThan(1e-12);
    expect(studentTQuantile(0.5, 3)).toBe(0);
  });
  it('agrees with the closed forms for 1 and 2 degrees of freedom', () => {
    for (const p of [0.001, 0.05, 0.3, 0.7, 0.9, 0.975, 0.9999]) {
      // df = 1 is the Cauchy distribution; df = 2 has t = (2p − 1)/√(2p(1 − p)).
      expect(rel(studentTQuantile(p, 1), Math.tan(Math.PI * (p - 0.5)))).toBeLessThan(1e-12);
      expect(rel(studentTQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)))).toBeLessThan(1e-12);
    }
    for (const t of [-40, -2, -0.3, 0, 0.5, 3, 100]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 14);
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 14);
    }
  });
  it('cdf, incomplete beta and log-gamma match scipy', () => {
    expect(rel(studentTCdf(2, 3), 0.9303370157205785)).toBeLessThan(1e-13);
    expect(rel(studentTCdf(-1.5, 10), 0.08225366322272007)).toBeLessThan(1e-13);
    expect(rel(studentTCdf(30, 2), 0.9994453686590201)).toBeLessThan(1e-13);
    expect(rel(studentTCdf(0.1, 0.7), 0.5293453084240403)).toBeLessThan(1e-13);
    expect(rel(regularizedIncompleteBeta(0.3, 2.5, 0.5), 0.018927124071945658)).toBeLessThan(1e-13);
    expect(rel(regularizedIncompleteBeta(0.9, 0.5, 3), 0.9996750253207289)).toBeLessThan(1e-13);
    expect(rel(regularizedIncompleteBeta(0.4, 10, 20), 0.7853183897628262)).toBeLessThan(1e-13);
    expect(rel(logGamma(0.3), 1.0957979948180756)).toBeLessThan(1e-13);
    expect(rel(logGamma(12.5), 18.73434751193645)).toBeLessThan(1e-13);
    // Γ(n) = (n − 1)!
    expect(logGamma(6)).toBeCloseTo(Math.log(120), 13);
    // The quantile inverts the cdf.
    for (const df of [1, 3, 9.5, 60]) for (const p of [0.01, 0.4, 0.975]) expect(studentTCdf(studentTQuantile(p, df), df)).toBeCloseTo(p, 13);
  });
  it('rejects what has no answer', () => {
    expect(() => studentTQuantile(1, 3)).toThrow(/probability p in \(0, 1\), got 1/);
    expect(() => studentTQuantile(0.9, 0)).toThrow(AnalysisError);
    expect(() => studentTCdf(NaN, 3)).toThrow(/NaN/);
    expect(() => regularizedIncompleteBeta(1.5, 1, 1)).toThrow(/x in \[0, 1\]/);
    expect(() => logGamma(-1)).toThrow(AnalysisError);
  });
});

describe('tInterval', () => {
  it('is mean ± t(0.975, n − 1)·s/√n', () => {
    const xs = [0.01, 0.03, -0.005, 0.02, 0.015];
    const ci = tInterval(xs);
    const m = 0.014;
    const s = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / 4);
    expect(ci.mean).toBeCloseTo(m, 15);
    expect(ci.hi - ci.mean).toBeCloseTo((2.7764451051977934 * s) / Math.sqrt(5), 14);
    expect(ci.mean - ci.lo).toBeCloseTo((2.7764451051977934 * s) / Math.sqrt(5), 14);
    expect(ci).toMatchObject({ n: 5, level: 0.95 });
    // A higher level widens it.
    expect(tInterval(xs, 0.99).hi).toBeGreaterThan(ci.hi);
  });
  it('needs two values and a level in (0, 1)', () => {
    expect(() => tInterval([0.3])).toThrow(/at least 2 values/);
    expect(() => tInterval([1, 2], 1)).toThrow(/level in \(0, 1\)/);
    expect(() => tInterval([1, NaN])).toThrow(/finite/);
  });
});

import { describe, expect, it } from 'vitest';
import { Rng, defaultRng, manualSeed } from './rng.js';

const draw = (r: Rng, n: number) => Array.from({ length: n }, () => r.uniform());

describe('Rng', () => {
  it('is deterministic per seed, bit for bit', () => {
    expect(draw(new Rng(123), 10)).toEqual(draw(new Rng(123), 10));
    expect(draw(new Rng(123), 10)).not.toEqual(draw(new Rng(124), 10));
    const a = new Rng(0);
    const b = new Rng(0);
    for (let i = 0; i < 100; i++) expect(a.nextUint32()).toBe(b.nextUint32());
  });
  it('nextUint32 is an unsigned 32-bit integer and uniform() is in [0, 1)', () => {
    const r = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const x = r.nextUint32();
      expect(Number.isInteger(x) && x >= 0 && x < 2 ** 32).toBe(true);
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });
  it('uniform has mean 1/2 and variance 1/12; buckets are balanced', () => {
    const r = new Rng(9);
    const n = 20000;
    const xs = draw(r, n);
    const m = xs.reduce((a, b) => a + b, 0) / n;
    const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / n;
    expect(Math.abs(m - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(v - 1 / 12)).toBeLessThan(0.003);
    const buckets = new Array(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]++;
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(n / 10 * 0.1);
  });
  it('normal has the requested mean and std', () => {
    const r = new Rng(10);
    const n = 20000;
    const xs = Array.from({ length: n }, () => r.normal(-1, 0.5));
    const m = xs.reduce((a, b) => a + b, 0) / n;
    const s = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / n);
    expect(Math.abs(m + 1)).toBeLessThan(0.02);
    expect(Math.abs(s - 0.5)).toBeLessThan(0.02);
  });
  it('int, uniformRange, shuffle, permutation', () => {
    const r = new Rng(11);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const k = r.int(5);
      expect(Number.isInteger(k) && k >= 0 && k < 5).toBe(true);
      seen.add(k);
      const u = r.uniformRange(2, 4);
      expect(u >= 2 && u < 4).toBe(true);
    }
    expect(seen.size).toBe(5);
    const p = r.permutation(50);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    const arr = [1, 2, 3, 4, 5, 6];
    expect(r.shuffle(arr)).toBe(arr);
    expect([...arr].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(new Rng(4).permutation(20))).toEqual(Array.from(new Rng(4).permutation(20)));
  });
  it('fork gives a deterministic, different stream and advances the parent', () => {
    const a = new Rng(12);
    const f = a.fork();
    const b = new Rng(12);
    const g = b.fork();
    expect(draw(f, 5)).toEqual(draw(g, 5));
    expect(draw(a, 5)).toEqual(draw(b, 5));
    expect(draw(new Rng(12).fork(), 5)).not.toEqual(draw(new Rng(12), 5));
  });
  it('manualSeed resets the default generator; bad seeds throw', () => {
    manualSeed(5);
    const x = draw(defaultRng(), 3);
    manualSeed(5);
    expect(draw(defaultRng(), 3)).toEqual(x);
    expect(x).toEqual(draw(new Rng(5), 3));
    expect(() => new Rng(NaN)).toThrow(/seed must be a finite number/);
  });
});

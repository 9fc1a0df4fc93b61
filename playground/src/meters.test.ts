import { describe, expect, it } from 'vitest';
import { niceTicks } from './chart.js';
import { RateMeter, smooth, trailingMean } from './meters.js';

describe('the page measures', () => {
  it('RateMeter: images per second over the newest window of step time', () => {
    const r = new RateMeter(1000);
    expect(r.rate()).toBeNull();
    r.add(10, 500);
    expect(r.rate()).toBe(20);
    r.add(10, 500);
    r.add(40, 500); // the first sample falls out of the 1000 ms window
    expect(r.rate()).toBe(50);
    r.clear();
    expect(r.rate()).toBeNull();
  });

  it('trailingMean and smooth', () => {
    expect(trailingMean([], 3)).toBeNull();
    expect(trailingMean([1, 2], 3)).toBe(1.5);
    expect(trailingMean([1, 2, 3, 4], 3)).toBe(3);
    expect(smooth([4, 4, 4], 0.1)).toEqual([4, 4, 4].map((v) => expect.closeTo(v, 12)));
    const s = smooth([0, 10], 0.5);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeCloseTo(20 / 3, 12); // (0.5·0.5·0 + 0.5·10) / 0.75
  });

  it('niceTicks', () => {
    expect(niceTicks(600, 6)).toEqual([0, 100, 200, 300, 400, 500, 600]);
    expect(niceTicks(40, 6)).toEqual([0, 10, 20, 30, 40]);
    expect(niceTicks(1, 6)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

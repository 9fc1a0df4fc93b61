import { describe, expect, it } from 'vitest';
import { Rng } from '@normlab/tensor';
import { DatasetError } from './errors.js';
import { gaussianNoise, normalize, randomCrop, randomHorizontalFlip, toFloat, type TransformContext } from './transforms.js';

const ctx = (seed = 0, sourceDType: 'uint8' | 'float32' = 'float32'): TransformContext => ({ rng: new Rng(seed), sourceDType });

function ramp(len: number): Float32Array {
  return Float32Array.from({ length: len }, (_, i) => i + 1);
}

/** Reference: image `src` (c×h×w) shifted so out[y][x] = src[y+dy][x+dx], 0 outside. */
function shifted(src: Float32Array, c: number, h: number, w: number, dy: number, dx: number): Float32Array {
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const sy = y + dy;
        const sx = x + dx;
        out[(ch * h + y) * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[(ch * h + sy) * w + sx]! : 0;
      }
  return out;
}

describe('toFloat', () => {
  it('scales uint8 sources by 1/255 and leaves float sources alone', () => {
    const x = Float32Array.from([0, 51, 255]);
    toFloat().apply(x, 1, 1, 1, 3, ctx(0, 'uint8'));
    expect(Array.from(x)).toEqual([0, Math.fround(51 / 255), 1]);
    const y = Float32Array.from([0.5, 2]);
    toFloat().apply(y, 1, 1, 1, 2, ctx(0, 'float32'));
    expect(Array.from(y)).toEqual([0.5, 2]);
  });
});

describe('normalize', () => {
  it('applies per-channel mean and std', () => {
    // 2 images, 2 channels, 1×2 pixels.
    const x = Float32Array.from([1, 2, 10, 20, 3, 4, 30, 40]);
    normalize([1, 10], [2, 5]).apply(x, 2, 2, 1, 2, ctx());
    expect(Array.from(x)).toEqual([0, 0.5, 0, 2, 1, 1.5, 4, 6]);
  });

  it('broadcasts a single value to every channel', () => {
    const x = Float32Array.from([1, 3, 5]);
    normalize(1, [2]).apply(x, 1, 3, 1, 1, ctx());
    expect(Array.from(x)).toEqual([0, 1, 2]);
  });

  it('rejects bad arguments and a channel mismatch', () => {
    expect(() => normalize([0.5], [0])).toThrow(/normalize: std values must be > 0, got 0/);
    expect(() => normalize([0, 0], [1, 1, 1])).toThrow(/mean has 2 values and std 3/);
    expect(() => normalize([NaN], [1])).toThrow(DatasetError);
    expect(() => normalize([0, 0, 0], [1, 1, 1]).apply(new Float32Array(4), 1, 1, 2, 2, ctx())).toThrow(/3 per-channel values for images with 1 channels/);
  });
});

describe('randomCrop', () => {
  it('padding 0 is the identity', () => {
    const x = ramp(2 * 3 * 4 * 5);
    const before = x.slice();
    randomCrop(0).apply(x, 2, 3, 4, 5, ctx(1));
    expect(x).toEqual(before);
  });

  it('each image is its input shifted by at most `padding`, the same shift for all channels, zero-filled', () => {
    const n = 40;
    const c = 2;
    const h = 5;
    const w = 6;
    const per = c * h * w;
    const x = Float32Array.from({ length: n * per }, (_, i) => (i % per) + 1 + 1000 * Math.floor(i / per));
    const src = x.slice();
    randomCrop(2).apply(x, n, c, h, w, ctx(3));
    const shifts = new Set<string>();
    for (let i = 0; i < n; i++) {
      const img = src.subarray(i * per, (i + 1) * per);
      const out = x.subarray(i * per, (i + 1) * per);
      let match: string | undefined;
      for (let dy = -2; dy <= 2 && !match; dy++)
        for (let dx = -2; dx <= 2 && !match; dx++) if (shifted(img, c, h, w, dy, dx).every((v, k) => v === out[k])) match = `${dy},${dx}`;
      expect(match, `image ${i}`).toBeDefined();
      shifts.add(match!);
    }
    // 40 draws from 25 shifts: a working sampler hits many of them.
    expect(shifts.size).toBeGreaterThan(10);
  });

  it('uses the fill value for the padding and validates arguments', () => {
    // Ten 3×3 images padded by 3: most draws shift some pixels out, and the padding comes in as -1.
    const x = Float32Array.from({ length: 90 }, (_, i) => (i % 9) + 1);
    randomCrop(3, { fill: -1 }).apply(x, 10, 1, 3, 3, ctx(5));
    expect(Array.from(x).filter((v) => v === -1).length).toBeGreaterThan(20);
    expect(Array.from(x).every((v) => v === -1 || (v >= 1 && v <= 9))).toBe(true);
    expect(() => randomCrop(-1)).toThrow(/padding must be an integer >= 0, got -1/);
    expect(() => randomCrop(1.5)).toThrow(DatasetError);
  });
});

describe('randomHorizontalFlip', () => {
  it('p = 1 mirrors every row; twice is the identity; p = 0 is the identity', () => {
    const x = ramp(2 * 2 * 3);
    const before = x.slice();
    randomHorizontalFlip(1).apply(x, 1, 2, 2, 3, ctx());
    expect(Array.from(x)).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
    randomHorizontalFlip(1).apply(x, 1, 2, 2, 3, ctx());
    expect(x).toEqual(before);
    randomHorizontalFlip(0).apply(x, 1, 2, 2, 3, ctx());
    expect(x).toEqual(before);
  });

  it('p = 0.5 flips about half the images, each either untouched or mirrored', () => {
    const n = 200;
    const per = 4;
    const x = Float32Array.from({ length: n * per }, (_, i) => i % per);
    randomHorizontalFlip().apply(x, n, 1, 1, 4, ctx(9));
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const img = Array.from(x.subarray(i * per, (i + 1) * per));
      if (img.join() === '3,2,1,0') flipped++;
      else expect(img).toEqual([0, 1, 2, 3]);
    }
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
    expect(() => randomHorizontalFlip(1.5)).toThrow(/p must be in \[0, 1\], got 1.5/);
  });
});

describe('gaussianNoise', () => {
  it('adds zero-mean noise of the given std, clamped when asked', () => {
    const x = new Float32Array(20000).fill(0.5);
    gaussianNoise(0.1).apply(x, 1, 1, 1, x.length, ctx(2));
    let s = 0;
    let s2 = 0;
    for (const v of x) {
      s += v - 0.5;
      s2 += (v - 0.5) ** 2;
    }
    expect(Math.abs(s / x.length)).toBeLessThan(0.005);
    expect(Math.sqrt(s2 / x.length)).toBeCloseTo(0.1, 2);
    const y = new Float32Array(1000).fill(0.5);
    gaussianNoise(2, { min: 0, max: 1 }).apply(y, 1, 1, 1, y.length, ctx(3));
    expect(Math.min(...y)).toBe(0);
    expect(Math.max(...y)).toBe(1);
    expect(() => gaussianNoise(-1)).toThrow(/std must be/);
  });
});

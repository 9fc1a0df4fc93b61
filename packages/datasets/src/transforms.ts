import type { Rng } from '@normlab/tensor';
import { DatasetError } from './errors.js';

/** What a transform may use besides the batch itself. */
export interface TransformContext {
  /** Seeded per (loader seed, epoch, batch index), so every batch of a run can be replayed. */
  rng: Rng;
  /** The dtype the dataset stores its images in (`toFloat` scales only uint8 sources). */
  sourceDType: 'uint8' | 'float32';
}

/**
 * A batch transform. `apply` rewrites `x` in place: n images of c×h×w float32 values, NCHW,
 * row-major. Transforms run in the order given to the DataLoader, as `torchvision.transforms.Compose`.
 */
export interface Transform {
  /** The transform's name, e.g. `normalize`. */
  readonly name: string;
  /** Rewrite the n images in `x` in place; random transforms draw from `ctx`. */
  apply(x: Float32Array, n: number, c: number, h: number, w: number, ctx: TransformContext): void;
}

/**
 * uint8 pixels to [0, 1] (÷255), as `torchvision.transforms.ToTensor`. A float32 dataset is taken
 * to be in its final units already and passes through unchanged.
 */
export function toFloat(): Transform {
  return {
    name: 'toFloat',
    apply(x, _n, _c, _h, _w, ctx) {
      if (ctx.sourceDType !== 'uint8') return;
      const s = 1 / 255;
      for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
    },
  };
}

function perChannel(op: string, what: string, v: number | readonly number[]): number[] {
  const arr = typeof v === 'number' ? [v] : Array.from(v);
  if (arr.length === 0) throw new DatasetError(op, `${what} must have at least one value`);
  for (const x of arr) if (!Number.isFinite(x)) throw new DatasetError(op, `${what} values must be finite, got ${x}`);
  return arr;
}

/**
 * Per-channel `(x − mean[c]) / std[c]`, as `torchvision.transforms.Normalize`. `mean` and `std`
 * hold one value per channel or a single value for all channels.
 */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  const op = 'normalize';
  const m = perChannel(op, 'mean', mean);
  const s = perChannel(op, 'std', std);
  for (const v of s) if (v <= 0) throw new DatasetError(op, `std values must be > 0, got ${v}`);
  if (m.length !== s.length && m.length !== 1 && s.length !== 1) {
    throw new DatasetError(op, `mean has ${m.length} values and std ${s.length}; they must match or one must have a single value`);
  }
  return {
    name: 'normalize',
    apply(x, n, c, h, w) {
      const k = Math.max(m.length, s.length);
      if (k !== 1 && k !== c) {
        throw new DatasetError(op, `${k} per-channel values for images with ${c} channels`);
      }
      const hw = h * w;
      for (let ch = 0; ch < c; ch++) {
        const mu = m.length === 1 ? m[0]! : m[ch]!;
        const inv = 1 / (s.length === 1 ? s[0]! : s[ch]!);
        for (let i = 0; i < n; i++) {
          const base = (i * c + ch) * hw;
          for (let j = base; j < base + hw; j++) x[j] = (x[j]! - mu) * inv;
        }
      }
    },
  };
}

/**
 * Pad each side of every image by `padding` pixels of `fill`, then crop back to h×w at a random
 * offset (one per image, the same for all channels), as `torchvision.transforms.RandomCrop(size,
 * padding)` with size = the input size. `fill` is in the units of the batch at that point of the
 * pipeline (0 = black before `toFloat`/`normalize`).
 */
export function randomCrop(padding: number, options: { fill?: number } = {}): Transform {
  const op = 'randomCrop';
  if (!Number.isInteger(padding) || padding < 0) throw new DatasetError(op, `padding must be an integer >= 0, got ${padding}`);
  const fill = options.fill ?? 0;
  if (!Number.isFinite(fill)) throw new DatasetError(op, `fill must be finite, got ${fill}`);
  let scratch = new Float32Array(0);
  return {
    name: 'randomCrop',
    apply(x, n, c, h, w, ctx) {
      const hw = h * w;
      if (scratch.length < hw) scratch = new Float32Array(hw);
      const span = 2 * padding + 1;
      for (let i = 0; i < n; i++) {
        // Offsets of the crop window inside the padded image, shifted so 0 means "no shift".
        const dy = ctx.rng.int(span) - padding;
        const dx = ctx.rng.int(span) - padding;
        if (dy === 0 && dx === 0) continue;
        // Destination columns whose source column x + dx lies inside the image.
        const x0 = Math.max(0, -dx);
        const x1 = Math.min(w, w - dx);
        for (let ch = 0; ch < c; ch++) {
          const base = (i * c + ch) * hw;
          scratch.set(x.subarray(base, base + hw));
          for (let y = 0; y < h; y++) {
            const sy = y + dy;
            const row = base + y * w;
            if (sy < 0 || sy >= h || x0 >= x1) {
              x.fill(fill, row, row + w);
              continue;
            }
            if (x0 > 0) x.fill(fill, row, row + x0);
            if (x1 < w) x.fill(fill, row + x1, row + w);
            const src = sy * w + dx;
            x.set(scratch.subarray(src + x0, src + x1), row + x0);
          }
        }
      }
    },
  };
}

/** Mirror each image left–right with probability `p`, as `torchvision.transforms.RandomHorizontalFlip`. */
export function randomHorizontalFlip(p = 0.5): Transform {
  const op = 'randomHorizontalFlip';
  if (!(p >= 0 && p <= 1)) throw new DatasetError(op, `p must be in [0, 1], got ${p}`);
  return {
    name: 'randomHorizontalFlip',
    apply(x, n, c, h, w, ctx) {
      for (let i = 0; i < n; i++) {
        // One draw per image whatever p is, so the random stream does not depend on p.
        if (!(ctx.rng.uniform() < p)) continue;
        for (let ch = 0; ch < c; ch++) {
          const base = (i * c + ch) * h * w;
          for (let y = 0; y < h; y++) {
            let a = base + y * w;
            let b = a + w - 1;
            while (a < b) {
              const t = x[a]!;
              x[a] = x[b]!;
              x[b] = t;
              a++;
              b--;
            }
          }
        }
      }
    },
  };
}

/**
 * Add Gaussian noise of standard deviation `std` to every value (the test-time pixel noise of the
 * analysis framework), optionally clamped to [min, max].
 */
export function gaussianNoise(std: number, options: { min?: number; max?: number } = {}): Transform {
  const op = 'gaussianNoise';
  if (!Number.isFinite(std) || std < 0) throw new DatasetError(op, `std must be a finite number >= 0, got ${std}`);
  const lo = options.min ?? -Infinity;
  const hi = options.max ?? Infinity;
  if (!(lo <= hi)) throw new DatasetError(op, `min ${lo} must be <= max ${hi}`);
  return {
    name: 'gaussianNoise',
    apply(x, _n, _c, _h, _w, ctx) {
      if (std === 0) return;
      for (let i = 0; i < x.length; i++) {
        const v = x[i]! + std * ctx.rng.normal();
        x[i] = v < lo ? lo : v > hi ? hi : v;
      }
    },
  };
}

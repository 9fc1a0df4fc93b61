import { Rng } from '@normlab/tensor';
import { DatasetError } from './errors.js';
import type { ImageDataset } from './dataset.js';
import type { Split } from './sources.js';

/** Options of `syntheticImages`. */
export interface SyntheticImagesOptions {
  /** Number of images. Default 1000. */
  n?: number;
  /** Number of classes (each has its own pattern). Default 10. */
  numClasses?: number;
  /** Default 1. */
  channels?: number;
  /** Default 28. */
  height?: number;
  /** Default 28. */
  width?: number;
  /** Seed for the per-image randomness (labels, shifts, contrast, noise). Default 0. */
  seed?: number;
  /** `'test'` draws a different stream from the same seed, with the same class patterns. */
  split?: Split;
  /** Standard deviation of the Gaussian pixel noise, in [0, 1] units. Default 0.1. */
  noise?: number;
  /** Each image's pattern is shifted by a uniform integer in [-maxShift, maxShift] pixels per axis. Default 1. */
  maxShift?: number;
  /** Dataset name. Default `synthetic-<split>`. */
  name?: string;
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new DatasetError('syntheticImages', `${name} must be an integer >= ${min}, got ${v}`);
  }
  return v;
}

/**
 * A seeded image classification set for fast tests and smoke runs. Class k is an oriented
 * sinusoidal grating (orientation k·180°/numClasses, one of three periods, a per-channel phase and
 * amplitude so colour carries information too); each image shifts its class's pattern by a few
 * pixels, scales its contrast by a factor in [0.7, 1] and adds Gaussian noise. Stored as uint8 like
 * the real sets. The class patterns depend only on the class index and geometry, so the train and
 * test splits (and different seeds) share them and a model trained on one generalizes to the other.
 * Labels are balanced (i mod numClasses) and shuffled.
 */
export function syntheticImages(options: SyntheticImagesOptions = {}): ImageDataset {
  const n = checkInt('n', options.n ?? 1000, 0);
  const K = checkInt('numClasses', options.numClasses ?? 10, 1);
  const C = checkInt('channels', options.channels ?? 1, 1);
  const H = checkInt('height', options.height ?? 28, 1);
  const W = checkInt('width', options.width ?? 28, 1);
  const maxShift = checkInt('maxShift', options.maxShift ?? 1, 0);
  const noise = options.noise ?? 0.1;
  if (!Number.isFinite(noise) || noise < 0) throw new DatasetError('syntheticImages', `noise must be a finite number >= 0, got ${noise}`);
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new DatasetError('syntheticImages', `split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const seed = options.seed ?? 0;
  if (!Number.isFinite(seed)) throw new DatasetError('syntheticImages', `seed must be a finite number, got ${seed}`);
  // A fixed odd constant separates the test stream from the train stream of the same seed.
  const rng = new Rng(split === 'test' ? (Math.trunc(seed) ^ 0x5bd1e995) : seed);

  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % K;
  rng.shuffle(labels);

  // Per-class pattern parameters, a pure function of the class index and image size.
  const scale = Math.min(H, W) / 28;
  const kx = new Float64Array(K);
  const ky = new Float64Array(K);
  const phase = new Float64Array(K * C);
  const amp = new Float64Array(K * C);
  for (let k = 0; k < K; k++) {
    const theta = (Math.PI * k) / K;
    const period = Math.max(2.5, (5 + (k % 3) * 2.5) * scale);
    const f = (2 * Math.PI) / period;
    kx[k] = f * Math.cos(theta);
    ky[k] = f * Math.sin(theta);
    for (let c = 0; c < C; c++) {
      phase[k * C + c] = (2 * Math.PI * ((k * 3 + c * 5) % 7)) / 7;
      amp[k * C + c] = C === 1 ? 1 : 0.55 + 0.45 * ((k + c) % 2);
    }
  }

  const per = C * H * W;
  const images = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) {
    const k = labels[i]!;
    const sx = maxShift === 0 ? 0 : rng.int(2 * maxShift + 1) - maxShift;
    const sy = maxShift === 0 ? 0 : rng.int(2 * maxShift + 1) - maxShift;
    const contrast = 0.7 + 0.3 * rng.uniform();
    const fx = kx[k]!;
    const fy = ky[k]!;
    for (let c = 0; c < C; c++) {
      const ph = phase[k * C + c]!;
      const a = 0.5 * contrast * amp[k * C + c]!;
      const base = i * per + c * H * W;
      for (let y = 0; y < H; y++) {
        const py = fy * (y - sy) + ph;
        const row = base + y * W;
        for (let x = 0; x < W; x++) {
          let v = 0.5 + a * Math.sin(fx * (x - sx) + py);
          if (noise > 0) v += noise * rng.normal();
          const q = Math.round(v * 255);
          images[row + x] = q < 0 ? 0 : q > 255 ? 255 : q;
        }
      }
    }
  }
  return {
    images,
    labels,
    n,
    channels: C,
    height: H,
    width: W,
    numClasses: K,
    name: options.name ?? `synthetic-${split}`,
    classNames: Array.from({ length: K }, (_, k) => `pattern${k}`),
  };
}

/**
 * Distortion modules for the analysis framework: placed after a norm layer, active in training
 * only (identity in eval), seeded so the same seed gives the same noise bit for bit.
 *
 * - `'additive'`, the paper's: `y ← y + n`, one `n ~ N(mean, std)` per (sample, group of
 *   channels) per step. The authors used mean 0.5, std 1.25, 32 groups (small: 0.001, 1.001).
 * - `'santurkar'`, the noisy BN of Santurkar et al. 2018: per channel per step
 *   `μ ~ U(−a, a)`, `σ ~ U(lo, hi)`; then per (sample, channel) `m ~ U(μ − j, μ + j)`,
 *   `s ~ N(σ, t)`; `y ← s·y + m`.
 */
import { Variable } from '@normlab/autograd';
import { Module } from '@normlab/nn';
import { Rng, Tensor, allocate, fmtShape } from '@normlab/tensor';
import { NormLayerError } from './errors.js';

/** The distortions: the paper's additive noise, or Santurkar et al.'s noisy BN. */
export type DistortionKind = 'additive' | 'santurkar';
/** Every distortion kind. */
export const DISTORTION_KINDS: readonly DistortionKind[] = ['additive', 'santurkar'];

/** Options of `Distortion`: the generator, and each kind's noise parameters (the others are ignored). */
export interface DistortionOptions {
  /** Seed of the layer's own generator (default 0). */
  seed?: number;
  /** Use (and advance) this generator instead of one seeded from `seed`. */
  rng?: Rng;
  /** additive: noise mean (default 0.5). */
  mean?: number;
  /** additive: noise std (default 1.25). */
  std?: number;
  /** additive: channel groups sharing one noise value (default 32; must divide C). */
  groups?: number;
  /** santurkar: μ ~ U(−muRange, muRange) (default 0.5). */
  muRange?: number;
  /** santurkar: σ ~ U(sigmaLow, sigmaHigh) (default 1, 1.25). */
  sigmaLow?: number;
  /** santurkar: upper end of σ's range (default 1.25; must be ≥ sigmaLow). */
  sigmaHigh?: number;
  /** santurkar: per-sample m ~ U(μ − meanJitter, μ + meanJitter) (default 0.1). */
  meanJitter?: number;
  /** santurkar: per-sample s ~ N(σ, scaleStd) (default 0.1). */
  scaleStd?: number;
}

function finite(name: string, v: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new NormLayerError(name, `${what} must be a finite number, got ${String(v)}`);
  return v;
}

/**
 * Noise injected after a norm layer in training (the identity in eval): `additive` or `santurkar`,
 * see the module notes above. Gradients flow through it (1 for additive, s for santurkar).
 */
export class Distortion extends Module {
  /** Which distortion. */
  readonly kind: DistortionKind;
  /** additive: noise mean. */
  readonly mean: number;
  /** additive: noise standard deviation. */
  readonly std: number;
  /** additive: channel groups sharing one noise value (capped at C). */
  readonly groups: number;
  /** santurkar: μ ~ U(−muRange, muRange) per channel per step. */
  readonly muRange: number;
  /** santurkar: σ ~ U(sigmaLow, sigmaHigh) per channel per step. */
  readonly sigmaLow: number;
  /** santurkar: upper end of σ's range. */
  readonly sigmaHigh: number;
  /** santurkar: per-sample shift m ~ U(μ − meanJitter, μ + meanJitter). */
  readonly meanJitter: number;
  /** santurkar: per-sample scale s ~ N(σ, scaleStd). */
  readonly scaleStd: number;
  private readonly rng: Rng;

  /** A `kind` distortion with its noise parameters; NormLayerError for an unknown kind or a bad parameter. */
  constructor(kind: DistortionKind, options: DistortionOptions = {}) {
    super();
    const name = 'Distortion';
    if (!DISTORTION_KINDS.includes(kind)) {
      throw new NormLayerError(name, `kind must be one of ${DISTORTION_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    }
    this.kind = kind;
    this.mean = finite(name, options.mean ?? 0.5, 'mean');
    this.std = finite(name, options.std ?? 1.25, 'std');
    if (this.std < 0) throw new NormLayerError(name, `std must be >= 0, got ${this.std}`);
    const groups = options.groups ?? 32;
    if (!Number.isInteger(groups) || groups <= 0) throw new NormLayerError(name, `groups must be a positive integer, got ${groups}`);
    this.groups = groups;
    this.muRange = finite(name, options.muRange ?? 0.5, 'muRange');
    this.sigmaLow = finite(name, options.sigmaLow ?? 1, 'sigmaLow');
    this.sigmaHigh = finite(name, options.sigmaHigh ?? 1.25, 'sigmaHigh');
    if (this.sigmaHigh < this.sigmaLow) {
      throw new NormLayerError(name, `sigmaHigh ${this.sigmaHigh} must be >= sigmaLow ${this.sigmaLow}`);
    }
    this.meanJitter = finite(name, options.meanJitter ?? 0.1, 'meanJitter');
    this.scaleStd = finite(name, options.scaleStd ?? 0.1, 'scaleStd');
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
  }

  /** x (N, C, …) → the same shape, distorted in training, unchanged in eval. */
  forward(x: Variable): Variable {
    const name = `Distortion(${this.kind})`;
    if (!(x instanceof Variable)) throw new NormLayerError(name, `input must be a Variable, got ${typeof x}`);
    if (x.shape.length < 2) throw new NormLayerError(name, `expected input of rank >= 2 (N, C, ...), got shape ${fmtShape(x.shape)}`);
    if (!this.training) return x;
    const N = x.shape[0]!;
    const C = x.shape[1]!;
    const S = x.size / Math.max(1, N * C);
    const xd = x.data.contiguous().data;
    const out = allocate(x.dtype, x.size);
    if (this.kind === 'additive') {
      const G = Math.min(this.groups, C);
      if (C % G !== 0) throw new NormLayerError(name, `channels ${C} are not divisible by groups ${G}`);
      const cpg = C / G;
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < G; g++) {
          const noise = this.rng.normal(this.mean, this.std);
          const start = (n * C + g * cpg) * S;
          for (let i = start, end = start + cpg * S; i < end; i++) out[i] = xd[i]! + noise;
        }
      }
      return Variable.fromOp(name, new Tensor(out, x.shape), [x], (gy) => [gy]);
    }
    // santurkar: draw per-channel (μ, σ) for this step, then per-sample (m, s).
    const scales = new Float64Array(N * C);
    const mu = new Float64Array(C);
    const sigma = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      mu[c] = this.rng.uniformRange(-this.muRange, this.muRange);
      sigma[c] = this.rng.uniformRange(this.sigmaLow, this.sigmaHigh);
    }
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const m = this.rng.uniformRange(mu[c]! - this.meanJitter, mu[c]! + this.meanJitter);
        const s = this.rng.normal(sigma[c]!, this.scaleStd);
        scales[n * C + c] = s;
        const start = (n * C + c) * S;
        for (let i = start, end = start + S; i < end; i++) out[i] = s * xd[i]! + m;
      }
    }
    return Variable.fromOp(name, new Tensor(out, x.shape), [x], (gy) => {
      const g = gy.contiguous().data;
      const dx = allocate(gy.dtype, gy.size);
      for (let nc = 0; nc < N * C; nc++) {
        const s = scales[nc]!;
        for (let i = nc * S, end = i + S; i < end; i++) dx[i] = s * g[i]!;
      }
      return [new Tensor(dx, x.shape)];
    });
  }
}

/**
 * The blend of a GN stage u and a batch stage v, `y = γ_c·(w_c·u + (1 − w_c)·v) + β_c`: the
 * basic kernels `blendAffine` / `blendAffineBackward` (GN+ and HybridNorm composed from basic
 * kernels), and the layout and backward result the fused GN+ and HybridNorm kernels share.
 */
import { type Tensor, allocate, fromArray } from '@normlab/tensor';
import { dataOf } from './rows.js';

/** The blend backward's result: the gradients reaching each branch, the affine parameters and the blend weight. */
export interface BlendBackwardResult {
  /** w·dh, dh = dy·γ: the gradient reaching the GN branch. */
  du: Tensor;
  /** (1 − w)·dh: the gradient reaching the batch branch. */
  dv: Tensor;
  /** Σ over (n, s) of dy·(w·u + (1 − w)·v) per channel: the gradient of γ. */
  dweight: Float64Array;
  /** Σ over (n, s) of dy per channel: the gradient of β. */
  dbias: Float64Array;
  /** Σ over (n, s) of dh·(u − v) per channel: the gradient of the blend weight w_c. */
  dblend: Float64Array;
}

/** How a blend kernel reads its (N, C, S) inputs. */
export interface BlendLayout {
  /** Batch size N. */
  n: number;
  /** Channels C. */
  c: number;
  /** Spatial size H·W. */
  s: number;
}

/** (N, C, S) input with G channel groups per sample: the GN stage of GN+ and HybridNorm. */
export interface TwoStageLayout {
  n: number;
  c: number;
  s: number;
  groups: number;
}

export interface TwoStageBackwardResult {
  /** Input gradient, or null when it was not asked for. */
  dx: Tensor | null;
  dweight: Float64Array;
  dbias: Float64Array;
  /** Σ dh·(u − v) per channel, dh = dy·γ: the gradient of the blend weight w_c. */
  dblend: Float64Array;
}

export function blendAffineCpu(
  u: Tensor,
  v: Tensor,
  l: BlendLayout,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): Tensor {
  const ud = dataOf(u);
  const vd = dataOf(v);
  const { n: N, c: C, s: S } = l;
  const w = weight ? dataOf(weight) : null;
  const b = bias ? dataOf(bias) : null;
  const out = allocate(u.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const gamma = w ? w[c]! : 1;
      const a = gamma * blend[c]!;
      const bb = gamma - a; // γ·(1 − w)
      const shift = b ? b[c]! : 0;
      const base = (n * C + c) * S;
      for (let i = base, end = base + S; i < end; i++) out[i] = a * ud[i]! + bb * vd[i]! + shift;
    }
  }
  return fromArray(out, [N, C, S]);
}

export function blendAffineBackwardCpu(
  dy: Tensor,
  u: Tensor,
  v: Tensor,
  l: BlendLayout,
  blend: Float64Array,
  weight: Tensor | null,
): BlendBackwardResult {
  const gd = dataOf(dy);
  const ud = dataOf(u);
  const vd = dataOf(v);
  const { n: N, c: C, s: S } = l;
  const w = weight ? dataOf(weight) : null;
  const du = allocate(u.dtype, N * C * S);
  const dv = allocate(u.dtype, N * C * S);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  const dblend = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const gamma = w ? w[c]! : 1;
      const wc = blend[c]!;
      const a = gamma * wc;
      const bb = gamma - a;
      const base = (n * C + c) * S;
      let sdy = 0;
      let sdyh = 0;
      let sdyd = 0;
      for (let i = base, end = base + S; i < end; i++) {
        const g = gd[i]!;
        const uu = ud[i]!;
        const vv = vd[i]!;
        sdy += g;
        sdyh += g * (wc * uu + (1 - wc) * vv);
        sdyd += g * (uu - vv);
        du[i] = a * g;
        dv[i] = bb * g;
      }
      dbias[c]! += sdy;
      dweight[c]! += sdyh;
      dblend[c]! += gamma * sdyd;
    }
  }
  return {
    du: fromArray(du, [N, C, S]),
    dv: fromArray(dv, [N, C, S]),
    dweight,
    dbias,
    dblend,
  };
}

/**
 * HybridNorm as one forward and one backward kernel (`hybridNormForward`, `hybridNormBackward`):
 * GN in PyTorch's form, a per-channel BN stage of its output, the blend and the affine, with no
 * intermediate tensor.
 */
import { type Tensor, type TypedArray, allocateUninitialized, fromArray } from '@normlab/tensor';
import type { TwoStageBackwardResult, TwoStageLayout } from './blend.js';
import type { Moments } from './grouped.js';
import { applyAffine, dataOf, dyMoments, gradAffine, pair, shiftedMoments, shiftedSums } from './rows.js';

/**
 * What `hybridNormForward` keeps for the backward. Per (n, c) row: its mean and Σ (x − row
 * mean)², from which every per-row and per-channel sum of the backward follows in closed form.
 */
export interface HybridNormSaved {
  gnMean: Float64Array;
  gnRstd: Float64Array;
  rowMean: Float64Array;
  rowM2: Float64Array;
  /** The BN stage's per-channel mean and 1/sqrt(var + eps) (batch or running). */
  bnMean: Float64Array;
  bnRstd: Float64Array;
  /** True when the BN stage used running statistics (constant in x). */
  bnConstant: boolean;
}

export interface HybridNormForwardResult {
  y: Tensor;
  saved: HybridNormSaved;
  /** The BN stage's batch statistics (mean, biased variance) of the GN output, or null with running statistics. */
  bnMoments: Moments | null;
}

/**
 * Per (n, c) row: Σ dy and Σ dy·(x − center[slot]) into s1, s2 (length N·C), with the slot of
 * sample n's channel c being n·G + floor(c / (C/G)).
 */
function rowDyMoments(
  xd: TypedArray,
  gd: TypedArray,
  l: TwoStageLayout,
  center: Float64Array,
  s1: Float64Array,
  s2: Float64Array,
): void {
  const { n: N, c: C, s: S, groups: G } = l;
  const cpg = C / G;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const m = center[n * G + ((c / cpg) | 0)]!;
      const base = (n * C + c) * S;
      dyMoments(gd, xd, base, base + S, m);
      s1[n * C + c] = pair[0]!;
      s2[n * C + c] = pair[1]!;
    }
  }
}

/**
 * HybridNorm forward. Within a row (n, c) both stages are affine in x:
 *   u = r_n·(x − m_n),  v = r_c·(u − μ_c),  y = γ_c·(w_c·u + (1 − w_c)·v) + β_c = A·(x − m_n) + B,
 * so one output pass suffices once the statistics are known. The BN stage's statistics of u
 * come from per-row statistics of x, combined exactly as parallel two-pass moments (Chan et al.):
 *   Σ_s (u − μ_c)² = r_n²·M2_row + S·(r_n·(x̄_row − m_n) − μ_c)²,
 * each term non-negative and every difference formed in float64, so no E[x²] − E[x]² cancellation.
 */
export function hybridNormForwardCpu(
  x: Tensor,
  l: TwoStageLayout,
  eps: number,
  bnStats: { mean: Float64Array; rstd: Float64Array } | null,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): HybridNormForwardResult {
  const xd = dataOf(x);
  const { n: N, c: C, s: S, groups: G } = l;
  const cpg = C / G;
  const block = cpg * S;
  const w = weight ? dataOf(weight) : null;
  const b = bias ? dataOf(bias) : null;
  const gnMean = new Float64Array(N * G);
  const gnRstd = new Float64Array(N * G);
  const rowMean = new Float64Array(N * C);
  const rowM2 = new Float64Array(N * C);
  // Each row's mean and M2 in one shifted read, then the GN statistics per (n, g) combined
  // from its rows (Chan et al.).
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      let total = 0;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const start = (n * C + c) * S;
        const K = xd[start]!;
        shiftedSums(xd, start, start + S, K);
        shiftedMoments(K, pair[0]!, pair[1]!, S);
        rowMean[n * C + c] = pair[0]!;
        rowM2[n * C + c] = pair[1]!;
        total += pair[0]!;
      }
      const m = total / cpg;
      let m2 = 0;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const d = rowMean[n * C + c]! - m;
        m2 += rowM2[n * C + c]! + S * d * d;
      }
      gnMean[n * G + g] = m;
      gnRstd[n * G + g] = 1 / Math.sqrt(m2 / block + eps);
    }
  }
  let bnMean: Float64Array;
  let bnRstd: Float64Array;
  let bnMoments: Moments | null = null;
  if (bnStats) {
    bnMean = bnStats.mean;
    bnRstd = bnStats.rstd;
  } else {
    bnMean = new Float64Array(C);
    bnRstd = new Float64Array(C);
    const bnVar = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const g = (c / cpg) | 0;
      let acc = 0;
      for (let n = 0; n < N; n++) acc += gnRstd[n * G + g]! * (rowMean[n * C + c]! - gnMean[n * G + g]!);
      const mu = acc / N;
      let m2 = 0;
      for (let n = 0; n < N; n++) {
        const r = gnRstd[n * G + g]!;
        const d = r * (rowMean[n * C + c]! - gnMean[n * G + g]!) - mu;
        m2 += r * r * rowM2[n * C + c]! + S * d * d;
      }
      bnMean[c] = mu;
      bnVar[c] = m2 / (N * S);
      bnRstd[c] = 1 / Math.sqrt(bnVar[c]! + eps);
    }
    bnMoments = { mean: bnMean, variance: bnVar };
  }
  const out = allocateUninitialized(x.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const slot = n * G + ((c / cpg) | 0);
      const m = gnMean[slot]!;
      const gamma = w ? w[c]! : 1;
      const wc = blend[c]!;
      const rc = bnRstd[c]!;
      const scale = gamma * (wc + (1 - wc) * rc) * gnRstd[slot]!;
      const shift = (b ? b[c]! : 0) - gamma * (1 - wc) * rc * bnMean[c]!;
      const base = (n * C + c) * S;
      applyAffine(out, xd, base, base + S, m, scale, shift);
    }
  }
  return {
    y: fromArray(out, [N, C, S]),
    saved: { gnMean, gnRstd, rowMean, rowM2, bnMean, bnRstd, bnConstant: bnStats !== null },
    bnMoments,
  };
}

/**
 * HybridNorm backward. With dh = γ·dy, the gradient reaching u is
 *   du = w·dh + r_c·((1 − w)·dh − C0_c − C1_c·v)      (BN stage backward, C0 = C1 = 0 if constant)
 * which is again affine per row: du = a_c·dy + b_nc·(x − m_n) + e_c. The GN backward needs
 * Σ du and Σ du·(x − m_n) per slot; both follow from the rows' Σ dy, Σ dy·(x − m_n) (one pass)
 * and the forward's row statistics. A second pass writes dx = P·dy + Q·(x − m_n) + R.
 */
export function hybridNormBackwardCpu(
  x: Tensor,
  dy: Tensor,
  l: TwoStageLayout,
  saved: HybridNormSaved,
  blend: Float64Array,
  weight: Tensor | null,
  needInputGrad: boolean,
): TwoStageBackwardResult {
  const xd = dataOf(x);
  const gd = dataOf(dy);
  const { n: N, c: C, s: S, groups: G } = l;
  const cpg = C / G;
  const block = cpg * S;
  const w = weight ? dataOf(weight) : null;
  const { gnMean, gnRstd, rowMean, rowM2, bnMean, bnRstd, bnConstant } = saved;
  const s1 = new Float64Array(N * C);
  const s2 = new Float64Array(N * C);
  rowDyMoments(xd, gd, l, gnMean, s1, s2);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  const dblend = new Float64Array(C);
  const ca = new Float64Array(C);
  const cb = new Float64Array(C);
  const ce = new Float64Array(C);
  const total = N * S;
  for (let c = 0; c < C; c++) {
    const g = (c / cpg) | 0;
    let sDy = 0;
    let sDyU = 0;
    for (let n = 0; n < N; n++) {
      sDy += s1[n * C + c]!;
      sDyU += gnRstd[n * G + g]! * s2[n * C + c]!;
    }
    const rc = bnRstd[c]!;
    const mu = bnMean[c]!;
    const sDyV = rc * (sDyU - mu * sDy);
    const wc = blend[c]!;
    const gamma = w ? w[c]! : 1;
    dbias[c] = sDy;
    dweight[c] = wc * sDyU + (1 - wc) * sDyV;
    dblend[c] = gamma * (sDyU - sDyV);
    // BN stage backward with g = (1 − w)·γ·dy: C0 = mean(g), C1 = mean(g·v).
    const c0 = bnConstant ? 0 : ((1 - wc) * gamma * sDy) / total;
    const c1 = bnConstant ? 0 : ((1 - wc) * gamma * sDyV) / total;
    ca[c] = gamma * (wc + (1 - wc) * rc);
    cb[c] = -rc * rc * c1; // times r_n
    ce[c] = rc * (c1 * rc * mu - c0);
  }
  if (!needInputGrad) return { dx: null, dweight, dbias, dblend };
  const out = allocateUninitialized(x.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const slot = n * G + g;
      const r = gnRstd[slot]!;
      const m = gnMean[slot]!;
      let sDu = 0;
      let sDuX = 0;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const rowD = rowMean[n * C + c]! - m;
        const x1 = S * rowD; // Σ (x − m_n) over the row
        const x2 = rowM2[n * C + c]! + S * rowD * rowD; // Σ (x − m_n)²
        const bnc = cb[c]! * r;
        sDu += ca[c]! * s1[n * C + c]! + bnc * x1 + S * ce[c]!;
        sDuX += ca[c]! * s2[n * C + c]! + bnc * x2 + ce[c]! * x1;
      }
      // GN backward (k = 1): dx = r·(du − mean(du) − mean(du·û)·û), û = r·(x − m).
      const meanDu = sDu / block;
      const meanDuU = (r * sDuX) / block;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const p = r * ca[c]!;
        const q = r * (cb[c]! * r - meanDuU * r);
        const rr = r * (ce[c]! - meanDu);
        const base = (n * C + c) * S;
        gradAffine(out, gd, xd, base, base + S, p, q, m, rr);
      }
    }
  }
  return { dx: fromArray(out, [N, C, S]), dweight, dbias, dblend };
}

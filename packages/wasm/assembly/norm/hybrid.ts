// HybridNorm as one forward and one backward kernel (twins of
// packages/norm-layers/src/kernels/hybrid.ts): GN in PyTorch's form, a per-channel BN stage of
// its output, the blend and the affine. Within a row (n, c) both stages are affine in x, so the
// forward is one statistics pass and one output pass, the backward one reduction pass and one dx
// pass. Item functions work on per-sample slots (n, g) as grouped.ts does (one run each); the
// per-channel steps between the passes are O(N·C) and run once, on the calling thread.

import { applyAffine, dyMoments, gradAffine, shiftedMoments, shiftedSums } from './rows';

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

// @ts-ignore: decorator
@inline function at8(base: usize, i: i32): usize {
  return base + ((<usize>i) << 3);
}

// @ts-ignore: decorator
@inline function ld(base: usize, i: i32): f64 {
  return load<f64>(at8(base, i));
}

// @ts-ignore: decorator
@inline function param(w: usize, c: i32, none: f64): f64 {
  return w ? <f64>load<f32>(at(w, c)) : none;
}

/**
 * Pass 1 of the forward over slots [s0, s1): each row's mean and M2 in one shifted read, then
 * the slot's GN mean and 1/sqrt(var + eps) combined from its rows (Chan et al.).
 */
export function hybridRowStatsSlots(
  x: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32, C: i32,
  eps: f64, rowMean: usize, rowM2: usize, gnMean: usize, gnRstd: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const xs = at(x, (s - s0) * block);
    const row0 = (s / G) * C + (s % G) * cpg;
    let total: f64 = 0;
    for (let j = 0; j < cpg; j++) {
      const start = at(xs, j * S);
      const K = <f64>load<f32>(start);
      const sums = shiftedSums(start, S, K);
      const mm = shiftedMoments(K, f64x2.extract_lane(sums, 0), f64x2.extract_lane(sums, 1), <f64>S);
      store<f64>(at8(rowMean, row0 + j), f64x2.extract_lane(mm, 0));
      store<f64>(at8(rowM2, row0 + j), f64x2.extract_lane(mm, 1));
      total += f64x2.extract_lane(mm, 0);
    }
    const m = total / <f64>cpg;
    let m2: f64 = 0;
    for (let j = 0; j < cpg; j++) {
      const d = ld(rowMean, row0 + j) - m;
      m2 += ld(rowM2, row0 + j) + <f64>S * d * d;
    }
    store<f64>(at8(gnMean, s), m);
    store<f64>(at8(gnRstd, s), 1 / Math.sqrt(m2 / <f64>block + eps));
  }
}

/**
 * The BN stage's batch statistics per channel from the row statistics:
 * Σ_s (u − μ_c)² = r_n²·M2_row + S·(r_n·(x̄_row − m_n) − μ_c)², every difference in float64.
 */
export function hybridBatchStats(
  N: i32, C: i32, S: i32, G: i32, eps: f64, rowMean: usize, rowM2: usize, gnMean: usize, gnRstd: usize,
  bnMean: usize, bnVar: usize, bnRstd: usize,
): void {
  const cpg = C / G;
  for (let c = 0; c < C; c++) {
    const g = c / cpg;
    let acc: f64 = 0;
    for (let n = 0; n < N; n++) acc += ld(gnRstd, n * G + g) * (ld(rowMean, n * C + c) - ld(gnMean, n * G + g));
    const mu = acc / <f64>N;
    let m2: f64 = 0;
    for (let n = 0; n < N; n++) {
      const r = ld(gnRstd, n * G + g);
      const d = r * (ld(rowMean, n * C + c) - ld(gnMean, n * G + g)) - mu;
      m2 += r * r * ld(rowM2, n * C + c) + <f64>S * d * d;
    }
    const v = m2 / (<f64>N * <f64>S);
    store<f64>(at8(bnMean, c), mu);
    store<f64>(at8(bnVar, c), v);
    store<f64>(at8(bnRstd, c), 1 / Math.sqrt(v + eps));
  }
}

/** Pass 2 of the forward over slots [s0, s1): y = A·(x − m_n) + B per row. */
export function hybridApplySlots(
  x: usize, y: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32,
  w: usize, b: usize, blend: usize, gnMean: usize, gnRstd: usize, bnMean: usize, bnRstd: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const g = s % G;
    const m = ld(gnMean, s);
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const gamma = param(w, c, 1);
      const wc = ld(blend, c);
      const rc = ld(bnRstd, c);
      const scale = gamma * (wc + (1 - wc) * rc) * ld(gnRstd, s);
      const shift = param(b, c, 0) - gamma * (1 - wc) * rc * ld(bnMean, c);
      applyAffine(at(y, o + j * S), at(x, o + j * S), S, m, scale, shift);
    }
  }
}

/** Pass 1 of the backward over slots [s0, s1): per row Σ dy into s1v and Σ dy·(x − m_n) into s2v. */
export function hybridRowSumsSlots(
  x: usize, dy: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32, C: i32,
  gnMean: usize, s1v: usize, s2v: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const row0 = (s / G) * C + (s % G) * cpg;
    const m = ld(gnMean, s);
    for (let j = 0; j < cpg; j++) {
      const sums = dyMoments(at(dy, o + j * S), at(x, o + j * S), S, m);
      store<f64>(at8(s1v, row0 + j), f64x2.extract_lane(sums, 0));
      store<f64>(at8(s2v, row0 + j), f64x2.extract_lane(sums, 1));
    }
  }
}

/**
 * The per-channel step of the backward: the parameter gradients and, with the BN stage's
 * backward folded in, du = a_c·dy + b_c·r_n·(x − m_n) + e_c as the constants ca, cb, ce.
 */
export function hybridChannelTerms(
  N: i32, C: i32, S: i32, G: i32, w: usize, blend: usize, gnRstd: usize, bnMean: usize, bnRstd: usize, bnConstant: bool,
  s1v: usize, s2v: usize, dweight: usize, dbias: usize, dblend: usize, ca: usize, cb: usize, ce: usize,
): void {
  const cpg = C / G;
  const total = <f64>N * <f64>S;
  for (let c = 0; c < C; c++) {
    const g = c / cpg;
    let sDy: f64 = 0;
    let sDyU: f64 = 0;
    for (let n = 0; n < N; n++) {
      sDy += ld(s1v, n * C + c);
      sDyU += ld(gnRstd, n * G + g) * ld(s2v, n * C + c);
    }
    const rc = ld(bnRstd, c);
    const mu = ld(bnMean, c);
    const sDyV = rc * (sDyU - mu * sDy);
    const wc = ld(blend, c);
    const gamma = param(w, c, 1);
    store<f64>(at8(dbias, c), sDy);
    store<f64>(at8(dweight, c), wc * sDyU + (1 - wc) * sDyV);
    store<f64>(at8(dblend, c), gamma * (sDyU - sDyV));
    // BN stage backward with g = (1 − w)·γ·dy: C0 = mean(g), C1 = mean(g·v).
    const c0 = bnConstant ? 0 : ((1 - wc) * gamma * sDy) / total;
    const c1 = bnConstant ? 0 : ((1 - wc) * gamma * sDyV) / total;
    store<f64>(at8(ca, c), gamma * (wc + (1 - wc) * rc));
    store<f64>(at8(cb, c), -rc * rc * c1);
    store<f64>(at8(ce, c), rc * (c1 * rc * mu - c0));
  }
}

/**
 * Pass 2 of the backward over slots [s0, s1): GN's backward (k = 1) of du, whose slot sums follow
 * from the row sums and row statistics, written as dx = P·dy + Q·(x − m_n) + R per row.
 */
export function hybridBackwardSlots(
  x: usize, dy: usize, out: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32, C: i32,
  gnMean: usize, gnRstd: usize, rowMean: usize, rowM2: usize, s1v: usize, s2v: usize, ca: usize, cb: usize, ce: usize,
): void {
  const fS = <f64>S;
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const g = s % G;
    const row0 = (s / G) * C + g * cpg;
    const r = ld(gnRstd, s);
    const m = ld(gnMean, s);
    let sDu: f64 = 0;
    let sDuX: f64 = 0;
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const rowD = ld(rowMean, row0 + j) - m;
      const x1 = fS * rowD; // Σ (x − m_n) over the row
      const x2 = ld(rowM2, row0 + j) + fS * rowD * rowD; // Σ (x − m_n)²
      const bnc = ld(cb, c) * r;
      sDu += ld(ca, c) * ld(s1v, row0 + j) + bnc * x1 + fS * ld(ce, c);
      sDuX += ld(ca, c) * ld(s2v, row0 + j) + bnc * x2 + ld(ce, c) * x1;
    }
    // GN backward (k = 1): dx = r·(du − mean(du) − mean(du·û)·û), û = r·(x − m).
    const meanDu = sDu / <f64>block;
    const meanDuU = (r * sDuX) / <f64>block;
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const p = r * ld(ca, c);
      const q = r * (ld(cb, c) * r - meanDuU * r);
      const rr = r * (ld(ce, c) - meanDu);
      gradAffine(at(out, o + j * S), at(dy, o + j * S), at(x, o + j * S), S, p, q, m, rr, false);
    }
  }
}

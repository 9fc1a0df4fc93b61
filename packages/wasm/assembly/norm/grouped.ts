// The grouped norm kernels (twins of packages/norm-layers/src/kernels/grouped.ts): an (N, C, S)
// input with a statistic per slot, `(perSample ? n·G : 0) + floor(c / (C/G))`.
//
// Every function works on slots [s0, s1) whose data `x` (and `y`, `dy`, `out` alike) points at:
// slot s0 + i starts `i·block` floats after `x`, and is `runs` runs of `block` = (C/G)·S floats,
// `runStride` floats apart (run r of a pooled slot is sample r; a per-sample slot is one run).
// That covers the operands in place in the whole (N, C, S) array (block steps between slots,
// runStride = C·S) and a chunk of slots copied out of it (runStride = (s1 − s0)·block). Channel j
// of a slot's run is the row `j·S` floats into it. Per-slot statistics (f64) are indexed by the
// absolute slot, per-channel parameters (f32) by channel, per-row partials (f64) by n·C + c.

import { applyAffine, dyMoments, gradAffine, shiftedMoments, shiftedSums } from './rows';

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

// @ts-ignore: decorator
@inline function at8(base: usize, i: i32): usize {
  return base + ((<usize>i) << 3);
}

/** γ_c, or 1 without a weight (`w` = 0). */
// @ts-ignore: decorator
@inline function param(w: usize, c: i32, none: f64): f64 {
  return w ? <f64>load<f32>(at(w, c)) : none;
}

/** (mean, M2) of one slot in one read shifted by its first value. */
function slotMoments(x: usize, runs: i32, runStride: i32, block: i32): v128 {
  const K = <f64>load<f32>(x);
  let t1: f64 = 0;
  let t2: f64 = 0;
  for (let r = 0; r < runs; r++) {
    const s = shiftedSums(at(x, r * runStride), block, K);
    t1 += f64x2.extract_lane(s, 0);
    t2 += f64x2.extract_lane(s, 1);
  }
  return shiftedMoments(K, t1, t2, <f64>runs * <f64>block);
}

/** The mean and M2 = Σ (x − mean)² of slots [s0, s1), into mean[s], m2[s]. */
export function normMomentsSlots(x: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, mean: usize, m2: usize): void {
  for (let s = s0; s < s1; s++) {
    const mm = slotMoments(at(x, (s - s0) * block), runs, runStride, block);
    store<f64>(at8(mean, s), f64x2.extract_lane(mm, 0));
    store<f64>(at8(m2, s), f64x2.extract_lane(mm, 1));
  }
}

/** y = (x − mean[s])·rstd[s]·γ_c + β_c over one slot (channels g·cpg …). */
function applySlot(x: usize, y: usize, runs: i32, runStride: i32, cpg: i32, S: i32, g: i32, w: usize, b: usize, m: f64, r: f64): void {
  for (let q = 0; q < runs; q++) {
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const o = q * runStride + j * S;
      applyAffine(at(y, o), at(x, o), S, m, r * param(w, c, 1), param(b, c, 0));
    }
  }
}

/**
 * `normForward` over slots [s0, s1): each slot's shifted statistics (biased variance), then its
 * normalized output while its values are still in cache.
 */
export function normForwardSlots(
  x: usize, y: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32,
  w: usize, b: usize, eps: f64, mean: usize, variance: usize, rstd: usize,
): void {
  const count = <f64>runs * <f64>block;
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const mm = slotMoments(at(x, o), runs, runStride, block);
    const m = f64x2.extract_lane(mm, 0);
    const v = f64x2.extract_lane(mm, 1) / count;
    const r = 1 / Math.sqrt(v + eps);
    store<f64>(at8(mean, s), m);
    store<f64>(at8(variance, s), v);
    store<f64>(at8(rstd, s), r);
    applySlot(at(x, o), at(y, o), runs, runStride, cpg, S, s % G, w, b, m, r);
  }
}

/**
 * Per row of slots [s0, s1): Σ dy into rowDy[n·C + c] and Σ dy·x̂ into rowDyX[n·C + c], and the
 * slot's Σ γ·dy, Σ γ·dy·x̂ returned as an f64x2 (`normParamGrads`, and pass 1 of the backward).
 */
function slotRowSums(
  x: usize, dy: usize, runs: i32, runStride: i32, cpg: i32, S: i32, C: i32, n0: i32, g: i32,
  w: usize, m: f64, r: f64, rowDy: usize, rowDyX: usize,
): v128 {
  let sumG: f64 = 0;
  let sumGX: f64 = 0;
  for (let q = 0; q < runs; q++) {
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const o = q * runStride + j * S;
      const sums = dyMoments(at(dy, o), at(x, o), S, m);
      const sdy = f64x2.extract_lane(sums, 0);
      const sdyx = f64x2.extract_lane(sums, 1) * r;
      const row = (n0 + q) * C + c;
      store<f64>(at8(rowDy, row), sdy);
      store<f64>(at8(rowDyX, row), sdyx);
      const gamma = param(w, c, 1);
      sumG += gamma * sdy;
      sumGX += gamma * sdyx;
    }
  }
  return f64x2.replace_lane(f64x2.splat(sumG), 1, sumGX);
}

/** `normParamGrads` over slots [s0, s1): the per-row sums (the caller adds them over n in order). */
export function normParamGradsSlots(
  x: usize, dy: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32, C: i32,
  perSample: bool, mean: usize, rstd: usize, rowDy: usize, rowDyX: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const n0 = perSample ? s / G : 0;
    slotRowSums(at(x, o), at(dy, o), runs, runStride, cpg, S, C, n0, s % G, 0, load<f64>(at8(mean, s)), load<f64>(at8(rstd, s)), rowDy, rowDyX);
  }
}

/**
 * `normBackward` over slots [s0, s1), both passes over a slot while it is in cache:
 * dx = r·γ·dy − r·mean(g) − r²·k·mean(g·x̂)·(x − μ), g = γ·dy (`k` = 0: 1 everywhere), only
 * r·γ·dy when `statsConstant`; added into `out` when `accumulate`. Per-row Σ dy and Σ dy·x̂ go to
 * rowDy, rowDyX (the parameter gradients).
 */
export function normBackwardSlots(
  x: usize, dy: usize, out: usize, s0: i32, s1: i32, runs: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32, C: i32,
  perSample: bool, w: usize, mean: usize, rstd: usize, k: usize, statsConstant: bool, accumulate: bool, rowDy: usize, rowDyX: usize,
): void {
  const count = <f64>runs * <f64>block;
  for (let s = s0; s < s1; s++) {
    const o = (s - s0) * block;
    const g = s % G;
    const m = load<f64>(at8(mean, s));
    const r = load<f64>(at8(rstd, s));
    const xs = at(x, o);
    const gs = at(dy, o);
    const sums = slotRowSums(xs, gs, runs, runStride, cpg, S, C, perSample ? s / G : 0, g, w, m, r, rowDy, rowDyX);
    let c0: f64 = 0;
    let c1: f64 = 0;
    if (!statsConstant) {
      c0 = (-r * f64x2.extract_lane(sums, 0)) / count;
      c1 = (-r * r * (k ? load<f64>(at8(k, s)) : 1) * f64x2.extract_lane(sums, 1)) / count;
    }
    const os = at(out, o);
    for (let q = 0; q < runs; q++) {
      for (let j = 0; j < cpg; j++) {
        const ro = q * runStride + j * S;
        gradAffine(at(os, ro), at(gs, ro), at(xs, ro), S, r * param(w, g * cpg + j, 1), c1, m, c0, accumulate);
      }
    }
  }
}

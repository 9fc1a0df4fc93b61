/**
 * The fused kernels every normalization layer is built from, registered for backend `cpu` in the
 * tensor kernel registry so that another backend (`@normlab/gpu`) can supply its own.
 *
 * Two families cover every layer:
 *
 * - **grouped** kernels see the input as (N, C, S) with S = H·W and a statistic per "slot". The
 *   slot of element (n, c, s) is `(perSample ? n·G : 0) + floor(c / (C/G))`. That one rule gives
 *   GN (G groups, per sample), LN (G = 1), IN (G = C, per sample), BN (G = C, pooled over the
 *   batch), BGN (G groups, pooled), and eval with running statistics (G = C or G, pooled).
 * - **batch-axis** kernels see the input as (N, P) with P = C·H·W and a statistic per position p,
 *   taken over the batch axis alone: the batch stage of the paper's GN+.
 *
 * On top of these basic kernels, fused ones (`normForward`, `normParamGrads`, `hybridNormForward`
 * / `hybridNormBackward`, `gnPlusForward` / `gnPlusBackward`) run a whole layer's forward or
 * backward with one output array and no intermediate (N, C, H, W) tensor; the layers use them on
 * `cpu`, and on another backend only when it registers them too (else the basic kernels).
 * Their outputs, which they write whole, start uninitialized (`allocateUninitialized`).
 *
 * Statistics accumulate in float64 (a JS number) over values shifted by one value of their slot
 * (`shiftedMoments`: one read of the data, two-pass accuracy), and `x − mean` is formed in
 * float64 before anything is stored; an unshifted one-pass `E[x²] − E[x]²` would lose every digit
 * for inputs with a large mean and a small spread.
 *
 * Backward kernels implement the analytic input gradient of `u = (x − μ)·r`:
 *   `dx = r·(g − mean(g) − k·mean(g·u)·u)`,  g = dy·γ,
 * where the means run over the slot's elements and `k` is 1 for `r = 1/sqrt(var + eps)`
 * (PyTorch's form, biased variance) and `k = M(s + eps)/((M − 1)s)` for the authors' GN+ form
 * `r = 1/(s + eps)` with the unbiased std `s` over M elements. With constant statistics (eval
 * with running statistics) both mean terms vanish: `dx = r·g`.
 */
import {
  type Tensor,
  type TypedArray,
  allocate,
  allocateUninitialized,
  fromArray,
  parallelFor,
  rangeKernel,
  registerKernel,
} from '@normlab/tensor';

/** How a grouped kernel reads an (N, C, S) input. */
export interface GroupedLayout {
  n: number;
  c: number;
  /** Spatial size H·W (1 for (N, C) input). */
  s: number;
  /** Number of channel groups G; C must be divisible by G. */
  groups: number;
  /** Statistics per (sample, group) when true, per group pooled over the batch when false. */
  perSample: boolean;
}

/** Per-slot (or per-position) statistics, float64. `variance` uses the requested correction. */
export interface Moments {
  mean: Float64Array;
  variance: Float64Array;
}

export interface GroupedBackwardResult {
  /** Gradient with respect to the input (a new tensor, or `accumulateInto` itself). */
  dx: Tensor;
  /** Σ over (n, s) of dy·x̂ per channel: the weight gradient. */
  dweight: Float64Array;
  /** Σ over (n, s) of dy per channel: the bias gradient. */
  dbias: Float64Array;
}

export interface BlendBackwardResult {
  /** w·dh, dh = dy·γ: the gradient reaching the GN branch. */
  du: Tensor;
  /** (1 − w)·dh: the gradient reaching the batch branch. */
  dv: Tensor;
  dweight: Float64Array;
  dbias: Float64Array;
  /** Σ over (n, s) of dh·(u − v) per channel: the gradient of the blend weight w_c. */
  dblend: Float64Array;
}

export interface BlendLayout {
  n: number;
  c: number;
  s: number;
}

/** `normForward`'s result: the normalized output and the statistics it used. */
export interface NormForwardResult {
  y: Tensor;
  mean: Float64Array;
  /** Biased variance per slot. */
  variance: Float64Array;
  /** 1/sqrt(variance + eps) per slot. */
  rstd: Float64Array;
}

export interface ParamGradsResult {
  dweight: Float64Array;
  dbias: Float64Array;
}

/** (N, C, S) input with G channel groups per sample: the GN stage of GN+ and HybridNorm. */
export interface TwoStageLayout {
  n: number;
  c: number;
  s: number;
  groups: number;
}

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

/** What `gnPlusForward` keeps for the backward (the authors' forms: unbiased std, eps on the std). */
export interface GNPlusSaved {
  gnMean: Float64Array;
  gnRstd: Float64Array;
  gnK: Float64Array;
  /** Batch-stage statistics per (c, h, w) position. */
  posMean: Float64Array;
  posRstd: Float64Array;
  posK: Float64Array;
}

export interface GNPlusForwardResult {
  y: Tensor;
  saved: GNPlusSaved;
}

export interface TwoStageBackwardResult {
  /** Input gradient, or null when it was not asked for. */
  dx: Tensor | null;
  dweight: Float64Array;
  dbias: Float64Array;
  /** Σ dh·(u − v) per channel, dh = dy·γ: the gradient of the blend weight w_c. */
  dblend: Float64Array;
}

declare module '@normlab/tensor' {
  interface KernelSignatures {
    /** Mean and variance (`correction` 0 = biased, 1 = unbiased) per slot, float64, shifted one-pass (see `shiftedMoments`). */
    normMoments: (x: Tensor, layout: GroupedLayout, correction: number) => Moments;
    /** `y = (x − mean[slot])·rstd[slot]·γ_c + β_c` (γ, β optional: 1 and 0). */
    normApply: (
      x: Tensor,
      layout: GroupedLayout,
      mean: Float64Array,
      rstd: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => Tensor;
    /**
     * Analytic backward of `normApply` (see the file comment). `k` null means 1 everywhere.
     * `statsConstant`: the statistics did not depend on x (running statistics in eval).
     * `accumulateInto`: add dx into this contiguous tensor instead of allocating one.
     */
    normBackward: (
      x: Tensor,
      dy: Tensor,
      layout: GroupedLayout,
      mean: Float64Array,
      rstd: Float64Array,
      k: Float64Array | null,
      weight: Tensor | null,
      statsConstant: boolean,
      accumulateInto: Tensor | null,
    ) => GroupedBackwardResult;
    /** Two-pass mean and variance over the batch axis at each of the P positions of (N, P). */
    batchAxisMoments: (x: Tensor, n: number, p: number, correction: number) => Moments;
    /** `v = (x − mean[p])·rstd[p]` on (N, P). */
    batchAxisApply: (x: Tensor, n: number, p: number, mean: Float64Array, rstd: Float64Array) => Tensor;
    /** Analytic backward of `batchAxisApply` with statistics over the batch axis (`k` as above). */
    batchAxisBackward: (
      x: Tensor,
      dy: Tensor,
      n: number,
      p: number,
      mean: Float64Array,
      rstd: Float64Array,
      k: Float64Array,
      accumulateInto: Tensor | null,
    ) => Tensor;
    /** `y = γ_c·(w_c·u + (1 − w_c)·v) + β_c` on (N, C, S). */
    blendAffine: (
      u: Tensor,
      v: Tensor,
      layout: BlendLayout,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => Tensor;
    /**
     * Fused forward of a grouped norm in PyTorch's form: per slot, shifted one-read statistics (biased
     * variance) and `y = (x − mean)·rstd·γ + β`, one slot at a time while it is in cache.
     * Same result as `normMoments` + `normApply`.
     */
    normForward: (x: Tensor, layout: GroupedLayout, eps: number, weight: Tensor | null, bias: Tensor | null) => NormForwardResult;
    /** The weight and bias gradients of `normApply` alone (when the input needs no gradient). */
    normParamGrads: (x: Tensor, dy: Tensor, layout: GroupedLayout, mean: Float64Array, rstd: Float64Array) => ParamGradsResult;
    /**
     * HybridNorm forward in one output pass: GN (PyTorch form) u, per-channel BN stage v of u
     * (batch statistics when `bnStats` is null, else the given ones), `y = γ(w·u + (1 − w)·v) + β`.
     */
    hybridNormForward: (
      x: Tensor,
      layout: TwoStageLayout,
      eps: number,
      bnStats: { mean: Float64Array; rstd: Float64Array } | null,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => HybridNormForwardResult;
    /** Backward of `hybridNormForward`: one reduction pass and one dx pass. */
    hybridNormBackward: (
      x: Tensor,
      dy: Tensor,
      layout: TwoStageLayout,
      saved: HybridNormSaved,
      blend: Float64Array,
      weight: Tensor | null,
      needInputGrad: boolean,
    ) => TwoStageBackwardResult;
    /** GN+ forward, order gn-first, without materializing the GN or batch stage outputs. */
    gnPlusForward: (
      x: Tensor,
      layout: TwoStageLayout,
      eps: number,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => GNPlusForwardResult;
    /** Backward of `gnPlusForward`. */
    gnPlusBackward: (
      x: Tensor,
      dy: Tensor,
      layout: TwoStageLayout,
      saved: GNPlusSaved,
      blend: Float64Array,
      weight: Tensor | null,
      needInputGrad: boolean,
    ) => TwoStageBackwardResult;
    /** Backward of `blendAffine`. */
    blendAffineBackward: (
      dy: Tensor,
      u: Tensor,
      v: Tensor,
      layout: BlendLayout,
      blend: Float64Array,
      weight: Tensor | null,
    ) => BlendBackwardResult;
  }
}

function dataOf(t: Tensor): TypedArray {
  return t.contiguous().data;
}

function slotCount(l: GroupedLayout): number {
  return l.perSample ? l.n * l.groups : l.groups;
}

/**
 * The element ranges of an (N, C, S) array that slots [slot0, slot1) cover, flat [from, to, …]:
 * one range when slots are per sample (slot n·G + g is the block of sample n's group g), one per
 * sample for groups pooled over the batch. What a worker's share of x, dy and the output is.
 */
function slotSplit(l: { n: number; c: number; s: number; groups: number; perSample: boolean }): (slot0: number, slot1: number) => number[] {
  const block = (l.c / l.groups) * l.s;
  return (slot0, slot1) => {
    if (l.perSample) return [slot0 * block, slot1 * block];
    const ranges: number[] = [];
    for (let n = 0; n < l.n; n++) ranges.push((n * l.groups + slot0) * block, (n * l.groups + slot1) * block);
    return ranges;
  };
}

/** `slotSplit` for items that are channel groups over the whole batch (the GN+ kernels). */
function groupSplit(l: TwoStageLayout): (g0: number, g1: number) => number[] {
  return slotSplit({ ...l, perSample: false });
}

/**
 * Pieces per worker part (`parallelFor`'s `pieces`): the range functions below have no per-call
 * setup, so the calling thread can take over what a slow worker has not started, piece by piece.
 */
const PIECES = 8;

/** Two results of a helper that returns a pair of sums (no object allocated per call). */
const pair = new Float64Array(2);

/**
 * Σ (d[i] − K) and Σ (d[i] − K)² over d[start..end) in float64 into `pair` (two accumulators
 * per sum): one read of the data for both moments of values shifted by K. Eight elements a step,
 * the highest index read first (see "Row helpers" below for why).
 */
function shiftedSums(d: TypedArray, start: number, end: number, K: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let i = start;
  for (; i + 7 < end; i += 8) {
    const d7 = d[i + 7]! - K;
    const d0 = d[i]! - K;
    const d1 = d[i + 1]! - K;
    const d2 = d[i + 2]! - K;
    const d3 = d[i + 3]! - K;
    const d4 = d[i + 4]! - K;
    const d5 = d[i + 5]! - K;
    const d6 = d[i + 6]! - K;
    a0 += d0 + d2 + (d4 + d6);
    a1 += d1 + d3 + (d5 + d7);
    b0 += d0 * d0 + d2 * d2 + (d4 * d4 + d6 * d6);
    b1 += d1 * d1 + d3 * d3 + (d5 * d5 + d7 * d7);
  }
  for (; i < end; i++) {
    const d0 = d[i]! - K;
    a0 += d0;
    b0 += d0 * d0;
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

/**
 * Mean into pair[0] and M2 = Σ (x − mean)² into pair[1] from the shifted sums T1 = Σ (x − K),
 * T2 = Σ (x − K)² of M values: mean = K + T1/M, M2 = T2 − T1²/M. With K one of the values,
 * (K − mean)² ≤ M2, so the subtraction loses at most log2(M) of float64's 53 bits (a million
 * values still leave 33, beyond float32's 24): two-pass accuracy at one read of the data. A
 * one-pass E[x²] − E[x]² without the shift would lose every digit for a large mean.
 */
function shiftedMoments(K: number, t1: number, t2: number, M: number): void {
  const d = t1 / M;
  pair[0] = K + d;
  pair[1] = Math.max(0, t2 - t1 * d);
}

/**
 * Moments of one grouped slot, channels g·cpg … (g + 1)·cpg − 1 of samples [n0, n1), each
 * sample's part one contiguous block of cpg·S values, in one read shifted by the slot's first
 * value: mean into pair[0], Σ (x − mean)² into pair[1].
 */
function slotMoments(xd: TypedArray, C: number, S: number, cpg: number, g: number, n0: number, n1: number): void {
  const block = cpg * S;
  const K = xd[(n0 * C + g * cpg) * S]!;
  let t1 = 0;
  let t2 = 0;
  for (let n = n0; n < n1; n++) {
    const start = (n * C + g * cpg) * S;
    shiftedSums(xd, start, start + block, K);
    t1 += pair[0]!;
    t2 += pair[1]!;
  }
  shiftedMoments(K, t1, t2, block * (n1 - n0));
}

// Row helpers. Every hot loop lives in one of these small functions, called once per row or
// segment (hundreds to thousands of elements), never per element. Kept apart because V8
// optimizes a small function called many times reliably, while a large kernel whose loops are
// reached for the first time inside one long call is compiled on-stack (OSR) without type
// feedback for its later loops and deoptimizes there on every call.
//
// The main loops take eight elements a step and read the highest index first. V8 (Node 20)
// re-checks a typed-array argument's map, length and data pointer at every access and polls for
// interrupts once per iteration (seen in its optimized code); loading all eight inputs before
// the first store lets it check each array once per step instead of once per element. Measured
// over 1M float32 values: the affine output 1.5 → 1.05 ms, the gradient 1.94 → 1.57 ms. The
// elementwise results are unchanged; sums only change which partial sums are added first.

/** out[i] = (x[i] − m)·scale + shift over [start, end), `x − m` in float64. */
function applyAffine(out: TypedArray, xd: TypedArray, start: number, end: number, m: number, scale: number, shift: number): void {
  let i = start;
  for (; i + 7 < end; i += 8) {
    const x7 = xd[i + 7]!;
    const x0 = xd[i]!;
    const x1 = xd[i + 1]!;
    const x2 = xd[i + 2]!;
    const x3 = xd[i + 3]!;
    const x4 = xd[i + 4]!;
    const x5 = xd[i + 5]!;
    const x6 = xd[i + 6]!;
    out[i] = (x0 - m) * scale + shift;
    out[i + 1] = (x1 - m) * scale + shift;
    out[i + 2] = (x2 - m) * scale + shift;
    out[i + 3] = (x3 - m) * scale + shift;
    out[i + 4] = (x4 - m) * scale + shift;
    out[i + 5] = (x5 - m) * scale + shift;
    out[i + 6] = (x6 - m) * scale + shift;
    out[i + 7] = (x7 - m) * scale + shift;
  }
  for (; i < end; i++) out[i] = (xd[i]! - m) * scale + shift;
}

/** Σ dy and Σ dy·(x − m) over [start, end), into `pair` (two accumulators per sum). */
function dyMoments(gd: TypedArray, xd: TypedArray, start: number, end: number, m: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let i = start;
  for (; i + 7 < end; i += 8) {
    const g7 = gd[i + 7]!;
    const g0 = gd[i]!;
    const g1 = gd[i + 1]!;
    const g2 = gd[i + 2]!;
    const g3 = gd[i + 3]!;
    const g4 = gd[i + 4]!;
    const g5 = gd[i + 5]!;
    const g6 = gd[i + 6]!;
    const x7 = xd[i + 7]! - m;
    const x0 = xd[i]! - m;
    const x1 = xd[i + 1]! - m;
    const x2 = xd[i + 2]! - m;
    const x3 = xd[i + 3]! - m;
    const x4 = xd[i + 4]! - m;
    const x5 = xd[i + 5]! - m;
    const x6 = xd[i + 6]! - m;
    a0 += g0 + g2 + (g4 + g6);
    a1 += g1 + g3 + (g5 + g7);
    b0 += g0 * x0 + g2 * x2 + (g4 * x4 + g6 * x6);
    b1 += g1 * x1 + g3 * x3 + (g5 * x5 + g7 * x7);
  }
  for (; i < end; i++) {
    a0 += gd[i]!;
    b0 += gd[i]! * (xd[i]! - m);
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

/**
 * out[i] = a·dy[i] + c1·(x[i] − m) + c0 over [start, end), eight elements a step as `applyAffine`.
 * `out` may be `dy` itself (each element reads only its own dy).
 */
function gradAffine(out: TypedArray, gd: TypedArray, xd: TypedArray, start: number, end: number, a: number, c1: number, m: number, c0: number): void {
  let i = start;
  for (; i + 7 < end; i += 8) {
    const g7 = gd[i + 7]!;
    const x7 = xd[i + 7]!;
    const g0 = gd[i]!;
    const g1 = gd[i + 1]!;
    const g2 = gd[i + 2]!;
    const g3 = gd[i + 3]!;
    const g4 = gd[i + 4]!;
    const g5 = gd[i + 5]!;
    const g6 = gd[i + 6]!;
    const x0 = xd[i]!;
    const x1 = xd[i + 1]!;
    const x2 = xd[i + 2]!;
    const x3 = xd[i + 3]!;
    const x4 = xd[i + 4]!;
    const x5 = xd[i + 5]!;
    const x6 = xd[i + 6]!;
    out[i] = a * g0 + c1 * (x0 - m) + c0;
    out[i + 1] = a * g1 + c1 * (x1 - m) + c0;
    out[i + 2] = a * g2 + c1 * (x2 - m) + c0;
    out[i + 3] = a * g3 + c1 * (x3 - m) + c0;
    out[i + 4] = a * g4 + c1 * (x4 - m) + c0;
    out[i + 5] = a * g5 + c1 * (x5 - m) + c0;
    out[i + 6] = a * g6 + c1 * (x6 - m) + c0;
    out[i + 7] = a * g7 + c1 * (x7 - m) + c0;
  }
  for (; i < end; i++) out[i] = a * gd[i]! + c1 * (xd[i]! - m) + c0;
}

/** out[i] += a·dy[i] + c1·(x[i] − m) + c0 over [start, end): dx added to a gradient (rarely taken). */
function gradAffineAdd(out: TypedArray, gd: TypedArray, xd: TypedArray, start: number, end: number, a: number, c1: number, m: number, c0: number): void {
  for (let i = start; i < end; i++) out[i] = out[i]! + (a * gd[i]! + c1 * (xd[i]! - m) + c0);
}

/**
 * GN+ helpers. They work on one channel's positions [q0, q1): x and dy of sample n at `n·P + p`.
 * u is recomputed from x wherever it is needed: cheaper than storing and reloading it.
 */

/**
 * GN+'s batch stage and output over positions [q0, q1) of one channel, four positions at a time
 * and sample by sample (x of sample n at `n·P + p`; mn[n], rn[n]: its GN statistics):
 *  1. per position, the N values u = (x − m_n)·r_n as shifted float64 sums (shift: sample 0's
 *     u; see `shiftedMoments`), then μ_p, r_p = 1/(s_p + eps) with the unbiased std s_p, and k_p
 *     into posMean, posRstd, posK;
 *  2. y = a·u + bb·(u − μ_p)·r_p + shift for every sample, u recomputed from x.
 * The second sweep reads what the first just read (N·4 values, in L1), and the position's
 * statistics stay in registers: 2.5 array accesses per element instead of 6 for the two as
 * separate passes. The lanes past q1 repeat position q1 − 1: the same values, written again.
 */
function gnpChannelForward(
  out: TypedArray,
  xd: TypedArray,
  N: number,
  P: number,
  q0: number,
  q1: number,
  mn: Float64Array,
  rn: Float64Array,
  posMean: Float64Array,
  posRstd: Float64Array,
  posK: Float64Array,
  eps: number,
  a: number,
  bb: number,
  shift: number,
): void {
  const m0 = mn[0]!;
  const r0 = rn[0]!;
  for (let p = q0; p < q1; p += 4) {
    const e1 = p + 1 < q1 ? 1 : 0;
    const e2 = p + 2 < q1 ? 2 : e1;
    const e3 = p + 3 < q1 ? 3 : e2;
    const K0 = (xd[p]! - m0) * r0;
    const K1 = (xd[p + e1]! - m0) * r0;
    const K2 = (xd[p + e2]! - m0) * r0;
    const K3 = (xd[p + e3]! - m0) * r0;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let n = 0, o = p; n < N; n++, o += P) {
      const x3 = xd[o + e3]!;
      const m = mn[n]!;
      const r = rn[n]!;
      const d0 = (xd[o]! - m) * r - K0;
      const d1 = (xd[o + e1]! - m) * r - K1;
      const d2 = (xd[o + e2]! - m) * r - K2;
      const d3 = (x3 - m) * r - K3;
      s0 += d0;
      s1 += d1;
      s2 += d2;
      s3 += d3;
      t0 += d0 * d0;
      t1 += d1 * d1;
      t2 += d2 * d2;
      t3 += d3 * d3;
    }
    gnpPosFinish(p, K0, s0, t0, N, posMean, posRstd, posK, eps);
    gnpPosFinish(p + e1, K1, s1, t1, N, posMean, posRstd, posK, eps);
    gnpPosFinish(p + e2, K2, s2, t2, N, posMean, posRstd, posK, eps);
    gnpPosFinish(p + e3, K3, s3, t3, N, posMean, posRstd, posK, eps);
    const mu0 = posMean[p]!;
    const mu1 = posMean[p + e1]!;
    const mu2 = posMean[p + e2]!;
    const mu3 = posMean[p + e3]!;
    // bb·r_p folded per position: y = a·u + b_p·(u − μ_p) + shift.
    const b0 = bb * posRstd[p]!;
    const b1 = bb * posRstd[p + e1]!;
    const b2 = bb * posRstd[p + e2]!;
    const b3 = bb * posRstd[p + e3]!;
    for (let n = 0, o = p; n < N; n++, o += P) {
      const x3 = xd[o + e3]!;
      const m = mn[n]!;
      const r = rn[n]!;
      const u0 = (xd[o]! - m) * r;
      const u1 = (xd[o + e1]! - m) * r;
      const u2 = (xd[o + e2]! - m) * r;
      const u3 = (x3 - m) * r;
      out[o] = a * u0 + b0 * (u0 - mu0) + shift;
      out[o + e1] = a * u1 + b1 * (u1 - mu1) + shift;
      out[o + e2] = a * u2 + b2 * (u2 - mu2) + shift;
      out[o + e3] = a * u3 + b3 * (u3 - mu3) + shift;
    }
  }
}

function gnpPosFinish(p: number, K: number, t1: number, t2: number, N: number, posMean: Float64Array, posRstd: Float64Array, posK: Float64Array, eps: number): void {
  shiftedMoments(K, t1, t2, N);
  const sd = Math.sqrt(pair[1]! / (N - 1));
  posMean[p] = pair[0]!;
  posRstd[p] = 1 / (sd + eps);
  posK[p] = sd > 0 ? (N * (sd + eps)) / ((N - 1) * sd) : 0;
}

/**
 * GN+'s backward through the blend and the batch stage over positions [q0, q1) of channel c
 * (γ·w = aw, γ·(1 − w) = gb), four positions at a time and sample by sample like
 * `gnpChannelForward`:
 *  1. per position over the batch, A_p = Σ dy and B_p = Σ dy·(u − μ_p) (u recomputed from x);
 *     the channel's Σ dy, Σ dy·u = Σ (B_p + μ_p·A_p) and Σ dy·v = Σ r_p·B_p are added to
 *     sDy[c], sDyU[c], sDyV[c];
 *  2. with out: the gradient reaching u, du = α_p·dy + c1_p·(u − μ_p) + c0_p, where
 *     α_p = aw + r_p·gb, c0_p = −r_p·gb·A_p/N, c1_p = −r_p³·k_p·gb·B_p/N, written to out while
 *     sumDu[n], sumDuU[n] collect Σ du and Σ du·u of each sample (for GN's backward after it).
 * The position's constants stay in registers and the second sweep reads from L1: 4.5 array
 * accesses per element instead of 10 for the two as separate passes.
 */
function gnpChannelBackward(
  out: TypedArray | null,
  xd: TypedArray,
  gd: TypedArray,
  N: number,
  P: number,
  q0: number,
  q1: number,
  c: number,
  mn: Float64Array,
  rn: Float64Array,
  posMean: Float64Array,
  posRstd: Float64Array,
  posK: Float64Array,
  aw: number,
  gb: number,
  sDy: Float64Array,
  sDyU: Float64Array,
  sDyV: Float64Array,
  sumDu: Float64Array,
  sumDuU: Float64Array,
): void {
  let p = q0;
  for (; p + 3 < q1; p += 4) {
    const mu0 = posMean[p]!;
    const mu1 = posMean[p + 1]!;
    const mu2 = posMean[p + 2]!;
    const mu3 = posMean[p + 3]!;
    let A0 = 0;
    let A1 = 0;
    let A2 = 0;
    let A3 = 0;
    let B0 = 0;
    let B1 = 0;
    let B2 = 0;
    let B3 = 0;
    for (let n = 0, o = p; n < N; n++, o += P) {
      const g3 = gd[o + 3]!;
      const x3 = xd[o + 3]!;
      const m = mn[n]!;
      const r = rn[n]!;
      const g0 = gd[o]!;
      const g1 = gd[o + 1]!;
      const g2 = gd[o + 2]!;
      A0 += g0;
      A1 += g1;
      A2 += g2;
      A3 += g3;
      B0 += g0 * ((xd[o]! - m) * r - mu0);
      B1 += g1 * ((xd[o + 1]! - m) * r - mu1);
      B2 += g2 * ((xd[o + 2]! - m) * r - mu2);
      B3 += g3 * ((x3 - m) * r - mu3);
    }
    const r0 = posRstd[p]!;
    const r1 = posRstd[p + 1]!;
    const r2 = posRstd[p + 2]!;
    const r3 = posRstd[p + 3]!;
    sDy[c]! += A0 + A1 + (A2 + A3);
    sDyU[c]! += B0 + mu0 * A0 + (B1 + mu1 * A1) + (B2 + mu2 * A2 + (B3 + mu3 * A3));
    sDyV[c]! += r0 * B0 + r1 * B1 + (r2 * B2 + r3 * B3);
    if (!out) continue;
    const al0 = aw + r0 * gb;
    const al1 = aw + r1 * gb;
    const al2 = aw + r2 * gb;
    const al3 = aw + r3 * gb;
    const z0 = (-r0 * gb * A0) / N;
    const z1 = (-r1 * gb * A1) / N;
    const z2 = (-r2 * gb * A2) / N;
    const z3 = (-r3 * gb * A3) / N;
    const k0 = (-r0 * r0 * r0 * posK[p]! * gb * B0) / N;
    const k1 = (-r1 * r1 * r1 * posK[p + 1]! * gb * B1) / N;
    const k2 = (-r2 * r2 * r2 * posK[p + 2]! * gb * B2) / N;
    const k3 = (-r3 * r3 * r3 * posK[p + 3]! * gb * B3) / N;
    for (let n = 0, o = p; n < N; n++, o += P) {
      const g3 = gd[o + 3]!;
      const x3 = xd[o + 3]!;
      const m = mn[n]!;
      const r = rn[n]!;
      const u0 = (xd[o]! - m) * r;
      const u1 = (xd[o + 1]! - m) * r;
      const u2 = (xd[o + 2]! - m) * r;
      const u3 = (x3 - m) * r;
      const d0 = al0 * gd[o]! + k0 * (u0 - mu0) + z0;
      const d1 = al1 * gd[o + 1]! + k1 * (u1 - mu1) + z1;
      const d2 = al2 * gd[o + 2]! + k2 * (u2 - mu2) + z2;
      const d3 = al3 * g3 + k3 * (u3 - mu3) + z3;
      out[o] = d0;
      out[o + 1] = d1;
      out[o + 2] = d2;
      out[o + 3] = d3;
      sumDu[n]! += d0 + d1 + (d2 + d3);
      sumDuU[n]! += d0 * u0 + d1 * u1 + (d2 * u2 + d3 * u3);
    }
  }
  // The last S mod 4 positions, one at a time: the same steps.
  for (; p < q1; p++) {
    const mu = posMean[p]!;
    let A = 0;
    let B = 0;
    for (let n = 0, o = p; n < N; n++, o += P) {
      A += gd[o]!;
      B += gd[o]! * ((xd[o]! - mn[n]!) * rn[n]! - mu);
    }
    const rp = posRstd[p]!;
    sDy[c]! += A;
    sDyU[c]! += B + mu * A;
    sDyV[c]! += rp * B;
    if (!out) continue;
    const al = aw + rp * gb;
    const z = (-rp * gb * A) / N;
    const k = (-rp * rp * rp * posK[p]! * gb * B) / N;
    for (let n = 0, o = p; n < N; n++, o += P) {
      const u = (xd[o]! - mn[n]!) * rn[n]!;
      const d = al * gd[o]! + k * (u - mu) + z;
      out[o] = d;
      sumDu[n]! += d;
      sumDuU[n]! += d * u;
    }
  }
}

function normMomentsCpu(x: Tensor, l: GroupedLayout, correction: number): Moments {
  const xd = dataOf(x);
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const cpg = C / G;
  const slots = slotCount(l);
  const mean = new Float64Array(slots);
  const variance = new Float64Array(slots);
  const samplesPerSlot = perSample ? 1 : N;
  const denom = cpg * S * samplesPerSlot - correction;
  for (let slot = 0; slot < slots; slot++) {
    const g = perSample ? slot % G : slot;
    const n0 = perSample ? (slot / G) | 0 : 0;
    slotMoments(xd, C, S, cpg, g, n0, n0 + samplesPerSlot);
    mean[slot] = pair[0]!;
    variance[slot] = denom > 0 ? pair[1]! / denom : NaN;
  }
  return { mean, variance };
}

function normApplyCpu(
  x: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): Tensor {
  const xd = dataOf(x);
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const cpg = C / G;
  const w = weight ? dataOf(weight) : null;
  const b = bias ? dataOf(bias) : null;
  const out = allocateUninitialized(x.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    const slotBase = perSample ? n * G : 0;
    for (let c = 0; c < C; c++) {
      const slot = slotBase + ((c / cpg) | 0);
      const m = mean[slot]!;
      const scale = rstd[slot]! * (w ? w[c]! : 1);
      const shift = b ? b[c]! : 0;
      const base = (n * C + c) * S;
      applyAffine(out, xd, base, base + S, m, scale, shift);
    }
  }
  return fromArray(out, [N, C, S]);
}

/** What `normBackwardSlots` reads and writes. */
export interface NormBackwardArgs extends GroupedLayout {
  x: TypedArray;
  dy: TypedArray;
  /** dx, or the gradient dx is added to when `accumulate`. */
  out: TypedArray;
  accumulate: boolean;
  w: TypedArray | null;
  mean: Float64Array;
  rstd: Float64Array;
  k: Float64Array | null;
  statsConstant: boolean;
  /** Per (n, c) row: Σ dy and Σ dy·x̂, summed over n per channel by the caller in n order. */
  rowDy: Float64Array;
  rowDyX: Float64Array;
}

/**
 * normBackward for slots [slot0, slot1). Per-sample slots (GN, LN, IN): both passes over one
 * slot's rows (8 KiB for GN at 32×32 with 2 channels a group) while they are still in L1, instead
 * of two sweeps over the whole tensor from memory; slots pooled over the batch (BN, BGN): see
 * `pooledBackward`. A range function.
 */
export function normBackwardSlots(a: NormBackwardArgs, slot0: number, slot1: number): void {
  const { x: xd, dy: gd, out, accumulate, w, mean, rstd, k, statsConstant, rowDy, rowDyX } = a;
  const { n: N, c: C, s: S, groups: G, perSample } = a;
  if (!perSample) {
    pooledBackward(a, slot0, slot1);
    return;
  }
  const cpg = C / G;
  const samplesPerSlot = perSample ? 1 : N;
  const count = cpg * S * samplesPerSlot;
  for (let slot = slot0; slot < slot1; slot++) {
    const g = perSample ? slot % G : slot;
    const n0 = perSample ? (slot / G) | 0 : 0;
    const m = mean[slot]!;
    const r = rstd[slot]!;
    // Pass 1: per (n, c) row Σ dy and Σ dy·x̂, folded into the slot's Σ g and Σ g·x̂ (g = dy·γ).
    let sumG = 0;
    let sumGX = 0;
    for (let n = n0; n < n0 + samplesPerSlot; n++) {
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const base = (n * C + c) * S;
        dyMoments(gd, xd, base, base + S, m);
        const sdy = pair[0]!;
        const sdyx = pair[1]! * r;
        rowDy[n * C + c] = sdy;
        rowDyX[n * C + c] = sdyx;
        const gamma = w ? w[c]! : 1;
        sumG += gamma * sdy;
        sumGX += gamma * sdyx;
      }
    }
    // Pass 2: dx = r·γ·dy − r·mean(g) − r²·k·mean(g·x̂)·(x − μ).
    let c0 = 0;
    let c1 = 0;
    if (!statsConstant) {
      c0 = (-r * sumG) / count;
      c1 = (-r * r * (k ? k[slot]! : 1) * sumGX) / count;
    }
    for (let n = n0; n < n0 + samplesPerSlot; n++) {
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const a = r * (w ? w[c]! : 1);
        const base = (n * C + c) * S;
        if (accumulate) gradAffineAdd(out, gd, xd, base, base + S, a, c1, m, c0);
        else gradAffine(out, gd, xd, base, base + S, a, c1, m, c0);
      }
    }
  }
}

/** normBackward for slots pooled over the batch, sample by sample as `pooledForward`. */
function pooledBackward(a: NormBackwardArgs, slot0: number, slot1: number): void {
  const { x: xd, dy: gd, out, accumulate, w, mean, rstd, k, statsConstant, rowDy, rowDyX } = a;
  const { n: N, c: C, s: S, groups: G } = a;
  const cpg = C / G;
  const count = cpg * S * N;
  const slots = slot1 - slot0;
  const sumG = new Float64Array(slots);
  const sumGX = new Float64Array(slots);
  // Pass 1: per (n, c) row Σ dy and Σ dy·x̂, folded into the slot's Σ g and Σ g·x̂ (g = dy·γ).
  for (let n = 0; n < N; n++) {
    for (let g = slot0; g < slot1; g++) {
      const m = mean[g]!;
      const r = rstd[g]!;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const base = (n * C + c) * S;
        dyMoments(gd, xd, base, base + S, m);
        const sdy = pair[0]!;
        const sdyx = pair[1]! * r;
        rowDy[n * C + c] = sdy;
        rowDyX[n * C + c] = sdyx;
        const gamma = w ? w[c]! : 1;
        sumG[g - slot0]! += gamma * sdy;
        sumGX[g - slot0]! += gamma * sdyx;
      }
    }
  }
  // Pass 2: dx = r·γ·dy − r·mean(g) − r²·k·mean(g·x̂)·(x − μ); sumG, sumGX become c0, c1.
  for (let g = slot0; g < slot1; g++) {
    const r = rstd[g]!;
    const i = g - slot0;
    const c0 = statsConstant ? 0 : (-r * sumG[i]!) / count;
    const c1 = statsConstant ? 0 : (-r * r * (k ? k[g]! : 1) * sumGX[i]!) / count;
    sumG[i] = c0;
    sumGX[i] = c1;
  }
  for (let n = 0; n < N; n++) {
    for (let g = slot0; g < slot1; g++) {
      const m = mean[g]!;
      const r = rstd[g]!;
      const c0 = sumG[g - slot0]!;
      const c1 = sumGX[g - slot0]!;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const base = (n * C + c) * S;
        const scale = r * (w ? w[c]! : 1);
        if (accumulate) gradAffineAdd(out, gd, xd, base, base + S, scale, c1, m, c0);
        else gradAffine(out, gd, xd, base, base + S, scale, c1, m, c0);
      }
    }
  }
}

const normBackwardTask = rangeKernel(import.meta.url, 'normBackwardSlots', normBackwardSlots);

function normBackwardCpu(
  x: Tensor,
  dy: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array | null,
  weight: Tensor | null,
  statsConstant: boolean,
  accumulateInto: Tensor | null,
): GroupedBackwardResult {
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const slots = slotCount(l);
  const args: NormBackwardArgs = {
    x: dataOf(x),
    dy: dataOf(dy),
    out: accumulateInto ? accumulateInto.data : allocateUninitialized(x.dtype, N * C * S),
    accumulate: accumulateInto !== null,
    w: weight ? dataOf(weight) : null,
    mean,
    rstd,
    k,
    statsConstant,
    rowDy: new Float64Array(N * C),
    rowDyX: new Float64Array(N * C),
    ...l,
  };
  parallelFor(normBackwardTask, args, slots, (2 * N * C * S) / slots, {
    out: ['out', 'rowDy', 'rowDyX'],
    inout: args.accumulate ? ['out'] : [],
    split: { x: slotSplit(l), dy: slotSplit(l), out: slotSplit(l) },
    pieces: PIECES,
  });
  // The parameter gradients: row sums over n in order, whichever thread computed them.
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      dbias[c]! += args.rowDy[n * C + c]!;
      dweight[c]! += args.rowDyX[n * C + c]!;
    }
  }
  return { dx: accumulateInto ?? fromArray(args.out, [N, C, S]), dweight, dbias };
}

/**
 * Positions are processed in chunks so that a chunk's N rows (N·CHUNK values) stay in cache
 * between the two passes, and its float64 accumulators in L1.
 */
const CHUNK = 2048;

function batchAxisMomentsCpu(x: Tensor, N: number, P: number, correction: number): Moments {
  const xd = dataOf(x);
  const mean = new Float64Array(P);
  const variance = new Float64Array(P);
  const denom = N - correction;
  for (let p0 = 0; p0 < P; p0 += CHUNK) {
    const p1 = Math.min(P, p0 + CHUNK);
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) mean[p]! += xd[off + p]!;
    }
    for (let p = p0; p < p1; p++) mean[p] = mean[p]! / N;
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) {
        const d = xd[off + p]! - mean[p]!;
        variance[p]! += d * d;
      }
    }
    for (let p = p0; p < p1; p++) variance[p] = denom > 0 ? variance[p]! / denom : NaN;
  }
  return { mean, variance };
}

function batchAxisApplyCpu(x: Tensor, N: number, P: number, mean: Float64Array, rstd: Float64Array): Tensor {
  const xd = dataOf(x);
  const out = allocate(x.dtype, N * P);
  for (let n = 0; n < N; n++) {
    const base = n * P;
    for (let p = 0; p < P; p++) out[base + p] = (xd[base + p]! - mean[p]!) * rstd[p]!;
  }
  return fromArray(out, [N, P]);
}

function batchAxisBackwardCpu(
  x: Tensor,
  dy: Tensor,
  N: number,
  P: number,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array,
  accumulateInto: Tensor | null,
): Tensor {
  const xd = dataOf(x);
  const gd = dataOf(dy);
  const c0 = new Float64Array(P);
  const c1 = new Float64Array(P);
  const out = accumulateInto ? accumulateInto.data : allocate(x.dtype, N * P);
  const acc = accumulateInto !== null;
  for (let p0 = 0; p0 < P; p0 += CHUNK) {
    const p1 = Math.min(P, p0 + CHUNK);
    // Pass 1 over the chunk: Σ g and Σ g·(x − μ) per position.
    for (let n = 0; n < N; n++) {
      const off = n * P;
      for (let p = p0; p < p1; p++) {
        const g = gd[off + p]!;
        c0[p]! += g;
        c1[p]! += g * (xd[off + p]! - mean[p]!);
      }
    }
    // Fold the per-position constants: dx = r·g + c1·(x − μ) + c0.
    for (let p = p0; p < p1; p++) {
      const r = rstd[p]!;
      c0[p] = (-r * c0[p]!) / N;
      c1[p] = (-r * r * r * k[p]! * c1[p]!) / N;
    }
    // Pass 2 while the chunk is still in cache.
    for (let n = 0; n < N; n++) {
      const off = n * P;
      if (acc) {
        for (let p = p0; p < p1; p++) {
          const i = off + p;
          out[i] = out[i]! + (rstd[p]! * gd[i]! + c1[p]! * (xd[i]! - mean[p]!) + c0[p]!);
        }
      } else {
        for (let p = p0; p < p1; p++) {
          const i = off + p;
          out[i] = rstd[p]! * gd[i]! + c1[p]! * (xd[i]! - mean[p]!) + c0[p]!;
        }
      }
    }
  }
  return accumulateInto ?? fromArray(out, [N, P]);
}

function blendAffineCpu(
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

function blendAffineBackwardCpu(
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

// ---------------------------------------------------------------------------------------------
// Fused kernels. Each layer's forward writes one output array and its backward one dx array;
// no intermediate (N, C, H, W) tensor is materialized. Statistics stay float64 and stable.

/** What `normForwardSlots` reads and writes: normForward's arguments as arrays and numbers. */
export interface NormForwardArgs extends GroupedLayout {
  x: TypedArray;
  out: TypedArray;
  w: TypedArray | null;
  b: TypedArray | null;
  mean: Float64Array;
  variance: Float64Array;
  rstd: Float64Array;
  eps: number;
}

/**
 * normForward for slots [slot0, slot1). Per-sample slots (GN, LN, IN): the statistics of a slot
 * and its normalized output back to back, so the second read of the slot's values hits L1
 * instead of memory; slots pooled over the batch (BN, BGN): see `pooledForward`. A range
 * function: threads split the slots (see `parallelFor`).
 */
export function normForwardSlots(a: NormForwardArgs, slot0: number, slot1: number): void {
  const { x: xd, out, w, b, mean, variance, rstd, n: N, c: C, s: S, groups: G, perSample, eps } = a;
  if (!perSample) {
    pooledForward(a, slot0, slot1);
    return;
  }
  const cpg = C / G;
  const samplesPerSlot = perSample ? 1 : N;
  const count = cpg * S * samplesPerSlot;
  for (let slot = slot0; slot < slot1; slot++) {
    const g = perSample ? slot % G : slot;
    const n0 = perSample ? (slot / G) | 0 : 0;
    slotMoments(xd, C, S, cpg, g, n0, n0 + samplesPerSlot);
    const m = pair[0]!;
    const v = pair[1]! / count;
    const r = 1 / Math.sqrt(v + eps);
    mean[slot] = m;
    variance[slot] = v;
    rstd[slot] = r;
    for (let n = n0; n < n0 + samplesPerSlot; n++) {
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const scale = r * (w ? w[c]! : 1);
        const shift = b ? b[c]! : 0;
        const base = (n * C + c) * S;
        applyAffine(out, xd, base, base + S, m, scale, shift);
      }
    }
  }
}

/**
 * normForward for slots pooled over the batch (BN, BGN), sample by sample: each sample's rows of
 * slots [slot0, slot1) are one contiguous run of memory, read in order, where slot by slot the
 * reads jumped between samples (N runs of C/G·S values, C·S apart) for every slot. The sums per
 * slot are added in the same order (sample 0 to N − 1), so the numbers are those of the
 * slot-by-slot loop.
 */
function pooledForward(a: NormForwardArgs, slot0: number, slot1: number): void {
  const { x: xd, out, w, b, mean, variance, rstd, n: N, c: C, s: S, groups: G, eps } = a;
  const cpg = C / G;
  const block = cpg * S;
  const slots = slot1 - slot0;
  const shift = new Float64Array(slots);
  const t1 = new Float64Array(slots);
  const t2 = new Float64Array(slots);
  for (let g = slot0; g < slot1; g++) shift[g - slot0] = xd[g * block]!;
  for (let n = 0; n < N; n++) {
    for (let g = slot0; g < slot1; g++) {
      const start = (n * C + g * cpg) * S;
      shiftedSums(xd, start, start + block, shift[g - slot0]!);
      t1[g - slot0]! += pair[0]!;
      t2[g - slot0]! += pair[1]!;
    }
  }
  for (let g = slot0; g < slot1; g++) {
    shiftedMoments(shift[g - slot0]!, t1[g - slot0]!, t2[g - slot0]!, block * N);
    const v = pair[1]! / (block * N);
    mean[g] = pair[0]!;
    variance[g] = v;
    rstd[g] = 1 / Math.sqrt(v + eps);
  }
  for (let n = 0; n < N; n++) {
    for (let g = slot0; g < slot1; g++) {
      const m = mean[g]!;
      const r = rstd[g]!;
      for (let c = g * cpg; c < (g + 1) * cpg; c++) {
        const base = (n * C + c) * S;
        applyAffine(out, xd, base, base + S, m, r * (w ? w[c]! : 1), b ? b[c]! : 0);
      }
    }
  }
}

const normForwardTask = rangeKernel(import.meta.url, 'normForwardSlots', normForwardSlots);

function normForwardCpu(
  x: Tensor,
  l: GroupedLayout,
  eps: number,
  weight: Tensor | null,
  bias: Tensor | null,
): NormForwardResult {
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const slots = slotCount(l);
  const args: NormForwardArgs = {
    x: dataOf(x),
    out: allocateUninitialized(x.dtype, N * C * S),
    w: weight ? dataOf(weight) : null,
    b: bias ? dataOf(bias) : null,
    mean: new Float64Array(slots),
    variance: new Float64Array(slots),
    rstd: new Float64Array(slots),
    ...l,
    eps,
  };
  parallelFor(normForwardTask, args, slots, (N * C * S) / slots, {
    out: ['out', 'mean', 'variance', 'rstd'],
    split: { x: slotSplit(l), out: slotSplit(l) },
    pieces: PIECES,
  });
  return { y: fromArray(args.out, [N, C, S]), mean: args.mean, variance: args.variance, rstd: args.rstd };
}

function normParamGradsCpu(
  x: Tensor,
  dy: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
): ParamGradsResult {
  const xd = dataOf(x);
  const gd = dataOf(dy);
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const cpg = C / G;
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const slotBase = perSample ? n * G : 0;
    for (let c = 0; c < C; c++) {
      const slot = slotBase + ((c / cpg) | 0);
      const m = mean[slot]!;
      const base = (n * C + c) * S;
      dyMoments(gd, xd, base, base + S, m);
      dbias[c]! += pair[0]!;
      dweight[c]! += pair[1]! * rstd[slot]!;
    }
  }
  return { dweight, dbias };
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
function hybridNormForwardCpu(
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
function hybridNormBackwardCpu(
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

/** What `gnPlusForwardGroups` reads and writes. */
export interface GNPlusForwardArgs extends TwoStageLayout, GNPlusSaved {
  x: TypedArray;
  out: TypedArray;
  w: TypedArray | null;
  b: TypedArray | null;
  blend: Float64Array;
  eps: number;
}

/**
 * GN+ forward (gn-first) for channel groups [g0, g1). Everything of one group stays in L2 (N
 * samples × C/G channels × S values): its GN statistics per sample (one shifted read, the
 * unbiased std s and r = 1/(s + eps)), then channel by channel the batch statistics of
 * u = (x − m)·r per position (one shifted read, u recomputed from x in float64) and
 * y = γ·(w·u + (1 − w)·v) + β in one pass. Neither u nor v is materialized. A range function: threads split the groups.
 */
export function gnPlusForwardGroups(a: GNPlusForwardArgs, g0: number, g1: number): void {
  const { x: xd, out, w, b, blend, gnMean, gnRstd, gnK, posMean, posRstd, posK, n: N, c: C, s: S, groups: G, eps } = a;
  const cpg = C / G;
  const P = C * S;
  const block = cpg * S;
  const mn = new Float64Array(N);
  const rn = new Float64Array(N);
  for (let g = g0; g < g1; g++) {
    for (let n = 0; n < N; n++) {
      // Slot (n, g) is the contiguous block starting at slot·block.
      const slot = n * G + g;
      const start = slot * block;
      const K = xd[start]!;
      shiftedSums(xd, start, start + block, K);
      shiftedMoments(K, pair[0]!, pair[1]!, block);
      const m = pair[0]!;
      const sd = Math.sqrt(pair[1]! / (block - 1));
      gnMean[slot] = m;
      gnRstd[slot] = 1 / (sd + eps);
      gnK[slot] = sd > 0 ? (block * (sd + eps)) / ((block - 1) * sd) : 0;
      mn[n] = m;
      rn[n] = gnRstd[slot]!;
    }
    for (let c = g * cpg; c < (g + 1) * cpg; c++) {
      const gamma = w ? w[c]! : 1;
      const aw = gamma * blend[c]!;
      const bb = gamma - aw; // γ·(1 − w)
      const shift = b ? b[c]! : 0;
      gnpChannelForward(out, xd, N, P, c * S, (c + 1) * S, mn, rn, posMean, posRstd, posK, eps, aw, bb, shift);
    }
  }
}

const gnPlusForwardTask = rangeKernel(import.meta.url, 'gnPlusForwardGroups', gnPlusForwardGroups);

function gnPlusForwardCpu(
  x: Tensor,
  l: TwoStageLayout,
  eps: number,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): GNPlusForwardResult {
  const { n: N, c: C, s: S, groups: G } = l;
  const P = C * S;
  const args: GNPlusForwardArgs = {
    x: dataOf(x),
    out: allocateUninitialized(x.dtype, N * P),
    w: weight ? dataOf(weight) : null,
    b: bias ? dataOf(bias) : null,
    blend,
    gnMean: new Float64Array(N * G),
    gnRstd: new Float64Array(N * G),
    gnK: new Float64Array(N * G),
    posMean: new Float64Array(P),
    posRstd: new Float64Array(P),
    posK: new Float64Array(P),
    ...l,
    eps,
  };
  parallelFor(gnPlusForwardTask, args, G, (5 * N * P) / G, {
    out: ['out', 'gnMean', 'gnRstd', 'gnK', 'posMean', 'posRstd', 'posK'],
    split: { x: groupSplit(l), out: groupSplit(l) },
    pieces: PIECES,
  });
  const { gnMean, gnRstd, gnK, posMean, posRstd, posK } = args;
  return { y: fromArray(args.out, [N, C, S]), saved: { gnMean, gnRstd, gnK, posMean, posRstd, posK } };
}

/** What `gnPlusBackwardGroups` reads and writes. */
export interface GNPlusBackwardArgs extends TwoStageLayout, GNPlusSaved {
  x: TypedArray;
  dy: TypedArray;
  /** dx, or null when the input gradient is not needed. */
  out: TypedArray | null;
  w: TypedArray | null;
  blend: Float64Array;
  /** Per channel: Σ dy, Σ dy·u and Σ dy·v (the parameter gradients follow from them). */
  sDy: Float64Array;
  sDyU: Float64Array;
  sDyV: Float64Array;
}

/**
 * GN+ backward (gn-first) for channel groups [g0, g1), the group's data in L2 throughout.
 * Channel by channel: recompute u from x and take per position A_p = Σ_n dy and
 * B_p = Σ_n dy·(u − μ_p). Everything else of the batch stage and the blend follows per position
 * (v = r_p·(u − μ_p) is affine in u at fixed p):
 *   Σ dy·u = B_p + μ_p·A_p,   Σ dy·v = r_p·B_p,
 *   c0_p = −r_p·gb·A_p/N,   c1_p = −r_p³·k_p·gb·B_p/N,   gb = (1 − w_c)·γ_c,
 * and the gradient reaching u is du = (w_c·γ_c + r_p·gb)·dy + c1_p·(u − μ_p) + c0_p, written
 * into the output while Σ du and Σ du·u are summed per GN slot; a last pass per slot (n, g)
 * turns it into dx = r·du − r·mean(du) − r·k·mean(du·u)·u in place. A range function.
 */
export function gnPlusBackwardGroups(a: GNPlusBackwardArgs, g0: number, g1: number): void {
  const { x: xd, dy: gd, out, w, blend, gnMean, gnRstd, gnK, posMean, posRstd, posK, sDy, sDyU, sDyV } = a;
  const { n: N, c: C, s: S, groups: G } = a;
  const cpg = C / G;
  const P = C * S;
  const block = cpg * S;
  const mn = new Float64Array(N);
  const rn = new Float64Array(N);
  const sumDu = new Float64Array(N);
  const sumDuU = new Float64Array(N);
  for (let g = g0; g < g1; g++) {
    sumDu.fill(0);
    sumDuU.fill(0);
    for (let n = 0; n < N; n++) {
      mn[n] = gnMean[n * G + g]!;
      rn[n] = gnRstd[n * G + g]!;
    }
    for (let c = g * cpg; c < (g + 1) * cpg; c++) {
      const gamma = w ? w[c]! : 1;
      const aw = blend[c]! * gamma;
      sDy[c] = 0;
      sDyU[c] = 0;
      sDyV[c] = 0;
      gnpChannelBackward(out, xd, gd, N, P, c * S, (c + 1) * S, c, mn, rn, posMean, posRstd, posK, aw, gamma - aw, sDy, sDyU, sDyV, sumDu, sumDuU);
    }
    if (!out) continue;
    for (let n = 0; n < N; n++) {
      const slot = n * G + g;
      const r = gnRstd[slot]!;
      const k0 = (-r * sumDu[n]!) / block;
      const k1 = (-r * r * gnK[slot]! * sumDuU[n]!) / block;
      // In place: dx = r·du + k1·(x − m) + k0, du being what the sweep above stored in out.
      gradAffine(out, out, xd, slot * block, (slot + 1) * block, r, k1, gnMean[slot]!, k0);
    }
  }
}

const gnPlusBackwardTask = rangeKernel(import.meta.url, 'gnPlusBackwardGroups', gnPlusBackwardGroups);

function gnPlusBackwardCpu(
  x: Tensor,
  dy: Tensor,
  l: TwoStageLayout,
  saved: GNPlusSaved,
  blend: Float64Array,
  weight: Tensor | null,
  needInputGrad: boolean,
): TwoStageBackwardResult {
  const { n: N, c: C, s: S, groups: G } = l;
  const P = C * S;
  const w = weight ? dataOf(weight) : null;
  const args: GNPlusBackwardArgs = {
    ...saved,
    x: dataOf(x),
    dy: dataOf(dy),
    out: needInputGrad ? allocateUninitialized(x.dtype, N * P) : null,
    w,
    blend,
    sDy: new Float64Array(C),
    sDyU: new Float64Array(C),
    sDyV: new Float64Array(C),
    ...l,
  };
  parallelFor(gnPlusBackwardTask, args, G, (6 * N * P) / G, {
    out: ['out', 'sDy', 'sDyU', 'sDyV'],
    split: { x: groupSplit(l), dy: groupSplit(l), out: groupSplit(l) },
    pieces: PIECES,
  });
  const { sDy, sDyU, sDyV } = args;
  const dweight = new Float64Array(C);
  const dblend = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const wc = blend[c]!;
    dweight[c] = wc * sDyU[c]! + (1 - wc) * sDyV[c]!;
    dblend[c] = (w ? w[c]! : 1) * (sDyU[c]! - sDyV[c]!);
  }
  return { dx: args.out ? fromArray(args.out, [N, C, S]) : null, dweight, dbias: sDy, dblend };
}

registerKernel('normMoments', 'cpu', normMomentsCpu);
registerKernel('normApply', 'cpu', normApplyCpu);
registerKernel('normBackward', 'cpu', normBackwardCpu);
registerKernel('batchAxisMoments', 'cpu', batchAxisMomentsCpu);
registerKernel('batchAxisApply', 'cpu', batchAxisApplyCpu);
registerKernel('batchAxisBackward', 'cpu', batchAxisBackwardCpu);
registerKernel('blendAffine', 'cpu', blendAffineCpu);
registerKernel('blendAffineBackward', 'cpu', blendAffineBackwardCpu);
registerKernel('normForward', 'cpu', normForwardCpu);
registerKernel('normParamGrads', 'cpu', normParamGradsCpu);
registerKernel('hybridNormForward', 'cpu', hybridNormForwardCpu);
registerKernel('hybridNormBackward', 'cpu', hybridNormBackwardCpu);
registerKernel('gnPlusForward', 'cpu', gnPlusForwardCpu);
registerKernel('gnPlusBackward', 'cpu', gnPlusBackwardCpu);

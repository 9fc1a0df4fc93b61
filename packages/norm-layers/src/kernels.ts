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
 * Statistics are two-pass with float64 accumulation (a JS number), and `x − mean` is formed in
 * float64 before anything is stored; a one-pass `E[x²] − E[x]²` would lose every digit for
 * inputs with a large mean and a small spread.
 *
 * Backward kernels implement the analytic input gradient of `u = (x − μ)·r`:
 *   `dx = r·(g − mean(g) − k·mean(g·u)·u)`,  g = dy·γ,
 * where the means run over the slot's elements and `k` is 1 for `r = 1/sqrt(var + eps)`
 * (PyTorch's form, biased variance) and `k = M(s + eps)/((M − 1)s)` for the authors' GN+ form
 * `r = 1/(s + eps)` with the unbiased std `s` over M elements. With constant statistics (eval
 * with running statistics) both mean terms vanish: `dx = r·g`.
 */
import { type Tensor, type TypedArray, allocate, fromArray, registerKernel } from '@normlab/tensor';

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

declare module '@normlab/tensor' {
  interface KernelSignatures {
    /** Two-pass mean and variance (`correction` 0 = biased, 1 = unbiased) per slot. */
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
 * Σ d[start..end) with four independent accumulators: one float64 add chain is latency bound
 * (about 1 ns per element); four chains let the adds overlap.
 */
function blockSum(d: TypedArray, start: number, end: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let i = start;
  for (; i + 3 < end; i += 4) {
    a0 += d[i]!;
    a1 += d[i + 1]!;
    a2 += d[i + 2]!;
    a3 += d[i + 3]!;
  }
  for (; i < end; i++) a0 += d[i]!;
  return a0 + a1 + (a2 + a3);
}

/** Σ (d − m)² over d[start..end), `d − m` in float64, four accumulators. */
function blockSqDev(d: TypedArray, start: number, end: number, m: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let i = start;
  for (; i + 3 < end; i += 4) {
    const d0 = d[i]! - m;
    const d1 = d[i + 1]! - m;
    const d2 = d[i + 2]! - m;
    const d3 = d[i + 3]! - m;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < end; i++) {
    const d0 = d[i]! - m;
    a0 += d0 * d0;
  }
  return a0 + a1 + (a2 + a3);
}

function normMomentsCpu(x: Tensor, l: GroupedLayout, correction: number): Moments {
  const xd = dataOf(x);
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const cpg = C / G;
  const slots = slotCount(l);
  const mean = new Float64Array(slots);
  const variance = new Float64Array(slots);
  // A slot's values are one contiguous block of cpg·S per sample (its group's channels), so
  // each slot is finished (both passes) while its blocks are still in cache.
  const block = cpg * S;
  const samplesPerSlot = perSample ? 1 : N;
  const count = block * samplesPerSlot;
  const denom = count - correction;
  for (let slot = 0; slot < slots; slot++) {
    const g = perSample ? slot % G : slot;
    const n0 = perSample ? (slot / G) | 0 : 0;
    let sum = 0;
    for (let n = n0; n < n0 + samplesPerSlot; n++) {
      const start = (n * C + g * cpg) * S;
      sum += blockSum(xd, start, start + block);
    }
    const m = sum / count;
    let sq = 0;
    for (let n = n0; n < n0 + samplesPerSlot; n++) {
      const start = (n * C + g * cpg) * S;
      sq += blockSqDev(xd, start, start + block, m);
    }
    mean[slot] = m;
    variance[slot] = denom > 0 ? sq / denom : NaN;
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
  const out = allocate(x.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    const slotBase = perSample ? n * G : 0;
    for (let c = 0; c < C; c++) {
      const slot = slotBase + ((c / cpg) | 0);
      const m = mean[slot]!;
      const scale = rstd[slot]! * (w ? w[c]! : 1);
      const shift = b ? b[c]! : 0;
      const base = (n * C + c) * S;
      for (let i = base, end = base + S; i < end; i++) out[i] = (xd[i]! - m) * scale + shift;
    }
  }
  return fromArray(out, [N, C, S]);
}

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
  const xd = dataOf(x);
  const gd = dataOf(dy);
  const { n: N, c: C, s: S, groups: G, perSample } = l;
  const cpg = C / G;
  const slots = slotCount(l);
  const w = weight ? dataOf(weight) : null;
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  // Per slot: Σ g and Σ g·x̂ with g = dy·γ.
  const sumG = new Float64Array(slots);
  const sumGX = new Float64Array(slots);
  // Pass 1: per (n, c) row sums of dy and dy·x̂.
  for (let n = 0; n < N; n++) {
    const slotBase = perSample ? n * G : 0;
    for (let c = 0; c < C; c++) {
      const slot = slotBase + ((c / cpg) | 0);
      const m = mean[slot]!;
      const base = (n * C + c) * S;
      // Two accumulators per sum: independent add chains overlap.
      let sdy0 = 0;
      let sdy1 = 0;
      let sdyx0 = 0;
      let sdyx1 = 0;
      let i = base;
      const end = base + S;
      for (; i + 1 < end; i += 2) {
        const g0 = gd[i]!;
        const g1 = gd[i + 1]!;
        sdy0 += g0;
        sdy1 += g1;
        sdyx0 += g0 * (xd[i]! - m);
        sdyx1 += g1 * (xd[i + 1]! - m);
      }
      if (i < end) {
        sdy0 += gd[i]!;
        sdyx0 += gd[i]! * (xd[i]! - m);
      }
      const sdy = sdy0 + sdy1;
      const sdyx = (sdyx0 + sdyx1) * rstd[slot]!;
      dbias[c]! += sdy;
      dweight[c]! += sdyx;
      const gamma = w ? w[c]! : 1;
      sumG[slot]! += gamma * sdy;
      sumGX[slot]! += gamma * sdyx;
    }
  }
  const count = cpg * S * (perSample ? 1 : N);
  let out: TypedArray;
  if (accumulateInto) {
    out = accumulateInto.data;
  } else {
    out = allocate(x.dtype, N * C * S);
  }
  const acc = accumulateInto !== null;
  // Pass 2: dx = r·γ·dy − r·mean(g) − r²·k·mean(g·x̂)·(x − μ).
  for (let n = 0; n < N; n++) {
    const slotBase = perSample ? n * G : 0;
    for (let c = 0; c < C; c++) {
      const slot = slotBase + ((c / cpg) | 0);
      const r = rstd[slot]!;
      const m = mean[slot]!;
      const a = r * (w ? w[c]! : 1);
      let c0 = 0;
      let c1 = 0;
      if (!statsConstant) {
        c0 = (-r * sumG[slot]!) / count;
        c1 = (-r * r * (k ? k[slot]! : 1) * sumGX[slot]!) / count;
      }
      const base = (n * C + c) * S;
      if (acc) {
        for (let i = base, end = base + S; i < end; i++) out[i] = out[i]! + (a * gd[i]! + c1 * (xd[i]! - m) + c0);
      } else {
        for (let i = base, end = base + S; i < end; i++) out[i] = a * gd[i]! + c1 * (xd[i]! - m) + c0;
      }
    }
  }
  return { dx: accumulateInto ?? fromArray(out, [N, C, S]), dweight, dbias };
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

registerKernel('normMoments', 'cpu', normMomentsCpu);
registerKernel('normApply', 'cpu', normApplyCpu);
registerKernel('normBackward', 'cpu', normBackwardCpu);
registerKernel('batchAxisMoments', 'cpu', batchAxisMomentsCpu);
registerKernel('batchAxisApply', 'cpu', batchAxisApplyCpu);
registerKernel('batchAxisBackward', 'cpu', batchAxisBackwardCpu);
registerKernel('blendAffine', 'cpu', blendAffineCpu);
registerKernel('blendAffineBackward', 'cpu', blendAffineBackwardCpu);

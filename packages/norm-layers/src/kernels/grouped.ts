/**
 * The grouped kernels (`normMoments`, `normApply`, `normBackward`) and the fused ones built on the
 * same layout (`normForward`, `normParamGrads`): the input read as (N, C, S) with a statistic per
 * slot, `(perSample ? n·G : 0) + floor(c / (C/G))` — GN, LN, IN per sample, BN and BGN pooled
 * over the batch, and eval with running statistics. `normForwardSlots` and `normBackwardSlots`
 * are range functions: worker threads import them from this module by URL.
 */
import { type Tensor, type TypedArray, allocateUninitialized, fromArray, parallelFor, rangeKernel } from '@normlab/tensor';
import { PIECES, applyAffine, dataOf, dyMoments, gradAffine, gradAffineAdd, pair, shiftedMoments, shiftedSums } from './rows.js';

/** How a grouped kernel reads an (N, C, S) input. */
export interface GroupedLayout {
  /** Batch size N. */
  n: number;
  /** Channels C. */
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
  /** Mean per slot. */
  mean: Float64Array;
  /** Variance per slot. */
  variance: Float64Array;
}

/** `normBackward`'s result: the input gradient and the per-channel affine gradients. */
export interface GroupedBackwardResult {
  /** Gradient with respect to the input (a new tensor, or `accumulateInto` itself). */
  dx: Tensor;
  /** Σ over (n, s) of dy·x̂ per channel: the weight gradient. */
  dweight: Float64Array;
  /** Σ over (n, s) of dy per channel: the bias gradient. */
  dbias: Float64Array;
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

export function slotCount(l: GroupedLayout): number {
  return l.perSample ? l.n * l.groups : l.groups;
}

/**
 * The element ranges of an (N, C, S) array that slots [slot0, slot1) cover, flat [from, to, …]:
 * one range when slots are per sample (slot n·G + g is the block of sample n's group g), one per
 * sample for groups pooled over the batch. What a worker's share of x, dy and the output is.
 */
export function slotSplit(l: { n: number; c: number; s: number; groups: number; perSample: boolean }): (slot0: number, slot1: number) => number[] {
  const block = (l.c / l.groups) * l.s;
  return (slot0, slot1) => {
    if (l.perSample) return [slot0 * block, slot1 * block];
    const ranges: number[] = [];
    for (let n = 0; n < l.n; n++) ranges.push((n * l.groups + slot0) * block, (n * l.groups + slot1) * block);
    return ranges;
  };
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

export function normMomentsCpu(x: Tensor, l: GroupedLayout, correction: number): Moments {
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

export function normApplyCpu(
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

export function normBackwardCpu(
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

export function normForwardCpu(
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

export function normParamGradsCpu(
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

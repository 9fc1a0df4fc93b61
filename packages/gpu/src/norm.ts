/**
 * Backend `gpu` kernels for the normalization layers of `@normlab/norm-layers` (kernel contract:
 * `packages/norm-layers/src/kernels/index.ts`). The layouts, statistics and gradients are the cpu
 * kernels'; what differs is where the float32 arithmetic happens:
 *
 * - Each float32 sum on the device is one row (S values of one (n, c)) or one column (N values
 *   of one position); rows are folded into slots on the host in float64.
 * - Moments are shifted: pass 1 sums `x − x₀` with x₀ a sample of the slot, giving a mean that
 *   is already close; pass 2 sums `d` and `d²` with `d = x − mean`, and the variance is
 *   `(Σd² − (Σd)²/M) / (M − correction)`, which corrects the mean's residual error exactly.
 * - The mean reaches the device as a float32 pair (hi, lo) with hi + lo ≈ mean to ~48 bits, so
 *   `(x − hi) − lo` is as good as the float64 `x − mean` of the cpu kernels for large-mean input.
 *
 * The kernel contract hands statistics back to the host as Float64Array (the layers need them for
 * running statistics and the backward), so a layer's statistics are one small readback (N·C or
 * P numbers); the activations themselves never make a round trip between passes on the host side
 * beyond the inputs each kernel receives. `normForward` (the fused training forward of BN, GN,
 * LN, IN, BGN) instead folds the slots on the device and keeps its statistics there until the
 * normalize step has run; see `normForwardGpu`.
 */
import { Tensor } from '@normlab/tensor';
import { f32 } from './conv-matmul.js';
import {
  blendAffineKernel,
  blendBackwardScaleKernel,
  blendBackwardSumsKernel,
  colApplyKernel,
  colBackwardApplyKernel,
  colBackwardSumsKernel,
  colCenteredMomentsKernel,
  colShiftedSumKernel,
  rowAffineKernel,
  rowBackwardApplyKernel,
  rowBackwardSumsKernel,
  rowCenteredMomentsKernel,
  rowCoefKernel,
  rowNormalizeDeviceKernel,
  rowShiftedSumKernel,
  rowSquaredDeviceKernel,
  slotShiftedMeanKernel,
  slotStatsKernel,
} from './kernel-sources.js';
import { flatResult, isTextureMode, recordPipeline, runGpuKernel } from './runtime.js';

/** The grouped layout of `@normlab/norm-layers` (kept structural: this package does not import it). */
export interface GroupedLayout {
  n: number;
  c: number;
  s: number;
  groups: number;
  perSample: boolean;
}

/** The blend layout of `@normlab/norm-layers` (u, v, dy are (N, C, S)). */
export interface BlendLayout {
  n: number;
  c: number;
  s: number;
}

/** `blendAffineBackward`'s result, as in `@normlab/norm-layers`' BlendBackwardResult. */
export interface BlendBackwardResult {
  du: Tensor;
  dv: Tensor;
  dweight: Float64Array;
  dbias: Float64Array;
  dblend: Float64Array;
}

export interface Moments {
  mean: Float64Array;
  variance: Float64Array;
}

/** `normForward`'s result, as in `@normlab/norm-layers`' NormForwardResult. */
export interface NormForwardResult {
  y: Tensor;
  mean: Float64Array;
  /** Biased variance per slot. */
  variance: Float64Array;
  /** 1/sqrt(variance + eps) per slot: the values the output was normalized with. */
  rstd: Float64Array;
}

export interface GroupedBackwardResult {
  dx: Tensor;
  dweight: Float64Array;
  dbias: Float64Array;
}

const NO_ACC = new Float32Array(1);

/** Split float64 values into float32 pairs hi + lo. */
function splitHiLo(v: ArrayLike<number>): [Float32Array, Float32Array] {
  const hi = Float32Array.from(v);
  const lo = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) lo[i] = v[i]! - hi[i]!;
  return [hi, lo];
}

function rowSlot(l: GroupedLayout, r: number): number {
  const cpg = l.c / l.groups;
  const n = (r / l.c) | 0;
  const c = r - n * l.c;
  return (l.perSample ? n * l.groups : 0) + ((c / cpg) | 0);
}

function rowConstants(l: GroupedLayout): Record<string, number> {
  return { n: l.n, c: l.c, s: l.s, groups: l.groups, cpg: l.c / l.groups, perSample: l.perSample ? 1 : 0 };
}

export function normMomentsGpu(x: Tensor, l: GroupedLayout, correction: number): Moments {
  const xd = f32(x);
  const rows = l.n * l.c;
  const slots = l.perSample ? l.n * l.groups : l.groups;
  const cpg = l.c / l.groups;
  const count = cpg * l.s * (l.perSample ? 1 : l.n);
  const constants = rowConstants(l);
  const rowSums = flatResult(
    runGpuKernel({ name: 'normMoments.shiftedSum', fn: rowShiftedSumKernel, constants, output: [rows], maxLoop: l.s }, [xd]),
    rows,
  );
  // Fold rows into slots in float64; the shift is the same sample the kernel subtracted.
  const mean = new Float64Array(slots);
  for (let r = 0; r < rows; r++) mean[rowSlot(l, r)]! += rowSums[r]!;
  for (let j = 0; j < slots; j++) {
    const g = l.perSample ? j % l.groups : j;
    const n = l.perSample ? (j / l.groups) | 0 : 0;
    const shift = xd[(n * l.c + g * cpg) * l.s]!;
    mean[j] = shift + mean[j]! / count;
  }
  const [hi, lo] = splitHiLo(mean);
  const centered = flatResult(
    runGpuKernel(
      { name: 'normMoments.centered', fn: rowCenteredMomentsKernel, constants, output: [rows], returnType: 'Array(2)', maxLoop: l.s },
      [xd, hi, lo],
    ),
    rows * 2,
  );
  const s1 = new Float64Array(slots);
  const s2 = new Float64Array(slots);
  for (let r = 0; r < rows; r++) {
    const j = rowSlot(l, r);
    s1[j]! += centered[2 * r]!;
    s2[j]! += centered[2 * r + 1]!;
  }
  const variance = new Float64Array(slots);
  const denom = count - correction;
  for (let j = 0; j < slots; j++) {
    const base = hi[j]! + lo[j]!;
    const dm = s1[j]! / count;
    mean[j] = base + dm;
    variance[j] = denom > 0 ? Math.max(0, s2[j]! - s1[j]! * dm) / denom : NaN;
  }
  return { mean, variance };
}

/**
 * Fused grouped forward with the batch's statistics (PyTorch form: biased variance, eps inside
 * the square root). Kernels: row shifted sums → slot means m₁ → row Σ(x − m₁)² → slot statistics
 * (m₁, dm, biased variance, rstd) → per-row coefficients → the normalize step. In the GL modes
 * every kernel but the last returns a texture (`pipeline: true`) that the next one reads where
 * it is, so the statistics are not read back and re-uploaded between the moments and the
 * normalize step; the only readbacks are y and the 4·slots statistics at the end (for the
 * running statistics and the backward). In webasm / cpu modes gpu.js returns arrays, which the
 * next kernel takes as they are. x itself is still uploaded by each of the three kernels that
 * read it (gpu.js uploads array arguments per call).
 */
export function normForwardGpu(x: Tensor, l: GroupedLayout, eps: number, weight: Tensor | null, bias: Tensor | null): NormForwardResult {
  const xd = f32(x);
  const rows = l.n * l.c;
  const slots = l.perSample ? l.n * l.groups : l.groups;
  const cpg = l.c / l.groups;
  const nLoop = l.perSample ? 1 : l.n;
  const count = cpg * l.s * nLoop;
  const pipeline = isTextureMode();
  const constants = rowConstants(l);
  const slotConstants = { ...constants, rows, slots, nLoop, count };
  // The shift of each slot: its first sample, the one rowShiftedSumKernel subtracts.
  const shift = new Float32Array(slots);
  for (let j = 0; j < slots; j++) {
    const g = l.perSample ? j % l.groups : j;
    const n = l.perSample ? (j / l.groups) | 0 : 0;
    shift[j] = xd[(n * l.c + g * cpg) * l.s]!;
  }
  const rowSums = runGpuKernel(
    { name: 'normForward.shiftedSum', fn: rowShiftedSumKernel, constants, output: [rows], pipeline, maxLoop: l.s },
    [xd],
  );
  const slotMean = runGpuKernel(
    { name: 'normForward.slotMean', fn: slotShiftedMeanKernel, constants: slotConstants, output: [slots], pipeline, maxLoop: Math.max(cpg, nLoop) },
    [rowSums, shift],
  );
  recordPipeline('normForward', slotMean);
  const rowSquares = runGpuKernel(
    { name: 'normForward.squares', fn: rowSquaredDeviceKernel, constants: slotConstants, output: [rows], pipeline, maxLoop: l.s },
    [xd, slotMean],
  );
  const stats = runGpuKernel(
    {
      name: 'normForward.stats',
      fn: slotStatsKernel,
      constants: { ...slotConstants, eps },
      output: [4 * slots],
      pipeline,
      maxLoop: Math.max(cpg, nLoop),
    },
    [rowSums, rowSquares, slotMean, shift],
  );
  const w = weight ? f32(weight) : NO_ACC;
  const b = bias ? f32(bias) : NO_ACC;
  const coef = runGpuKernel(
    {
      name: 'normForward.coef',
      fn: rowCoefKernel,
      constants: { ...slotConstants, hasWeight: weight ? 1 : 0, hasBias: bias ? 1 : 0 },
      output: [4 * rows],
      pipeline,
    },
    [stats, w, b],
  );
  const out = runGpuKernel(
    { name: 'normForward.apply', fn: rowNormalizeDeviceKernel, constants: { s: l.s, rows }, output: [l.s, rows] },
    [xd, coef],
  );
  const y = new Tensor(flatResult(out, rows * l.s), [l.n, l.c, l.s]);
  // The one statistics readback (a texture's toArray() in GL modes), folded to float64 here.
  const st = flatResult(stats, 4 * slots);
  const mean = new Float64Array(slots);
  const variance = new Float64Array(slots);
  const rstd = new Float64Array(slots);
  for (let j = 0; j < slots; j++) {
    mean[j] = st[j]! + st[slots + j]!;
    variance[j] = st[2 * slots + j]!;
    rstd[j] = st[3 * slots + j]!;
  }
  return { y, mean, variance, rstd };
}

/** Per-row mean pair (hi, lo) from per-slot float64 means. */
function rowMeans(l: GroupedLayout, mean: Float64Array): [Float32Array, Float32Array] {
  const rows = l.n * l.c;
  const m = new Float64Array(rows);
  for (let r = 0; r < rows; r++) m[r] = mean[rowSlot(l, r)]!;
  return splitHiLo(m);
}

export function normApplyGpu(
  x: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): Tensor {
  const rows = l.n * l.c;
  const w = weight ? weight.contiguous().data : null;
  const b = bias ? bias.contiguous().data : null;
  const [hi, lo] = rowMeans(l, mean);
  const scale = new Float32Array(rows);
  const shift = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const c = r % l.c;
    scale[r] = rstd[rowSlot(l, r)]! * (w ? w[c]! : 1);
    shift[r] = b ? b[c]! : 0;
  }
  const out = runGpuKernel(
    { name: 'normApply', fn: rowAffineKernel, constants: { s: l.s }, output: [l.s, rows] },
    [f32(x), hi, lo, scale, shift],
  );
  return new Tensor(flatResult(out, rows * l.s), [l.n, l.c, l.s]);
}

export function normBackwardGpu(
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
  const rows = l.n * l.c;
  const slots = l.perSample ? l.n * l.groups : l.groups;
  const count = (l.c / l.groups) * l.s * (l.perSample ? 1 : l.n);
  const w = weight ? weight.contiguous().data : null;
  const xd = f32(x);
  const gd = f32(dy);
  const [hi, lo] = rowMeans(l, mean);
  const sums = flatResult(
    runGpuKernel(
      { name: 'normBackward.sums', fn: rowBackwardSumsKernel, constants: { s: l.s }, output: [rows], returnType: 'Array(2)', maxLoop: l.s },
      [xd, gd, hi, lo],
    ),
    rows * 2,
  );
  const dweight = new Float64Array(l.c);
  const dbias = new Float64Array(l.c);
  const sumG = new Float64Array(slots);
  const sumGX = new Float64Array(slots);
  for (let r = 0; r < rows; r++) {
    const c = r % l.c;
    const j = rowSlot(l, r);
    const sdy = sums[2 * r]!;
    const sdyx = sums[2 * r + 1]! * rstd[j]!;
    dbias[c]! += sdy;
    dweight[c]! += sdyx;
    const gamma = w ? w[c]! : 1;
    sumG[j]! += gamma * sdy;
    sumGX[j]! += gamma * sdyx;
  }
  // dx = r·γ·dy + c1·(x − μ) + c0 (see the cpu kernel): per-row coefficients.
  const coefA = new Float32Array(rows);
  const coef1 = new Float32Array(rows);
  const coef0 = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const j = rowSlot(l, r);
    const rs = rstd[j]!;
    coefA[r] = rs * (w ? w[r % l.c]! : 1);
    if (!statsConstant) {
      coef0[r] = (-rs * sumG[j]!) / count;
      coef1[r] = (-rs * rs * (k ? k[j]! : 1) * sumGX[j]!) / count;
    }
  }
  const acc = accumulateInto ? f32(accumulateInto) : NO_ACC;
  const out = flatResult(
    runGpuKernel(
      { name: 'normBackward.apply', fn: rowBackwardApplyKernel, constants: { s: l.s, hasAcc: accumulateInto ? 1 : 0 }, output: [l.s, rows] },
      [xd, gd, hi, lo, coefA, coef1, coef0, acc],
    ),
    rows * l.s,
  );
  if (accumulateInto) {
    accumulateInto.data.set(out, accumulateInto.offset);
    return { dx: accumulateInto, dweight, dbias };
  }
  return { dx: new Tensor(out, [l.n, l.c, l.s]), dweight, dbias };
}

export function batchAxisMomentsGpu(x: Tensor, n: number, p: number, correction: number): Moments {
  const xd = f32(x);
  const constants = { n, p };
  const sums = flatResult(
    runGpuKernel({ name: 'batchAxisMoments.shiftedSum', fn: colShiftedSumKernel, constants, output: [p], maxLoop: n }, [xd]),
    p,
  );
  const mean = new Float64Array(p);
  for (let q = 0; q < p; q++) mean[q] = xd[q]! + sums[q]! / n;
  const [hi, lo] = splitHiLo(mean);
  const centered = flatResult(
    runGpuKernel(
      { name: 'batchAxisMoments.centered', fn: colCenteredMomentsKernel, constants, output: [p], returnType: 'Array(2)', maxLoop: n },
      [xd, hi, lo],
    ),
    p * 2,
  );
  const variance = new Float64Array(p);
  const denom = n - correction;
  for (let q = 0; q < p; q++) {
    const s1 = centered[2 * q]!;
    const dm = s1 / n;
    mean[q] = hi[q]! + lo[q]! + dm;
    variance[q] = denom > 0 ? Math.max(0, centered[2 * q + 1]! - s1 * dm) / denom : NaN;
  }
  return { mean, variance };
}

export function batchAxisApplyGpu(x: Tensor, n: number, p: number, mean: Float64Array, rstd: Float64Array): Tensor {
  const [hi, lo] = splitHiLo(mean);
  const out = runGpuKernel(
    { name: 'batchAxisApply', fn: colApplyKernel, constants: { n, p }, output: [p, n] },
    [f32(x), hi, lo, Float32Array.from(rstd)],
  );
  return new Tensor(flatResult(out, n * p), [n, p]);
}

export function batchAxisBackwardGpu(
  x: Tensor,
  dy: Tensor,
  n: number,
  p: number,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array,
  accumulateInto: Tensor | null,
): Tensor {
  const xd = f32(x);
  const gd = f32(dy);
  const [hi, lo] = splitHiLo(mean);
  const sums = flatResult(
    runGpuKernel(
      { name: 'batchAxisBackward.sums', fn: colBackwardSumsKernel, constants: { n, p }, output: [p], returnType: 'Array(2)', maxLoop: n },
      [xd, gd, hi, lo],
    ),
    p * 2,
  );
  const coef1 = new Float32Array(p);
  const coef0 = new Float32Array(p);
  for (let q = 0; q < p; q++) {
    const r = rstd[q]!;
    coef0[q] = (-r * sums[2 * q]!) / n;
    coef1[q] = (-r * r * r * k[q]! * sums[2 * q + 1]!) / n;
  }
  const acc = accumulateInto ? f32(accumulateInto) : NO_ACC;
  const out = flatResult(
    runGpuKernel(
      { name: 'batchAxisBackward.apply', fn: colBackwardApplyKernel, constants: { n, p, hasAcc: accumulateInto ? 1 : 0 }, output: [p, n] },
      [xd, gd, hi, lo, Float32Array.from(rstd), coef1, coef0, acc],
    ),
    n * p,
  );
  if (accumulateInto) {
    accumulateInto.data.set(out, accumulateInto.offset);
    return accumulateInto;
  }
  return new Tensor(out, [n, p]);
}

/** `y = γ_c·(w_c·u + (1 − w_c)·v) + β_c` (GN+ / HybridNorm's blend), per-row coefficients. */
export function blendAffineGpu(
  u: Tensor,
  v: Tensor,
  l: BlendLayout,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): Tensor {
  const rows = l.n * l.c;
  const w = weight ? weight.contiguous().data : null;
  const b = bias ? bias.contiguous().data : null;
  const coefU = new Float32Array(rows);
  const coefV = new Float32Array(rows);
  const shift = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const c = r % l.c;
    const gamma = w ? w[c]! : 1;
    const a = gamma * blend[c]!;
    coefU[r] = a;
    coefV[r] = gamma - a; // γ·(1 − w), as the cpu kernel forms it
    shift[r] = b ? b[c]! : 0;
  }
  const out = runGpuKernel(
    { name: 'blendAffine', fn: blendAffineKernel, constants: { s: l.s }, output: [l.s, rows] },
    [f32(u), f32(v), coefU, coefV, shift],
  );
  return new Tensor(flatResult(out, rows * l.s), [l.n, l.c, l.s]);
}

export function blendAffineBackwardGpu(
  dy: Tensor,
  u: Tensor,
  v: Tensor,
  l: BlendLayout,
  blend: Float64Array,
  weight: Tensor | null,
): BlendBackwardResult {
  const rows = l.n * l.c;
  const size = rows * l.s;
  const w = weight ? weight.contiguous().data : null;
  const gd = f32(dy);
  const sums = flatResult(
    runGpuKernel(
      { name: 'blendAffineBackward.sums', fn: blendBackwardSumsKernel, constants: { s: l.s }, output: [rows], returnType: 'Array(3)', maxLoop: l.s },
      [gd, f32(u), f32(v)],
    ),
    rows * 3,
  );
  // Rows fold into channels in float64: Σ dy·h with h = v + w·(u − v) = w·u + (1 − w)·v.
  const dweight = new Float64Array(l.c);
  const dbias = new Float64Array(l.c);
  const dblend = new Float64Array(l.c);
  const coef = new Float32Array(2 * rows);
  for (let r = 0; r < rows; r++) {
    const c = r % l.c;
    const gamma = w ? w[c]! : 1;
    const wc = blend[c]!;
    const sdyd = sums[3 * r + 2]!;
    dbias[c]! += sums[3 * r]!;
    dweight[c]! += sums[3 * r + 1]! + wc * sdyd;
    dblend[c]! += gamma * sdyd;
    const a = gamma * wc;
    coef[r] = a;
    coef[rows + r] = gamma - a;
  }
  const out = flatResult(
    runGpuKernel(
      { name: 'blendAffineBackward.scale', fn: blendBackwardScaleKernel, constants: { s: l.s, rows }, output: [l.s, 2 * rows] },
      [gd, coef],
    ),
    2 * size,
  );
  // du and dv are the two halves of one result buffer (views, no copy; they never overlap).
  return {
    du: new Tensor(out.subarray(0, size), [l.n, l.c, l.s]),
    dv: new Tensor(out.subarray(size, 2 * size), [l.n, l.c, l.s]),
    dweight,
    dbias,
    dblend,
  };
}

/**
 * The kernels, written once in gpu.js's kernel language and compiled by gpu.js for every mode
 * (WebAssembly, WebGL2/WebGL/headless-gl shaders, WebGPU, plain JS).
 *
 * gpu.js parses each function's *source text* (`fn.toString()`), so these must survive
 * TypeScript's emit unchanged in meaning and in a shape gpu.js can parse:
 * - plain `function` declarations (no arrows, no classes, no closures over module variables);
 * - the `this:` parameter and the type annotations are erased by tsc, nothing else is rewritten
 *   at target ES2022 (`let`/`const`, `for`, `Math.floor` stay as written) — `dist.test.ts` runs
 *   these kernels from the built `dist/` to prove it;
 * - every dimension is a `this.constants` entry, so each kernel is compiled once per shape
 *   (the runtime caches by constants) and loop bounds are compile-time facts;
 * - all arithmetic is float32; `/` and `%` are float32 too, which is exact for integer indices
 *   below 2^24 (the backend rejects larger tensors).
 *
 * Layout choice: where it helps, a 2-D output puts the per-thread "row" (sample·channel) on
 * `thread.y` and the spatial position on `thread.x`. gpu.js vectorizes along `thread.x` (webasm:
 * four lanes), so every read indexed only by `thread.y` and loop variables is one scalar load
 * broadcast to the lanes instead of a four-way gather.
 */

/** The `this` gpu.js gives a kernel. */
export interface KernelThis {
  /** The output element this invocation computes. */
  thread: {
    /** Index along the output's last (fastest) axis. */
    x: number;
    /** Index along the second-last axis (0 for a 1-D output). */
    y: number;
    /** Index along the third-last axis (0 for 1-D and 2-D outputs). */
    z: number;
  };
  /** The kernel's shape constants (dimensions, strides, flags), fixed when it is compiled. */
  constants: Record<string, number>;
}

/**
 * conv2d forward. Output [Ho·Wo, N·Cout]: thread.y = n·Cout + co, thread.x = oh·Wo + ow.
 * Padding taps are skipped (read as zero).
 */
export function conv2dForwardKernel(this: KernelThis, x: number[], w: number[], bias: number[]): number {
  const ow = this.thread.x % this.constants.wo;
  const oh = Math.floor(this.thread.x / this.constants.wo);
  const co = this.thread.y % this.constants.cout;
  const n = Math.floor(this.thread.y / this.constants.cout);
  const g = Math.floor(co / this.constants.coutG);
  let sum = 0;
  if (this.constants.hasBias === 1) {
    sum = bias[co];
  }
  const ih0 = oh * this.constants.sh - this.constants.ph;
  const iw0 = ow * this.constants.sw - this.constants.pw;
  for (let cig = 0; cig < this.constants.cg; cig++) {
    const xRow = (n * this.constants.cin + g * this.constants.cg + cig) * this.constants.h;
    const wRow = (co * this.constants.cg + cig) * this.constants.kh;
    for (let ki = 0; ki < this.constants.kh; ki++) {
      const ih = ih0 + ki * this.constants.dh;
      if (ih >= 0 && ih < this.constants.h) {
        for (let kj = 0; kj < this.constants.kw; kj++) {
          const iw = iw0 + kj * this.constants.dw;
          if (iw >= 0 && iw < this.constants.w) {
            sum += x[(xRow + ih) * this.constants.w + iw] * w[(wRow + ki) * this.constants.kw + kj];
          }
        }
      }
    }
  }
  return sum;
}

/**
 * conv2d input gradient, gather form (each dx element sums the outputs whose window covers it,
 * so no scatter or atomics are needed). Output [H·W, N·Cin]: thread.y = n·Cin + ci.
 */
export function conv2dBackwardInputKernel(this: KernelThis, dy: number[], w: number[]): number {
  const iw = this.thread.x % this.constants.w;
  const ih = Math.floor(this.thread.x / this.constants.w);
  const ci = this.thread.y % this.constants.cin;
  const n = Math.floor(this.thread.y / this.constants.cin);
  const g = Math.floor(ci / this.constants.cg);
  const cig = ci - g * this.constants.cg;
  let sum = 0;
  for (let cog = 0; cog < this.constants.coutG; cog++) {
    const co = g * this.constants.coutG + cog;
    const dyPlane = (n * this.constants.cout + co) * this.constants.ho;
    const wRow = (co * this.constants.cg + cig) * this.constants.kh;
    for (let ki = 0; ki < this.constants.kh; ki++) {
      const th = ih + this.constants.ph - ki * this.constants.dh;
      const oh = Math.floor(th / this.constants.sh);
      if (th >= 0 && oh * this.constants.sh === th && oh < this.constants.ho) {
        for (let kj = 0; kj < this.constants.kw; kj++) {
          const tw = iw + this.constants.pw - kj * this.constants.dw;
          const ow = Math.floor(tw / this.constants.sw);
          if (tw >= 0 && ow * this.constants.sw === tw && ow < this.constants.wo) {
            sum += dy[(dyPlane + oh) * this.constants.wo + ow] * w[(wRow + ki) * this.constants.kw + kj];
          }
        }
      }
    }
  }
  return sum;
}

/**
 * conv2d weight gradient. Output [Cin/g·kH·kW, Cout]: thread.y = co, thread.x = (cig·kH + ki)·kW + kj;
 * each thread sums over the batch and the output positions, reading dy as lane-uniform loads.
 */
export function conv2dBackwardWeightKernel(this: KernelThis, dy: number[], x: number[]): number {
  const kj = this.thread.x % this.constants.kw;
  const t = Math.floor(this.thread.x / this.constants.kw);
  const ki = t % this.constants.kh;
  const cig = Math.floor(t / this.constants.kh);
  const co = this.thread.y;
  const g = Math.floor(co / this.constants.coutG);
  const ci = g * this.constants.cg + cig;
  const dh0 = ki * this.constants.dh - this.constants.ph;
  const dw0 = kj * this.constants.dw - this.constants.pw;
  let sum = 0;
  for (let n = 0; n < this.constants.n; n++) {
    const dyPlane = (n * this.constants.cout + co) * this.constants.ho;
    const xPlane = (n * this.constants.cin + ci) * this.constants.h;
    for (let oh = 0; oh < this.constants.ho; oh++) {
      const ih = oh * this.constants.sh + dh0;
      if (ih >= 0 && ih < this.constants.h) {
        for (let ow = 0; ow < this.constants.wo; ow++) {
          const iw = ow * this.constants.sw + dw0;
          if (iw >= 0 && iw < this.constants.w) {
            sum += dy[(dyPlane + oh) * this.constants.wo + ow] * x[(xPlane + ih) * this.constants.w + iw];
          }
        }
      }
    }
  }
  return sum;
}

/**
 * Batched matmul. Output [N, batch·M]: thread.y = b·M + i (lane-uniform), thread.x = j.
 * `ta`/`tb` say the stored operand is transposed (a stored (K, M), b stored (N, K)).
 */
export function matmulKernel(this: KernelThis, a: number[], b: number[]): number {
  const j = this.thread.x;
  const bi = Math.floor(this.thread.y / this.constants.m);
  const i = this.thread.y - bi * this.constants.m;
  const aBase = bi * this.constants.m * this.constants.k;
  const bBase = bi * this.constants.k * this.constants.n;
  let sum = 0;
  for (let p = 0; p < this.constants.k; p++) {
    let av = 0;
    if (this.constants.ta === 1) {
      av = a[aBase + p * this.constants.m + i];
    } else {
      av = a[aBase + i * this.constants.k + p];
    }
    let bv = 0;
    if (this.constants.tb === 1) {
      bv = b[bBase + j * this.constants.k + p];
    } else {
      bv = b[bBase + p * this.constants.n + j];
    }
    sum += av * bv;
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Normalization. The grouped layout reads x as (N, C, S); "row" r = n·C + c is one contiguous run
// of S values, and the statistic slot of row (n, c) is (perSample ? n·G : 0) + floor(c / (C/G)).
// Row partial sums are reduced to slots on the host in float64 (N·C numbers: cheap), which keeps
// every float32 sum short (S terms) and lets the host fold slots of any size exactly.

/**
 * Pass 1: Σ (x − shift) over each row, shift = the slot's first sample. Subtracting a sample of
 * the group first keeps float32 sums of large-mean inputs from losing the spread's digits.
 * Output [N·C].
 */
export function rowShiftedSumKernel(this: KernelThis, x: number[]): number {
  const r = this.thread.x;
  const c = r % this.constants.c;
  const n = Math.floor(r / this.constants.c);
  const g = Math.floor(c / this.constants.cpg);
  let first = g * this.constants.cpg * this.constants.s;
  if (this.constants.perSample === 1) {
    first = (n * this.constants.c + g * this.constants.cpg) * this.constants.s;
  }
  const shift = x[first];
  const base = r * this.constants.s;
  let sum = 0;
  for (let i = 0; i < this.constants.s; i++) {
    sum += x[base + i] - shift;
  }
  return sum;
}

/**
 * Pass 2: [Σ d, Σ d²] per row with d = x − mean, the mean given as a float32 pair hi + lo so that
 * `(x − hi) − lo` keeps the digits a single float32 mean would round away. Output [N·C] of Array(2).
 */
export function rowCenteredMomentsKernel(this: KernelThis, x: number[], meanHi: number[], meanLo: number[]): number[] {
  const r = this.thread.x;
  const c = r % this.constants.c;
  const n = Math.floor(r / this.constants.c);
  let slot = Math.floor(c / this.constants.cpg);
  if (this.constants.perSample === 1) {
    slot = n * this.constants.groups + slot;
  }
  const hi = meanHi[slot];
  const lo = meanLo[slot];
  const base = r * this.constants.s;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < this.constants.s; i++) {
    const d = x[base + i] - hi - lo;
    s1 += d;
    s2 += d * d;
  }
  return [s1, s2];
}

/**
 * Normalize and affine: y = (x − mean)·scale + shift with per-row coefficients (scale = rstd·γ,
 * shift = β) precomputed on the host. Output [S, N·C].
 */
export function rowAffineKernel(this: KernelThis, x: number[], meanHi: number[], meanLo: number[], scale: number[], shift: number[]): number {
  const r = this.thread.y;
  const d = x[r * this.constants.s + this.thread.x] - meanHi[r] - meanLo[r];
  return d * scale[r] + shift[r];
}

/**
 * Backward pass 1: [Σ dy, Σ dy·(x − mean)] per row (the bias and the unscaled weight gradient,
 * and with γ and rstd the two reductions of the input gradient). Output [N·C] of Array(2).
 */
export function rowBackwardSumsKernel(this: KernelThis, x: number[], dy: number[], meanHi: number[], meanLo: number[]): number[] {
  const r = this.thread.x;
  const base = r * this.constants.s;
  const hi = meanHi[r];
  const lo = meanLo[r];
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < this.constants.s; i++) {
    const g = dy[base + i];
    s1 += g;
    s2 += g * (x[base + i] - hi - lo);
  }
  return [s1, s2];
}

/**
 * Backward pass 2: dx = a·dy + c1·(x − mean) + c0 with per-row coefficients, plus `acc` (the
 * tensor being accumulated into, or zeros' stand-in when `hasAcc` is 0). Output [S, N·C].
 */
export function rowBackwardApplyKernel(
  this: KernelThis,
  x: number[],
  dy: number[],
  meanHi: number[],
  meanLo: number[],
  coefA: number[],
  coef1: number[],
  coef0: number[],
  acc: number[],
): number {
  const r = this.thread.y;
  const i = r * this.constants.s + this.thread.x;
  let v = coefA[r] * dy[i] + coef1[r] * (x[i] - meanHi[r] - meanLo[r]) + coef0[r];
  if (this.constants.hasAcc === 1) {
    v = acc[i] + v;
  }
  return v;
}

// Batch-axis layout: x is (N, P); statistics per position p over the N samples.

/** Σ (x − x[0, p]) over n, per position. Output [P]. */
export function colShiftedSumKernel(this: KernelThis, x: number[]): number {
  const p = this.thread.x;
  const shift = x[p];
  let sum = 0;
  for (let n = 0; n < this.constants.n; n++) {
    sum += x[n * this.constants.p + p] - shift;
  }
  return sum;
}

/** [Σ d, Σ d²] over n per position, d = x − (hi + lo). Output [P] of Array(2). */
export function colCenteredMomentsKernel(this: KernelThis, x: number[], meanHi: number[], meanLo: number[]): number[] {
  const p = this.thread.x;
  const hi = meanHi[p];
  const lo = meanLo[p];
  let s1 = 0;
  let s2 = 0;
  for (let n = 0; n < this.constants.n; n++) {
    const d = x[n * this.constants.p + p] - hi - lo;
    s1 += d;
    s2 += d * d;
  }
  return [s1, s2];
}

/** v = (x − mean[p])·rstd[p]. Output [P, N]. */
export function colApplyKernel(this: KernelThis, x: number[], meanHi: number[], meanLo: number[], rstd: number[]): number {
  const p = this.thread.x;
  const d = x[this.thread.y * this.constants.p + p] - meanHi[p] - meanLo[p];
  return d * rstd[p];
}

/** [Σ dy, Σ dy·(x − mean)] over n per position. Output [P] of Array(2). */
export function colBackwardSumsKernel(this: KernelThis, x: number[], dy: number[], meanHi: number[], meanLo: number[]): number[] {
  const p = this.thread.x;
  const hi = meanHi[p];
  const lo = meanLo[p];
  let s1 = 0;
  let s2 = 0;
  for (let n = 0; n < this.constants.n; n++) {
    const i = n * this.constants.p + p;
    const g = dy[i];
    s1 += g;
    s2 += g * (x[i] - hi - lo);
  }
  return [s1, s2];
}

/** dx = r·dy + c1·(x − mean) + c0 per position (+ acc). Output [P, N]. */
export function colBackwardApplyKernel(
  this: KernelThis,
  x: number[],
  dy: number[],
  meanHi: number[],
  meanLo: number[],
  rstd: number[],
  coef1: number[],
  coef0: number[],
  acc: number[],
): number {
  const p = this.thread.x;
  const i = this.thread.y * this.constants.p + p;
  let v = rstd[p] * dy[i] + coef1[p] * (x[i] - meanHi[p] - meanLo[p]) + coef0[p];
  if (this.constants.hasAcc === 1) {
    v = acc[i] + v;
  }
  return v;
}

// Blend layout (GN+ and HybridNorm's last step): u, v and dy are (N, C, S), row r = n·C + c.

/**
 * y = a·u + b·v + shift with per-row coefficients (a = γ·w, b = γ·(1 − w), shift = β) precomputed
 * on the host. Output [S, N·C].
 */
export function blendAffineKernel(this: KernelThis, u: number[], v: number[], coefU: number[], coefV: number[], shift: number[]): number {
  const r = this.thread.y;
  const i = r * this.constants.s + this.thread.x;
  return coefU[r] * u[i] + coefV[r] * v[i] + shift[r];
}

/**
 * Blend backward reductions: [Σ dy, Σ dy·v, Σ dy·(u − v)] per row. The host folds them into
 * the bias, weight (Σ dy·(v + w·(u − v))) and blend-weight gradients in float64; summing
 * dy·(u − v) directly, not Σ dy·u − Σ dy·v, keeps the blend gradient accurate when u ≈ v.
 * Output [N·C] of Array(3).
 */
export function blendBackwardSumsKernel(this: KernelThis, dy: number[], u: number[], v: number[]): number[] {
  const base = this.thread.x * this.constants.s;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < this.constants.s; i++) {
    const g = dy[base + i];
    const vv = v[base + i];
    s0 += g;
    s1 += g * vv;
    s2 += g * (u[base + i] - vv);
  }
  return [s0, s1, s2];
}

/**
 * Blend backward input gradients, du = γ·w·dy and dv = γ·(1 − w)·dy, in one launch: output
 * [S, 2·N·C], rows 0 … N·C − 1 are du and rows N·C … 2·N·C − 1 are dv (both read dy's row
 * r mod N·C), so dy is uploaded once and the host splits the result.
 */
export function blendBackwardScaleKernel(this: KernelThis, dy: number[], coef: number[]): number {
  const r = this.thread.y;
  let src = r;
  if (r >= this.constants.rows) {
    src = r - this.constants.rows;
  }
  return coef[r] * dy[src * this.constants.s + this.thread.x];
}

// Fused grouped forward (`normForward`): the statistics never leave the device between the
// moments and the normalize step. In the GL modes each kernel below except the last returns a
// texture (gpu.js `pipeline: true`) that the next one reads directly; slot sums are folded on the
// device in float32 over row partials (S terms per row, then cpg·N row partials per slot), so
// every float32 sum stays short as in the host-folded kernels above.

/**
 * Slot means of pass 1: shift[slot] + Σ row partials / count, from `rowShiftedSumKernel`'s
 * output (the shift is the slot's first sample, passed in as one number per slot). Output
 * [slots]. The result is a float32 mean whose rounding pass 2 measures and corrects.
 */
export function slotShiftedMeanKernel(this: KernelThis, rowSums: number[], shift: number[]): number {
  const j = this.thread.x;
  let n0 = 0;
  let g = j;
  if (this.constants.perSample === 1) {
    n0 = Math.floor(j / this.constants.groups);
    g = j - n0 * this.constants.groups;
  }
  let sum = 0;
  for (let k = 0; k < this.constants.nLoop; k++) {
    const rowBase = (n0 + k) * this.constants.c + g * this.constants.cpg;
    for (let q = 0; q < this.constants.cpg; q++) {
      sum += rowSums[rowBase + q];
    }
  }
  return shift[j] + sum / this.constants.count;
}

/**
 * Pass 2 per row against the device mean: Σ (x − m₁[slot])² over row r. Output [N·C]. (Σ d
 * itself is not summed again: the stats kernel recovers m₁'s rounding from pass 1's sums.)
 */
export function rowSquaredDeviceKernel(this: KernelThis, x: number[], slotMean: number[]): number {
  const r = this.thread.x;
  const c = r % this.constants.c;
  const n = Math.floor(r / this.constants.c);
  let slot = Math.floor(c / this.constants.cpg);
  if (this.constants.perSample === 1) {
    slot = n * this.constants.groups + slot;
  }
  const m = slotMean[slot];
  const base = r * this.constants.s;
  let sum = 0;
  for (let i = 0; i < this.constants.s; i++) {
    const d = x[base + i] - m;
    sum += d * d;
  }
  return sum;
}

/**
 * Slot statistics: output [4·slots], four runs of `slots` values: the pass-1 mean m₁, the
 * residual dm = mean − m₁, the biased variance Σ(x − m₁)²/M − dm², and rstd = 1/sqrt(var + eps).
 * dm = Σ(x − shift)/M − (m₁ − shift): m₁ is read back from the previous kernel's stored output,
 * so `m₁ − shift` is an exact float32 difference of two stored numbers that no shader compiler
 * can fold away, and dm recovers the float32 rounding of m₁ (large-mean inputs) to the spread's
 * precision, as the host-folded kernels' second Σ d does, without a second pass over x.
 */
export function slotStatsKernel(this: KernelThis, rowSums: number[], rowSquares: number[], slotMean: number[], shift: number[]): number {
  const slots = this.constants.slots;
  const part = Math.floor(this.thread.x / slots);
  const j = this.thread.x - part * slots;
  const m1 = slotMean[j];
  let result = m1;
  if (part > 0) {
    let n0 = 0;
    let g = j;
    if (this.constants.perSample === 1) {
      n0 = Math.floor(j / this.constants.groups);
      g = j - n0 * this.constants.groups;
    }
    let s1 = 0;
    let s2 = 0;
    for (let k = 0; k < this.constants.nLoop; k++) {
      const rowBase = (n0 + k) * this.constants.c + g * this.constants.cpg;
      for (let q = 0; q < this.constants.cpg; q++) {
        s1 += rowSums[rowBase + q];
        s2 += rowSquares[rowBase + q];
      }
    }
    const dm = s1 / this.constants.count - (m1 - shift[j]);
    const variance = Math.max(0, s2 / this.constants.count - dm * dm);
    if (part === 1) {
      result = dm;
    } else if (part === 2) {
      result = variance;
    } else {
      result = 1 / Math.sqrt(variance + this.constants.eps);
    }
  }
  return result;
}

/**
 * Per-row coefficients of the normalize step from `slotStatsKernel`'s output: output [4·N·C],
 * four runs of N·C values: m₁, dm, rstd·γ_c and β_c of row r (γ/β read when `hasWeight` /
 * `hasBias` are 1). A separate small launch so the normalize step reads four lane-uniform
 * values per row instead of redoing the slot arithmetic for every element.
 */
export function rowCoefKernel(this: KernelThis, stats: number[], weight: number[], bias: number[]): number {
  const rows = this.constants.rows;
  const part = Math.floor(this.thread.x / rows);
  const r = this.thread.x - part * rows;
  const c = r % this.constants.c;
  const n = Math.floor(r / this.constants.c);
  let slot = Math.floor(c / this.constants.cpg);
  if (this.constants.perSample === 1) {
    slot = n * this.constants.groups + slot;
  }
  let v = 0;
  if (part < 2) {
    v = stats[part * this.constants.slots + slot];
  } else if (part === 2) {
    v = stats[3 * this.constants.slots + slot];
    if (this.constants.hasWeight === 1) {
      v = v * weight[c];
    }
  } else if (this.constants.hasBias === 1) {
    v = bias[c];
  }
  return v;
}

/** The normalize step: y = ((x − m₁) − dm)·scale + shift with `rowCoefKernel`'s per-row values. Output [S, N·C]. */
export function rowNormalizeDeviceKernel(this: KernelThis, x: number[], coef: number[]): number {
  const r = this.thread.y;
  const rows = this.constants.rows;
  const d = x[r * this.constants.s + this.thread.x] - coef[r] - coef[rows + r];
  return d * coef[2 * rows + r] + coef[3 * rows + r];
}

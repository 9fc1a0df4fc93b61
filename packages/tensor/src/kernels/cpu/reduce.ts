/**
 * CPU kernels of the reductions. A reduction over any set of axes walks the (possibly strided)
 * input once in memory order against a float64 accumulator whose reduced axes have stride 0, so
 * no transposed copy is made: reducing NCHW over (N, H, W) runs HW-long rows into one
 * accumulator per channel. Statistics accumulate in float64 and the variance takes two passes
 * (the mean first, then the squared deviations formed in float64, with the compensation term of
 * the corrected two-pass algorithm).
 */
import { registerKernel } from '../../registry.js';
import { type Shape, type TypedArray, Tensor, allocate, shapeSize } from '../../tensor.js';
import { forEachRow, planStrided, type StridedPlan } from './strided.js';

const enum Mode {
  Sum,
  /** acc += (x - m)^2, acc2 += (x - m) */
  SqDev,
  Max,
  Min,
  /** acc += exp(x - m) */
  SumExp,
}

interface Reduction {
  plan: StridedPlan;
  /** Shape without the reduced axes. */
  keptShape: number[];
  /** Shape with the reduced axes as 1. */
  keepDimsShape: number[];
  /** Elements reduced into each output. */
  count: number;
  outSize: number;
}

function planReduction(x: Tensor, axes: readonly number[]): Reduction {
  const reduced = new Array<boolean>(x.rank).fill(false);
  for (const a of axes) reduced[a] = true;
  const keptShape: number[] = [];
  const keepDimsShape: number[] = [];
  let count = 1;
  for (let i = 0; i < x.rank; i++) {
    if (reduced[i]) {
      count *= x.shape[i]!;
      keepDimsShape.push(1);
    } else {
      keptShape.push(x.shape[i]!);
      keepDimsShape.push(x.shape[i]!);
    }
  }
  // Accumulator strides: row-major over the kept axes, 0 on the reduced ones.
  const accStrides = new Array<number>(x.rank);
  let s = 1;
  for (let i = x.rank - 1; i >= 0; i--) {
    if (reduced[i]) accStrides[i] = 0;
    else {
      accStrides[i] = s;
      s *= x.shape[i]!;
    }
  }
  const plan = planStrided(x.shape, [x.strides, accStrides]);
  return { plan, keptShape, keepDimsShape, count, outSize: shapeSize(keptShape) };
}

/**
 * One row: `n` inputs from `x[px]` step `sx` into accumulators from `q` step `sq` (0: the whole
 * row folds into one accumulator, summed locally first).
 */
function reduceRow(
  mode: Mode, x: TypedArray, px: number, sx: number,
  acc: Float64Array, acc2: Float64Array | null, m: Float64Array | null, q: number, sq: number, n: number,
): void {
  if (sq === 0) {
    switch (mode) {
      case Mode.Sum: {
        let s = 0;
        for (let i = 0, k = px; i < n; i++, k += sx) s += x[k]!;
        acc[q] += s;
        break;
      }
      case Mode.SqDev: {
        const mu = m![q]!;
        let s = 0;
        let c = 0;
        for (let i = 0, k = px; i < n; i++, k += sx) {
          const d = x[k]! - mu;
          s += d * d;
          c += d;
        }
        acc[q] += s;
        acc2![q] += c;
        break;
      }
      case Mode.Max: {
        let b = acc[q]!;
        // `v !== v` keeps a NaN once seen (NaN propagates, as torch.max).
        for (let i = 0, k = px; i < n; i++, k += sx) { const v = x[k]!; if (v > b || v !== v) b = v; if (b !== b) break; }
        acc[q] = b;
        break;
      }
      case Mode.Min: {
        let b = acc[q]!;
        for (let i = 0, k = px; i < n; i++, k += sx) { const v = x[k]!; if (v < b || v !== v) b = v; if (b !== b) break; }
        acc[q] = b;
        break;
      }
      case Mode.SumExp: {
        const mu = m![q]!;
        let s = 0;
        for (let i = 0, k = px; i < n; i++, k += sx) s += Math.exp(x[k]! - mu);
        acc[q] += s;
        break;
      }
    }
    return;
  }
  switch (mode) {
    case Mode.Sum:
      for (let i = 0, k = px, j = q; i < n; i++, k += sx, j += sq) acc[j] += x[k]!;
      break;
    case Mode.SqDev:
      for (let i = 0, k = px, j = q; i < n; i++, k += sx, j += sq) {
        const d = x[k]! - m![j]!;
        acc[j] += d * d;
        acc2![j] += d;
      }
      break;
    case Mode.Max:
      for (let i = 0, k = px, j = q; i < n; i++, k += sx, j += sq) {
        const v = x[k]!;
        const b = acc[j]!;
        if (v > b || (v !== v && b === b)) acc[j] = v;
      }
      break;
    case Mode.Min:
      for (let i = 0, k = px, j = q; i < n; i++, k += sx, j += sq) {
        const v = x[k]!;
        const b = acc[j]!;
        if (v < b || (v !== v && b === b)) acc[j] = v;
      }
      break;
    case Mode.SumExp:
      for (let i = 0, k = px, j = q; i < n; i++, k += sx, j += sq) acc[j] += Math.exp(x[k]! - m![j]!);
      break;
  }
}

function walk(mode: Mode, x: Tensor, r: Reduction, acc: Float64Array, acc2: Float64Array | null, m: Float64Array | null): void {
  const last = r.plan.dims.length - 1;
  const sx = r.plan.strides[0]![last]!;
  const sq = r.plan.strides[1]![last]!;
  const data = x.data;
  forEachRow(r.plan, [x.offset, 0], (p, n) => reduceRow(mode, data, p[0]!, sx, acc, acc2, m, p[1]!, sq, n));
}

function finish(x: Tensor, r: Reduction, values: Float64Array, keepDims: boolean): Tensor {
  const out = allocate(x.dtype, values.length);
  out.set(values);
  return new Tensor(out, keepDims ? r.keepDimsShape : r.keptShape);
}

function sumAcc(x: Tensor, r: Reduction): Float64Array {
  const acc = new Float64Array(r.outSize);
  walk(Mode.Sum, x, r, acc, null, null);
  return acc;
}

function sumKernel(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  return finish(x, r, sumAcc(x, r), keepDims);
}

function meanKernel(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  const acc = sumAcc(x, r);
  for (let i = 0; i < acc.length; i++) acc[i] /= r.count;
  return finish(x, r, acc, keepDims);
}

/** Variances in float64 (two passes); `sqrt` gives the standard deviation. */
function varianceAcc(x: Tensor, r: Reduction, unbiased: boolean, sqrt: boolean): Float64Array {
  const n = r.count;
  const mean = sumAcc(x, r);
  for (let i = 0; i < mean.length; i++) mean[i] /= n;
  const ss = new Float64Array(r.outSize);
  const sd = new Float64Array(r.outSize);
  walk(Mode.SqDev, x, r, ss, sd, mean);
  const denom = unbiased ? n - 1 : n;
  for (let i = 0; i < ss.length; i++) {
    // Subtracting (Σd)²/n removes the first-order error of the rounded mean.
    const v = Math.max(0, (ss[i]! - (sd[i]! * sd[i]!) / n) / denom);
    ss[i] = sqrt ? Math.sqrt(v) : v;
  }
  // A single element with `unbiased` (0/0) or an empty reduction gives NaN, as torch does;
  // Math.max(0, NaN) keeps the NaN while clamping round-off below 0.
  return ss;
}

function varianceKernel(x: Tensor, axes: readonly number[], unbiased: boolean, keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  return finish(x, r, varianceAcc(x, r, unbiased, false), keepDims);
}

function stdKernel(x: Tensor, axes: readonly number[], unbiased: boolean, keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  return finish(x, r, varianceAcc(x, r, unbiased, true), keepDims);
}

function extremeAcc(mode: Mode.Max | Mode.Min, x: Tensor, r: Reduction): Float64Array {
  const acc = new Float64Array(r.outSize).fill(mode === Mode.Max ? -Infinity : Infinity);
  walk(mode, x, r, acc, null, null);
  return acc;
}

function maxKernel(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  return finish(x, r, extremeAcc(Mode.Max, x, r), keepDims);
}

function minKernel(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  return finish(x, r, extremeAcc(Mode.Min, x, r), keepDims);
}

function logSumExpKernel(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const r = planReduction(x, axes);
  const shift = extremeAcc(Mode.Max, x, r);
  // An infinite max cannot be subtracted (inf - inf = NaN); shift by 0 there instead, which
  // gives -inf for all -inf inputs and +inf when any input is +inf, as torch.logsumexp.
  for (let i = 0; i < shift.length; i++) if (!Number.isFinite(shift[i]!)) shift[i] = Number.isNaN(shift[i]!) ? shift[i]! : 0;
  const acc = new Float64Array(r.outSize);
  walk(Mode.SumExp, x, r, acc, null, shift);
  for (let i = 0; i < acc.length; i++) acc[i] = shift[i]! + Math.log(acc[i]!);
  return finish(x, r, acc, keepDims);
}

/** Split a shape around `axis` into (outer, size of axis, inner). */
function around(shape: Shape, axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[axis]!, inner];
}

/** Index of the largest value along `axis` (null: of the flattened tensor); first on ties, NaN wins. */
function argmaxKernel(x: Tensor, axis: number | null, keepDims: boolean): Tensor {
  const c = x.contiguous();
  const d = c.data;
  const [outer, len, inner] = axis === null ? [1, x.size, 1] : around(x.shape, axis);
  const out = allocate(x.dtype, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let k = o * len * inner + i;
      let best = d[k]!;
      let at = 0;
      if (best === best) {
        for (let j = 1; j < len; j++) {
          k += inner;
          const v = d[k]!;
          if (v > best || v !== v) {
            best = v;
            at = j;
            if (v !== v) break;
          }
        }
      }
      out[o * inner + i] = at;
    }
  }
  let shape: number[];
  if (axis === null) shape = keepDims ? x.shape.map(() => 1) : [];
  else if (keepDims) shape = x.shape.map((s, i) => (i === axis ? 1 : s));
  else shape = x.shape.filter((_, i) => i !== axis);
  return new Tensor(out, shape);
}

/**
 * softmax / logSoftmax along `axis`, stable: the row max is subtracted before `exp`, and the
 * normalizer is accumulated in float64. Rows along a non-last axis are handled `inner` columns
 * at a time so that memory is read in order.
 */
function softmaxLike(x: Tensor, axis: number, logOut: boolean): Tensor {
  const c = x.contiguous();
  const d = c.data;
  const [outer, len, inner] = around(x.shape, axis);
  const out = allocate(x.dtype, x.size);
  if (inner === 1) {
    for (let o = 0, base = 0; o < outer; o++, base += len) {
      let m = -Infinity;
      for (let j = 0; j < len; j++) { const v = d[base + j]!; if (v > m || v !== v) m = v; }
      let s = 0;
      if (logOut) {
        for (let j = 0; j < len; j++) s += Math.exp(d[base + j]! - m);
        const lse = m + Math.log(s);
        for (let j = 0; j < len; j++) out[base + j] = d[base + j]! - lse;
      } else {
        // Keep the exponentials in the output (one exp per element); the sum uses the float64
        // values, so only the final scaling rounds.
        for (let j = 0; j < len; j++) { const e = Math.exp(d[base + j]! - m); out[base + j] = e; s += e; }
        const inv = 1 / s;
        for (let j = 0; j < len; j++) out[base + j] *= inv;
      }
    }
    return new Tensor(out, x.shape);
  }
  const m = new Float64Array(inner);
  const s = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * len * inner;
    m.fill(-Infinity);
    s.fill(0);
    for (let j = 0, k = base; j < len; j++, k += inner) {
      for (let i = 0; i < inner; i++) { const v = d[k + i]!; if (v > m[i]! || v !== v) m[i] = v; }
    }
    if (logOut) {
      for (let j = 0, k = base; j < len; j++, k += inner) {
        for (let i = 0; i < inner; i++) s[i] += Math.exp(d[k + i]! - m[i]!);
      }
      for (let i = 0; i < inner; i++) s[i] = m[i]! + Math.log(s[i]!);
      for (let j = 0, k = base; j < len; j++, k += inner) {
        for (let i = 0; i < inner; i++) out[k + i] = d[k + i]! - s[i]!;
      }
    } else {
      for (let j = 0, k = base; j < len; j++, k += inner) {
        for (let i = 0; i < inner; i++) { const e = Math.exp(d[k + i]! - m[i]!); out[k + i] = e; s[i] += e; }
      }
      for (let i = 0; i < inner; i++) s[i] = 1 / s[i]!;
      for (let j = 0, k = base; j < len; j++, k += inner) {
        for (let i = 0; i < inner; i++) out[k + i] *= s[i]!;
      }
    }
  }
  return new Tensor(out, x.shape);
}

/** L2 norm of all elements, accumulated in float64. */
function normKernel(x: Tensor): number {
  const plan = planStrided(x.shape, [x.strides]);
  const sx = plan.strides[0]![plan.dims.length - 1]!;
  const d = x.data;
  let s = 0;
  forEachRow(plan, [x.offset], (p, n) => {
    let t = 0;
    for (let i = 0, k = p[0]!; i < n; i++, k += sx) { const v = d[k]!; t += v * v; }
    s += t;
  });
  return Math.sqrt(s);
}

registerKernel('sum', 'cpu', sumKernel);
registerKernel('mean', 'cpu', meanKernel);
registerKernel('variance', 'cpu', varianceKernel);
registerKernel('std', 'cpu', stdKernel);
registerKernel('max', 'cpu', maxKernel);
registerKernel('min', 'cpu', minKernel);
registerKernel('argmax', 'cpu', argmaxKernel);
registerKernel('logSumExp', 'cpu', logSumExpKernel);
registerKernel('softmax', 'cpu', (x, axis) => softmaxLike(x, axis, false));
registerKernel('logSoftmax', 'cpu', (x, axis) => softmaxLike(x, axis, true));
registerKernel('norm', 'cpu', normKernel);

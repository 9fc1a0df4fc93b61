/**
 * CPU pooling kernels. Each output element's window is clipped to the input once (window bounds
 * computed per output row/column), so the inner loops carry no padding tests. Max pooling has
 * unrolled paths for 2×2 / stride 2 and for 3×3 windows.
 */
import { registerKernel } from '../../registry.js';
import { type TypedArray, Tensor, allocate } from '../../tensor.js';
import type { MaxPool2dResult, Pool2dParams } from '../../ops/pool.js';

function outDim(input: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((input + 2 * pad - kernel) / stride) + 1;
}

/**
 * The window of each output index o along one axis clipped to the input: [lo[o], hi[o]). One
 * table per axis, so the per-element loops read their bounds instead of recomputing them.
 */
function windowBounds(outSize: number, stride: number, pad: number, kernel: number, size: number): [lo: Int32Array, hi: Int32Array] {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const start = o * stride - pad;
    lo[o] = Math.max(0, start);
    hi[o] = Math.min(size, start + kernel);
  }
  return [lo, hi];
}

/**
 * Exact max over the clipped window rows [h0, h1) × columns [w0, w1) of the plane at `base`,
 * written to out[o] / indices[o]: the first maximum in row-major order wins ties, and the first
 * NaN wins outright (PyTorch propagates NaN through max pooling). The general path, and the
 * fallback of the unrolled paths for border windows and windows holding a NaN.
 */
function scanWindow(
  src: TypedArray, base: number, w: number, h0: number, h1: number, w0: number, w1: number,
  out: TypedArray, indices: Int32Array, o: number,
): void {
  let best = -Infinity;
  let arg = h0 * w + w0;
  for (let ih = h0; ih < h1; ih++) {
    const row = ih * w;
    for (let iw = w0; iw < w1; iw++) {
      const v = src[base + row + iw]!;
      if (v > best) {
        best = v;
        arg = row + iw;
      } else if (v !== v) {
        out[o] = v;
        indices[o] = row + iw;
        return;
      }
    }
  }
  out[o] = best;
  indices[o] = arg;
}

/**
 * 2×2 / stride 2 / no padding (the common downsampling pool). The argmax is computed without
 * branches — a compare turned into 0/1 picks the offset, and the value is reloaded from it —
 * because on real activations the winner's position is random and a compare-and-branch chain
 * mispredicts on most windows (measured 2.5× slower on random data). NaN never wins a `>`
 * compare, so a window holding one is detected by its sum (NaN if any element is NaN; also for
 * +∞ + −∞, which the exact scan then settles) and rescanned.
 */
function maxPool2x2(src: TypedArray, planes: number, h: number, w: number, ho: number, wo: number, out: TypedArray, indices: Int32Array): void {
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let oh = 0; oh < ho; oh++) {
      const r0 = 2 * oh * w;
      for (let ow = 0; ow < wo; ow++, o++) {
        const i0 = r0 + 2 * ow;
        const q = base + i0;
        const v0 = src[q]!, v1 = src[q + 1]!, v2 = src[q + w]!, v3 = src[q + w + 1]!;
        const sum = v0 + v1 + v2 + v3;
        if (sum !== sum) {
          scanWindow(src, base, w, 2 * oh, 2 * oh + 2, 2 * ow, 2 * ow + 2, out, indices, o);
          continue;
        }
        // Strict `>` keeps the earlier element on ties (row-major first maximum).
        const k0 = +(v1 > v0);
        const k1 = w + +(v3 > v2);
        const k = k0 + +(src[q + k1]! > src[q + k0]!) * (k1 - k0);
        out[o] = src[q + k]!;
        indices[o] = i0 + k;
      }
    }
  }
}

/**
 * Branch-free argmax of three consecutive elements at `q` (first maximum on ties): returns the
 * offset 0, 1 or 2. NaN-free input only (callers check the window sum first).
 */
function argmax3(src: TypedArray, q: number): number {
  const a = +(src[q + 1]! > src[q]!);
  return a + +(src[q + 2]! > src[q + a]!) * (2 - a);
}

/**
 * 3×3 windows at any stride and padding: windows inside the input take the branch-free argmax
 * (same NaN rule as `maxPool2x2`); windows clipped by the padding take the exact scan.
 */
function maxPool3x3(
  src: TypedArray, planes: number, h: number, w: number, ho: number, wo: number,
  sh: number, sw: number, padH: number, padW: number, out: TypedArray, indices: Int32Array,
): void {
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let oh = 0; oh < ho; oh++) {
      const hs = oh * sh - padH;
      const rowInside = hs >= 0 && hs + 3 <= h;
      for (let ow = 0; ow < wo; ow++, o++) {
        const ws = ow * sw - padW;
        if (!rowInside || ws < 0 || ws + 3 > w) {
          scanWindow(src, base, w, Math.max(0, hs), Math.min(h, hs + 3), Math.max(0, ws), Math.min(w, ws + 3), out, indices, o);
          continue;
        }
        const i0 = hs * w + ws;
        const q = base + i0;
        const sum =
          src[q]! + src[q + 1]! + src[q + 2]! +
          src[q + w]! + src[q + w + 1]! + src[q + w + 2]! +
          src[q + 2 * w]! + src[q + 2 * w + 1]! + src[q + 2 * w + 2]!;
        if (sum !== sum) {
          scanWindow(src, base, w, hs, hs + 3, ws, ws + 3, out, indices, o);
          continue;
        }
        // Per-row argmax, then the rows in order; strict `>` keeps the earlier one on ties.
        const k0 = argmax3(src, q);
        const k1 = w + argmax3(src, q + w);
        const k2 = 2 * w + argmax3(src, q + 2 * w);
        let k = k0 + +(src[q + k1]! > src[q + k0]!) * (k1 - k0);
        k += +(src[q + k2]! > src[q + k]!) * (k2 - k);
        out[o] = src[q + k]!;
        indices[o] = i0 + k;
      }
    }
  }
}

function maxPool2d(x: Tensor, p: Pool2dParams): MaxPool2dResult {
  const xc = x.contiguous();
  const src = xc.data;
  const [n, c, h, w] = xc.shape as [number, number, number, number];
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH, padW } = p;
  const ho = outDim(h, kh, sh, padH);
  const wo = outDim(w, kw, sw, padW);
  const planes = n * c;
  const out = allocate(xc.dtype, planes * ho * wo);
  const indices = new Int32Array(planes * ho * wo);
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && padH === 0 && padW === 0) {
    maxPool2x2(src, planes, h, w, ho, wo, out, indices);
  } else if (kh === 3 && kw === 3) {
    maxPool3x3(src, planes, h, w, ho, wo, sh, sw, padH, padW, out, indices);
  } else {
    const [hLo, hHi] = windowBounds(ho, sh, padH, kh, h);
    const [wLo, wHi] = windowBounds(wo, sw, padW, kw, w);
    let o = 0;
    for (let pl = 0; pl < planes; pl++) {
      const base = pl * h * w;
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++, o++) scanWindow(src, base, w, hLo[oh]!, hHi[oh]!, wLo[ow]!, wHi[ow]!, out, indices, o);
      }
    }
  }
  return { output: new Tensor(out, [n, c, ho, wo]), indices };
}

function maxPool2dBackward(dy: Tensor, indices: Int32Array, inputShape: readonly number[]): Tensor {
  const dyc = dy.contiguous();
  const g = dyc.data;
  const [n, c, h, w] = inputShape as [number, number, number, number];
  const outPlane = dyc.shape[2]! * dyc.shape[3]!;
  const plane = h * w;
  const dx = allocate(dyc.dtype, n * c * plane);
  let o = 0;
  for (let pl = 0; pl < n * c; pl++) {
    const base = pl * plane;
    for (let k = 0; k < outPlane; k++, o++) dx[base + indices[o]!] += g[o]!;
  }
  return new Tensor(dx, [n, c, h, w]);
}

function avgPool2d(x: Tensor, p: Pool2dParams): Tensor {
  const xc = x.contiguous();
  const src = xc.data;
  const [n, c, h, w] = xc.shape as [number, number, number, number];
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH, padW, countIncludePad } = p;
  const ho = outDim(h, kh, sh, padH);
  const wo = outDim(w, kw, sw, padW);
  const out = allocate(xc.dtype, n * c * ho * wo);
  const [hLo, hHi] = windowBounds(ho, sh, padH, kh, h);
  const [wLo, wHi] = windowBounds(wo, sw, padW, kw, w);
  let o = 0;
  for (let pl = 0; pl < n * c; pl++) {
    const base = pl * h * w;
    for (let oh = 0; oh < ho; oh++) {
      const h0 = hLo[oh]!;
      const h1 = hHi[oh]!;
      for (let ow = 0; ow < wo; ow++, o++) {
        const w0 = wLo[ow]!;
        const w1 = wHi[ow]!;
        let s = 0;
        for (let ih = h0; ih < h1; ih++) {
          const row = base + ih * w;
          for (let iw = w0; iw < w1; iw++) s += src[row + iw]!;
        }
        out[o] = s / (countIncludePad ? kh * kw : (h1 - h0) * (w1 - w0));
      }
    }
  }
  return new Tensor(out, [n, c, ho, wo]);
}

function avgPool2dBackward(dy: Tensor, inputShape: readonly number[], p: Pool2dParams): Tensor {
  const dyc = dy.contiguous();
  const g = dyc.data;
  const [n, c, h, w] = inputShape as [number, number, number, number];
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH, padW, countIncludePad } = p;
  const ho = dyc.shape[2]!;
  const wo = dyc.shape[3]!;
  const plane = h * w;
  // Overlapping windows add into the same input element: accumulate one plane in float64.
  const acc = new Float64Array(plane);
  const dx = allocate(dyc.dtype, n * c * plane);
  const [hLo, hHi] = windowBounds(ho, sh, padH, kh, h);
  const [wLo, wHi] = windowBounds(wo, sw, padW, kw, w);
  let o = 0;
  for (let pl = 0; pl < n * c; pl++) {
    acc.fill(0);
    for (let oh = 0; oh < ho; oh++) {
      const h0 = hLo[oh]!;
      const h1 = hHi[oh]!;
      for (let ow = 0; ow < wo; ow++, o++) {
        const w0 = wLo[ow]!;
        const w1 = wHi[ow]!;
        const v = g[o]! / (countIncludePad ? kh * kw : (h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) {
          const row = ih * w;
          for (let iw = w0; iw < w1; iw++) acc[row + iw] += v;
        }
      }
    }
    dx.set(acc, pl * plane);
  }
  return new Tensor(dx, [n, c, h, w]);
}

function globalAvgPool2d(x: Tensor): Tensor {
  const xc = x.contiguous();
  const src = xc.data;
  const [n, c, h, w] = xc.shape as [number, number, number, number];
  const plane = h * w;
  const out = allocate(xc.dtype, n * c);
  for (let pl = 0; pl < n * c; pl++) {
    let s = 0;
    const base = pl * plane;
    for (let i = 0; i < plane; i++) s += src[base + i]!;
    out[pl] = s / plane;
  }
  return new Tensor(out, [n, c, 1, 1]);
}

registerKernel('maxPool2d', 'cpu', maxPool2d);
registerKernel('maxPool2dBackward', 'cpu', maxPool2dBackward);
registerKernel('avgPool2d', 'cpu', avgPool2d);
registerKernel('avgPool2dBackward', 'cpu', avgPool2dBackward);
registerKernel('globalAvgPool2d', 'cpu', globalAvgPool2d);

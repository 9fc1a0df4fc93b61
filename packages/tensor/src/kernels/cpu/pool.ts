/**
 * CPU pooling kernels. Each output element's window is clipped to the input once (window bounds
 * computed per output row/column), so the inner loops carry no padding tests.
 */
import { registerKernel } from '../../registry.js';
import { Tensor, allocate } from '../../tensor.js';
import type { MaxPool2dResult, Pool2dParams } from '../../ops/pool.js';

function outDim(input: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((input + 2 * pad - kernel) / stride) + 1;
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
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let oh = 0; oh < ho; oh++) {
      const h0 = Math.max(0, oh * sh - padH);
      const h1 = Math.min(h, oh * sh - padH + kh);
      for (let ow = 0; ow < wo; ow++, o++) {
        const w0 = Math.max(0, ow * sw - padW);
        const w1 = Math.min(w, ow * sw - padW + kw);
        let best = -Infinity;
        let arg = h0 * w + w0;
        for (let ih = h0; ih < h1; ih++) {
          const row = ih * w;
          for (let iw = w0; iw < w1; iw++) {
            const v = src[base + row + iw]!;
            // `v !== v` lets a NaN win and stick, as PyTorch propagates NaN through max pooling.
            if (v > best || v !== v) {
              best = v;
              arg = row + iw;
              if (v !== v) {
                ih = h1;
                break;
              }
            }
          }
        }
        out[o] = best;
        indices[o] = arg;
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
  let o = 0;
  for (let pl = 0; pl < n * c; pl++) {
    const base = pl * h * w;
    for (let oh = 0; oh < ho; oh++) {
      const h0 = Math.max(0, oh * sh - padH);
      const h1 = Math.min(h, oh * sh - padH + kh);
      for (let ow = 0; ow < wo; ow++, o++) {
        const w0 = Math.max(0, ow * sw - padW);
        const w1 = Math.min(w, ow * sw - padW + kw);
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
  let o = 0;
  for (let pl = 0; pl < n * c; pl++) {
    acc.fill(0);
    for (let oh = 0; oh < ho; oh++) {
      const h0 = Math.max(0, oh * sh - padH);
      const h1 = Math.min(h, oh * sh - padH + kh);
      for (let ow = 0; ow < wo; ow++, o++) {
        const w0 = Math.max(0, ow * sw - padW);
        const w1 = Math.min(w, ow * sw - padW + kw);
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

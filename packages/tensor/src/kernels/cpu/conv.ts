/**
 * CPU conv2d kernels on the blocked GEMM of `matmul.ts`.
 * Forward: 3×3 stride-1 undilated convolutions with at least 2 input channels per group use
 * Winograd F(2×2, 3×3) (2.25× fewer multiplies), and so do their input gradients (a stride-1
 * convolution of dy with the flipped weight); other shapes use im2col fused into the GEMM's
 * B packing (the column matrix is never stored); a 1×1 stride-1 unpadded convolution is a plain
 * GEMM on the input planes.
 *
 * - forward:          out_g (Cout/g × L)  = W_g (Cout/g × K)  · col_g (K × L)
 * - input gradient:   dcol_g (K × L)      = W_gᵀ (K × Cout/g) · dy_g (Cout/g × L), then col2im
 * - weight gradient:  dW_g (Cout/g × K)  += dy_g (Cout/g × L) · col_gᵀ (L × K), summed over images
 * with K = Cin/g·kH·kW and L = Ho·Wo. Large images run one GEMM per image (and group); small
 * outputs (L < MERGE_COLS) put a chunk of images side by side, L becoming nb·Ho·Wo, so that the
 * forward and weight-gradient GEMMs are not a few columns wide or deep. Transposed operands are
 * strided views: the GEMM's packing reads them in place. Accumulation is float64 throughout;
 * results are stored in the input dtype.
 */
import { parallelFor, rangeKernel } from '../../parallel.js';
import { registerKernel } from '../../registry.js';
import { type TypedArray, Tensor, allocate } from '../../tensor.js';
import type { Conv2dParams } from '../../ops/conv.js';
import { type BPacker, type PackedA, PACK_MR, PACK_NR, gemm, macroKernel, packA } from './matmul.js';

/** Output spatial size (the op has validated that the kernel fits). */
function outDim(input: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** The sizes every conv2d kernel works with; K and L per group, as in the file comment. */
interface ConvDims {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  /** Input channels per group (the weight's dim 1). */
  cg: number;
  kh: number;
  kw: number;
  ho: number;
  wo: number;
  G: number;
  coutG: number;
  /** K = Cin/g·kH·kW. */
  kG: number;
  /** L = Ho·Wo. */
  L: number;
}

/** `outputShape`: dy's shape in the backward kernels; the forward derives Ho, Wo from the rest. */
function convDims(inputShape: readonly number[], weightShape: readonly number[], p: Conv2dParams, outputShape?: readonly number[]): ConvDims {
  const [n, cin, h, w] = inputShape as [number, number, number, number];
  const [cout, cg, kh, kw] = weightShape as [number, number, number, number];
  const ho = outputShape ? outputShape[2]! : outDim(h, kh, p.strideH, p.padH, p.dilationH);
  const wo = outputShape ? outputShape[3]! : outDim(w, kw, p.strideW, p.padW, p.dilationW);
  const G = p.groups;
  return { n, cin, h, w, cout, cg, kh, kw, ho, wo, G, coutG: cout / G, kG: cg * kh * kw, L: ho * wo };
}

/**
 * Per row k = (c·kH + i)·kW + j of a column matrix over `channels` channels: the tap's input
 * channel c and its row and column shifts i·dH − padH, j·dW − padW. Tabulated once per
 * convolution by the implicit-im2col packers.
 */
function rowTaps(channels: number, kh: number, kw: number, p: Conv2dParams): { ch: Int32Array; shiftH: Int32Array; shiftW: Int32Array } {
  const rows = channels * kh * kw;
  const ch = new Int32Array(rows);
  const shiftH = new Int32Array(rows);
  const shiftW = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    ch[r] = Math.floor(r / (kh * kw));
    shiftH[r] = Math.floor((r % (kh * kw)) / kw) * p.dilationH - p.padH;
    shiftW[r] = (r % kw) * p.dilationW - p.padW;
  }
  return { ch, shiftH, shiftW };
}

/**
 * The output columns `ow` whose input column `ow·stride + shift` lies inside [0, width): returns
 * [lo, hi). Computed once per kernel tap so the copy loops below carry no bounds tests.
 */
function validRange(shift: number, stride: number, width: number, outWidth: number): [number, number] {
  const lo = shift >= 0 ? 0 : Math.ceil(-shift / stride);
  const hi = width - 1 - shift < 0 ? 0 : Math.floor((width - 1 - shift) / stride) + 1;
  const l = Math.min(lo, outWidth);
  return [l, Math.max(l, Math.min(hi, outWidth))];
}

/**
 * Unfold `channels` planes of one image (starting at `srcOff`) into `dst` rows
 * `(c·kH + i)·kW + j`, each of `ho·wo` columns, rows `ld` apart (`ld` > ho·wo when several
 * images share one column matrix side by side). Padding positions are written as 0.
 */
export function im2colImage(
  src: TypedArray, srcOff: number, channels: number, h: number, w: number,
  kh: number, kw: number, p: Conv2dParams, ho: number, wo: number,
  dst: Float64Array, dstOff: number, ld: number = ho * wo,
): void {
  const { strideH: sh, strideW: sw, padH, padW, dilationH: dh, dilationW: dw } = p;
  const plane = h * w;
  let row = dstOff;
  for (let c = 0; c < channels; c++) {
    const base = srcOff + c * plane;
    for (let i = 0; i < kh; i++) {
      const shiftH = i * dh - padH;
      for (let j = 0; j < kw; j++) {
        const shiftW = j * dw - padW;
        const [lo, hi] = validRange(shiftW, sw, w, wo);
        for (let oh = 0; oh < ho; oh++) {
          const ih = oh * sh + shiftH;
          const d = row + oh * wo;
          if (ih < 0 || ih >= h) {
            dst.fill(0, d, d + wo);
            continue;
          }
          for (let ow = 0; ow < lo; ow++) dst[d + ow] = 0;
          let s = base + ih * w + lo * sw + shiftW;
          if (sw === 1) {
            for (let ow = lo; ow < hi; ow++) dst[d + ow] = src[s++]!;
          } else {
            for (let ow = lo; ow < hi; ow++, s += sw) dst[d + ow] = src[s]!;
          }
          for (let ow = hi; ow < wo; ow++) dst[d + ow] = 0;
        }
        row += ld;
      }
    }
  }
}

/** The adjoint of `im2colImage`: add each column entry back onto its input position in `dst`. */
export function col2imImage(
  src: TypedArray, srcOff: number, channels: number, h: number, w: number,
  kh: number, kw: number, p: Conv2dParams, ho: number, wo: number,
  dst: Float64Array, dstOff: number, ld: number = ho * wo,
): void {
  const { strideH: sh, strideW: sw, padH, padW, dilationH: dh, dilationW: dw } = p;
  const plane = h * w;
  let row = srcOff;
  for (let c = 0; c < channels; c++) {
    const base = dstOff + c * plane;
    for (let i = 0; i < kh; i++) {
      const shiftH = i * dh - padH;
      for (let j = 0; j < kw; j++) {
        const shiftW = j * dw - padW;
        const [lo, hi] = validRange(shiftW, sw, w, wo);
        for (let oh = 0; oh < ho; oh++) {
          const ih = oh * sh + shiftH;
          if (ih < 0 || ih >= h) continue;
          const s0 = row + oh * wo;
          let d = base + ih * w + lo * sw + shiftW;
          for (let ow = lo; ow < hi; ow++, d += sw) dst[d] += src[s0 + ow]!;
        }
        row += ld;
      }
    }
  }
}

/**
 * Implicit im2col: packs blocks of one image's column matrix (K = C·kH·kW rows, L = Ho·Wo
 * columns) straight into the GEMM's B-strip layout, so the column matrix is never written out
 * and read back. Per-row geometry is precomputed once per convolution.
 */
class Im2colPacker {
  src: TypedArray;
  /** Offset of the current image (and group) in `src`. */
  offset = 0;
  private readonly chOff: Int32Array;
  private readonly shiftH: Int32Array;
  private readonly shiftW: Int32Array;
  private readonly lo: Int32Array;
  private readonly hi: Int32Array;

  constructor(
    src: TypedArray, channels: number,
    private readonly h: number, private readonly w: number,
    kh: number, kw: number,
    private readonly p: Conv2dParams,
    private readonly wo: number,
  ) {
    this.src = src;
    const taps = rowTaps(channels, kh, kw, p);
    const rows = taps.ch.length;
    this.shiftH = taps.shiftH;
    this.shiftW = taps.shiftW;
    this.chOff = new Int32Array(rows);
    this.lo = new Int32Array(rows);
    this.hi = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      this.chOff[r] = taps.ch[r]! * h * w;
      const [lo, hi] = validRange(taps.shiftW[r]!, p.strideW, w, wo);
      this.lo[r] = lo;
      this.hi[r] = hi;
    }
  }

  /**
   * Fills one packed strip (NR consecutive columns) at a time, so the writes are sequential; a
   * strip whose NR columns lie in one output row and inside the image (the common case) is
   * NR strided loads, the rest goes element by element.
   */
  readonly pack: BPacker = (p0, kc, j0, nc, dst) => {
    const { src, h, w, wo, chOff, shiftH, shiftW, lo, hi } = this;
    const off = this.offset;
    const sh = this.p.strideH;
    const sw = this.p.strideW;
    let d = 0;
    for (let s = 0; s < nc; s += PACK_NR) {
      const l = j0 + s;
      const oh = Math.floor(l / wo);
      const ow = l - oh * wo;
      const fullStrip = s + PACK_NR <= nc && ow + PACK_NR <= wo;
      for (let r = 0; r < kc; r++, d += PACK_NR) {
        const kk = p0 + r;
        const ih = oh * sh + shiftH[kk]!;
        if (fullStrip && ih >= 0 && ih < h && ow >= lo[kk]! && ow + PACK_NR <= hi[kk]!) {
          const q = off + chOff[kk]! + ih * w + shiftW[kk]! + ow * sw;
          dst[d] = src[q]!;
          dst[d + 1] = src[q + sw]!;
          dst[d + 2] = src[q + 2 * sw]!;
          dst[d + 3] = src[q + 3 * sw]!;
          continue;
        }
        for (let c = 0; c < PACK_NR; c++) {
          let v = 0;
          if (s + c < nc) {
            const lc = l + c;
            const ohc = Math.floor(lc / wo);
            const owc = lc - ohc * wo;
            const ihc = ohc * sh + shiftH[kk]!;
            if (ihc >= 0 && ihc < h && owc >= lo[kk]! && owc < hi[kk]!) {
              v = src[off + chOff[kk]! + ihc * w + shiftW[kk]! + owc * sw]!;
            }
          }
          dst[d + c] = v;
        }
      }
    }
  };
}

/**
 * Implicit im2col over a chunk of images side by side: column j = b·L + oh·Wo + ow of image b,
 * so one GEMM covers the whole chunk (see `chunkImages`). Each column's and each row's part of
 * the source offset and of the bounds test is tabulated once per convolution; a packed element
 * is then two additions, one bounds test and one load, whatever the output width (the
 * one-image packer's fast path needs 4 columns inside one output row, which Wo = 2 or 7 rarely
 * gives).
 */
class BatchIm2colPacker {
  src: TypedArray;
  /** Offset of the chunk's first image (and the group's first channel) in `src`. */
  offset = 0;
  /** Per row k = (c·kH + i)·kW + j: c·H·W + shiftH·W + shiftW, shiftH, shiftW. */
  private readonly rowOff: Int32Array;
  private readonly rowH: Int32Array;
  private readonly rowW: Int32Array;
  /** Per column b·L + oh·Wo + ow: b·imageStride + oh·sH·W + ow·sW, oh·sH, ow·sW. */
  private readonly colOff: Int32Array;
  private readonly colH: Int32Array;
  private readonly colW: Int32Array;

  constructor(
    src: TypedArray, channels: number, imageStride: number, images: number,
    private readonly h: number, private readonly w: number,
    kh: number, kw: number, p: Conv2dParams, ho: number, wo: number,
  ) {
    this.src = src;
    const taps = rowTaps(channels, kh, kw, p);
    this.rowH = taps.shiftH;
    this.rowW = taps.shiftW;
    this.rowOff = new Int32Array(taps.ch.length);
    for (let r = 0; r < taps.ch.length; r++) this.rowOff[r] = taps.ch[r]! * h * w + taps.shiftH[r]! * w + taps.shiftW[r]!;
    const cols = images * ho * wo;
    this.colOff = new Int32Array(cols);
    this.colH = new Int32Array(cols);
    this.colW = new Int32Array(cols);
    for (let col = 0; col < cols; col++) {
      const b = Math.floor(col / (ho * wo));
      const l = col - b * ho * wo;
      const oh = Math.floor(l / wo);
      const ow = l - oh * wo;
      this.colH[col] = oh * p.strideH;
      this.colW[col] = ow * p.strideW;
      this.colOff[col] = b * imageStride + oh * p.strideH * w + ow * p.strideW;
    }
  }

  readonly pack: BPacker = (p0, kc, j0, nc, dst) => {
    const { src, h, w, rowOff, rowH, rowW, colOff, colH, colW } = this;
    const off = this.offset;
    // A row shift this far out puts padded columns (past nc) outside the image: they pack as 0.
    const OUT = -(1 << 30);
    let d = 0;
    for (let s = 0; s < nc; s += PACK_NR) {
      const j = j0 + s;
      const o0 = colOff[j]!, h0 = colH[j]!, w0 = colW[j]!;
      const v1 = s + 1 < nc, v2 = s + 2 < nc, v3 = s + 3 < nc;
      const o1 = v1 ? colOff[j + 1]! : 0, h1 = v1 ? colH[j + 1]! : OUT, w1 = v1 ? colW[j + 1]! : 0;
      const o2 = v2 ? colOff[j + 2]! : 0, h2 = v2 ? colH[j + 2]! : OUT, w2 = v2 ? colW[j + 2]! : 0;
      const o3 = v3 ? colOff[j + 3]! : 0, h3 = v3 ? colH[j + 3]! : OUT, w3 = v3 ? colW[j + 3]! : 0;
      for (let r = 0; r < kc; r++, d += PACK_NR) {
        const k = p0 + r;
        const q = off + rowOff[k]!;
        const rh = rowH[k]!, rw = rowW[k]!;
        let ih = h0 + rh, iw = w0 + rw;
        dst[d] = ih >= 0 && ih < h && iw >= 0 && iw < w ? src[q + o0]! : 0;
        ih = h1 + rh; iw = w1 + rw;
        dst[d + 1] = ih >= 0 && ih < h && iw >= 0 && iw < w ? src[q + o1]! : 0;
        ih = h2 + rh; iw = w2 + rw;
        dst[d + 2] = ih >= 0 && ih < h && iw >= 0 && iw < w ? src[q + o2]! : 0;
        ih = h3 + rh; iw = w3 + rw;
        dst[d + 3] = ih >= 0 && ih < h && iw >= 0 && iw < w ? src[q + o3]! : 0;
      }
    }
  };
}

/**
 * Images per GEMM. A per-image GEMM is only Ho·Wo columns wide (49, 16, 4 for the stride-2
 * layers of a small CNN): the weight operand is then streamed for a handful of columns per image
 * (forward), or the whole dW accumulator is re-read and re-written for a depth of Ho·Wo (weight
 * gradient: 32 GEMMs of depth 4 over a 256×1152 dW in the last cnn layer). Putting images side
 * by side until the GEMM is MERGE_COLS columns wide (forward) or deep (weight gradient) reuses
 * each packed block across the chunk. Measured with benchmarks/src/profile-conv.ts at batch 32:
 * forward 1.05–1.15× and the 4×4-input weight gradient 1.3–1.4× at 256 (128 and 512 no
 * better); above 256 columns a per-image GEMM is as fast and needs no column buffers. The input
 * gradient stays per image: merged, its column buffer outgrows the cache before col2im reads it
 * back, and it measured 0.92–1.04×.
 */
const MERGE_COLS = 256;

function chunkImages(n: number, L: number): number {
  return L >= MERGE_COLS ? 1 : Math.max(1, Math.min(n, Math.ceil(MERGE_COLS / Math.max(L, 1))));
}

/**
 * Copies the group's gradient rows of images [img0, img0+nb) into `dst` as one
 * (Cout/g × nb·L) matrix: row co, column b·L + l — the layout the merged GEMMs read.
 */
function gatherRows(src: TypedArray, img0: number, nb: number, cout: number, co0: number, coutG: number, L: number, dst: Float64Array): void {
  const ld = nb * L;
  for (let b = 0; b < nb; b++) {
    for (let co = 0; co < coutG; co++) {
      let q = ((img0 + b) * cout + co0 + co) * L;
      const d = co * ld + b * L;
      for (let l = 0; l < L; l++) dst[d + l] = src[q++]!;
    }
  }
}

function isPointwise(kh: number, kw: number, p: Conv2dParams): boolean {
  return kh === 1 && kw === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0;
}

/**
 * Winograd applies to 3×3, stride-1, undilated convolutions whose group depth fits one K block
 * and is at least 2: with one input channel each of its 16 GEMMs has depth 1 and the tile
 * transforms cost more than the multiplies saved (measured at N 32, 28×28, 32 outputs: 6.7 ms
 * against 5.8 ms for im2col at depth 1; at depth 2 Winograd already wins, 8.5 against 9.5 ms,
 * and at 32, 57 against 130 ms).
 */
function useWinograd(kh: number, kw: number, p: Conv2dParams, cg: number): boolean {
  return kh === 3 && kw === 3 && p.strideH === 1 && p.strideW === 1 && p.dilationH === 1 && p.dilationW === 1 && cg >= 2 && cg <= 256;
}

/**
 * Winograd F(2×2, 3×3) forward convolution (Lavin & Gray 2016): each 2×2 output tile is
 * Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)]A over a 4×4 input patch d, so the 16 transformed positions ξ each
 * become one GEMM  M_ξ (Cout/g × T) = U_ξ (Cout/g × Cin/g) · V_ξ (Cin/g × T)  over the T tiles of
 * an image: 16 multiplies per 2×2 tile and channel pair instead of 9·4 = 36 for direct or
 * im2col convolution, 2.25× fewer. Transforms are additions in float64, so the result matches the
 * direct convolution to float64 rounding. U and V are written straight into the packed strip
 * layouts of the GEMM micro-kernel (MR = NR = 4).
 */
function winogradForward(
  xc: Tensor, wc: Tensor, biasData: TypedArray | null, p: Conv2dParams,
  n: number, cin: number, h: number, w: number, cout: number, cg: number, ho: number, wo: number,
  out: TypedArray,
): void {
  const G = p.groups;
  const coutG = cout / G;
  const mPad = Math.ceil(coutG / 4) * 4;
  const th = Math.ceil(ho / 2);
  const tw = Math.ceil(wo / 2);
  const T = th * tw;
  const tPad = Math.ceil(T / 4) * 4;
  const wd = wc.data;
  const xd = xc.data;
  // U[g][ξ]: packed A strips; strip s, depth ci, row r at s·4·cg + ci·4 + r.
  const uSize = mPad * cg;
  const U = new Float64Array(G * 16 * uSize);
  for (let co = 0; co < cout; co++) {
    const g = Math.floor(co / coutG);
    const cl = co - g * coutG;
    const rowOff = (cl >> 2) * 4 * cg + (cl & 3);
    for (let ci = 0; ci < cg; ci++) {
      const q = (co * cg + ci) * 9;
      const g00 = wd[q]!, g01 = wd[q + 1]!, g02 = wd[q + 2]!;
      const g10 = wd[q + 3]!, g11 = wd[q + 4]!, g12 = wd[q + 5]!;
      const g20 = wd[q + 6]!, g21 = wd[q + 7]!, g22 = wd[q + 8]!;
      // G·g (4×3), rows: g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2.
      const a0 = g00, a1 = g01, a2 = g02;
      const b0 = 0.5 * (g00 + g10 + g20), b1 = 0.5 * (g01 + g11 + g21), b2 = 0.5 * (g02 + g12 + g22);
      const c0 = 0.5 * (g00 - g10 + g20), c1 = 0.5 * (g01 - g11 + g21), c2 = 0.5 * (g02 - g12 + g22);
      const d0 = g20, d1 = g21, d2 = g22;
      // (G·g)·Gᵀ: each row (x0, x1, x2) → (x0, (x0+x1+x2)/2, (x0−x1+x2)/2, x2).
      const base = g * 16 * uSize + rowOff + ci * 4;
      const rows = [a0, a1, a2, b0, b1, b2, c0, c1, c2, d0, d1, d2];
      for (let r = 0; r < 4; r++) {
        const x0 = rows[3 * r]!, x1 = rows[3 * r + 1]!, x2 = rows[3 * r + 2]!;
        U[base + (4 * r) * uSize] = x0;
        U[base + (4 * r + 1) * uSize] = 0.5 * (x0 + x1 + x2);
        U[base + (4 * r + 2) * uSize] = 0.5 * (x0 - x1 + x2);
        U[base + (4 * r + 3) * uSize] = x2;
      }
    }
  }
  // Tiles are processed in blocks of TB so V (16·TB·cg doubles) stays near L2 size for any image.
  const TB = Math.min(tPad, Math.max(4, Math.floor(8192 / cg / 4) * 4));
  // V[ξ]: packed B strips of a tile block; strip s, depth ci, column c at s·4·cg + ci·4 + c
  // (block tile 4s + c). Columns past the block's last tile are zeroed before each block.
  const vSize = TB * cg;
  const V = new Float64Array(16 * vSize);
  const M = new Float64Array(16 * coutG * TB);
  const plane = h * w;
  const padH = p.padH;
  const padW = p.padW;
  for (let img = 0; img < n; img++) {
    for (let g = 0; g < G; g++) {
      for (let t0 = 0; t0 < T; t0 += TB) {
        const tb = Math.min(TB, T - t0);
        if (tb < TB) V.fill(0);
        // Input transform Bᵀ d B for every tile of the block and channel.
        for (let ci = 0; ci < cg; ci++) {
          const src = (img * cin + g * cg + ci) * plane;
          for (let t = 0; t < tb; t++) {
            const ty = Math.floor((t0 + t) / tw);
            const tx = t0 + t - ty * tw;
            const y0 = 2 * ty - padH;
            const rowsInside = y0 >= 0 && y0 + 3 < h;
            const x0 = 2 * tx - padW;
            let d00, d01, d02, d03, d10, d11, d12, d13, d20, d21, d22, d23, d30, d31, d32, d33;
            if (rowsInside && x0 >= 0 && x0 + 3 < w) {
              let q = src + y0 * w + x0;
              d00 = xd[q]!; d01 = xd[q + 1]!; d02 = xd[q + 2]!; d03 = xd[q + 3]!; q += w;
              d10 = xd[q]!; d11 = xd[q + 1]!; d12 = xd[q + 2]!; d13 = xd[q + 3]!; q += w;
              d20 = xd[q]!; d21 = xd[q + 1]!; d22 = xd[q + 2]!; d23 = xd[q + 3]!; q += w;
              d30 = xd[q]!; d31 = xd[q + 1]!; d32 = xd[q + 2]!; d33 = xd[q + 3]!;
            } else {
              // Border tile: gather the patch with zeros outside the image.
              const patch = borderPatch;
              for (let i = 0; i < 4; i++) {
                const yy = y0 + i;
                for (let j = 0; j < 4; j++) {
                  const xx = x0 + j;
                  patch[4 * i + j] = yy >= 0 && yy < h && xx >= 0 && xx < w ? xd[src + yy * w + xx]! : 0;
                }
              }
              d00 = patch[0]!; d01 = patch[1]!; d02 = patch[2]!; d03 = patch[3]!;
              d10 = patch[4]!; d11 = patch[5]!; d12 = patch[6]!; d13 = patch[7]!;
              d20 = patch[8]!; d21 = patch[9]!; d22 = patch[10]!; d23 = patch[11]!;
              d30 = patch[12]!; d31 = patch[13]!; d32 = patch[14]!; d33 = patch[15]!;
            }
            // Bᵀ·d, rows: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
            const r00 = d00 - d20, r01 = d01 - d21, r02 = d02 - d22, r03 = d03 - d23;
            const r10 = d10 + d20, r11 = d11 + d21, r12 = d12 + d22, r13 = d13 + d23;
            const r20 = d20 - d10, r21 = d21 - d11, r22 = d22 - d12, r23 = d23 - d13;
            const r30 = d10 - d30, r31 = d11 - d31, r32 = d12 - d32, r33 = d13 - d33;
            // (Bᵀ·d)·B, per row (x0..x3) → (x0 − x2, x1 + x2, x2 − x1, x1 − x3).
            let o = (t >> 2) * 4 * cg + ci * 4 + (t & 3);
            V[o] = r00 - r02; V[o + vSize] = r01 + r02; V[o + 2 * vSize] = r02 - r01; V[o + 3 * vSize] = r01 - r03;
            o += 4 * vSize;
            V[o] = r10 - r12; V[o + vSize] = r11 + r12; V[o + 2 * vSize] = r12 - r11; V[o + 3 * vSize] = r11 - r13;
            o += 4 * vSize;
            V[o] = r20 - r22; V[o + vSize] = r21 + r22; V[o + 2 * vSize] = r22 - r21; V[o + 3 * vSize] = r21 - r23;
            o += 4 * vSize;
            V[o] = r30 - r32; V[o + vSize] = r31 + r32; V[o + 2 * vSize] = r32 - r31; V[o + 3 * vSize] = r31 - r33;
          }
        }
        // The 16 GEMMs, M_ξ (coutG × tb, row stride tb).
        M.fill(0);
        for (let xi = 0; xi < 16; xi++) {
          macroKernel(U, (g * 16 + xi) * uSize, V.subarray(xi * vSize, (xi + 1) * vSize), coutG, tb, cg, M, xi * coutG * tb, tb);
        }
        // Output transform Aᵀ m A per tile, plus bias, clipped at odd output edges.
        const ms = coutG * tb;
        for (let cl = 0; cl < coutG; cl++) {
          const co = g * coutG + cl;
          const bv = biasData ? biasData[co]! : 0;
          const dst = (img * cout + co) * ho * wo;
          for (let t = 0; t < tb; t++) {
            const ty = Math.floor((t0 + t) / tw);
            const tx = t0 + t - ty * tw;
            const q = cl * tb + t;
            const m00 = M[q]!, m01 = M[q + ms]!, m02 = M[q + 2 * ms]!, m03 = M[q + 3 * ms]!;
            const m10 = M[q + 4 * ms]!, m11 = M[q + 5 * ms]!, m12 = M[q + 6 * ms]!, m13 = M[q + 7 * ms]!;
            const m20 = M[q + 8 * ms]!, m21 = M[q + 9 * ms]!, m22 = M[q + 10 * ms]!, m23 = M[q + 11 * ms]!;
            const m30 = M[q + 12 * ms]!, m31 = M[q + 13 * ms]!, m32 = M[q + 14 * ms]!, m33 = M[q + 15 * ms]!;
            // Aᵀ·m, rows: m0 + m1 + m2, m1 − m2 − m3.
            const s00 = m00 + m10 + m20, s01 = m01 + m11 + m21, s02 = m02 + m12 + m22, s03 = m03 + m13 + m23;
            const s10 = m10 - m20 - m30, s11 = m11 - m21 - m31, s12 = m12 - m22 - m32, s13 = m13 - m23 - m33;
            const oy = 2 * ty;
            const ox = 2 * tx;
            const o = dst + oy * wo + ox;
            out[o] = s00 + s01 + s02 + bv;
            if (ox + 1 < wo) out[o + 1] = s01 - s02 - s03 + bv;
            if (oy + 1 < ho) {
              out[o + wo] = s10 + s11 + s12 + bv;
              if (ox + 1 < wo) out[o + wo + 1] = s11 - s12 - s13 + bv;
            }
          }
        }
      }
    }
  }
}

const borderPatch = new Float64Array(16);

/**
 * Forward over chunks of `nbMax` images: per group, out_g (Cout/g × nb·L) = W_g · col_g with the
 * chunk's column matrices side by side (packed straight from the input), then scattered back to
 * NCHW with the bias.
 */
function forwardMerged(
  xd: TypedArray, packed: PackedA[], biasData: TypedArray | null, p: Conv2dParams,
  n: number, cin: number, h: number, w: number, cout: number, cg: number, kh: number, kw: number,
  ho: number, wo: number, nbMax: number, out: TypedArray,
): void {
  const G = p.groups;
  const coutG = cout / G;
  const kG = cg * kh * kw;
  const L = ho * wo;
  const plane = h * w;
  const packer = new BatchIm2colPacker(xd, cg, cin * plane, nbMax, h, w, kh, kw, p, ho, wo);
  const acc = new Float64Array(coutG * nbMax * L);
  for (let img0 = 0; img0 < n; img0 += nbMax) {
    const nb = Math.min(nbMax, n - img0);
    const cols = nb * L;
    for (let g = 0; g < G; g++) {
      acc.fill(0, 0, coutG * cols);
      packer.offset = (img0 * cin + g * cg) * plane;
      gemm(coutG, cols, kG, packed[g]!, packer.pack, acc, 0, cols);
      for (let cl = 0; cl < coutG; cl++) {
        const co = g * coutG + cl;
        const bv = biasData ? biasData[co]! : 0;
        for (let b = 0; b < nb; b++) {
          const o = ((img0 + b) * cout + co) * L;
          const a = cl * cols + b * L;
          for (let l = 0; l < L; l++) out[o + l] = acc[a + l]! + bv;
        }
      }
    }
  }
}

/** The forward of the images in `xc` into `out` (their n·Cout·L outputs). */
function convForwardInto(xc: Tensor, wc: Tensor, biasData: TypedArray | null, p: Conv2dParams, out: TypedArray): void {
  const { n, cin, h, w, cout, cg, kh, kw, ho, wo, G, coutG, kG, L } = convDims(xc.shape, wc.shape, p);
  if (n > 0 && useWinograd(kh, kw, p, cg)) {
    winogradForward(xc, wc, biasData, p, n, cin, h, w, cout, cg, ho, wo, out);
    return;
  }
  // The weights of each group are packed once for the whole batch.
  const packed: PackedA[] = [];
  for (let g = 0; g < G; g++) packed.push(packA({ data: wc.data, offset: g * coutG * kG, rs: kG, cs: 1 }, coutG, kG));
  const nbMax = chunkImages(n, L);
  if (nbMax > 1) {
    forwardMerged(xc.data, packed, biasData, p, n, cin, h, w, cout, cg, kh, kw, ho, wo, nbMax, out);
    return;
  }
  // float64 outputs are accumulated in place; float32 ones through a per-image float64 buffer.
  const direct = out instanceof Float64Array;
  const acc = direct ? out : new Float64Array(cout * L);
  const pointwise = isPointwise(kh, kw, p);
  const im2col = pointwise ? null : new Im2colPacker(xc.data, cg, h, w, kh, kw, p, wo);
  const b = { data: xc.data as TypedArray, offset: 0, rs: L, cs: 1 };
  for (let img = 0; img < n; img++) {
    const accOff = direct ? img * cout * L : 0;
    if (!direct) acc.fill(0);
    for (let g = 0; g < G; g++) {
      const xOff = (img * cin + g * cg) * h * w;
      if (im2col) {
        im2col.offset = xOff;
        gemm(coutG, L, kG, packed[g]!, im2col.pack, acc, accOff + g * coutG * L, L);
      } else {
        b.offset = xOff;
        gemm(coutG, L, kG, packed[g]!, b, acc, accOff + g * coutG * L, L);
      }
    }
    if (biasData) {
      for (let co = 0; co < cout; co++) {
        const bv = biasData[co]!;
        const o = accOff + co * L;
        for (let l = 0; l < L; l++) acc[o + l] += bv;
      }
    }
    if (!direct) out.set(acc, img * cout * L);
  }
}

/**
 * What the per-image conv2d range functions read and write. Forward: src = x, out = y; input
 * gradient: src = dy, out = dx. Shapes are the whole batch's.
 */
export interface ConvImagesArgs {
  src: TypedArray;
  w: TypedArray;
  bias: TypedArray | null;
  out: TypedArray;
  srcShape: number[];
  wShape: number[];
  outShape: number[];
  p: Conv2dParams;
}

/** conv2d forward of images [i0, i1): a range function (threads split the batch). */
export function conv2dForwardImages(a: ConvImagesArgs, i0: number, i1: number): void {
  const [, cin, h, w] = a.srcShape as [number, number, number, number];
  const [, cout, ho, wo] = a.outShape as [number, number, number, number];
  const x = new Tensor(a.src.subarray(i0 * cin * h * w, i1 * cin * h * w), [i1 - i0, cin, h, w]);
  const out = a.out.subarray(i0 * cout * ho * wo, i1 * cout * ho * wo);
  // float64 outputs are accumulated in place, and a worker's share starts as scratch memory.
  if (out instanceof Float64Array) out.fill(0);
  convForwardInto(x, new Tensor(a.w, a.wShape), a.bias, a.p, out);
}

/** conv2d input gradient of images [i0, i1): a range function. */
export function conv2dBackwardInputImages(a: ConvImagesArgs, i0: number, i1: number): void {
  const [, cin, h, w] = a.outShape as [number, number, number, number];
  const [, cout, ho, wo] = a.srcShape as [number, number, number, number];
  const dy = new Tensor(a.src.subarray(i0 * cout * ho * wo, i1 * cout * ho * wo), [i1 - i0, cout, ho, wo]);
  const dx = a.out.subarray(i0 * cin * h * w, i1 * cin * h * w);
  if (dx instanceof Float64Array) dx.fill(0); // as in the forward
  convBackwardInputInto(dy, new Tensor(a.w, a.wShape), [i1 - i0, cin, h, w], a.p, dx);
}

const conv2dForwardTask = rangeKernel(import.meta.url, 'conv2dForwardImages', conv2dForwardImages);
const conv2dBackwardInputTask = rangeKernel(import.meta.url, 'conv2dBackwardInputImages', conv2dBackwardInputImages);

/** The element range of images [i0, i1) in a batch array of `size` values per image. */
function blocks(size: number): (i0: number, i1: number) => number[] {
  return (i0, i1) => [i0 * size, i1 * size];
}

/** Run a per-image range function over the batch, images split across threads. */
function overImages(task: typeof conv2dForwardTask, a: ConvImagesArgs, macsPerImage: number): void {
  const n = a.srcShape[0]!;
  const inBlock = a.srcShape[1]! * a.srcShape[2]! * a.srcShape[3]!;
  const outBlock = a.outShape[1]! * a.outShape[2]! * a.outShape[3]!;
  parallelFor(task, a, n, macsPerImage, { out: ['out'], split: { src: blocks(inBlock), out: blocks(outBlock) } });
}

function conv2dForward(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams): Tensor {
  const xc = x.contiguous();
  const wc = weight.contiguous();
  const { n, cout, ho, wo, kG, L } = convDims(xc.shape, wc.shape, p);
  const out = allocate(xc.dtype, n * cout * L);
  const a: ConvImagesArgs = {
    src: xc.data,
    w: wc.data,
    bias: bias ? bias.contiguous().data : null,
    out,
    srcShape: [...xc.shape],
    wShape: [...wc.shape],
    outShape: [n, cout, ho, wo],
    p,
  };
  overImages(conv2dForwardTask, a, cout * L * kG);
  return new Tensor(out, [n, cout, ho, wo]);
}

/** The input gradient of the images of `dyc` into `dx` (their n·Cin·H·W values). */
function convBackwardInputInto(dyc: Tensor, wc: Tensor, inputShape: readonly number[], p: Conv2dParams, dx: TypedArray): void {
  const { n, cin, h, w, cout, cg, kh, kw, ho, wo, G, coutG, kG, L } = convDims(inputShape, wc.shape, p, dyc.shape);
  const plane = h * w;
  // Stride 1: dx is the full correlation of dy with the flipped, transposed weight,
  // dx = conv2d(dy, W', padding k−1−p) with W'[g·Cin/g + ci, co, i, j] = W[g·Cout/g + co, ci,
  // kH−1−i, kW−1−j], so a 3×3 input gradient runs Winograd as the forward does.
  const flipPad: Conv2dParams = { ...p, padH: kh - 1 - p.padH, padW: kw - 1 - p.padW };
  if (n > 0 && flipPad.padH >= 0 && flipPad.padW >= 0 && useWinograd(kh, kw, p, coutG)) {
    const wd = wc.data;
    const taps = kh * kw;
    const flipped = new Float64Array(cin * coutG * taps);
    for (let g = 0; g < G; g++) {
      for (let co = 0; co < coutG; co++) {
        for (let ci = 0; ci < cg; ci++) {
          const src = ((g * coutG + co) * cg + ci) * taps;
          const dst = ((g * cg + ci) * coutG + co) * taps;
          for (let t = 0; t < taps; t++) flipped[dst + t] = wd[src + taps - 1 - t]!;
        }
      }
    }
    const wt = new Tensor(flipped, [cin, coutG, kh, kw]);
    winogradForward(dyc, wt, null, flipPad, n, cout, ho, wo, cin, coutG, h, w, dx);
    return;
  }
  const direct = dx instanceof Float64Array;
  // A = W_gᵀ: element (k, co) of the (K × Cout/g) operand sits at co·K + k in the weight;
  // packed once per group for the whole batch.
  const packed: PackedA[] = [];
  for (let g = 0; g < G; g++) packed.push(packA({ data: wc.data, offset: g * coutG * kG, rs: 1, cs: kG }, kG, coutG));
  const acc = direct ? dx : new Float64Array(cin * plane);
  const pointwise = isPointwise(kh, kw, p);
  const dcol = pointwise ? null : new Float64Array(kG * L);
  const b = { data: dyc.data, offset: 0, rs: L, cs: 1 };
  for (let img = 0; img < n; img++) {
    const accOff = direct ? img * cin * plane : 0;
    if (!direct) acc.fill(0);
    for (let g = 0; g < G; g++) {
      const a = packed[g]!;
      b.offset = (img * cout + g * coutG) * L;
      const dxOff = accOff + g * cg * plane;
      if (dcol) {
        dcol.fill(0);
        gemm(kG, L, coutG, a, b, dcol, 0, L);
        col2imImage(dcol, 0, cg, h, w, kh, kw, p, ho, wo, acc, dxOff);
      } else {
        gemm(kG, L, coutG, a, b, acc, dxOff, L);
      }
    }
    if (!direct) dx.set(acc, img * cin * plane);
  }
}

function conv2dBackwardInput(dy: Tensor, weight: Tensor, inputShape: readonly number[], p: Conv2dParams): Tensor {
  const dyc = dy.contiguous();
  const wc = weight.contiguous();
  const { n, cin, h, w, coutG, kG, L } = convDims(inputShape, wc.shape, p, dyc.shape);
  const dx = allocate(dyc.dtype, n * cin * h * w);
  const a: ConvImagesArgs = {
    src: dyc.data,
    w: wc.data,
    bias: null,
    out: dx,
    srcShape: [...dyc.shape],
    wShape: [...wc.shape],
    outShape: [...inputShape],
    p,
  };
  overImages(conv2dBackwardInputTask, a, coutG * L * kG * p.groups);
  return new Tensor(dx, [n, cin, h, w]);
}

/** What `conv2dBackwardWeightRows` reads and writes. */
export interface ConvWeightArgs {
  dy: TypedArray;
  x: TypedArray;
  /** dW (Cout × K), the input dtype. */
  out: TypedArray;
  xShape: number[];
  wShape: number[];
  dyShape: number[];
  p: Conv2dParams;
}

/** Rows of dW per item: the GEMM's register tile height, so a split never cuts a tile. */
const WEIGHT_ROWS = PACK_MR;

/**
 * dW for items [b0, b1), an item being WEIGHT_ROWS output channels of one group (the group's
 * last item may be shorter). Each row is summed over the whole batch in image order, whichever
 * thread computes it, so the result does not depend on the split; the im2col columns of every
 * image are rebuilt by each thread (cheap beside the GEMM). A range function.
 */
export function conv2dBackwardWeightRows(a: ConvWeightArgs, b0: number, b1: number): void {
  const p = a.p;
  const { n, cin, h, w, cout, cg, kh, kw, ho, wo, coutG, kG, L } = convDims(a.xShape, a.wShape, p, a.dyShape);
  const perGroup = Math.ceil(coutG / WEIGHT_ROWS);
  const plane = h * w;
  const nbMax = chunkImages(n, L);
  const pointwise = isPointwise(kh, kw, p);
  for (let b = b0; b < b1; ) {
    // The items of [b, b1) in this group become one GEMM over rows [r0, r1).
    const g = Math.floor(b / perGroup);
    const last = Math.min(b1, (g + 1) * perGroup);
    const r0 = g * coutG + (b - g * perGroup) * WEIGHT_ROWS;
    const r1 = g * coutG + Math.min(coutG, (last - g * perGroup) * WEIGHT_ROWS);
    b = last;
    const rows = r1 - r0;
    const acc = new Float64Array(rows * kG);
    if (nbMax > 1) {
      // dW rows += dy rows (rows × nb·L) · colᵀ (nb·L × K): the batch sum runs inside the GEMM's
      // depth loop instead of re-reading and re-writing dW once per image.
      const dyBuf = new Float64Array(rows * nbMax * L);
      const colAll = new Float64Array(kG * nbMax * L);
      const av = { data: dyBuf as TypedArray, offset: 0, rs: 0, cs: 1 };
      const bv = { data: colAll as TypedArray, offset: 0, rs: 1, cs: 0 };
      for (let img0 = 0; img0 < n; img0 += nbMax) {
        const nb = Math.min(nbMax, n - img0);
        const cols = nb * L;
        av.rs = cols;
        bv.cs = cols;
        gatherRows(a.dy, img0, nb, cout, r0, rows, L, dyBuf);
        for (let i = 0; i < nb; i++) {
          im2colImage(a.x, ((img0 + i) * cin + g * cg) * plane, cg, h, w, kh, kw, p, ho, wo, colAll, i * L, cols);
        }
        gemm(rows, kG, cols, av, bv, acc, 0, kG);
      }
    } else {
      const col = pointwise ? null : new Float64Array(kG * L);
      const av = { data: a.dy, offset: 0, rs: L, cs: 1 };
      // B = colᵀ (L × K): element (l, k) sits at k·L + l of the column buffer (or input plane).
      const bv = { data: (col ?? a.x) as TypedArray, offset: 0, rs: 1, cs: L };
      for (let img = 0; img < n; img++) {
        const xOff = (img * cin + g * cg) * plane;
        av.offset = (img * cout + r0) * L;
        if (col) im2colImage(a.x, xOff, cg, h, w, kh, kw, p, ho, wo, col, 0);
        else bv.offset = xOff;
        gemm(rows, kG, L, av, bv, acc, 0, kG);
      }
    }
    a.out.set(acc, r0 * kG);
  }
}

const conv2dBackwardWeightTask = rangeKernel(import.meta.url, 'conv2dBackwardWeightRows', conv2dBackwardWeightRows);

function conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: readonly number[], p: Conv2dParams): Tensor {
  const dyc = dy.contiguous();
  const xc = x.contiguous();
  const { n, cout, cg, kh, kw, G, coutG, kG, L } = convDims(xc.shape, weightShape, p, dyc.shape);
  const dw = allocate(dyc.dtype, cout * kG);
  const a: ConvWeightArgs = { dy: dyc.data, x: xc.data, out: dw, xShape: [...xc.shape], wShape: [...weightShape], dyShape: [...dyc.shape], p };
  const perGroup = Math.ceil(coutG / WEIGHT_ROWS);
  const items = G * perGroup;
  // Item b starts at this row of dW; items [b0, b1) cover rows [row(b0), row(b1)).
  const row = (b: number) => Math.floor(b / perGroup) * coutG + (b % perGroup) * WEIGHT_ROWS;
  parallelFor(conv2dBackwardWeightTask, a, items, (n * L * kG * cout) / items, {
    out: ['out'],
    split: { out: (b0, b1) => [row(b0) * kG, row(b1) * kG] },
  });
  return new Tensor(dw, [cout, cg, kh, kw]);
}

function im2colKernel(x: Tensor, kh: number, kw: number, p: Conv2dParams): Tensor {
  const xc = x.contiguous();
  const [n, c, h, w] = xc.shape as [number, number, number, number];
  const ho = outDim(h, kh, p.strideH, p.padH, p.dilationH);
  const wo = outDim(w, kw, p.strideW, p.padW, p.dilationW);
  const per = c * kh * kw * ho * wo;
  const out = allocate(xc.dtype, n * per);
  const scratch = out instanceof Float64Array ? out : new Float64Array(per);
  for (let img = 0; img < n; img++) {
    im2colImage(xc.data, img * c * h * w, c, h, w, kh, kw, p, ho, wo, scratch, scratch === out ? img * per : 0);
    if (scratch !== out) out.set(scratch, img * per);
  }
  return new Tensor(out, [n, c * kh * kw, ho * wo]);
}

function col2imKernel(cols: Tensor, inputShape: readonly number[], kh: number, kw: number, p: Conv2dParams): Tensor {
  const cc = cols.contiguous();
  const [n, c, h, w] = inputShape as [number, number, number, number];
  const ho = outDim(h, kh, p.strideH, p.padH, p.dilationH);
  const wo = outDim(w, kw, p.strideW, p.padW, p.dilationW);
  const per = c * h * w;
  const colsPer = c * kh * kw * ho * wo;
  const out = allocate(cc.dtype, n * per);
  const direct = out instanceof Float64Array;
  const acc = direct ? out : new Float64Array(per);
  for (let img = 0; img < n; img++) {
    if (!direct) acc.fill(0);
    col2imImage(cc.data, img * colsPer, c, h, w, kh, kw, p, ho, wo, acc, direct ? img * per : 0);
    if (!direct) out.set(acc, img * per);
  }
  return new Tensor(out, [n, c, h, w]);
}

registerKernel('conv2d', 'cpu', conv2dForward);
registerKernel('conv2dBackwardInput', 'cpu', conv2dBackwardInput);
registerKernel('conv2dBackwardWeight', 'cpu', conv2dBackwardWeight);
registerKernel('im2col', 'cpu', im2colKernel);
registerKernel('col2im', 'cpu', col2imKernel);

/**
 * CPU matrix multiply: a GotoBLAS-style blocked GEMM in plain TypeScript.
 *
 * C (M×N, float64, row stride ldc) += A (M×K) · B (K×N), where A and B are read through arbitrary
 * element strides, so transposed and sliced views are multiplied without being copied first: the
 * packing step that every blocked GEMM does anyway absorbs the strides.
 *
 * Structure (why each level exists):
 * - B is packed per (KC × NC) block into NR-wide column strips, k-major, so the micro-kernel reads
 *   it with unit stride; the block stays in L2 while every row strip of A sweeps over it.
 * - A is packed per (MC × KC) block into MR-tall row strips, k-major, so one A strip (MR·KC
 *   doubles) stays in L1 while it meets every B strip of the block.
 * - The micro-kernel keeps an MR×NR tile of C in local variables (registers) across the whole KC
 *   loop and touches C memory only once per block: 16 multiply-adds per 8 loads.
 * Both packs are Float64Array: the micro-kernel is then monomorphic in its element type (V8
 * specializes loads per typed-array kind) and float32 inputs accumulate in double precision.
 */
import { type TypedArray, Tensor, allocate, shapeSize } from '../../tensor.js';
import { parallelFor, rangeKernel } from '../../parallel.js';
import { registerKernel } from '../../registry.js';

/**
 * Micro-tile height (rows of A / C per register tile). 4×4 was measured against 4×2, 4×3, 3×4,
 * 6×4, 4×6, 4×8, 8×4, 3×8, 6×8 and 8×8 tiles (and k-unrolled and index-`|0` variants) in V8 12
 * (Node 20, x64): all 4×4-to-6×4 shapes run within noise of each other (±7%, ~4.5 GFLOP/s on an
 * idle core), 6×8 and 8×8 lose 10–15% to accumulator spills. Each typed-array load costs about
 * seven instructions (index add, overflow and bounds checks), so the kernel is instruction-bound
 * and a wider tile's fewer loads are eaten by its spills.
 */
const MR = 4;
/** Micro-tile width (columns of B / C per register tile). */
const NR = 4;
/** Depth of one packed block: MR·KC doubles of A (8 KiB) stay in L1. */
const KC = 256;
/** Rows of A packed at once: MC·KC doubles = 128 KiB, in L2 beside the B block. */
const MC = 64;
/** Columns of B packed at once: KC·NC doubles = 512 KiB, within a 1 MiB L2. */
const NC = 256;

/** A strided matrix operand: element (i, j) is `data[offset + i*rs + j*cs]`. */
export interface MatrixView {
  data: TypedArray;
  offset: number;
  rs: number;
  cs: number;
}

// Scratch packs reused across calls (JS is single-threaded and gemm does not re-enter itself).
// MC and NC are multiples of MR and NR, so a padded block never exceeds these sizes.
const packABuf = new Float64Array(MC * KC);
const packB = new Float64Array(KC * NC);
const edge = new Float64Array(MR * NR);

/**
 * Pack rows [i0, i0+mc) × depth [p0, p0+kc) of A into MR-row strips: strip s, depth p, row r at
 * `dst[s*MR*kc + p*MR + r]`. Rows past M are zero so the micro-kernel needs no edge branches.
 */
function packARows(a: MatrixView, i0: number, mc: number, p0: number, kc: number, dst: Float64Array, dstOff: number): void {
  const { data, rs, cs } = a;
  let d = dstOff;
  for (let s = 0; s < mc; s += MR) {
    const rows = Math.min(MR, mc - s);
    const base = a.offset + (i0 + s) * rs + p0 * cs;
    if (rows === MR) {
      let q0 = base;
      for (let p = 0; p < kc; p++, q0 += cs) {
        dst[d] = data[q0]!;
        dst[d + 1] = data[q0 + rs]!;
        dst[d + 2] = data[q0 + 2 * rs]!;
        dst[d + 3] = data[q0 + 3 * rs]!;
        d += MR;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const q = base + p * cs;
        for (let r = 0; r < MR; r++) dst[d + r] = r < rows ? data[q + r * rs]! : 0;
        d += MR;
      }
    }
  }
}

/**
 * Pack depth [p0, p0+kc) × columns [j0, j0+nc) of B into NR-column strips: strip s, depth p,
 * column c at `dst[s*NR*kc + p*NR + c]`; columns past N are zero.
 */
function packBCols(b: MatrixView, p0: number, kc: number, j0: number, nc: number, dst: Float64Array): void {
  const { data, rs, cs } = b;
  let d = 0;
  for (let s = 0; s < nc; s += NR) {
    const cols = Math.min(NR, nc - s);
    const base = b.offset + p0 * rs + (j0 + s) * cs;
    if (cols === NR) {
      let q = base;
      for (let p = 0; p < kc; p++, q += rs) {
        dst[d] = data[q]!;
        dst[d + 1] = data[q + cs]!;
        dst[d + 2] = data[q + 2 * cs]!;
        dst[d + 3] = data[q + 3 * cs]!;
        d += NR;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const q = base + p * rs;
        for (let c = 0; c < NR; c++) dst[d + c] = c < cols ? data[q + c * cs]! : 0;
        d += NR;
      }
    }
  }
}

/**
 * The register-blocked inner kernel over one packed (mc × kc) A block and (kc × nc) B block,
 * adding into C at (i0, j0). Exported for the Winograd convolution, which packs its own operands
 * (strip layouts of `packARows`/`packBCols`, MR = NR = 4). The 4×4 tile lives in 16 locals for the whole depth loop.
 */
export function macroKernel(
  pa: Float64Array,
  aBase: number,
  pb: Float64Array,
  mc: number,
  nc: number,
  kc: number,
  c: Float64Array,
  cBase: number,
  ldc: number,
): void {
  for (let js = 0; js < nc; js += NR) {
    const cols = nc - js < NR ? nc - js : NR;
    const bStrip = js * kc; // strip index (js/NR) · NR·kc
    for (let is = 0; is < mc; is += MR) {
      const rows = mc - is < MR ? mc - is : MR;
      let ai = aBase + is * kc;
      let bi = bStrip;
      const aEnd = ai + MR * kc;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (; ai < aEnd; ai += MR, bi += NR) {
        const a0 = pa[ai]!, a1 = pa[ai + 1]!, a2 = pa[ai + 2]!, a3 = pa[ai + 3]!;
        const b0 = pb[bi]!, b1 = pb[bi + 1]!, b2 = pb[bi + 2]!, b3 = pb[bi + 3]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      let o = cBase + is * ldc + js;
      if (rows === MR && cols === NR) {
        c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; o += ldc;
        c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; o += ldc;
        c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; o += ldc;
        c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
      } else {
        // Edge tile: the padded rows/columns of the packs were zero; store only the valid part.
        edge[0] = c00; edge[1] = c01; edge[2] = c02; edge[3] = c03;
        edge[4] = c10; edge[5] = c11; edge[6] = c12; edge[7] = c13;
        edge[8] = c20; edge[9] = c21; edge[10] = c22; edge[11] = c23;
        edge[12] = c30; edge[13] = c31; edge[14] = c32; edge[15] = c33;
        for (let r = 0; r < rows; r++) {
          for (let q = 0; q < cols; q++) c[o + r * ldc + q] += edge[r * NR + q]!;
        }
      }
    }
  }
}

/**
 * Packs a (p0, kc, j0, nc) block of the B operand into the NR-strip layout of `packBCols`
 * (strip s, depth p, column c at `dst[s*NR*kc + p*NR + c]`, columns past nc zero). The conv
 * kernels pass one that reads the image directly, so im2col never materializes.
 */
export type BPacker = (p0: number, kc: number, j0: number, nc: number, dst: Float64Array) => void;

/** Column-strip width of packed B blocks (for `BPacker` implementations). */
export const PACK_NR = NR;

/** Row height of the GEMM's register tile: row splits at its multiples keep every tile whole. */
export const PACK_MR = MR;

/** A whole M×K left operand packed once, to be reused by several `gemm` calls (conv weights). */
export interface PackedA {
  data: Float64Array;
  m: number;
  k: number;
}

/**
 * Pack all of A: block (i0, p0) — rows [i0, i0+MC), depth [p0, p0+KC) — starts at
 * `i0*k + mcPadded*p0`, laid out as `packARows` does.
 */
export function packA(a: MatrixView, m: number, k: number, into?: Float64Array): PackedA {
  const mPad = Math.ceil(m / MR) * MR;
  const data = into && into.length >= mPad * k ? into : new Float64Array(mPad * k);
  for (let i0 = 0; i0 < m; i0 += MC) {
    const mc = Math.min(MC, m - i0);
    const mcp = Math.ceil(mc / MR) * MR;
    for (let p0 = 0; p0 < k; p0 += KC) packARows(a, i0, mc, p0, Math.min(KC, k - p0), data, i0 * k + mcp * p0);
  }
  return { data, m, k };
}

/** Up to this many doubles (8 MiB) of A are packed once per call instead of once per column block. */
const WHOLE_A_LIMIT = 1 << 20;
let wholeA: Float64Array = new Float64Array(0);

/**
 * C[cOffset + i*ldc + j] += Σ_p A(i,p)·B(p,j) for i < m, j < n. C is float64 so float32 inputs
 * accumulate in double precision across K blocks too. `a` may be prepacked (`packA`) and `b` may
 * be a packing callback (implicit im2col); exported for the conv kernels.
 */
export function gemm(
  m: number, n: number, k: number,
  a: MatrixView | PackedA, b: MatrixView | BPacker,
  c: Float64Array, cOffset: number, ldc: number,
): void {
  if (m === 0 || n === 0 || k === 0) return;
  // Tiny products: packing would cost more than it saves; a dot-product loop is enough.
  if (m * n * k <= 4096 && 'rs' in a && typeof b !== 'function') {
    smallGemm(m, n, k, a, b, c, cOffset, ldc);
    return;
  }
  // Pack A once when it is small enough (it would otherwise be re-packed for every NC block).
  let pa: PackedA | undefined = 'rs' in a ? undefined : a;
  if (!pa && m * k <= WHOLE_A_LIMIT) {
    pa = packA(a as MatrixView, m, k, wholeA);
    wholeA = pa.data;
  }
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      if (typeof b === 'function') b(p0, kc, j0, nc, packB);
      else packBCols(b, p0, kc, j0, nc, packB);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        let aData: Float64Array;
        let aBase: number;
        if (pa) {
          aData = pa.data;
          aBase = i0 * k + Math.ceil(mc / MR) * MR * p0;
        } else {
          packARows(a as MatrixView, i0, mc, p0, kc, packABuf, 0);
          aData = packABuf;
          aBase = 0;
        }
        macroKernel(aData, aBase, packB, mc, nc, kc, c, cOffset + i0 * ldc + j0, ldc);
      }
    }
  }
}

/**
 * The dot-product loop for tiny products. Like the packed path it adds each KC-deep partial sum
 * to C separately, so an element's bits do not depend on which path computed it (a split of the
 * rows across threads may move a product below the tiny-product size).
 */
function smallGemm(m: number, n: number, k: number, a: MatrixView, b: MatrixView, c: Float64Array, cOffset: number, ldc: number): void {
  const ad = a.data, bd = b.data;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let qa = a.offset + i * a.rs;
      let qb = b.offset + j * b.cs;
      for (let p0 = 0; p0 < k; p0 += KC) {
        const p1 = Math.min(k, p0 + KC);
        let s = 0;
        for (let p = p0; p < p1; p++, qa += a.cs, qb += b.rs) s += ad[qa]! * bd[qb]!;
        c[cOffset + i * ldc + j] += s;
      }
    }
  }
}


/**
 * Batched matmul kernel. `a` is (...batch, M, K) — or (...batch, K, M) with `transposeA` — and `b`
 * is (...batch, K, N) — or (...batch, N, K) with `transposeB`; the batch shapes are equal (the op
 * broadcasts them with stride-0 `expand` views, which this kernel walks without copying).
 */
/** What `matmulRows` reads and writes: operands, their per-batch offsets and strides, the output. */
export interface MatmulArgs {
  a: TypedArray;
  b: TypedArray;
  out: TypedArray;
  /** Element offset of each batch entry's A and B (broadcast batch axes have stride 0). */
  aOffsets: Float64Array;
  bOffsets: Float64Array;
  m: number;
  n: number;
  k: number;
  ars: number;
  acs: number;
  brs: number;
  bcs: number;
}

/** Rows of C per item: the GEMM's register tile height, so a split never cuts a tile. */
const ROWS_PER_ITEM = MR;

/**
 * C rows for items [i0, i1), an item being ROWS_PER_ITEM rows of one batch entry (its last item
 * may be shorter): one GEMM per batch entry over the items' rows. A range function: threads
 * split the items, and every element is summed in the same order whatever the split.
 */
export function matmulRows(x: MatmulArgs, i0: number, i1: number): void {
  const { m, n, k } = x;
  const perBatch = Math.ceil(m / ROWS_PER_ITEM);
  const av: MatrixView = { data: x.a, offset: 0, rs: x.ars, cs: x.acs };
  const bv: MatrixView = { data: x.b, offset: 0, rs: x.brs, cs: x.bcs };
  for (let it = i0; it < i1; ) {
    const t = Math.floor(it / perBatch);
    const last = Math.min(i1, (t + 1) * perBatch);
    const r0 = (it - t * perBatch) * ROWS_PER_ITEM;
    const r1 = Math.min(m, (last - t * perBatch) * ROWS_PER_ITEM);
    it = last;
    const acc = new Float64Array((r1 - r0) * n);
    av.offset = x.aOffsets[t]! + r0 * x.ars;
    bv.offset = x.bOffsets[t]!;
    gemm(r1 - r0, n, k, av, bv, acc, 0, n);
    x.out.set(acc, (t * m + r0) * n); // typed-array set converts float64 → float32
  }
}

const matmulTask = rangeKernel(import.meta.url, 'matmulRows', matmulRows);

/**
 * Batched matmul kernel. `a` is (...batch, M, K) — or (...batch, K, M) with `transposeA` — and `b`
 * is (...batch, K, N) — or (...batch, N, K) with `transposeB`; the batch shapes are equal (the op
 * broadcasts them with stride-0 `expand` views, which this kernel walks without copying).
 */
function matmulKernel(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor {
  const ra = a.rank;
  const rb = b.rank;
  const batchShape = a.shape.slice(0, ra - 2);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  let ars = a.strides[ra - 2]!, acs = a.strides[ra - 1]!;
  if (transposeA) [ars, acs] = [acs, ars];
  let brs = b.strides[rb - 2]!, bcs = b.strides[rb - 1]!;
  if (transposeB) [brs, bcs] = [bcs, brs];
  const batch = shapeSize(batchShape);
  const out = allocate(a.dtype, batch * m * n);
  // Odometer over the batch axes, tracking both operands' offsets through their (maybe 0) strides.
  const aOffsets = new Float64Array(batch);
  const bOffsets = new Float64Array(batch);
  const nb = batchShape.length;
  const idx = new Array<number>(nb).fill(0);
  let oa = a.offset;
  let ob = b.offset;
  for (let t = 0; t < batch; t++) {
    aOffsets[t] = oa;
    bOffsets[t] = ob;
    for (let ax = nb - 1; ax >= 0; ax--) {
      idx[ax]!++;
      oa += a.strides[ax]!;
      ob += b.strides[ax]!;
      if (idx[ax]! < batchShape[ax]!) break;
      oa -= a.strides[ax]! * batchShape[ax]!;
      ob -= b.strides[ax]! * batchShape[ax]!;
      idx[ax] = 0;
    }
  }
  const perBatch = Math.ceil(m / ROWS_PER_ITEM);
  // Item i starts at this row of the (batch·M × N) output.
  const row = (i: number) => Math.floor(i / perBatch) * m + Math.min(m, (i % perBatch) * ROWS_PER_ITEM);
  const x: MatmulArgs = { a: a.data, b: b.data, out, aOffsets, bOffsets, m, n, k, ars, acs, brs, bcs };
  parallelFor(matmulTask, x, batch * perBatch, ROWS_PER_ITEM * n * k, {
    out: ['out'],
    split: { out: (i0, i1) => [row(i0) * n, row(i1) * n] },
  });
  return new Tensor(out, [...batchShape, m, n]);
}

registerKernel('matmul', 'cpu', matmulKernel);

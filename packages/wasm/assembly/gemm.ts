// Packed, register-tiled float32 GEMM with f32x4 SIMD (GotoBLAS structure, as XNNPACK's and
// BLIS's kernels): C (M×N) = or += A (M×K) · B (K×N).
//
// - B is packed once per product (`packB`, on the calling thread) into NR-column panels, each
//   K deep: panel j holds B[0..K)[8j..8j+8) row by row, 8 floats a row, zero-padded past N.
// - Each thread packs its own MC×KC blocks of A into MR-row panels, k-major (`packA`), in its
//   slot of scratch memory: MR floats per depth step, zero-padded past its last row.
// - The micro-kernel keeps an MR×NR = 4×8 tile of C in eight v128 locals over the whole KC
//   loop: per depth step two B vectors, four broadcast A values, eight multiplies and eight adds.
//   x64 has 16 xmm registers: 4×8 (8 accumulators + 2 B + 1 A) leaves room; 6×8 spills.
// Sums run over k in order, block after block: an element's bits do not depend on which thread
// computed its rows, nor where a row block starts. Multiply and add stay separate (no FMA: the
// relaxed-SIMD FMA is not in Node 20 without a flag, and it would make results machine-dependent).

// @ts-ignore: decorator
@inline export const MR: i32 = 4;
// @ts-ignore: decorator
@inline export const NR: i32 = 8;
/** Depth of a packed block: an A panel (MR·KC floats, 4 KiB) and a B panel (8 KiB) stay in L1. */
// @ts-ignore: decorator
@inline const KC: i32 = 256;
/** Rows of A packed at once: MC·KC floats = 64 KiB, in L2. */
// @ts-ignore: decorator
@inline const MC: i32 = 64;
/** Edge-tile buffer (MR·NR floats) and the A block, per thread. */
// @ts-ignore: decorator
@inline const TILE_BYTES: i32 = 256;
export const GEMM_SCRATCH_BYTES: i32 = TILE_BYTES + MC * KC * 4;

// @ts-ignore: decorator
@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** Byte address of element `i` of a float32 array at `base`. */
// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

/**
 * Four rows of four floats (rows `step` bytes apart from `src`) stored transposed as four
 * 4-float groups 32 bytes apart from `dst` (one half of four B-panel rows).
 */
// @ts-ignore: decorator
@inline function transpose4(src: usize, step: usize, dst: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + step);
  const r2 = v128.load(src + 2 * step);
  const r3 = v128.load(src + 3 * step);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
  v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
  v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
}

/** Pack all of B (element (p, j) at b[p·brs + j·bcs]) into NR-column panels at `dst` (K·⌈N/NR⌉·NR floats). */
export function packB(b: usize, brs: i32, bcs: i32, k: i32, n: i32, dst: usize): void {
  for (let j0 = 0; j0 < n; j0 += NR) {
    const cols = imin(NR, n - j0);
    const panel = at(dst, j0 * k);
    if (cols == NR && bcs == 1) {
      let s = at(b, j0);
      let d = panel;
      const step = (<usize>brs) << 2;
      for (let p = 0; p < k; p++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        s += step;
        d += 32;
      }
    } else if (cols == NR && brs == 1) {
      // Column-major B (a transposed operand, the weight gradient's colᵀ): eight source columns
      // are read four depths at a time and transposed in registers, two 4×4 blocks per step.
      const step = (<usize>bcs) << 2;
      const s0 = at(b, j0 * bcs);
      let d = panel;
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        const o = (<usize>p) << 2;
        transpose4(s0 + o, step, d);
        transpose4(s0 + 4 * step + o, step, d + 16);
        d += 128;
      }
      for (; p < k; p++) {
        const o = (<usize>p) << 2;
        for (let c = 0; c < NR; c++) store<f32>(d + ((<usize>c) << 2), load<f32>(s0 + (<usize>c) * step + o));
        d += 32;
      }
    } else {
      // Column by column: each source column is read in order (a transposed B is contiguous here).
      for (let c = 0; c < NR; c++) {
        let d = panel + ((<usize>c) << 2);
        if (c < cols) {
          let s = at(b, (j0 + c) * bcs);
          const step = (<usize>brs) << 2;
          for (let p = 0; p < k; p++) {
            store<f32>(d, load<f32>(s));
            s += step;
            d += 32;
          }
        } else {
          for (let p = 0; p < k; p++) {
            store<f32>(d, 0);
            d += 32;
          }
        }
      }
    }
  }
}

/** Pack rows [i0, i0+mc) × depth [p0, p0+kc) of A into MR-row panels at `dst` (panel r at r·MR·kc floats). */
function packA(a: usize, ars: i32, acs: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  let d = dst;
  for (let r = 0; r < mc; r += MR) {
    const rows = imin(MR, mc - r);
    const base = (i0 + r) * ars + p0 * acs;
    if (rows == MR && acs == 1) {
      // Row-major A: four rows, four depths at a time, transposed in registers.
      const s0 = at(a, base);
      const s1 = at(a, base + ars);
      const s2 = at(a, base + 2 * ars);
      const s3 = at(a, base + 3 * ars);
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o = (<usize>p) << 2;
        const r0 = v128.load(s0 + o);
        const r1 = v128.load(s1 + o);
        const r2 = v128.load(s2 + o);
        const r3 = v128.load(s3 + o);
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
        const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
        v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
        v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
        d += 64;
      }
      for (; p < kc; p++) {
        const o = (<usize>p) << 2;
        store<f32>(d, load<f32>(s0 + o));
        store<f32>(d, load<f32>(s1 + o), 4);
        store<f32>(d, load<f32>(s2 + o), 8);
        store<f32>(d, load<f32>(s3 + o), 12);
        d += 16;
      }
    } else if (rows == MR && ars == 1) {
      // Column-major A (a transposed operand): the MR rows of one depth are adjacent.
      let s = at(a, base);
      const step = (<usize>acs) << 2;
      for (let p = 0; p < kc; p++) {
        v128.store(d, v128.load(s));
        s += step;
        d += 16;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let q = 0; q < MR; q++) {
          store<f32>(d, q < rows ? load<f32>(at(a, base + q * ars + p * acs)) : 0);
          d += 4;
        }
      }
    }
  }
}

/**
 * One MR×NR tile: C[rows × cols] (=|+=) Σ_p A_panel[p] ⊗ B_panel[p] over `kc` depth steps.
 * `ldc` is C's row stride in bytes; `tile` a 128-byte buffer for edge tiles.
 */
// @ts-ignore: decorator
@inline function microKernel(a: usize, b: usize, kc: i32, c: usize, ldc: usize, rows: i32, cols: i32, accumulate: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(av, b0));
    c01 = f32x4.add(c01, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(av, b0));
    c11 = f32x4.add(c11, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 8);
    c20 = f32x4.add(c20, f32x4.mul(av, b0));
    c21 = f32x4.add(c21, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 12);
    c30 = f32x4.add(c30, f32x4.mul(av, b0));
    c31 = f32x4.add(c31, f32x4.mul(av, b1));
    a += 16;
    b += 32;
  }
  if (rows == MR && cols == NR) {
    if (accumulate) {
      v128.store(c, f32x4.add(v128.load(c), c00));
      v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
      c += ldc;
      v128.store(c, f32x4.add(v128.load(c), c10));
      v128.store(c, f32x4.add(v128.load(c, 16), c11), 16);
      c += ldc;
      v128.store(c, f32x4.add(v128.load(c), c20));
      v128.store(c, f32x4.add(v128.load(c, 16), c21), 16);
      c += ldc;
      v128.store(c, f32x4.add(v128.load(c), c30));
      v128.store(c, f32x4.add(v128.load(c, 16), c31), 16);
    } else {
      v128.store(c, c00);
      v128.store(c, c01, 16);
      c += ldc;
      v128.store(c, c10);
      v128.store(c, c11, 16);
      c += ldc;
      v128.store(c, c20);
      v128.store(c, c21, 16);
      c += ldc;
      v128.store(c, c30);
      v128.store(c, c31, 16);
    }
    return;
  }
  // Edge tile: the padded rows and columns of the panels are zero; store only the valid part.
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let r = 0; r < rows; r++) {
    const row = c + (<usize>r) * ldc;
    const t = tile + ((<usize>r) << 5);
    for (let q = 0; q < cols; q++) {
      const o = (<usize>q) << 2;
      const v = load<f32>(t + o);
      store<f32>(row + o, accumulate ? load<f32>(row + o) + v : v);
    }
  }
}

/**
 * Rows [m0, m1) of C (row stride ldc) = A·B, or += with `accumulate` ≠ 0. A is read through
 * strides (element (i, p) at a[i·ars + p·acs]); `bp` is B packed by `packB`; `scratch` is this
 * thread's GEMM_SCRATCH_BYTES, 16-byte aligned. With K = 0, C is zeroed (or left as it is).
 */
export function gemmRows(m0: i32, m1: i32, n: i32, k: i32, a: usize, ars: i32, acs: i32, bp: usize, c: usize, ldc: i32, accumulate: i32, scratch: usize): void {
  const tile = scratch;
  const apack = scratch + TILE_BYTES;
  const ldcBytes = (<usize>ldc) << 2;
  if (k == 0) {
    if (accumulate == 0) for (let i = m0; i < m1; i++) memory.fill(at(c, i * ldc), 0, (<usize>n) << 2);
    return;
  }
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = imin(KC, k - p0);
    const acc = accumulate != 0 || p0 > 0;
    for (let i0 = m0; i0 < m1; i0 += MC) {
      const mc = imin(MC, m1 - i0);
      packA(a, ars, acs, i0, mc, p0, kc, apack);
      for (let j0 = 0; j0 < n; j0 += NR) {
        const cols = imin(NR, n - j0);
        const bpanel = at(bp, j0 * k + p0 * NR);
        for (let r = 0; r < mc; r += MR) {
          microKernel(at(apack, r * kc), bpanel, kc, at(c, (i0 + r) * ldc + j0), ldcBytes, imin(MR, mc - r), cols, acc, tile);
        }
      }
    }
  }
}

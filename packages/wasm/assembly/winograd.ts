// Winograd F(2×2, 3×3) transforms (Lavin & Gray 2016) around the GEMM of gemm.ts: each 2×2
// output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over its 4×4 input patch d, so the 16 transformed
// positions ξ each become one GEMM  M_ξ (Cout × T) = U_ξ (Cout × Cin) · V_ξ (Cin × T)  over the
// T tiles of an image: 16 multiplies per tile and channel pair instead of 36. The weight
// transform U is small and done on the JS side; these are the input and output transforms.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

/**
 * Bᵀ d B for tiles [t0, t0 + tb) of `channels` planes (h × w, starting at `x`), written as the
 * GEMM's packed B panels: V_ξ at v + ξ·vStride floats, tile t (block-relative) and channel c at
 * ((t >> 3)·channels·8 + c·8 + (t & 7)). Tiles are `tw` to a row; the patch of tile (ty, tx)
 * starts at input row 2ty − padH, column 2tx − padW, zeros outside. Panel columns past tb are zeroed.
 */
export function winogradInput(
  x: usize, channels: i32, h: i32, w: i32, padH: i32, padW: i32, tw: i32, t0: i32, tb: i32, v: usize, vStride: i32,
): void {
  const tbPad = (tb + 7) & ~7;
  for (let c = 0; c < channels; c++) {
    const plane = at(x, c * h * w);
    for (let t = 0; t < tbPad; t++) {
      const o = (t >> 3) * channels * 8 + c * 8 + (t & 7);
      if ((t & 3) == 0 && t + 4 <= tb && inputFour(plane, h, w, padH, padW, tw, t0 + t, v, vStride, o)) {
        t += 3;
        continue;
      }
      if (t >= tb) {
        for (let xi = 0; xi < 16; xi++) store<f32>(at(v, xi * vStride + o), 0);
        continue;
      }
      const ty = (t0 + t) / tw;
      const tx = t0 + t - ty * tw;
      const y0 = 2 * ty - padH;
      const x0 = 2 * tx - padW;
      let d00: f32, d01: f32, d02: f32, d03: f32, d10: f32, d11: f32, d12: f32, d13: f32;
      let d20: f32, d21: f32, d22: f32, d23: f32, d30: f32, d31: f32, d32: f32, d33: f32;
      if (y0 >= 0 && y0 + 3 < h && x0 >= 0 && x0 + 3 < w) {
        let q = at(plane, y0 * w + x0);
        const row = (<usize>w) << 2;
        d00 = load<f32>(q); d01 = load<f32>(q, 4); d02 = load<f32>(q, 8); d03 = load<f32>(q, 12); q += row;
        d10 = load<f32>(q); d11 = load<f32>(q, 4); d12 = load<f32>(q, 8); d13 = load<f32>(q, 12); q += row;
        d20 = load<f32>(q); d21 = load<f32>(q, 4); d22 = load<f32>(q, 8); d23 = load<f32>(q, 12); q += row;
        d30 = load<f32>(q); d31 = load<f32>(q, 4); d32 = load<f32>(q, 8); d33 = load<f32>(q, 12);
      } else {
        d00 = px(plane, h, w, y0, x0); d01 = px(plane, h, w, y0, x0 + 1); d02 = px(plane, h, w, y0, x0 + 2); d03 = px(plane, h, w, y0, x0 + 3);
        d10 = px(plane, h, w, y0 + 1, x0); d11 = px(plane, h, w, y0 + 1, x0 + 1); d12 = px(plane, h, w, y0 + 1, x0 + 2); d13 = px(plane, h, w, y0 + 1, x0 + 3);
        d20 = px(plane, h, w, y0 + 2, x0); d21 = px(plane, h, w, y0 + 2, x0 + 1); d22 = px(plane, h, w, y0 + 2, x0 + 2); d23 = px(plane, h, w, y0 + 2, x0 + 3);
        d30 = px(plane, h, w, y0 + 3, x0); d31 = px(plane, h, w, y0 + 3, x0 + 1); d32 = px(plane, h, w, y0 + 3, x0 + 2); d33 = px(plane, h, w, y0 + 3, x0 + 3);
      }
      // Bᵀ·d, rows: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
      const r00 = d00 - d20, r01 = d01 - d21, r02 = d02 - d22, r03 = d03 - d23;
      const r10 = d10 + d20, r11 = d11 + d21, r12 = d12 + d22, r13 = d13 + d23;
      const r20 = d20 - d10, r21 = d21 - d11, r22 = d22 - d12, r23 = d23 - d13;
      const r30 = d10 - d30, r31 = d11 - d31, r32 = d12 - d32, r33 = d13 - d33;
      // (Bᵀ·d)·B, per row (x0..x3) → (x0 − x2, x1 + x2, x2 − x1, x1 − x3).
      store<f32>(at(v, o), r00 - r02);
      store<f32>(at(v, vStride + o), r01 + r02);
      store<f32>(at(v, 2 * vStride + o), r02 - r01);
      store<f32>(at(v, 3 * vStride + o), r01 - r03);
      store<f32>(at(v, 4 * vStride + o), r10 - r12);
      store<f32>(at(v, 5 * vStride + o), r11 + r12);
      store<f32>(at(v, 6 * vStride + o), r12 - r11);
      store<f32>(at(v, 7 * vStride + o), r11 - r13);
      store<f32>(at(v, 8 * vStride + o), r20 - r22);
      store<f32>(at(v, 9 * vStride + o), r21 + r22);
      store<f32>(at(v, 10 * vStride + o), r22 - r21);
      store<f32>(at(v, 11 * vStride + o), r21 - r23);
      store<f32>(at(v, 12 * vStride + o), r30 - r32);
      store<f32>(at(v, 13 * vStride + o), r31 + r32);
      store<f32>(at(v, 14 * vStride + o), r32 - r31);
      store<f32>(at(v, 15 * vStride + o), r31 - r33);
    }
  }
}

/**
 * Four tiles side by side (t … t + 3 in one tile row, their 4×10 input patch inside the image and
 * 12 floats of each row readable) at once: lane k of each vector is tile t + k. Returns false,
 * doing nothing, when the tiles do not qualify.
 */
// @ts-ignore: decorator
@inline function inputFour(plane: usize, h: i32, w: i32, padH: i32, padW: i32, tw: i32, t: i32, v: usize, vStride: i32, o: i32): bool {
  const ty = t / tw;
  const tx = t - ty * tw;
  const y0 = 2 * ty - padH;
  const x0 = 2 * tx - padW;
  if (tx + 3 >= tw || y0 < 0 || y0 + 3 >= h || x0 < 0 || x0 + 12 > w) return false;
  const row = (<usize>w) << 2;
  let q = at(plane, y0 * w + x0);
  // Row i of the four patches: columns 2k + j of tile k for j = 0 … 3.
  let a = v128.load(q), b = v128.load(q, 16), e = v128.load(q, 32);
  let ev = v128.shuffle<f32>(a, b, 0, 2, 4, 6), od = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  const d00 = ev, d01 = od;
  const d02 = v128.shuffle<f32>(ev, v128.shuffle<f32>(b, e, 0, 2, 4, 6), 1, 2, 3, 6);
  const d03 = v128.shuffle<f32>(od, v128.shuffle<f32>(b, e, 1, 3, 5, 7), 1, 2, 3, 6);
  q += row;
  a = v128.load(q); b = v128.load(q, 16); e = v128.load(q, 32);
  ev = v128.shuffle<f32>(a, b, 0, 2, 4, 6); od = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  const d10 = ev, d11 = od;
  const d12 = v128.shuffle<f32>(ev, v128.shuffle<f32>(b, e, 0, 2, 4, 6), 1, 2, 3, 6);
  const d13 = v128.shuffle<f32>(od, v128.shuffle<f32>(b, e, 1, 3, 5, 7), 1, 2, 3, 6);
  q += row;
  a = v128.load(q); b = v128.load(q, 16); e = v128.load(q, 32);
  ev = v128.shuffle<f32>(a, b, 0, 2, 4, 6); od = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  const d20 = ev, d21 = od;
  const d22 = v128.shuffle<f32>(ev, v128.shuffle<f32>(b, e, 0, 2, 4, 6), 1, 2, 3, 6);
  const d23 = v128.shuffle<f32>(od, v128.shuffle<f32>(b, e, 1, 3, 5, 7), 1, 2, 3, 6);
  q += row;
  a = v128.load(q); b = v128.load(q, 16); e = v128.load(q, 32);
  ev = v128.shuffle<f32>(a, b, 0, 2, 4, 6); od = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  const d30 = ev, d31 = od;
  const d32 = v128.shuffle<f32>(ev, v128.shuffle<f32>(b, e, 0, 2, 4, 6), 1, 2, 3, 6);
  const d33 = v128.shuffle<f32>(od, v128.shuffle<f32>(b, e, 1, 3, 5, 7), 1, 2, 3, 6);
  const r00 = f32x4.sub(d00, d20), r01 = f32x4.sub(d01, d21), r02 = f32x4.sub(d02, d22), r03 = f32x4.sub(d03, d23);
  const r10 = f32x4.add(d10, d20), r11 = f32x4.add(d11, d21), r12 = f32x4.add(d12, d22), r13 = f32x4.add(d13, d23);
  const r20 = f32x4.sub(d20, d10), r21 = f32x4.sub(d21, d11), r22 = f32x4.sub(d22, d12), r23 = f32x4.sub(d23, d13);
  const r30 = f32x4.sub(d10, d30), r31 = f32x4.sub(d11, d31), r32 = f32x4.sub(d12, d32), r33 = f32x4.sub(d13, d33);
  v128.store(at(v, o), f32x4.sub(r00, r02));
  v128.store(at(v, vStride + o), f32x4.add(r01, r02));
  v128.store(at(v, 2 * vStride + o), f32x4.sub(r02, r01));
  v128.store(at(v, 3 * vStride + o), f32x4.sub(r01, r03));
  v128.store(at(v, 4 * vStride + o), f32x4.sub(r10, r12));
  v128.store(at(v, 5 * vStride + o), f32x4.add(r11, r12));
  v128.store(at(v, 6 * vStride + o), f32x4.sub(r12, r11));
  v128.store(at(v, 7 * vStride + o), f32x4.sub(r11, r13));
  v128.store(at(v, 8 * vStride + o), f32x4.sub(r20, r22));
  v128.store(at(v, 9 * vStride + o), f32x4.add(r21, r22));
  v128.store(at(v, 10 * vStride + o), f32x4.sub(r22, r21));
  v128.store(at(v, 11 * vStride + o), f32x4.sub(r21, r23));
  v128.store(at(v, 12 * vStride + o), f32x4.sub(r30, r32));
  v128.store(at(v, 13 * vStride + o), f32x4.add(r31, r32));
  v128.store(at(v, 14 * vStride + o), f32x4.sub(r32, r31));
  v128.store(at(v, 15 * vStride + o), f32x4.sub(r31, r33));
  return true;
}

/** The pixel (y, x) of a plane, 0 outside it. */
// @ts-ignore: decorator
@inline function px(plane: usize, h: i32, w: i32, y: i32, x: i32): f32 {
  return y >= 0 && y < h && x >= 0 && x < w ? load<f32>(at(plane, y * w + x)) : 0;
}

/**
 * Four tiles side by side (one tile row, all their outputs inside the image) at once, lane k of
 * each vector being tile t + k; returns false, doing nothing, when they do not qualify.
 */
// @ts-ignore: decorator
@inline function outputFour(m: usize, mStride: i32, q: i32, t: i32, tw: i32, plane: usize, ho: i32, wo: i32, bv: f32): bool {
  const ty = t / tw;
  const tx = t - ty * tw;
  const y = 2 * ty;
  const x = 2 * tx;
  if (tx + 3 >= tw || y + 1 >= ho || x + 8 > wo) return false;
  const m00 = v128.load(at(m, q)), m01 = v128.load(at(m, mStride + q)), m02 = v128.load(at(m, 2 * mStride + q)), m03 = v128.load(at(m, 3 * mStride + q));
  const m10 = v128.load(at(m, 4 * mStride + q)), m11 = v128.load(at(m, 5 * mStride + q)), m12 = v128.load(at(m, 6 * mStride + q)), m13 = v128.load(at(m, 7 * mStride + q));
  const m20 = v128.load(at(m, 8 * mStride + q)), m21 = v128.load(at(m, 9 * mStride + q)), m22 = v128.load(at(m, 10 * mStride + q)), m23 = v128.load(at(m, 11 * mStride + q));
  const m30 = v128.load(at(m, 12 * mStride + q)), m31 = v128.load(at(m, 13 * mStride + q)), m32 = v128.load(at(m, 14 * mStride + q)), m33 = v128.load(at(m, 15 * mStride + q));
  const s00 = f32x4.add(f32x4.add(m00, m10), m20), s01 = f32x4.add(f32x4.add(m01, m11), m21);
  const s02 = f32x4.add(f32x4.add(m02, m12), m22), s03 = f32x4.add(f32x4.add(m03, m13), m23);
  const s10 = f32x4.sub(f32x4.sub(m10, m20), m30), s11 = f32x4.sub(f32x4.sub(m11, m21), m31);
  const s12 = f32x4.sub(f32x4.sub(m12, m22), m32), s13 = f32x4.sub(f32x4.sub(m13, m23), m33);
  const b4 = f32x4.splat(bv);
  const o00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), b4);
  const o01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), b4);
  const o10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), b4);
  const o11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), b4);
  // Output row y holds (o00, o01) of tile 0, then of tile 1, …: interleave the lanes.
  const d = at(plane, y * wo + x);
  v128.store(d, v128.shuffle<f32>(o00, o01, 0, 4, 1, 5));
  v128.store(d, v128.shuffle<f32>(o00, o01, 2, 6, 3, 7), 16);
  const d1 = d + ((<usize>wo) << 2);
  v128.store(d1, v128.shuffle<f32>(o10, o11, 0, 4, 1, 5));
  v128.store(d1, v128.shuffle<f32>(o10, o11, 2, 6, 3, 7), 16);
  return true;
}

/**
 * Aᵀ m A for tiles [t0, t0 + tb) and `rows` output channels: m_ξ at m + ξ·mStride floats, row r,
 * tile t at r·tb + t. Writes the 2×2 outputs (clipped at odd edges) into `out` (rows planes of
 * ho × wo) adding bias[r] when `bias` ≠ 0.
 */
export function winogradOutput(m: usize, mStride: i32, rows: i32, tb: i32, t0: i32, tw: i32, out: usize, ho: i32, wo: i32, bias: usize): void {
  for (let r = 0; r < rows; r++) {
    const bv: f32 = bias != 0 ? load<f32>(at(bias, r)) : 0;
    const plane = at(out, r * ho * wo);
    for (let t = 0; t < tb; t++) {
      const q = r * tb + t;
      if ((t & 3) == 0 && t + 4 <= tb && outputFour(m, mStride, q, t0 + t, tw, plane, ho, wo, bv)) {
        t += 3;
        continue;
      }
      const m00 = load<f32>(at(m, q)), m01 = load<f32>(at(m, mStride + q)), m02 = load<f32>(at(m, 2 * mStride + q)), m03 = load<f32>(at(m, 3 * mStride + q));
      const m10 = load<f32>(at(m, 4 * mStride + q)), m11 = load<f32>(at(m, 5 * mStride + q)), m12 = load<f32>(at(m, 6 * mStride + q)), m13 = load<f32>(at(m, 7 * mStride + q));
      const m20 = load<f32>(at(m, 8 * mStride + q)), m21 = load<f32>(at(m, 9 * mStride + q)), m22 = load<f32>(at(m, 10 * mStride + q)), m23 = load<f32>(at(m, 11 * mStride + q));
      const m30 = load<f32>(at(m, 12 * mStride + q)), m31 = load<f32>(at(m, 13 * mStride + q)), m32 = load<f32>(at(m, 14 * mStride + q)), m33 = load<f32>(at(m, 15 * mStride + q));
      // Aᵀ·m, rows: m0 + m1 + m2, m1 − m2 − m3.
      const s00 = m00 + m10 + m20, s01 = m01 + m11 + m21, s02 = m02 + m12 + m22, s03 = m03 + m13 + m23;
      const s10 = m10 - m20 - m30, s11 = m11 - m21 - m31, s12 = m12 - m22 - m32, s13 = m13 - m23 - m33;
      // (Aᵀ·m)·A, per row (x0..x3) → (x0 + x1 + x2, x1 − x2 − x3).
      const ty = (t0 + t) / tw;
      const tx = t0 + t - ty * tw;
      const y = 2 * ty;
      const x = 2 * tx;
      const right = x + 1 < wo;
      let d = at(plane, y * wo + x);
      store<f32>(d, s00 + s01 + s02 + bv);
      if (right) store<f32>(d, s01 - s02 - s03 + bv, 4);
      if (y + 1 < ho) {
        d += (<usize>wo) << 2;
        store<f32>(d, s10 + s11 + s12 + bv);
        if (right) store<f32>(d, s11 - s12 - s13 + bv, 4);
      }
    }
  }
}

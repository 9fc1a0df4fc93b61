// The data movement of the im2col convolutions (the arithmetic is the GEMM of gemm.ts). A chunk
// of `nb` images is laid side by side: column b·L + l of a chunk matrix is output position l of
// image b (L = Ho·Wo), so the GEMMs of small feature maps are wide (forward, input gradient) or
// deep (weight gradient) enough to keep the register tiles busy.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

/**
 * Copy `n` floats (V8 turns memory.copy and memory.fill into a runtime call, which costs more
 * than a short image row itself).
 */
// @ts-ignore: decorator
@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst, v128.load(src));
    dst += 16;
    src += 16;
  }
  for (; i < n; i++) {
    store<f32>(dst, load<f32>(src));
    dst += 4;
    src += 4;
  }
}

/** Zero `n` floats (see `copyFloats`). */
// @ts-ignore: decorator
@inline function zeroFloats(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst, z);
    dst += 16;
  }
  for (; i < n; i++) {
    store<f32>(dst, 0);
    dst += 4;
  }
}

/**
 * Unfold channels [c0, c0 + channels) of `nb` images into `dst`: row (c·kH + i)·kW + j, column
 * b·L + oh·Wo + ow holds x[b][c0 + c][oh·sH + i·dH − pH][ow·sW + j·dW − pW], 0 outside the image.
 * `x` points at the chunk's first image, `imageStride` floats apart; rows are `ld` floats apart.
 */
export function im2col(
  x: usize, imageStride: i32, nb: i32, c0: i32, channels: i32, h: i32, w: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
  dst: usize, ld: i32,
): void {
  const L = ho * wo;
  let row = dst;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kh; i++) {
      const shiftH = i * dh - ph;
      for (let j = 0; j < kw; j++) {
        const shiftW = j * dw - pw;
        // Output columns whose input column ow·sW + shiftW lies in [0, w).
        let lo = shiftW >= 0 ? 0 : (-shiftW + sw - 1) / sw;
        let hi = w - 1 - shiftW < 0 ? 0 : (w - 1 - shiftW) / sw + 1;
        if (lo > wo) lo = wo;
        if (hi > wo) hi = wo;
        if (hi < lo) hi = lo;
        for (let b = 0; b < nb; b++) {
          const plane = at(x, b * imageStride + (c0 + c) * h * w);
          let d = row + ((<usize>(b * L)) << 2);
          for (let oh = 0; oh < ho; oh++) {
            const ih = oh * sh + shiftH;
            if (ih < 0 || ih >= h) {
              zeroFloats(d, wo);
            } else {
              if (lo > 0) zeroFloats(d, lo);
              const src = at(plane, ih * w + lo * sw + shiftW);
              if (sw == 1) {
                copyFloats(d + ((<usize>lo) << 2), src, hi - lo);
              } else {
                let s = src;
                const step = (<usize>sw) << 2;
                for (let ow = lo; ow < hi; ow++) {
                  store<f32>(d + ((<usize>ow) << 2), load<f32>(s));
                  s += step;
                }
              }
              if (hi < wo) zeroFloats(d + ((<usize>hi) << 2), wo - hi);
            }
            d += (<usize>wo) << 2;
          }
        }
        row += (<usize>ld) << 2;
      }
    }
  }
}

/**
 * The adjoint of `im2col`: add every entry of the chunk matrix `src` back onto its input
 * position in `dx` (channels [c0, c0 + channels) of `nb` images, `imageStride` apart).
 */
export function col2im(
  src: usize, ld: i32, dx: usize, imageStride: i32, nb: i32, c0: i32, channels: i32, h: i32, w: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
): void {
  const L = ho * wo;
  let row = src;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kh; i++) {
      const shiftH = i * dh - ph;
      for (let j = 0; j < kw; j++) {
        const shiftW = j * dw - pw;
        let lo = shiftW >= 0 ? 0 : (-shiftW + sw - 1) / sw;
        let hi = w - 1 - shiftW < 0 ? 0 : (w - 1 - shiftW) / sw + 1;
        if (lo > wo) lo = wo;
        if (hi > wo) hi = wo;
        if (hi < lo) hi = lo;
        for (let b = 0; b < nb; b++) {
          const plane = at(dx, b * imageStride + (c0 + c) * h * w);
          let s = row + ((<usize>(b * L)) << 2);
          for (let oh = 0; oh < ho; oh++) {
            const ih = oh * sh + shiftH;
            if (ih >= 0 && ih < h) {
              let d = at(plane, ih * w + lo * sw + shiftW);
              let q = s + ((<usize>lo) << 2);
              const n = hi - lo;
              if (sw == 1) {
                let ow = 0;
                for (; ow + 4 <= n; ow += 4) {
                  v128.store(d, f32x4.add(v128.load(d), v128.load(q)));
                  d += 16;
                  q += 16;
                }
                for (; ow < n; ow++) {
                  store<f32>(d, load<f32>(d) + load<f32>(q));
                  d += 4;
                  q += 4;
                }
              } else {
                const step = (<usize>sw) << 2;
                for (let ow = 0; ow < n; ow++) {
                  store<f32>(d, load<f32>(d) + load<f32>(q));
                  d += step;
                  q += 4;
                }
              }
            }
            s += (<usize>wo) << 2;
          }
        }
        row += (<usize>ld) << 2;
      }
    }
  }
}

/**
 * Gather rows [r0, r0 + rows) of `nb` images' (R × L) blocks (`imageStride` floats apart) into
 * one chunk matrix `dst` (rows × nb·L): row r, column b·L + l.
 */
export function gatherRows(src: usize, imageStride: i32, nb: i32, r0: i32, rows: i32, L: i32, dst: usize): void {
  const ld = nb * L;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      copyFloats(at(dst, r * ld + b * L), at(src, b * imageStride + (r0 + r) * L), L);
    }
  }
}

/**
 * The inverse of `gatherRows`, adding `bias[r0 + r]` when `bias` ≠ 0: rows [0, rows) of the chunk
 * matrix `src` (ld = nb·L) go to rows r0 + r of each image's block in `dst`.
 */
export function scatterRows(src: usize, nb: i32, r0: i32, rows: i32, L: i32, dst: usize, imageStride: i32, bias: usize): void {
  const ld = nb * L;
  for (let r = 0; r < rows; r++) {
    const bv = bias != 0 ? load<f32>(at(bias, r0 + r)) : <f32>0;
    const bias4 = f32x4.splat(bv);
    for (let b = 0; b < nb; b++) {
      let s = at(src, r * ld + b * L);
      let d = at(dst, b * imageStride + (r0 + r) * L);
      let l = 0;
      for (; l + 4 <= L; l += 4) {
        v128.store(d, f32x4.add(v128.load(s), bias4));
        s += 16;
        d += 16;
      }
      for (; l < L; l++) {
        store<f32>(d, load<f32>(s) + bv);
        s += 4;
        d += 4;
      }
    }
  }
}

/** out[i] = Σ_p parts[p·size + i] over p = 0 … count − 1 in order (the weight gradient's chunk partials). */
export function sumPartials(parts: usize, count: i32, size: i32, out: usize): void {
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    let s = v128.load(at(parts, i));
    for (let p = 1; p < count; p++) s = f32x4.add(s, v128.load(at(parts, p * size + i)));
    v128.store(at(out, i), s);
  }
  for (; i < size; i++) {
    let s = load<f32>(at(parts, i));
    for (let p = 1; p < count; p++) s += load<f32>(at(parts, p * size + i));
    store<f32>(at(out, i), s);
  }
}

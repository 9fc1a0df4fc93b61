// The row loops every norm kernel is made of (twins of packages/norm-layers/src/kernels/rows.ts).
// float32 data, float64 arithmetic: four floats are loaded at once and their two halves widened
// to f64x2 (`f64x2.promote_low_f32x4`); sums keep eight f64 lanes apart and are added together
// at the end of the row; outputs are computed in float64 and rounded once to float32, as the cpu
// kernels do. A pair of sums is returned as the two lanes of one f64x2.

/** Lanes 2 and 3 of a f32x4 moved to lanes 0 and 1, for `promote_low` of the high half. */
// @ts-ignore: decorator
@inline function high(v: v128): v128 {
  return v128.shuffle<f32>(v, v, 2, 3, 2, 3);
}

/** Two f64x2 rounded to float32 and packed into one f32x4 (a's lanes first). */
// @ts-ignore: decorator
@inline function narrow(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
}

/** (a, b) as the lanes of an f64x2. */
// @ts-ignore: decorator
@inline export function pair(a: f64, b: f64): v128 {
  return f64x2.replace_lane(f64x2.splat(a), 1, b);
}

/** Both lanes of an f64x2 added. */
// @ts-ignore: decorator
@inline export function lanes(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/**
 * (Σ (x − K), Σ (x − K)²) over the `len` floats at `p`, in float64: one read of the data for
 * both moments of the values shifted by K (see `shiftedMoments`).
 */
export function shiftedSums(p: usize, len: i32, K: f64): v128 {
  const k = f64x2.splat(K);
  const z = f64x2.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  let b0 = z, b1 = z, b2 = z, b3 = z;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const v = v128.load(p);
    const w = v128.load(p, 16);
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), k);
    const d1 = f64x2.sub(f64x2.promote_low_f32x4(high(v)), k);
    const d2 = f64x2.sub(f64x2.promote_low_f32x4(w), k);
    const d3 = f64x2.sub(f64x2.promote_low_f32x4(high(w)), k);
    a0 = f64x2.add(a0, d0);
    a1 = f64x2.add(a1, d1);
    a2 = f64x2.add(a2, d2);
    a3 = f64x2.add(a3, d3);
    b0 = f64x2.add(b0, f64x2.mul(d0, d0));
    b1 = f64x2.add(b1, f64x2.mul(d1, d1));
    b2 = f64x2.add(b2, f64x2.mul(d2, d2));
    b3 = f64x2.add(b3, f64x2.mul(d3, d3));
    p += 32;
  }
  let sa = lanes(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)));
  let sb = lanes(f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
  for (; i < len; i++) {
    const d = <f64>load<f32>(p) - K;
    sa += d;
    sb += d * d;
    p += 4;
  }
  return pair(sa, sb);
}

/**
 * (mean, M2 = Σ (x − mean)²) from the shifted sums t1 = Σ (x − K), t2 = Σ (x − K)² of M values
 * (K one of them): mean = K + t1/M, M2 = t2 − t1²/M ≥ 0, with at most log2(M) of float64's bits
 * lost to the subtraction (docs/norm-layers.md, "shifted one-read statistics").
 */
// @ts-ignore: decorator
@inline export function shiftedMoments(K: f64, t1: f64, t2: f64, M: f64): v128 {
  const d = t1 / M;
  return pair(K + d, max<f64>(0, t2 - t1 * d));
}

/** (Σ dy, Σ dy·(x − m)) over `len` elements of dy at `g` and x at `x`. */
export function dyMoments(g: usize, x: usize, len: i32, m: f64): v128 {
  const mm = f64x2.splat(m);
  const z = f64x2.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  let b0 = z, b1 = z, b2 = z, b3 = z;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const gv = v128.load(g);
    const gw = v128.load(g, 16);
    const xv = v128.load(x);
    const xw = v128.load(x, 16);
    const g0 = f64x2.promote_low_f32x4(gv);
    const g1 = f64x2.promote_low_f32x4(high(gv));
    const g2 = f64x2.promote_low_f32x4(gw);
    const g3 = f64x2.promote_low_f32x4(high(gw));
    a0 = f64x2.add(a0, g0);
    a1 = f64x2.add(a1, g1);
    a2 = f64x2.add(a2, g2);
    a3 = f64x2.add(a3, g3);
    b0 = f64x2.add(b0, f64x2.mul(g0, f64x2.sub(f64x2.promote_low_f32x4(xv), mm)));
    b1 = f64x2.add(b1, f64x2.mul(g1, f64x2.sub(f64x2.promote_low_f32x4(high(xv)), mm)));
    b2 = f64x2.add(b2, f64x2.mul(g2, f64x2.sub(f64x2.promote_low_f32x4(xw), mm)));
    b3 = f64x2.add(b3, f64x2.mul(g3, f64x2.sub(f64x2.promote_low_f32x4(high(xw)), mm)));
    g += 32;
    x += 32;
  }
  let sa = lanes(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)));
  let sb = lanes(f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
  for (; i < len; i++) {
    const gi = <f64>load<f32>(g);
    sa += gi;
    sb += gi * (<f64>load<f32>(x) - m);
    g += 4;
    x += 4;
  }
  return pair(sa, sb);
}

/** y = (x − m)·scale + shift over `len` elements, `x − m` in float64. `y` may be `x`. */
export function applyAffine(y: usize, x: usize, len: i32, m: f64, scale: f64, shift: f64): void {
  const mm = f64x2.splat(m);
  const sc = f64x2.splat(scale);
  const sh = f64x2.splat(shift);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const v = v128.load(x);
    const lo = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v), mm), sc), sh);
    const hi = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(v)), mm), sc), sh);
    v128.store(y, narrow(lo, hi));
    x += 16;
    y += 16;
  }
  for (; i < len; i++) {
    store<f32>(y, <f32>((<f64>load<f32>(x) - m) * scale + shift));
    x += 4;
    y += 4;
  }
}

/**
 * out = a·dy + c1·(x − m) + c0 over `len` elements (float64, rounded once), or out += that when
 * `accumulate`. `out` may be `g` itself: each element reads only its own dy.
 */
export function gradAffine(out: usize, g: usize, x: usize, len: i32, a: f64, c1: f64, m: f64, c0: f64, accumulate: bool): void {
  const aa = f64x2.splat(a);
  const k1 = f64x2.splat(c1);
  const mm = f64x2.splat(m);
  const k0 = f64x2.splat(c0);
  let i = 0;
  if (accumulate) {
    for (; i + 4 <= len; i += 4) {
      const gv = v128.load(g);
      const xv = v128.load(x);
      const ov = v128.load(out);
      const lo = f64x2.add(f64x2.promote_low_f32x4(ov), f64x2.add(f64x2.add(f64x2.mul(aa, f64x2.promote_low_f32x4(gv)), f64x2.mul(k1, f64x2.sub(f64x2.promote_low_f32x4(xv), mm))), k0));
      const hi = f64x2.add(f64x2.promote_low_f32x4(high(ov)), f64x2.add(f64x2.add(f64x2.mul(aa, f64x2.promote_low_f32x4(high(gv))), f64x2.mul(k1, f64x2.sub(f64x2.promote_low_f32x4(high(xv)), mm))), k0));
      v128.store(out, narrow(lo, hi));
      g += 16;
      x += 16;
      out += 16;
    }
    for (; i < len; i++) {
      store<f32>(out, <f32>(<f64>load<f32>(out) + (a * <f64>load<f32>(g) + c1 * (<f64>load<f32>(x) - m) + c0)));
      g += 4;
      x += 4;
      out += 4;
    }
    return;
  }
  for (; i + 4 <= len; i += 4) {
    const gv = v128.load(g);
    const xv = v128.load(x);
    const lo = f64x2.add(f64x2.add(f64x2.mul(aa, f64x2.promote_low_f32x4(gv)), f64x2.mul(k1, f64x2.sub(f64x2.promote_low_f32x4(xv), mm))), k0);
    const hi = f64x2.add(f64x2.add(f64x2.mul(aa, f64x2.promote_low_f32x4(high(gv))), f64x2.mul(k1, f64x2.sub(f64x2.promote_low_f32x4(high(xv)), mm))), k0);
    v128.store(out, narrow(lo, hi));
    g += 16;
    x += 16;
    out += 16;
  }
  for (; i < len; i++) {
    store<f32>(out, <f32>(a * <f64>load<f32>(g) + c1 * (<f64>load<f32>(x) - m) + c0));
    g += 4;
    x += 4;
    out += 4;
  }
}

// The blend of a GN stage u and a batch stage v, y = γ_c·(w_c·u + (1 − w_c)·v) + β_c (twins of
// packages/norm-layers/src/kernels/blend.ts). Items are the (n, c) rows of (N, C, S): row i0 + i
// starts `i·S` floats after each operand's pointer (one run each). Float64 arithmetic, rounded
// once.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

// @ts-ignore: decorator
@inline function at8(base: usize, i: i32): usize {
  return base + ((<usize>i) << 3);
}

// @ts-ignore: decorator
@inline function high(v: v128): v128 {
  return v128.shuffle<f32>(v, v, 2, 3, 2, 3);
}

// @ts-ignore: decorator
@inline function narrow(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
}

// @ts-ignore: decorator
@inline function param(w: usize, c: i32, none: f64): f64 {
  return w ? <f64>load<f32>(at(w, c)) : none;
}

/** y = a·u + bb·v + shift per row, a = γ·w_c, bb = γ − a. */
export function blendAffineRows(
  u: usize, v: usize, y: usize, i0: i32, i1: i32, runs: i32, runStride: i32, S: i32, C: i32, w: usize, b: usize, blend: usize,
): void {
  for (let i = i0; i < i1; i++) {
    const c = i % C;
    const gamma = param(w, c, 1);
    const a = gamma * load<f64>(at8(blend, c));
    const av = f64x2.splat(a);
    const bv = f64x2.splat(gamma - a);
    const shift = param(b, c, 0);
    const sh = f64x2.splat(shift);
    const o = (i - i0) * S;
    let s = 0;
    for (; s + 4 <= S; s += 4) {
      const uu = v128.load(at(u, o + s));
      const vv = v128.load(at(v, o + s));
      const lo = f64x2.add(f64x2.add(f64x2.mul(av, f64x2.promote_low_f32x4(uu)), f64x2.mul(bv, f64x2.promote_low_f32x4(vv))), sh);
      const hi = f64x2.add(f64x2.add(f64x2.mul(av, f64x2.promote_low_f32x4(high(uu))), f64x2.mul(bv, f64x2.promote_low_f32x4(high(vv)))), sh);
      v128.store(at(y, o + s), narrow(lo, hi));
    }
    for (; s < S; s++) {
      store<f32>(at(y, o + s), <f32>(a * <f64>load<f32>(at(u, o + s)) + (gamma - a) * <f64>load<f32>(at(v, o + s)) + shift));
    }
  }
}

/**
 * du = a·dy, dv = bb·dy per row, and the row's Σ dy, Σ dy·(w·u + (1 − w)·v), Σ dy·(u − v) into
 * sums[3·row …] (the caller adds them over n in order).
 */
export function blendAffineBackwardRows(
  dy: usize, u: usize, v: usize, du: usize, dv: usize, i0: i32, i1: i32, runs: i32, runStride: i32, S: i32, C: i32,
  w: usize, blend: usize, sums: usize,
): void {
  for (let i = i0; i < i1; i++) {
    const c = i % C;
    const gamma = param(w, c, 1);
    const wc = load<f64>(at8(blend, c));
    const a = gamma * wc;
    const bb = gamma - a;
    const av = f64x2.splat(a);
    const bv = f64x2.splat(bb);
    const wv = f64x2.splat(wc);
    const wv1 = f64x2.splat(1 - wc);
    const o = (i - i0) * S;
    const z = f64x2.splat(0);
    let s1 = z, s2 = z, s3 = z;
    let s = 0;
    for (; s + 4 <= S; s += 4) {
      const gg = v128.load(at(dy, o + s));
      const uu = v128.load(at(u, o + s));
      const vv = v128.load(at(v, o + s));
      const gL = f64x2.promote_low_f32x4(gg);
      const gH = f64x2.promote_low_f32x4(high(gg));
      const uL = f64x2.promote_low_f32x4(uu);
      const uH = f64x2.promote_low_f32x4(high(uu));
      const vL = f64x2.promote_low_f32x4(vv);
      const vH = f64x2.promote_low_f32x4(high(vv));
      s1 = f64x2.add(s1, f64x2.add(gL, gH));
      s2 = f64x2.add(s2, f64x2.add(
        f64x2.mul(gL, f64x2.add(f64x2.mul(wv, uL), f64x2.mul(wv1, vL))),
        f64x2.mul(gH, f64x2.add(f64x2.mul(wv, uH), f64x2.mul(wv1, vH))),
      ));
      s3 = f64x2.add(s3, f64x2.add(f64x2.mul(gL, f64x2.sub(uL, vL)), f64x2.mul(gH, f64x2.sub(uH, vH))));
      v128.store(at(du, o + s), narrow(f64x2.mul(av, gL), f64x2.mul(av, gH)));
      v128.store(at(dv, o + s), narrow(f64x2.mul(bv, gL), f64x2.mul(bv, gH)));
    }
    let sdy = f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
    let sdyh = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
    let sdyd = f64x2.extract_lane(s3, 0) + f64x2.extract_lane(s3, 1);
    for (; s < S; s++) {
      const g = <f64>load<f32>(at(dy, o + s));
      const uu = <f64>load<f32>(at(u, o + s));
      const vv = <f64>load<f32>(at(v, o + s));
      sdy += g;
      sdyh += g * (wc * uu + (1 - wc) * vv);
      sdyd += g * (uu - vv);
      store<f32>(at(du, o + s), <f32>(a * g));
      store<f32>(at(dv, o + s), <f32>(bb * g));
    }
    const q = at8(sums, 3 * i);
    store<f64>(q, sdy);
    store<f64>(q, sdyh, 8);
    store<f64>(q, sdyd, 16);
  }
}

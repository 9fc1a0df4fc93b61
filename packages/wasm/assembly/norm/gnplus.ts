// GN+ (order gn-first) as one forward and one backward kernel (twins of
// packages/norm-layers/src/kernels/gnplus.ts), in the authors' forms: unbiased std and eps on the
// std, for the GN stage and the batch stage alike.
//
// Items are channel groups over the whole batch, addressed as the pooled slots of grouped.ts:
// group g0 + i starts `i·block` floats after `x`, block = (C/G)·S, and sample n's part of it is
// the run `n·runStride` floats further. Positions (c, s) index the batch-stage statistics by
// c·S + s. Four positions go at a time, as two f64x2 (u is recomputed from x, in float64,
// wherever it is needed: cheaper than storing and reloading it).

import { gradAffine, shiftedMoments, shiftedSums } from './rows';

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

/** The batch-stage statistics of one position from the shifted sums of its N values of u. */
function finishPosition(p: i32, K: f64, t1: f64, t2: f64, N: i32, posMean: usize, posRstd: usize, posK: usize, eps: f64): void {
  const mm = shiftedMoments(K, t1, t2, <f64>N);
  const sd = Math.sqrt(f64x2.extract_lane(mm, 1) / <f64>(N - 1));
  store<f64>(at8(posMean, p), f64x2.extract_lane(mm, 0));
  store<f64>(at8(posRstd, p), 1 / (sd + eps));
  store<f64>(at8(posK, p), sd > 0 ? (<f64>N * (sd + eps)) / (<f64>(N - 1) * sd) : 0);
}

/**
 * GN+'s batch stage and output over the S positions of one channel (x, y at its row of sample 0;
 * position index p0 + s; mn, rn: the group's GN mean and 1/(s + eps) of sample n at n·G):
 *  1. per position, the shifted float64 sums of u = (x − m_n)·r_n over the batch (shift: sample
 *     0's u), then μ_p, r_p, k_p into posMean, posRstd, posK;
 *  2. y = a·u + bb·r_p·(u − μ_p) + shift for every sample, while the positions are in cache.
 */
function channelForward(
  x: usize, y: usize, N: i32, runStride: i32, S: i32, p0: i32, mn: usize, rn: usize, G: i32,
  posMean: usize, posRstd: usize, posK: usize, eps: f64, a: f64, bb: f64, shift: f64,
): void {
  const m0 = f64x2.splat(load<f64>(mn));
  const r0 = f64x2.splat(load<f64>(rn));
  const av = f64x2.splat(a);
  const sh = f64x2.splat(shift);
  const z = f64x2.splat(0);
  let s = 0;
  for (; s + 4 <= S; s += 4) {
    const v0 = v128.load(at(x, s));
    const KL = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v0), m0), r0);
    const KH = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(v0)), m0), r0);
    let sL = z, sH = z, tL = z, tH = z;
    for (let n = 0; n < N; n++) {
      const v = v128.load(at(x, n * runStride + s));
      const m = f64x2.splat(load<f64>(at8(mn, n * G)));
      const r = f64x2.splat(load<f64>(at8(rn, n * G)));
      const dL = f64x2.sub(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v), m), r), KL);
      const dH = f64x2.sub(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(v)), m), r), KH);
      sL = f64x2.add(sL, dL);
      sH = f64x2.add(sH, dH);
      tL = f64x2.add(tL, f64x2.mul(dL, dL));
      tH = f64x2.add(tH, f64x2.mul(dH, dH));
    }
    const p = p0 + s;
    finishPosition(p, f64x2.extract_lane(KL, 0), f64x2.extract_lane(sL, 0), f64x2.extract_lane(tL, 0), N, posMean, posRstd, posK, eps);
    finishPosition(p + 1, f64x2.extract_lane(KL, 1), f64x2.extract_lane(sL, 1), f64x2.extract_lane(tL, 1), N, posMean, posRstd, posK, eps);
    finishPosition(p + 2, f64x2.extract_lane(KH, 0), f64x2.extract_lane(sH, 0), f64x2.extract_lane(tH, 0), N, posMean, posRstd, posK, eps);
    finishPosition(p + 3, f64x2.extract_lane(KH, 1), f64x2.extract_lane(sH, 1), f64x2.extract_lane(tH, 1), N, posMean, posRstd, posK, eps);
    const muL = v128.load(at8(posMean, p));
    const muH = v128.load(at8(posMean, p + 2));
    // bb·r_p folded per position: y = a·u + b_p·(u − μ_p) + shift.
    const bL = f64x2.mul(f64x2.splat(bb), v128.load(at8(posRstd, p)));
    const bH = f64x2.mul(f64x2.splat(bb), v128.load(at8(posRstd, p + 2)));
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const v = v128.load(at(x, o));
      const m = f64x2.splat(load<f64>(at8(mn, n * G)));
      const r = f64x2.splat(load<f64>(at8(rn, n * G)));
      const uL = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v), m), r);
      const uH = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(v)), m), r);
      const yL = f64x2.add(f64x2.add(f64x2.mul(av, uL), f64x2.mul(bL, f64x2.sub(uL, muL))), sh);
      const yH = f64x2.add(f64x2.add(f64x2.mul(av, uH), f64x2.mul(bH, f64x2.sub(uH, muH))), sh);
      v128.store(at(y, o), narrow(yL, yH));
    }
  }
  // The last S mod 4 positions, one at a time: the same steps.
  for (; s < S; s++) {
    const mfirst = load<f64>(mn);
    const K = (<f64>load<f32>(at(x, s)) - mfirst) * load<f64>(rn);
    let t1: f64 = 0;
    let t2: f64 = 0;
    for (let n = 0; n < N; n++) {
      const d = (<f64>load<f32>(at(x, n * runStride + s)) - load<f64>(at8(mn, n * G))) * load<f64>(at8(rn, n * G)) - K;
      t1 += d;
      t2 += d * d;
    }
    const p = p0 + s;
    finishPosition(p, K, t1, t2, N, posMean, posRstd, posK, eps);
    const mu = load<f64>(at8(posMean, p));
    const bp = bb * load<f64>(at8(posRstd, p));
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const u = (<f64>load<f32>(at(x, o)) - load<f64>(at8(mn, n * G))) * load<f64>(at8(rn, n * G));
      store<f32>(at(y, o), <f32>(a * u + bp * (u - mu) + shift));
    }
  }
}

/**
 * GN+ forward for groups [g0, g1): per sample the group's GN statistics (one shifted read; the
 * unbiased std s, r = 1/(s + eps), k), then channel by channel the batch stage and the output.
 */
export function gnPlusForwardGroups(
  x: usize, y: usize, g0: i32, g1: i32, N: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32,
  eps: f64, w: usize, b: usize, blend: usize, gnMean: usize, gnRstd: usize, gnK: usize, posMean: usize, posRstd: usize, posK: usize,
): void {
  for (let g = g0; g < g1; g++) {
    const xg = at(x, (g - g0) * block);
    const yg = at(y, (g - g0) * block);
    for (let n = 0; n < N; n++) {
      const slot = n * G + g;
      const start = at(xg, n * runStride);
      const K = <f64>load<f32>(start);
      const sums = shiftedSums(start, block, K);
      const mm = shiftedMoments(K, f64x2.extract_lane(sums, 0), f64x2.extract_lane(sums, 1), <f64>block);
      const sd = Math.sqrt(f64x2.extract_lane(mm, 1) / <f64>(block - 1));
      store<f64>(at8(gnMean, slot), f64x2.extract_lane(mm, 0));
      store<f64>(at8(gnRstd, slot), 1 / (sd + eps));
      store<f64>(at8(gnK, slot), sd > 0 ? (<f64>block * (sd + eps)) / (<f64>(block - 1) * sd) : 0);
    }
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const gamma = param(w, c, 1);
      const aw = gamma * load<f64>(at8(blend, c));
      channelForward(at(xg, j * S), at(yg, j * S), N, runStride, S, c * S, at8(gnMean, g), at8(gnRstd, g), G,
        posMean, posRstd, posK, eps, aw, gamma - aw, param(b, c, 0));
    }
  }
}

/**
 * GN+'s backward through the blend and the batch stage over the S positions of channel c (x, dy,
 * out at its row of sample 0), four positions at a time:
 *  1. per position over the batch, A_p = Σ dy and B_p = Σ dy·(u − μ_p); the channel's Σ dy,
 *     Σ dy·u = Σ (B_p + μ_p·A_p) and Σ dy·v = Σ r_p·B_p are stored at outDy, outDyU, outDyV;
 *  2. with `out`: du = α_p·dy + c1_p·(u − μ_p) + c0_p, α_p = aw + r_p·gb, c0_p = −r_p·gb·A_p/N,
 *     c1_p = −r_p³·k_p·gb·B_p/N, written to out while acc (two f64x2 per sample: Σ du, Σ du·u)
 *     collects what GN's backward needs.
 */
function channelBackward(
  x: usize, dy: usize, out: usize, N: i32, runStride: i32, S: i32, p0: i32, mn: usize, rn: usize, G: i32,
  posMean: usize, posRstd: usize, posK: usize, aw: f64, gb: f64, acc: usize, outDy: usize, outDyU: usize, outDyV: usize,
): void {
  const z = f64x2.splat(0);
  const fN = f64x2.splat(<f64>N);
  const awv = f64x2.splat(aw);
  const gbv = f64x2.splat(gb);
  let sDy: f64 = 0;
  let sDyU: f64 = 0;
  let sDyV: f64 = 0;
  let s = 0;
  for (; s + 4 <= S; s += 4) {
    const p = p0 + s;
    const muL = v128.load(at8(posMean, p));
    const muH = v128.load(at8(posMean, p + 2));
    let AL = z, AH = z, BL = z, BH = z;
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const gv = v128.load(at(dy, o));
      const xv = v128.load(at(x, o));
      const m = f64x2.splat(load<f64>(at8(mn, n * G)));
      const r = f64x2.splat(load<f64>(at8(rn, n * G)));
      const gL = f64x2.promote_low_f32x4(gv);
      const gH = f64x2.promote_low_f32x4(high(gv));
      AL = f64x2.add(AL, gL);
      AH = f64x2.add(AH, gH);
      BL = f64x2.add(BL, f64x2.mul(gL, f64x2.sub(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(xv), m), r), muL)));
      BH = f64x2.add(BH, f64x2.mul(gH, f64x2.sub(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(xv)), m), r), muH)));
    }
    const rL = v128.load(at8(posRstd, p));
    const rH = v128.load(at8(posRstd, p + 2));
    const a = f64x2.add(AL, AH);
    sDy += f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    const bu = f64x2.add(f64x2.add(BL, f64x2.mul(muL, AL)), f64x2.add(BH, f64x2.mul(muH, AH)));
    sDyU += f64x2.extract_lane(bu, 0) + f64x2.extract_lane(bu, 1);
    const bv = f64x2.add(f64x2.mul(rL, BL), f64x2.mul(rH, BH));
    sDyV += f64x2.extract_lane(bv, 0) + f64x2.extract_lane(bv, 1);
    if (!out) continue;
    const alL = f64x2.add(awv, f64x2.mul(rL, gbv));
    const alH = f64x2.add(awv, f64x2.mul(rH, gbv));
    const zL = f64x2.div(f64x2.mul(f64x2.mul(f64x2.neg(rL), gbv), AL), fN);
    const zH = f64x2.div(f64x2.mul(f64x2.mul(f64x2.neg(rH), gbv), AH), fN);
    const kL = f64x2.div(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.neg(rL), rL), rL), v128.load(at8(posK, p))), gbv), BL), fN);
    const kH = f64x2.div(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.neg(rH), rH), rH), v128.load(at8(posK, p + 2))), gbv), BH), fN);
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const gv = v128.load(at(dy, o));
      const xv = v128.load(at(x, o));
      const m = f64x2.splat(load<f64>(at8(mn, n * G)));
      const r = f64x2.splat(load<f64>(at8(rn, n * G)));
      const uL = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(xv), m), r);
      const uH = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(high(xv)), m), r);
      const dL = f64x2.add(f64x2.add(f64x2.mul(alL, f64x2.promote_low_f32x4(gv)), f64x2.mul(kL, f64x2.sub(uL, muL))), zL);
      const dH = f64x2.add(f64x2.add(f64x2.mul(alH, f64x2.promote_low_f32x4(high(gv))), f64x2.mul(kH, f64x2.sub(uH, muH))), zH);
      v128.store(at(out, o), narrow(dL, dH));
      const an = acc + ((<usize>n) << 5);
      v128.store(an, f64x2.add(v128.load(an), f64x2.add(dL, dH)));
      v128.store(an, f64x2.add(v128.load(an, 16), f64x2.add(f64x2.mul(dL, uL), f64x2.mul(dH, uH))), 16);
    }
  }
  // The last S mod 4 positions, one at a time: the same steps.
  for (; s < S; s++) {
    const p = p0 + s;
    const mu = load<f64>(at8(posMean, p));
    let A: f64 = 0;
    let B: f64 = 0;
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const gi = <f64>load<f32>(at(dy, o));
      A += gi;
      B += gi * ((<f64>load<f32>(at(x, o)) - load<f64>(at8(mn, n * G))) * load<f64>(at8(rn, n * G)) - mu);
    }
    const rp = load<f64>(at8(posRstd, p));
    sDy += A;
    sDyU += B + mu * A;
    sDyV += rp * B;
    if (!out) continue;
    const al = aw + rp * gb;
    const zz = (-rp * gb * A) / <f64>N;
    const kk = (-rp * rp * rp * load<f64>(at8(posK, p)) * gb * B) / <f64>N;
    for (let n = 0; n < N; n++) {
      const o = n * runStride + s;
      const u = (<f64>load<f32>(at(x, o)) - load<f64>(at8(mn, n * G))) * load<f64>(at8(rn, n * G));
      const d = al * <f64>load<f32>(at(dy, o)) + kk * (u - mu) + zz;
      store<f32>(at(out, o), <f32>d);
      const an = acc + ((<usize>n) << 5);
      store<f64>(an, load<f64>(an) + d);
      store<f64>(an, load<f64>(an, 16) + d * u, 16);
    }
  }
  store<f64>(outDy, sDy);
  store<f64>(outDyU, sDyU);
  store<f64>(outDyV, sDyV);
}

/**
 * GN+ backward for groups [g0, g1): channel by channel the batch stage and the blend
 * (`channelBackward`), with Σ dy, Σ dy·u, Σ dy·v per channel into sDy, sDyU, sDyV; then, with
 * `out` (0: the input gradient is not needed), per sample of the group GN's backward in place:
 * dx = r·du − r·mean(du) − r·k·mean(du·u)·u. `scratch`: 32·N bytes per group, indexed by g.
 */
export function gnPlusBackwardGroups(
  x: usize, dy: usize, out: usize, g0: i32, g1: i32, N: i32, runStride: i32, block: i32, cpg: i32, S: i32, G: i32,
  w: usize, blend: usize, gnMean: usize, gnRstd: usize, gnK: usize, posMean: usize, posRstd: usize, posK: usize,
  sDy: usize, sDyU: usize, sDyV: usize, scratch: usize,
): void {
  for (let g = g0; g < g1; g++) {
    const xg = at(x, (g - g0) * block);
    const gg = at(dy, (g - g0) * block);
    const og = out ? at(out, (g - g0) * block) : 0;
    const acc = scratch + (<usize>g) * (<usize>N << 5);
    const zero = f64x2.splat(0);
    for (let n = 0; n < 2 * N; n++) v128.store(acc + ((<usize>n) << 4), zero);
    for (let j = 0; j < cpg; j++) {
      const c = g * cpg + j;
      const gamma = param(w, c, 1);
      const aw = load<f64>(at8(blend, c)) * gamma;
      channelBackward(at(xg, j * S), at(gg, j * S), og ? at(og, j * S) : 0, N, runStride, S, c * S, at8(gnMean, g), at8(gnRstd, g), G,
        posMean, posRstd, posK, aw, gamma - aw, acc, at8(sDy, c), at8(sDyU, c), at8(sDyV, c));
    }
    if (!out) continue;
    for (let n = 0; n < N; n++) {
      const slot = n * G + g;
      const r = load<f64>(at8(gnRstd, slot));
      const an = acc + ((<usize>n) << 5);
      const sumDu = f64x2.extract_lane(v128.load(an), 0) + f64x2.extract_lane(v128.load(an), 1);
      const sumDuU = f64x2.extract_lane(v128.load(an, 16), 0) + f64x2.extract_lane(v128.load(an, 16), 1);
      const k0 = (-r * sumDu) / <f64>block;
      const k1 = (-r * r * load<f64>(at8(gnK, slot)) * sumDuU) / <f64>block;
      // In place: dx = r·du + k1·(x − m) + k0, du being what the sweep above stored in out.
      const o = n * runStride;
      gradAffine(at(og, o), at(og, o), at(xg, o), block, r, k1, load<f64>(at8(gnMean, slot)), k0, false);
    }
  }
}

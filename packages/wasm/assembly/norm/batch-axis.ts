// The batch-axis kernels (twins of packages/norm-layers/src/kernels/batch-axis.ts): an (N, P)
// input with a statistic per position p over the batch axis alone. Items are chunks of `block`
// positions (the last one may be shorter: positions stop at P); item i0 + i starts `i·block`
// floats after `x`, and sample n's part of it is the run `n·runStride` floats further. The
// per-position arrays (f64) are indexed by the absolute position. Sums run over n in order at
// each position, two positions per f64x2: the bits of the cpu kernels' loops.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

// @ts-ignore: decorator
@inline function at8(base: usize, i: i32): usize {
  return base + ((<usize>i) << 3);
}

// @ts-ignore: decorator
@inline function min32(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** Two floats at `p` widened to an f64x2. */
// @ts-ignore: decorator
@inline function load2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** An f64x2 rounded to two floats at `p`. */
// @ts-ignore: decorator
@inline function store2(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
}

/** Two-pass mean and variance (`Σ (x − mean)² / (N − correction)`, NaN when that is ≤ 0) per position. */
export function batchAxisMomentsItems(
  x: usize, i0: i32, i1: i32, N: i32, runStride: i32, block: i32, P: i32, correction: i32, mean: usize, variance: usize,
): void {
  const denom = N - correction;
  const fN = f64x2.splat(<f64>N);
  for (let i = i0; i < i1; i++) {
    const p0 = i * block;
    const p1 = min32(P, p0 + block);
    const xi = at(x, (i - i0) * block);
    let p = p0;
    for (; p + 2 <= p1; p += 2) {
      let s = f64x2.splat(0);
      for (let n = 0; n < N; n++) s = f64x2.add(s, load2(at(xi, n * runStride + p - p0)));
      const m = f64x2.div(s, fN);
      let v = f64x2.splat(0);
      for (let n = 0; n < N; n++) {
        const d = f64x2.sub(load2(at(xi, n * runStride + p - p0)), m);
        v = f64x2.add(v, f64x2.mul(d, d));
      }
      v128.store(at8(mean, p), m);
      v128.store(at8(variance, p), denom > 0 ? f64x2.div(v, f64x2.splat(<f64>denom)) : f64x2.splat(NaN));
    }
    for (; p < p1; p++) {
      let s: f64 = 0;
      for (let n = 0; n < N; n++) s += <f64>load<f32>(at(xi, n * runStride + p - p0));
      const m = s / <f64>N;
      let v: f64 = 0;
      for (let n = 0; n < N; n++) {
        const d = <f64>load<f32>(at(xi, n * runStride + p - p0)) - m;
        v += d * d;
      }
      store<f64>(at8(mean, p), m);
      store<f64>(at8(variance, p), denom > 0 ? v / <f64>denom : NaN);
    }
  }
}

/** v = (x − mean[p])·rstd[p]. */
export function batchAxisApplyItems(
  x: usize, y: usize, i0: i32, i1: i32, N: i32, runStride: i32, block: i32, P: i32, mean: usize, rstd: usize,
): void {
  for (let i = i0; i < i1; i++) {
    const p0 = i * block;
    const p1 = min32(P, p0 + block);
    const o = (i - i0) * block;
    for (let n = 0; n < N; n++) {
      const xr = at(x, o + n * runStride);
      const yr = at(y, o + n * runStride);
      let p = p0;
      for (; p + 2 <= p1; p += 2) {
        store2(at(yr, p - p0), f64x2.mul(f64x2.sub(load2(at(xr, p - p0)), v128.load(at8(mean, p))), v128.load(at8(rstd, p))));
      }
      for (; p < p1; p++) store<f32>(at(yr, p - p0), <f32>((<f64>load<f32>(at(xr, p - p0)) - load<f64>(at8(mean, p))) * load<f64>(at8(rstd, p))));
    }
  }
}

/**
 * Analytic backward of `batchAxisApply` with statistics over the batch axis:
 * dx = r·g + c1_p·(x − μ_p) + c0_p, c0_p = −r·Σ g / N, c1_p = −r³·k·Σ g·(x − μ) / N (added into
 * `out` when `accumulate`). `c0`, `c1`: P float64 of scratch each.
 */
export function batchAxisBackwardItems(
  x: usize, dy: usize, out: usize, i0: i32, i1: i32, N: i32, runStride: i32, block: i32, P: i32,
  mean: usize, rstd: usize, k: usize, accumulate: bool, c0: usize, c1: usize,
): void {
  const fN = f64x2.splat(<f64>N);
  for (let i = i0; i < i1; i++) {
    const p0 = i * block;
    const p1 = min32(P, p0 + block);
    const o = (i - i0) * block;
    let p = p0;
    for (; p + 2 <= p1; p += 2) {
      const mu = v128.load(at8(mean, p));
      let a = f64x2.splat(0);
      let b = f64x2.splat(0);
      for (let n = 0; n < N; n++) {
        const q = o + n * runStride + p - p0;
        const g = load2(at(dy, q));
        a = f64x2.add(a, g);
        b = f64x2.add(b, f64x2.mul(g, f64x2.sub(load2(at(x, q)), mu)));
      }
      const r = v128.load(at8(rstd, p));
      const nr = f64x2.neg(r);
      v128.store(at8(c0, p), f64x2.div(f64x2.mul(nr, a), fN));
      v128.store(at8(c1, p), f64x2.div(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(nr, r), r), v128.load(at8(k, p))), b), fN));
    }
    for (; p < p1; p++) {
      const mu = load<f64>(at8(mean, p));
      let a: f64 = 0;
      let b: f64 = 0;
      for (let n = 0; n < N; n++) {
        const q = o + n * runStride + p - p0;
        const g = <f64>load<f32>(at(dy, q));
        a += g;
        b += g * (<f64>load<f32>(at(x, q)) - mu);
      }
      const r = load<f64>(at8(rstd, p));
      store<f64>(at8(c0, p), (-r * a) / <f64>N);
      store<f64>(at8(c1, p), (-r * r * r * load<f64>(at8(k, p)) * b) / <f64>N);
    }
    for (let n = 0; n < N; n++) {
      const base = o + n * runStride;
      let q = p0;
      for (; q + 2 <= p1; q += 2) {
        const e = base + q - p0;
        const t = f64x2.add(
          f64x2.add(f64x2.mul(v128.load(at8(rstd, q)), load2(at(dy, e))), f64x2.mul(v128.load(at8(c1, q)), f64x2.sub(load2(at(x, e)), v128.load(at8(mean, q))))),
          v128.load(at8(c0, q)),
        );
        store2(at(out, e), accumulate ? f64x2.add(load2(at(out, e)), t) : t);
      }
      for (; q < p1; q++) {
        const e = base + q - p0;
        const t = load<f64>(at8(rstd, q)) * <f64>load<f32>(at(dy, e)) + load<f64>(at8(c1, q)) * (<f64>load<f32>(at(x, e)) - load<f64>(at8(mean, q))) + load<f64>(at8(c0, q));
        store<f32>(at(out, e), <f32>(accumulate ? <f64>load<f32>(at(out, e)) + t : t));
      }
    }
  }
}

// Elementwise kernels whose cpu versions branch per element (a mispredicted branch costs more
// than the SIMD pass and the copies in and out of the arena together).

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + ((<usize>i) << 2);
}

/** out = max(x, 0) over n floats; NaN stays NaN (wasm's max propagates it), −0 becomes 0. */
export function relu(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(out, i), f32x4.max(v128.load(at(x, i)), zero));
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(out, i), v > 0 || v != v ? v : 0);
  }
}

/** out = dy where x > 0, else 0 (x NaN or ≤ 0, whatever dy holds): a mask, no branch. */
export function reluBackward(dy: usize, x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(out, i), v128.and(v128.load(at(dy, i)), f32x4.gt(v128.load(at(x, i)), zero)));
  for (; i < n; i++) store<f32>(at(out, i), load<f32>(at(x, i)) > 0 ? load<f32>(at(dy, i)) : 0);
}

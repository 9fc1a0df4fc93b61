/**
 * The blend of a GN stage and a batch stage on backend `wasm`: `blendAffine`,
 * `blendAffineBackward` (twins of packages/norm-layers/src/kernels/blend.ts, same contract).
 * Items are the (n, c) rows.
 */
import { Tensor, allocateUninitialized } from '@normlab/tensor';
import { mark, release } from '../../runtime.js';
import { type ItemLayout, allocF64, copyParam, input, output, runItems, viewF64 } from './items.js';

export interface BlendLayout {
  n: number;
  c: number;
  s: number;
}

function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

function rowItems(l: BlendLayout): ItemLayout {
  return { items: l.n * l.c, runs: 1, runStride: l.s, block: l.s };
}

export function blendAffineWasm(u: Tensor, v: Tensor, l: BlendLayout, blend: Float64Array, weight: Tensor | null, bias: Tensor | null): Tensor {
  const y = allocateUninitialized('float32', l.n * l.c * l.s) as Float32Array;
  const top = mark();
  try {
    const rest = [l.c, copyParam(weight && f32(weight)), copyParam(bias && f32(bias)), allocF64(l.c, blend)];
    runItems('blendAffineRows', rowItems(l), [input(f32(u)), input(f32(v)), output(y)], rest, 2 * l.s);
    return new Tensor(y, [l.n, l.c, l.s]);
  } finally {
    release(top);
  }
}

export function blendAffineBackwardWasm(
  dy: Tensor,
  u: Tensor,
  v: Tensor,
  l: BlendLayout,
  blend: Float64Array,
  weight: Tensor | null,
): { du: Tensor; dv: Tensor; dweight: Float64Array; dbias: Float64Array; dblend: Float64Array } {
  const { n: N, c: C, s: S } = l;
  const du = allocateUninitialized('float32', N * C * S) as Float32Array;
  const dv = allocateUninitialized('float32', N * C * S) as Float32Array;
  const w = weight ? f32(weight) : null;
  const top = mark();
  try {
    const sums = allocF64(3 * N * C);
    const rest = [C, copyParam(w), allocF64(C, blend), sums];
    runItems('blendAffineBackwardRows', rowItems(l), [input(f32(dy)), input(f32(u)), input(f32(v)), output(du), output(dv)], rest, 5 * S);
    // The rows' sums over n in order, per channel.
    const r = viewF64(sums, 3 * N * C);
    const dweight = new Float64Array(C);
    const dbias = new Float64Array(C);
    const dblend = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const q = 3 * (n * C + c);
        dbias[c]! += r[q]!;
        dweight[c]! += r[q + 1]!;
        dblend[c]! += (w ? w[c]! : 1) * r[q + 2]!;
      }
    }
    return { du: new Tensor(du, [N, C, S]), dv: new Tensor(dv, [N, C, S]), dweight, dbias, dblend };
  } finally {
    release(top);
  }
}

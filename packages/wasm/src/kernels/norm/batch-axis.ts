/**
 * The batch-axis kernels on backend `wasm`: `batchAxisMoments`, `batchAxisApply`,
 * `batchAxisBackward` (twins of packages/norm-layers/src/kernels/batch-axis.ts, same contract and
 * the same sums in the same order). Items are chunks of positions of the (N, P) input.
 */
import { Tensor, allocateUninitialized } from '@normlab/tensor';
import { mark, release } from '../../runtime.js';
import { type ItemLayout, allocF64, inout, input, output, readF64, runItems } from './items.js';

/** Positions per item: N rows of them stay in L2 between the two passes (the cpu kernels' CHUNK). */
const POSITIONS = 2048;

function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

function positionItems(n: number, p: number): ItemLayout {
  const block = Math.min(POSITIONS, p);
  return { items: Math.ceil(p / block), runs: n, runStride: p, block, extent: p };
}

export function batchAxisMomentsWasm(x: Tensor, n: number, p: number, correction: number): { mean: Float64Array; variance: Float64Array } {
  const top = mark();
  try {
    const mean = allocF64(p);
    const variance = allocF64(p);
    const items = positionItems(n, p);
    runItems('batchAxisMomentsItems', items, [input(f32(x))], [p, correction, mean, variance], 2 * n * items.block);
    return { mean: readF64(mean, p), variance: readF64(variance, p) };
  } finally {
    release(top);
  }
}

export function batchAxisApplyWasm(x: Tensor, n: number, p: number, mean: Float64Array, rstd: Float64Array): Tensor {
  const out = allocateUninitialized('float32', n * p) as Float32Array;
  const top = mark();
  try {
    const items = positionItems(n, p);
    runItems('batchAxisApplyItems', items, [input(f32(x)), output(out)], [p, allocF64(p, mean), allocF64(p, rstd)], n * items.block);
    return new Tensor(out, [n, p]);
  } finally {
    release(top);
  }
}

export function batchAxisBackwardWasm(
  x: Tensor,
  dy: Tensor,
  n: number,
  p: number,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array,
  accumulateInto: Tensor | null,
): Tensor {
  const out = accumulateInto ? (accumulateInto.data as Float32Array) : (allocateUninitialized('float32', n * p) as Float32Array);
  const top = mark();
  try {
    const items = positionItems(n, p);
    const rest = [p, allocF64(p, mean), allocF64(p, rstd), allocF64(p, k), accumulateInto ? 1 : 0, allocF64(p), allocF64(p)];
    runItems('batchAxisBackwardItems', items, [input(f32(x)), input(f32(dy)), accumulateInto ? inout(out) : output(out)], rest, 4 * n * items.block);
    return accumulateInto ?? new Tensor(out, [n, p]);
  } finally {
    release(top);
  }
}

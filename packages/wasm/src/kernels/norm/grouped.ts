/**
 * The grouped norm kernels on backend `wasm` (twins of the cpu kernels in
 * packages/norm-layers/src/kernels/grouped.ts, same contract): `normMoments`, `normForward`,
 * `normParamGrads`, `normBackward` (`normApply` stays on cpu: see ./index.ts). Items are the
 * statistic slots: a per-sample slot (GN, LN, IN) is one run of (C/G)·S floats, a pooled slot
 * (BN, BGN, running statistics) N runs of them, C·S apart.
 */
import { Tensor, type TypedArray, allocateUninitialized } from '@normlab/tensor';
import { mark, release, wasmMemory } from '../../runtime.js';
import { type ItemLayout, allocF64, copyParam, inout, input, output, readF64, runItems } from './items.js';

/** The grouped layout of `@normlab/norm-layers` (this package does not depend on it). */
export interface GroupedLayout {
  n: number;
  c: number;
  s: number;
  groups: number;
  perSample: boolean;
}

function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

function param(t: Tensor | null): Float32Array | null {
  return t ? f32(t) : null;
}

/** The items of a grouped layout: its slots. */
export function slotItems(l: GroupedLayout): ItemLayout {
  const block = (l.c / l.groups) * l.s;
  return l.perSample
    ? { items: l.n * l.groups, runs: 1, runStride: block, block }
    : { items: l.groups, runs: l.n, runStride: l.c * l.s, block };
}

/** The arguments every grouped item function takes after the layout: cpg, S, G. */
function shape(l: GroupedLayout): number[] {
  return [l.c / l.groups, l.s, l.groups];
}

export function normMomentsWasm(x: Tensor, l: GroupedLayout, correction: number): { mean: Float64Array; variance: Float64Array } {
  const items = slotItems(l);
  const top = mark();
  try {
    const mean = allocF64(items.items);
    const m2 = allocF64(items.items);
    runItems('normMomentsSlots', items, [input(f32(x))], [mean, m2], items.runs * items.block);
    const variance = readF64(m2, items.items);
    const denom = items.runs * items.block - correction;
    for (let i = 0; i < variance.length; i++) variance[i] = denom > 0 ? variance[i]! / denom : NaN;
    return { mean: readF64(mean, items.items), variance };
  } finally {
    release(top);
  }
}

export function normForwardWasm(
  x: Tensor,
  l: GroupedLayout,
  eps: number,
  weight: Tensor | null,
  bias: Tensor | null,
): { y: Tensor; mean: Float64Array; variance: Float64Array; rstd: Float64Array } {
  const items = slotItems(l);
  const y = allocateUninitialized('float32', l.n * l.c * l.s) as Float32Array;
  const top = mark();
  try {
    const mean = allocF64(items.items);
    const variance = allocF64(items.items);
    const rstd = allocF64(items.items);
    const rest = [...shape(l), copyParam(param(weight)), copyParam(param(bias)), eps, mean, variance, rstd];
    runItems('normForwardSlots', items, [input(f32(x)), output(y)], rest, 2 * items.runs * items.block);
    return {
      y: new Tensor(y, [l.n, l.c, l.s]),
      mean: readF64(mean, items.items),
      variance: readF64(variance, items.items),
      rstd: readF64(rstd, items.items),
    };
  } finally {
    release(top);
  }
}

/** Per-channel sums of the per-row partials, over n in order (whichever thread made them). */
function channelSums(rows: number, n: number, c: number): Float64Array {
  const r = new Float64Array(wasmMemory().buffer, rows, n * c);
  const out = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) out[j]! += r[i * c + j]!;
  }
  return out;
}

export function normParamGradsWasm(
  x: Tensor,
  dy: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
): { dweight: Float64Array; dbias: Float64Array } {
  const items = slotItems(l);
  const top = mark();
  try {
    const rowDy = allocF64(l.n * l.c);
    const rowDyX = allocF64(l.n * l.c);
    const rest = [...shape(l), l.c, l.perSample ? 1 : 0, allocF64(mean.length, mean), allocF64(rstd.length, rstd), rowDy, rowDyX];
    runItems('normParamGradsSlots', items, [input(f32(x)), input(f32(dy))], rest, 2 * items.runs * items.block);
    return { dweight: channelSums(rowDyX, l.n, l.c), dbias: channelSums(rowDy, l.n, l.c) };
  } finally {
    release(top);
  }
}

export function normBackwardWasm(
  x: Tensor,
  dy: Tensor,
  l: GroupedLayout,
  mean: Float64Array,
  rstd: Float64Array,
  k: Float64Array | null,
  weight: Tensor | null,
  statsConstant: boolean,
  accumulateInto: Tensor | null,
): { dx: Tensor; dweight: Float64Array; dbias: Float64Array } {
  const items = slotItems(l);
  const size = l.n * l.c * l.s;
  const dx = accumulateInto ? (accumulateInto.data as TypedArray as Float32Array) : (allocateUninitialized('float32', size) as Float32Array);
  const top = mark();
  try {
    const rowDy = allocF64(l.n * l.c);
    const rowDyX = allocF64(l.n * l.c);
    const rest = [
      ...shape(l),
      l.c,
      l.perSample ? 1 : 0,
      copyParam(param(weight)),
      allocF64(mean.length, mean),
      allocF64(rstd.length, rstd),
      k ? allocF64(k.length, k) : 0,
      statsConstant ? 1 : 0,
      accumulateInto ? 1 : 0,
      rowDy,
      rowDyX,
    ];
    const out = accumulateInto ? inout(dx) : output(dx);
    runItems('normBackwardSlots', items, [input(f32(x)), input(f32(dy)), out], rest, 4 * items.runs * items.block);
    return {
      dx: accumulateInto ?? new Tensor(dx, [l.n, l.c, l.s]),
      dweight: channelSums(rowDyX, l.n, l.c),
      dbias: channelSums(rowDy, l.n, l.c),
    };
  } finally {
    release(top);
  }
}

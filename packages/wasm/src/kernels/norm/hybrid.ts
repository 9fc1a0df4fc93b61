/**
 * HybridNorm on backend `wasm`: `hybridNormForward`, `hybridNormBackward` (twins of
 * packages/norm-layers/src/kernels/hybrid.ts, same contract). Each is two passes over the
 * per-sample slots (n, g) with an O(N·C) step between them.
 */
import { Tensor, allocateUninitialized } from '@normlab/tensor';
import { mark, release } from '../../runtime.js';
import type { TwoStageLayout } from './gnplus.js';
import { type ItemLayout, allocF64, copyParam, input, normHelpers, output, readF64, runItems } from './items.js';

/** What `hybridNormForward` keeps for the backward. */
export interface HybridNormSaved {
  gnMean: Float64Array;
  gnRstd: Float64Array;
  rowMean: Float64Array;
  rowM2: Float64Array;
  bnMean: Float64Array;
  bnRstd: Float64Array;
  bnConstant: boolean;
}

function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

function slotItems(l: TwoStageLayout): ItemLayout {
  const block = (l.c / l.groups) * l.s;
  return { items: l.n * l.groups, runs: 1, runStride: block, block };
}

export function hybridNormForwardWasm(
  x: Tensor,
  l: TwoStageLayout,
  eps: number,
  bnStats: { mean: Float64Array; rstd: Float64Array } | null,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): { y: Tensor; saved: HybridNormSaved; bnMoments: { mean: Float64Array; variance: Float64Array } | null } {
  const { n: N, c: C, s: S, groups: G } = l;
  const items = slotItems(l);
  const xd = f32(x);
  const y = allocateUninitialized('float32', N * C * S) as Float32Array;
  const top = mark();
  try {
    const rowMean = allocF64(N * C);
    const rowM2 = allocF64(N * C);
    const gnMean = allocF64(N * G);
    const gnRstd = allocF64(N * G);
    runItems('hybridRowStatsSlots', items, [input(xd)], [C / G, S, G, C, eps, rowMean, rowM2, gnMean, gnRstd], items.block);
    const bnMean = allocF64(C, bnStats?.mean);
    const bnRstd = allocF64(C, bnStats?.rstd);
    const bnVar = allocF64(C);
    if (!bnStats) normHelpers().hybridBatchStats(N, C, S, G, eps, rowMean, rowM2, gnMean, gnRstd, bnMean, bnVar, bnRstd);
    const rest = [C / G, S, G, copyParam(weight && f32(weight)), copyParam(bias && f32(bias)), allocF64(C, blend), gnMean, gnRstd, bnMean, bnRstd];
    runItems('hybridApplySlots', items, [input(xd), output(y)], rest, items.block);
    const savedBnMean = bnStats ? bnStats.mean : readF64(bnMean, C);
    return {
      y: new Tensor(y, [N, C, S]),
      saved: {
        gnMean: readF64(gnMean, N * G),
        gnRstd: readF64(gnRstd, N * G),
        rowMean: readF64(rowMean, N * C),
        rowM2: readF64(rowM2, N * C),
        bnMean: savedBnMean,
        bnRstd: bnStats ? bnStats.rstd : readF64(bnRstd, C),
        bnConstant: bnStats !== null,
      },
      bnMoments: bnStats ? null : { mean: savedBnMean, variance: readF64(bnVar, C) },
    };
  } finally {
    release(top);
  }
}

export function hybridNormBackwardWasm(
  x: Tensor,
  dy: Tensor,
  l: TwoStageLayout,
  saved: HybridNormSaved,
  blend: Float64Array,
  weight: Tensor | null,
  needInputGrad: boolean,
): { dx: Tensor | null; dweight: Float64Array; dbias: Float64Array; dblend: Float64Array } {
  const { n: N, c: C, s: S, groups: G } = l;
  const items = slotItems(l);
  const xd = f32(x);
  const gd = f32(dy);
  const top = mark();
  try {
    const gnMean = allocF64(N * G, saved.gnMean);
    const gnRstd = allocF64(N * G, saved.gnRstd);
    const s1 = allocF64(N * C);
    const s2 = allocF64(N * C);
    runItems('hybridRowSumsSlots', items, [input(xd), input(gd)], [C / G, S, G, C, gnMean, s1, s2], 2 * items.block);
    const sums = allocF64(3 * C);
    const terms = allocF64(3 * C);
    normHelpers().hybridChannelTerms(N, C, S, G, copyParam(weight && f32(weight)), allocF64(C, blend), gnRstd, allocF64(C, saved.bnMean), allocF64(C, saved.bnRstd),
      saved.bnConstant ? 1 : 0, s1, s2, sums, sums + 8 * C, sums + 16 * C, terms, terms + 8 * C, terms + 16 * C);
    const [dweight, dbias, dblend] = [0, 1, 2].map((i) => readF64(sums + 8 * C * i, C)) as [Float64Array, Float64Array, Float64Array];
    if (!needInputGrad) return { dx: null, dweight, dbias, dblend };
    const dx = allocateUninitialized('float32', N * C * S) as Float32Array;
    const rest = [C / G, S, G, C, gnMean, gnRstd, allocF64(N * C, saved.rowMean), allocF64(N * C, saved.rowM2), s1, s2, terms, terms + 8 * C, terms + 16 * C];
    runItems('hybridBackwardSlots', items, [input(xd), input(gd), output(dx)], rest, 3 * items.block);
    return { dx: new Tensor(dx, [N, C, S]), dweight, dbias, dblend };
  } finally {
    release(top);
  }
}

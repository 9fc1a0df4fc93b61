/**
 * GN+ (order gn-first) on backend `wasm`: `gnPlusForward`, `gnPlusBackward` (twins of
 * packages/norm-layers/src/kernels/gnplus.ts, same contract). Items are the channel groups over
 * the whole batch (N runs of (C/G)·S floats, C·S apart).
 */
import { Tensor, allocateUninitialized } from '@normlab/tensor';
import { mark, release } from '../../runtime.js';
import { type ItemLayout, allocF64, copyParam, input, output, readF64, runItems, zerosF64 } from './items.js';

/** (N, C, S) input with G channel groups per sample (the GN stage of GN+ and HybridNorm). */
export interface TwoStageLayout {
  n: number;
  c: number;
  s: number;
  groups: number;
}

/** What `gnPlusForward` keeps for the backward. */
export interface GNPlusSaved {
  gnMean: Float64Array;
  gnRstd: Float64Array;
  gnK: Float64Array;
  posMean: Float64Array;
  posRstd: Float64Array;
  posK: Float64Array;
}

function f32(t: Tensor): Float32Array {
  return t.contiguous().data as Float32Array;
}

function groupItems(l: TwoStageLayout): ItemLayout {
  return { items: l.groups, runs: l.n, runStride: l.c * l.s, block: (l.c / l.groups) * l.s };
}

export function gnPlusForwardWasm(
  x: Tensor,
  l: TwoStageLayout,
  eps: number,
  blend: Float64Array,
  weight: Tensor | null,
  bias: Tensor | null,
): { y: Tensor; saved: GNPlusSaved } {
  const { n: N, c: C, s: S, groups: G } = l;
  const P = C * S;
  const items = groupItems(l);
  const y = allocateUninitialized('float32', N * P) as Float32Array;
  const top = mark();
  try {
    const gnMean = allocF64(N * G);
    const gnRstd = allocF64(N * G);
    const gnK = allocF64(N * G);
    const posMean = allocF64(P);
    const posRstd = allocF64(P);
    const posK = allocF64(P);
    const rest = [C / G, S, G, eps, copyParam(weight && f32(weight)), copyParam(bias && f32(bias)), allocF64(C, blend), gnMean, gnRstd, gnK, posMean, posRstd, posK];
    runItems('gnPlusForwardGroups', items, [input(f32(x)), output(y)], rest, 5 * N * items.block);
    return {
      y: new Tensor(y, [N, C, S]),
      saved: {
        gnMean: readF64(gnMean, N * G),
        gnRstd: readF64(gnRstd, N * G),
        gnK: readF64(gnK, N * G),
        posMean: readF64(posMean, P),
        posRstd: readF64(posRstd, P),
        posK: readF64(posK, P),
      },
    };
  } finally {
    release(top);
  }
}

export function gnPlusBackwardWasm(
  x: Tensor,
  dy: Tensor,
  l: TwoStageLayout,
  saved: GNPlusSaved,
  blend: Float64Array,
  weight: Tensor | null,
  needInputGrad: boolean,
): { dx: Tensor | null; dweight: Float64Array; dbias: Float64Array; dblend: Float64Array } {
  const { n: N, c: C, s: S, groups: G } = l;
  const items = groupItems(l);
  const dx = needInputGrad ? (allocateUninitialized('float32', N * C * S) as Float32Array) : null;
  const w = weight ? f32(weight) : null;
  const top = mark();
  try {
    const sDy = allocF64(C);
    const sDyU = allocF64(C);
    const sDyV = allocF64(C);
    const rest = [
      C / G,
      S,
      G,
      copyParam(w),
      allocF64(C, blend),
      allocF64(N * G, saved.gnMean),
      allocF64(N * G, saved.gnRstd),
      allocF64(N * G, saved.gnK),
      allocF64(C * S, saved.posMean),
      allocF64(C * S, saved.posRstd),
      allocF64(C * S, saved.posK),
      sDy,
      sDyU,
      sDyV,
      zerosF64(4 * N * G),
    ];
    runItems('gnPlusBackwardGroups', items, [input(f32(x)), input(f32(dy)), output(dx)], rest, 6 * N * items.block);
    const dbias = readF64(sDy, C);
    const dyU = readF64(sDyU, C);
    const dyV = readF64(sDyV, C);
    const dweight = new Float64Array(C);
    const dblend = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const wc = blend[c]!;
      dweight[c] = wc * dyU[c]! + (1 - wc) * dyV[c]!;
      dblend[c] = (w ? w[c]! : 1) * (dyU[c]! - dyV[c]!);
    }
    return { dx: dx ? new Tensor(dx, [N, C, S]) : null, dweight, dbias, dblend };
  } finally {
    release(top);
  }
}

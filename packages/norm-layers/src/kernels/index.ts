/**
 * The fused kernels every normalization layer is built from, registered for backend `cpu` in the
 * tensor kernel registry so that another backend (`@normlab/gpu`, `@normlab/wasm`) can supply its
 * own. This file holds their signatures and registrations; each family's code is its own module
 * beside it (`grouped.ts`, `batch-axis.ts`, `blend.ts`, `gnplus.ts`, `hybrid.ts`, with the shared
 * statistics and row loops in `rows.ts`).
 *
 * Two families cover every layer:
 *
 * - **grouped** kernels see the input as (N, C, S) with S = H·W and a statistic per "slot". The
 *   slot of element (n, c, s) is `(perSample ? n·G : 0) + floor(c / (C/G))`. That one rule gives
 *   GN (G groups, per sample), LN (G = 1), IN (G = C, per sample), BN (G = C, pooled over the
 *   batch), BGN (G groups, pooled), and eval with running statistics (G = C or G, pooled).
 * - **batch-axis** kernels see the input as (N, P) with P = C·H·W and a statistic per position p,
 *   taken over the batch axis alone: the batch stage of the paper's GN+.
 *
 * On top of these basic kernels, fused ones (`normForward`, `normParamGrads`, `hybridNormForward`
 * / `hybridNormBackward`, `gnPlusForward` / `gnPlusBackward`) run a whole layer's forward or
 * backward with one output array and no intermediate (N, C, H, W) tensor; the layers use them on
 * `cpu`, and on another backend only when it registers them too (else the basic kernels).
 * Their outputs, which they write whole, start uninitialized (`allocateUninitialized`).
 *
 * Statistics accumulate in float64 (a JS number) over values shifted by one value of their slot
 * (`shiftedMoments`: one read of the data, two-pass accuracy), and `x − mean` is formed in
 * float64 before anything is stored; an unshifted one-pass `E[x²] − E[x]²` would lose every digit
 * for inputs with a large mean and a small spread.
 *
 * Backward kernels implement the analytic input gradient of `u = (x − μ)·r`:
 *   `dx = r·(g − mean(g) − k·mean(g·u)·u)`,  g = dy·γ,
 * where the means run over the slot's elements and `k` is 1 for `r = 1/sqrt(var + eps)`
 * (PyTorch's form, biased variance) and `k = M(s + eps)/((M − 1)s)` for the authors' GN+ form
 * `r = 1/(s + eps)` with the unbiased std `s` over M elements. With constant statistics (eval
 * with running statistics) both mean terms vanish: `dx = r·g`.
 */
import { type Tensor, registerKernel } from '@normlab/tensor';
import { batchAxisApplyCpu, batchAxisBackwardCpu, batchAxisMomentsCpu } from './batch-axis.js';
import {
  type BlendBackwardResult,
  type BlendLayout,
  type TwoStageBackwardResult,
  type TwoStageLayout,
  blendAffineBackwardCpu,
  blendAffineCpu,
} from './blend.js';
import { type GNPlusForwardResult, type GNPlusSaved, gnPlusBackwardCpu, gnPlusForwardCpu } from './gnplus.js';
import {
  type GroupedBackwardResult,
  type GroupedLayout,
  type Moments,
  type NormForwardResult,
  type ParamGradsResult,
  normApplyCpu,
  normBackwardCpu,
  normForwardCpu,
  normMomentsCpu,
  normParamGradsCpu,
} from './grouped.js';
import { type HybridNormForwardResult, type HybridNormSaved, hybridNormBackwardCpu, hybridNormForwardCpu } from './hybrid.js';

export type { BlendBackwardResult, BlendLayout, TwoStageBackwardResult, TwoStageLayout } from './blend.js';
export type { GNPlusForwardResult, GNPlusSaved } from './gnplus.js';
export type { GroupedBackwardResult, GroupedLayout, Moments, NormForwardResult, ParamGradsResult } from './grouped.js';
export type { HybridNormForwardResult, HybridNormSaved } from './hybrid.js';

declare module '@normlab/tensor' {
  interface KernelSignatures {
    /** Mean and variance (`correction` 0 = biased, 1 = unbiased) per slot, float64, shifted one-pass (see `shiftedMoments`). */
    normMoments: (x: Tensor, layout: GroupedLayout, correction: number) => Moments;
    /** `y = (x − mean[slot])·rstd[slot]·γ_c + β_c` (γ, β optional: 1 and 0). */
    normApply: (
      x: Tensor,
      layout: GroupedLayout,
      mean: Float64Array,
      rstd: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => Tensor;
    /**
     * Analytic backward of `normApply` (see the file comment). `k` null means 1 everywhere.
     * `statsConstant`: the statistics did not depend on x (running statistics in eval).
     * `accumulateInto`: add dx into this contiguous tensor instead of allocating one.
     */
    normBackward: (
      x: Tensor,
      dy: Tensor,
      layout: GroupedLayout,
      mean: Float64Array,
      rstd: Float64Array,
      k: Float64Array | null,
      weight: Tensor | null,
      statsConstant: boolean,
      accumulateInto: Tensor | null,
    ) => GroupedBackwardResult;
    /** Two-pass mean and variance over the batch axis at each of the P positions of (N, P). */
    batchAxisMoments: (x: Tensor, n: number, p: number, correction: number) => Moments;
    /** `v = (x − mean[p])·rstd[p]` on (N, P). */
    batchAxisApply: (x: Tensor, n: number, p: number, mean: Float64Array, rstd: Float64Array) => Tensor;
    /** Analytic backward of `batchAxisApply` with statistics over the batch axis (`k` as above). */
    batchAxisBackward: (
      x: Tensor,
      dy: Tensor,
      n: number,
      p: number,
      mean: Float64Array,
      rstd: Float64Array,
      k: Float64Array,
      accumulateInto: Tensor | null,
    ) => Tensor;
    /** `y = γ_c·(w_c·u + (1 − w_c)·v) + β_c` on (N, C, S). */
    blendAffine: (
      u: Tensor,
      v: Tensor,
      layout: BlendLayout,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => Tensor;
    /**
     * Fused forward of a grouped norm in PyTorch's form: per slot, shifted one-read statistics (biased
     * variance) and `y = (x − mean)·rstd·γ + β`, one slot at a time while it is in cache.
     * Same result as `normMoments` + `normApply`.
     */
    normForward: (x: Tensor, layout: GroupedLayout, eps: number, weight: Tensor | null, bias: Tensor | null) => NormForwardResult;
    /** The weight and bias gradients of `normApply` alone (when the input needs no gradient). */
    normParamGrads: (x: Tensor, dy: Tensor, layout: GroupedLayout, mean: Float64Array, rstd: Float64Array) => ParamGradsResult;
    /**
     * HybridNorm forward in one output pass: GN (PyTorch form) u, per-channel BN stage v of u
     * (batch statistics when `bnStats` is null, else the given ones), `y = γ(w·u + (1 − w)·v) + β`.
     */
    hybridNormForward: (
      x: Tensor,
      layout: TwoStageLayout,
      eps: number,
      bnStats: { mean: Float64Array; rstd: Float64Array } | null,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => HybridNormForwardResult;
    /** Backward of `hybridNormForward`: one reduction pass and one dx pass. */
    hybridNormBackward: (
      x: Tensor,
      dy: Tensor,
      layout: TwoStageLayout,
      saved: HybridNormSaved,
      blend: Float64Array,
      weight: Tensor | null,
      needInputGrad: boolean,
    ) => TwoStageBackwardResult;
    /** GN+ forward, order gn-first, without materializing the GN or batch stage outputs. */
    gnPlusForward: (
      x: Tensor,
      layout: TwoStageLayout,
      eps: number,
      blend: Float64Array,
      weight: Tensor | null,
      bias: Tensor | null,
    ) => GNPlusForwardResult;
    /** Backward of `gnPlusForward`. */
    gnPlusBackward: (
      x: Tensor,
      dy: Tensor,
      layout: TwoStageLayout,
      saved: GNPlusSaved,
      blend: Float64Array,
      weight: Tensor | null,
      needInputGrad: boolean,
    ) => TwoStageBackwardResult;
    /** Backward of `blendAffine`. */
    blendAffineBackward: (
      dy: Tensor,
      u: Tensor,
      v: Tensor,
      layout: BlendLayout,
      blend: Float64Array,
      weight: Tensor | null,
    ) => BlendBackwardResult;
  }
}

registerKernel('normMoments', 'cpu', normMomentsCpu);
registerKernel('normApply', 'cpu', normApplyCpu);
registerKernel('normBackward', 'cpu', normBackwardCpu);
registerKernel('batchAxisMoments', 'cpu', batchAxisMomentsCpu);
registerKernel('batchAxisApply', 'cpu', batchAxisApplyCpu);
registerKernel('batchAxisBackward', 'cpu', batchAxisBackwardCpu);
registerKernel('blendAffine', 'cpu', blendAffineCpu);
registerKernel('blendAffineBackward', 'cpu', blendAffineBackwardCpu);
registerKernel('normForward', 'cpu', normForwardCpu);
registerKernel('normParamGrads', 'cpu', normParamGradsCpu);
registerKernel('hybridNormForward', 'cpu', hybridNormForwardCpu);
registerKernel('hybridNormBackward', 'cpu', hybridNormBackwardCpu);
registerKernel('gnPlusForward', 'cpu', gnPlusForwardCpu);
registerKernel('gnPlusBackward', 'cpu', gnPlusBackwardCpu);

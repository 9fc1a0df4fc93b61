/**
 * The differentiable normalization ops. Each is one node in the autograd graph
 * (`Variable.fromOp`) whose backward is the analytic formula, run by the fused kernels of
 * `kernels/` — not a chain of primitive ops. The layers in `layers.ts` validate their input,
 * pick the statistics (batch or running) and call these.
 */
import { Variable } from '@normlab/autograd';
import { type KernelName, type Shape, Tensor, type TypedArray, getBackend, hasKernel, runKernel } from '@normlab/tensor';
import type { GroupedLayout, Moments, TwoStageLayout } from './kernels/index.js';
import './kernels/index.js';

/** Per-slot statistics that `groupedNorm` normalizes with. */
export interface SlotStats {
  /** Which slot each element belongs to. */
  layout: GroupedLayout;
  /** Mean per slot. */
  mean: Float64Array;
  /** The multiplier r of `x̂ = (x − μ)·r`. */
  rstd: Float64Array;
  /** The backward's correction factor (see `kernels/index.ts`); null means 1 (PyTorch's form). */
  k: Float64Array | null;
  /** True when the statistics do not depend on x (running statistics in eval). */
  constant: boolean;
}

/** How a GN-first/BN-first/parallel blend computes its GN weight w from ρ. */
export type BlendParameterization = 'sigmoid' | 'raw';

/** The blend weight of the GN branch: a learned ρ (per layer or per channel) or a fixed number. */
export interface BlendSpec {
  /** The learned ρ (1 or C values), or null for a fixed blend. */
  rho: Variable | null;
  /** GN weight when `rho` is null. */
  fixed: number;
  /** w = σ(ρ) (default) or w = ρ (the authors' published code). */
  parameterization: BlendParameterization;
}

/** Biased or unbiased variance → rstd and k for PyTorch's form `1/sqrt(var + eps)`. */
export function rsqrtStats(variance: Float64Array, eps: number): Float64Array {
  const r = new Float64Array(variance.length);
  for (let i = 0; i < r.length; i++) r[i] = 1 / Math.sqrt(variance[i]! + eps);
  return r;
}

/**
 * The authors' GN+ form `1/(s + eps)` with `s` the unbiased std over `count` elements, and the
 * backward factor `k = M(s + eps)/((M − 1)s)` (0 where s = 0: there every x̂ is 0 and the term
 * it multiplies vanishes, while k itself would be infinite).
 */
export function stdEpsStats(
  unbiasedVar: Float64Array,
  eps: number,
  count: number,
): {
  /** Per slot, 1/(s + eps). */
  rstd: Float64Array;
  /** Per slot, the backward factor M(s + eps)/((M − 1)s), 0 where s = 0. */
  k: Float64Array;
} {
  const rstd = new Float64Array(unbiasedVar.length);
  const k = new Float64Array(unbiasedVar.length);
  for (let i = 0; i < rstd.length; i++) {
    const s = Math.sqrt(unbiasedVar[i]!);
    rstd[i] = 1 / (s + eps);
    k[i] = s > 0 ? (count * (s + eps)) / ((count - 1) * s) : 0;
  }
  return { rstd, k };
}

/** (N, C, S) of an (N, C, ...) shape. */
export function ncs(shape: Shape): { n: number; c: number; s: number } {
  let s = 1;
  for (let i = 2; i < shape.length; i++) s *= shape[i]!;
  return { n: shape[0]!, c: shape[1]!, s };
}

function withShape(t: Tensor, shape: Shape): Tensor {
  return new Tensor(t.data, shape);
}

/** A parameter gradient (float64 sums) as a tensor of the parameter's dtype and shape. */
function paramGrad(sums: Float64Array, like: Tensor): Tensor {
  const data: TypedArray = like.dtype === 'float64' ? sums : Float32Array.from(sums);
  return new Tensor(data, like.shape);
}

/** The basic kernels the fused paths stand in for. */
const BASIC_KERNELS: readonly KernelName[] = [
  'normMoments', 'normApply', 'normBackward', 'batchAxisMoments', 'batchAxisApply', 'batchAxisBackward', 'blendAffine', 'blendAffineBackward',
];

/**
 * Whether to take a fused kernel path: always on `cpu`; on another backend when it supplies every
 * kernel of the path itself, or none of the basic kernels (`normMoments`, `normApply`, ...):
 * those would run on cpu too, so the fused cpu kernels lose nothing (a backend with no norm
 * kernels, such as `wasm` before its own, would otherwise run the slower composed path). A
 * backend's own versions of the basic kernels are never bypassed by a cpu-only fused kernel.
 */
function canFuse(...names: KernelName[]): boolean {
  return getBackend() === 'cpu' || names.every((n) => hasKernel(n)) || !BASIC_KERNELS.some((n) => hasKernel(n));
}

/** The autograd node of `y = (x − μ)·r·γ + β` with the given statistics (forward already run). */
function groupedNormNode(
  op: string,
  x: Variable,
  xt: Tensor,
  y: Tensor,
  stats: SlotStats,
  weight: Variable | null,
  bias: Variable | null,
): Variable {
  const parents: Variable[] = [x];
  if (weight) parents.push(weight);
  if (bias) parents.push(bias);
  return Variable.fromOp(op, withShape(y, x.shape), parents, (gy) => {
    const gyc = gy.contiguous();
    if (!x.requiresGrad && canFuse('normParamGrads')) {
      // The input needs no gradient (e.g. a normalized network input): parameter sums only.
      const p = runKernel('normParamGrads', xt, gyc, stats.layout, stats.mean, stats.rstd);
      const grads: Array<Tensor | null> = [null];
      if (weight) grads.push(paramGrad(p.dweight, weight.data));
      if (bias) grads.push(paramGrad(p.dbias, bias.data));
      return grads;
    }
    const r = runKernel(
      'normBackward',
      xt,
      gyc,
      stats.layout,
      stats.mean,
      stats.rstd,
      stats.k,
      weight?.data ?? null,
      stats.constant,
      null,
    );
    const grads: Array<Tensor | null> = [x.requiresGrad ? withShape(r.dx, x.shape) : null];
    if (weight) grads.push(paramGrad(r.dweight, weight.data));
    if (bias) grads.push(paramGrad(r.dbias, bias.data));
    return grads;
  });
}

/**
 * `y = (x − μ)·r·γ + β` with per-slot statistics: BN, GN, LN, IN, BGN, in training (batch
 * statistics, which the backward differentiates through) or eval (running statistics).
 */
export function groupedNorm(
  op: string,
  x: Variable,
  stats: SlotStats,
  weight: Variable | null,
  bias: Variable | null,
): Variable {
  const xt = x.data.contiguous();
  const y = runKernel('normApply', xt, stats.layout, stats.mean, stats.rstd, weight?.data ?? null, bias?.data ?? null);
  return groupedNormNode(op, x, xt, y, stats, weight, bias);
}

/**
 * A grouped norm with the batch's own statistics in PyTorch's form (biased variance, eps inside
 * the square root): statistics and normalization in one fused kernel where the backend allows.
 * Returns the output and the batch moments (mean, biased variance) for running-statistics updates.
 */
export function groupedNormBatch(
  op: string,
  x: Variable,
  layout: GroupedLayout,
  eps: number,
  weight: Variable | null,
  bias: Variable | null,
): { y: Variable; moments: Moments } {
  const xt = x.data.contiguous();
  if (canFuse('normForward')) {
    const f = runKernel('normForward', xt, layout, eps, weight?.data ?? null, bias?.data ?? null);
    const stats: SlotStats = { layout, mean: f.mean, rstd: f.rstd, k: null, constant: false };
    return { y: groupedNormNode(op, x, xt, f.y, stats, weight, bias), moments: { mean: f.mean, variance: f.variance } };
  }
  const m = runKernel('normMoments', xt, layout, 0);
  const stats: SlotStats = { layout, mean: m.mean, rstd: rsqrtStats(m.variance, eps), k: null, constant: false };
  return { y: groupedNorm(op, x, stats, weight, bias), moments: m };
}

/** w per channel and dw/dρ for a blend spec. */
function blendWeights(spec: BlendSpec, c: number): { w: Float64Array; dw: Float64Array } {
  const w = new Float64Array(c);
  const dw = new Float64Array(c);
  if (!spec.rho) {
    w.fill(spec.fixed);
    return { w, dw };
  }
  const rho = spec.rho.data.contiguous().data;
  for (let i = 0; i < c; i++) {
    const p = rho.length === 1 ? rho[0]! : rho[i]!;
    if (spec.parameterization === 'raw') {
      w[i] = p;
      dw[i] = 1;
    } else {
      const sg = 1 / (1 + Math.exp(-p));
      w[i] = sg;
      dw[i] = sg * (1 - sg);
    }
  }
  return { w, dw };
}

function blendGrad(spec: BlendSpec, dblend: Float64Array, dw: Float64Array): Tensor | null {
  if (!spec.rho) return null;
  const rho = spec.rho.data;
  if (rho.size === 1) {
    let acc = 0;
    for (let i = 0; i < dblend.length; i++) acc += dblend[i]! * dw[i]!;
    return paramGrad(Float64Array.of(acc), rho);
  }
  const out = new Float64Array(dblend.length);
  for (let i = 0; i < out.length; i++) out[i] = dblend[i]! * dw[i]!;
  return paramGrad(out, rho);
}

/** Parents of a blended layer's node, in the order its backward returns gradients. */
function blendParents(x: Variable, weight: Variable | null, bias: Variable | null, blend: BlendSpec): Variable[] {
  const parents: Variable[] = [x];
  if (weight) parents.push(weight);
  if (bias) parents.push(bias);
  if (blend.rho) parents.push(blend.rho);
  return parents;
}

/** A blended layer's gradients in `blendParents` order: dx (null when x needs none), then γ, β, ρ as present. */
function blendGrads(
  dx: Tensor | null,
  weight: Variable | null,
  bias: Variable | null,
  blend: BlendSpec,
  sums: { dweight: Float64Array; dbias: Float64Array; dblend: Float64Array },
  dw: Float64Array,
): Array<Tensor | null> {
  const grads: Array<Tensor | null> = [dx];
  if (weight) grads.push(paramGrad(sums.dweight, weight.data));
  if (bias) grads.push(paramGrad(sums.dbias, bias.data));
  if (blend.rho) grads.push(blendGrad(blend, sums.dblend, dw));
  return grads;
}

/** GN+ (gn-first) through the fused kernels: one output array forward, one dx array backward. */
function gnPlusFused(
  op: string,
  x: Variable,
  xt: Tensor,
  layout: TwoStageLayout,
  eps: number,
  weight: Variable | null,
  bias: Variable | null,
  blend: BlendSpec,
): Variable {
  const { w, dw } = blendWeights(blend, layout.c);
  const f = runKernel('gnPlusForward', xt, layout, eps, w, weight?.data ?? null, bias?.data ?? null);
  return Variable.fromOp(op, withShape(f.y, x.shape), blendParents(x, weight, bias, blend), (gy) => {
    const b = runKernel('gnPlusBackward', xt, gy.contiguous(), layout, f.saved, w, weight?.data ?? null, x.requiresGrad);
    return blendGrads(b.dx ? withShape(b.dx, x.shape) : null, weight, bias, blend, b, dw);
  });
}

/**
 * Where GN+'s batch stage sits: `'gn-first'` runs it on GN's output, `'bn-first'` runs GN on its
 * output, `'parallel'` runs both stages on x.
 */
export type GNPlusOrder = 'gn-first' | 'bn-first' | 'parallel';

/**
 * The paper's GN+, as its authors' code computes it: a GN stage with the unbiased std and eps
 * on the std, a batch stage that standardizes over the batch axis alone at every (c, h, w)
 * position (unbiased std, eps on the std), blended `γ·(w·u + (1 − w)·v) + β` where u is the GN
 * stage's output and v the batch stage's. Always uses the batch's own statistics.
 */
export function gnPlus(
  op: string,
  x: Variable,
  options: { groups: number; eps: number; order: GNPlusOrder },
  weight: Variable | null,
  bias: Variable | null,
  blend: BlendSpec,
): Variable {
  const { n, c, s } = ncs(x.shape);
  const p = c * s;
  const eps = options.eps;
  const xt = x.data.contiguous();
  if (options.order === 'gn-first' && canFuse('gnPlusForward', 'gnPlusBackward')) {
    return gnPlusFused(op, x, xt, { n, c, s, groups: options.groups }, eps, weight, bias, blend);
  }
  const gnLayout: GroupedLayout = { n, c, s, groups: options.groups, perSample: true };
  const gnCount = (c / options.groups) * s;

  const gnStage = (input: Tensor) => {
    const m = runKernel('normMoments', input, gnLayout, 1);
    const st = stdEpsStats(m.variance, eps, gnCount);
    return { out: runKernel('normApply', input, gnLayout, m.mean, st.rstd, null, null), mean: m.mean, ...st };
  };
  const batchStage = (input: Tensor) => {
    const m = runKernel('batchAxisMoments', input, n, p, 1);
    const st = stdEpsStats(m.variance, eps, n);
    return { out: runKernel('batchAxisApply', input, n, p, m.mean, st.rstd), mean: m.mean, ...st };
  };

  let u: Tensor;
  let v: Tensor;
  let gn: ReturnType<typeof gnStage>;
  let bs: ReturnType<typeof batchStage>;
  if (options.order === 'gn-first') {
    gn = gnStage(xt);
    u = gn.out;
    bs = batchStage(u);
    v = bs.out;
  } else if (options.order === 'bn-first') {
    bs = batchStage(xt);
    v = bs.out;
    gn = gnStage(v);
    u = gn.out;
  } else {
    gn = gnStage(xt);
    bs = batchStage(xt);
    u = gn.out;
    v = bs.out;
  }
  const { w, dw } = blendWeights(blend, c);
  const layout = { n, c, s };
  const y = runKernel('blendAffine', u, v, layout, w, weight?.data ?? null, bias?.data ?? null);

  return Variable.fromOp(op, withShape(y, x.shape), blendParents(x, weight, bias, blend), (gy) => {
    const b = runKernel('blendAffineBackward', gy.contiguous(), u, v, layout, w, weight?.data ?? null);
    let dx: Tensor;
    if (options.order === 'gn-first') {
      // u feeds both the blend and the batch stage: du = w·dh + B'(u)ᵀ·(1 − w)·dh.
      const du = runKernel('batchAxisBackward', u, b.dv, n, p, bs.mean, bs.rstd, bs.k, b.du);
      dx = runKernel('normBackward', xt, du, gnLayout, gn.mean, gn.rstd, gn.k, null, false, null).dx;
    } else if (options.order === 'bn-first') {
      const dv = runKernel('normBackward', v, b.du, gnLayout, gn.mean, gn.rstd, gn.k, null, false, b.dv).dx;
      dx = runKernel('batchAxisBackward', xt, dv, n, p, bs.mean, bs.rstd, bs.k, null);
    } else {
      dx = runKernel('normBackward', xt, b.du, gnLayout, gn.mean, gn.rstd, gn.k, null, false, null).dx;
      dx = runKernel('batchAxisBackward', xt, b.dv, n, p, bs.mean, bs.rstd, bs.k, dx);
    }
    return blendGrads(x.requiresGrad ? withShape(dx, x.shape) : null, weight, bias, blend, b, dw);
  });
}

/**
 * HybridNorm: PyTorch's GN (biased variance, eps inside the square root), then a per-channel BN
 * stage on its output u over (N, H, W), blended `γ·(w·u + (1 − w)·v) + β`. `bnStats` gives the
 * BN stage's statistics: null to use (and return) the batch's, or the running statistics.
 */
export function hybridNorm(
  op: string,
  x: Variable,
  options: { groups: number; eps: number },
  bnStats: { mean: Float64Array; rstd: Float64Array } | null,
  weight: Variable | null,
  bias: Variable | null,
  blend: BlendSpec,
): {
  /** The blended, affine-transformed output, shaped as x. */
  y: Variable;
  /** The BN stage's batch statistics when `bnStats` was null (for the running update), else null. */
  batchMoments: Moments | null;
} {
  const { n, c, s } = ncs(x.shape);
  const eps = options.eps;
  const xt = x.data.contiguous();
  if (canFuse('hybridNormForward', 'hybridNormBackward')) {
    const layout: TwoStageLayout = { n, c, s, groups: options.groups };
    const { w, dw } = blendWeights(blend, c);
    const f = runKernel('hybridNormForward', xt, layout, eps, bnStats, w, weight?.data ?? null, bias?.data ?? null);
    const y = Variable.fromOp(op, withShape(f.y, x.shape), blendParents(x, weight, bias, blend), (gy) => {
      const b = runKernel('hybridNormBackward', xt, gy.contiguous(), layout, f.saved, w, weight?.data ?? null, x.requiresGrad);
      return blendGrads(b.dx ? withShape(b.dx, x.shape) : null, weight, bias, blend, b, dw);
    });
    return { y, batchMoments: f.bnMoments };
  }
  const gnLayout: GroupedLayout = { n, c, s, groups: options.groups, perSample: true };
  const bnLayout: GroupedLayout = { n, c, s, groups: c, perSample: false };
  const gm = runKernel('normMoments', xt, gnLayout, 0);
  const gnRstd = rsqrtStats(gm.variance, eps);
  const u = runKernel('normApply', xt, gnLayout, gm.mean, gnRstd, null, null);
  let batchMoments: Moments | null = null;
  let bnMean: Float64Array;
  let bnRstd: Float64Array;
  if (bnStats) {
    bnMean = bnStats.mean;
    bnRstd = bnStats.rstd;
  } else {
    batchMoments = runKernel('normMoments', u, bnLayout, 0);
    bnMean = batchMoments.mean;
    bnRstd = rsqrtStats(batchMoments.variance, eps);
  }
  const v = runKernel('normApply', u, bnLayout, bnMean, bnRstd, null, null);
  const { w, dw } = blendWeights(blend, c);
  const layout = { n, c, s };
  const y = runKernel('blendAffine', u, v, layout, w, weight?.data ?? null, bias?.data ?? null);

  const out = Variable.fromOp(op, withShape(y, x.shape), blendParents(x, weight, bias, blend), (gy) => {
    const b = runKernel('blendAffineBackward', gy.contiguous(), u, v, layout, w, weight?.data ?? null);
    const du = runKernel('normBackward', u, b.dv, bnLayout, bnMean, bnRstd, null, null, bnStats !== null, b.du).dx;
    const dx = runKernel('normBackward', xt, du, gnLayout, gm.mean, gnRstd, null, null, false, null).dx;
    return blendGrads(x.requiresGrad ? withShape(dx, x.shape) : null, weight, bias, blend, b, dw);
  });
  return { y: out, batchMoments };
}

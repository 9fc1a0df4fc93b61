/**
 * The differentiable normalization ops. Each is one node in the autograd graph
 * (`Variable.fromOp`) whose backward is the analytic formula, run by the fused kernels of
 * `kernels.ts` — not a chain of primitive ops. The layers in `layers.ts` validate their input,
 * pick the statistics (batch or running) and call these.
 */
import { Variable } from '@normlab/autograd';
import { type Shape, Tensor, type TypedArray, runKernel } from '@normlab/tensor';
import type { GroupedLayout, Moments } from './kernels.js';
import './kernels.js';

/** Per-slot statistics that `groupedNorm` normalizes with. */
export interface SlotStats {
  layout: GroupedLayout;
  mean: Float64Array;
  /** The multiplier r of `x̂ = (x − μ)·r`. */
  rstd: Float64Array;
  /** The backward's correction factor (see `kernels.ts`); null means 1 (PyTorch's form). */
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
export function stdEpsStats(unbiasedVar: Float64Array, eps: number, count: number): { rstd: Float64Array; k: Float64Array } {
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
  const parents: Variable[] = [x];
  if (weight) parents.push(weight);
  if (bias) parents.push(bias);
  return Variable.fromOp(op, withShape(y, x.shape), parents, (gy) => {
    const r = runKernel(
      'normBackward',
      xt,
      gy.contiguous(),
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

  const parents: Variable[] = [x];
  if (weight) parents.push(weight);
  if (bias) parents.push(bias);
  if (blend.rho) parents.push(blend.rho);
  return Variable.fromOp(op, withShape(y, x.shape), parents, (gy) => {
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
    const grads: Array<Tensor | null> = [x.requiresGrad ? withShape(dx, x.shape) : null];
    if (weight) grads.push(paramGrad(b.dweight, weight.data));
    if (bias) grads.push(paramGrad(b.dbias, bias.data));
    if (blend.rho) grads.push(blendGrad(blend, b.dblend, dw));
    return grads;
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
): { y: Variable; batchMoments: Moments | null } {
  const { n, c, s } = ncs(x.shape);
  const eps = options.eps;
  const xt = x.data.contiguous();
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

  const parents: Variable[] = [x];
  if (weight) parents.push(weight);
  if (bias) parents.push(bias);
  if (blend.rho) parents.push(blend.rho);
  const out = Variable.fromOp(op, withShape(y, x.shape), parents, (gy) => {
    const b = runKernel('blendAffineBackward', gy.contiguous(), u, v, layout, w, weight?.data ?? null);
    const du = runKernel('normBackward', u, b.dv, bnLayout, bnMean, bnRstd, null, null, bnStats !== null, b.du).dx;
    const dx = runKernel('normBackward', xt, du, gnLayout, gm.mean, gnRstd, null, null, false, null).dx;
    const grads: Array<Tensor | null> = [x.requiresGrad ? withShape(dx, x.shape) : null];
    if (weight) grads.push(paramGrad(b.dweight, weight.data));
    if (bias) grads.push(paramGrad(b.dbias, bias.data));
    if (blend.rho) grads.push(blendGrad(blend, b.dblend, dw));
    return grads;
  });
  return { y: out, batchMoments };
}

/**
 * Parity cases shared by the vitest suite (gpu.js `cpu` and `webasm` modes), the dist check and
 * the browser test (WebGL2/WebGL): each runs one accelerated kernel on backend `gpu` and on `cpu`
 * and says how far apart they are, against a documented tolerance. Imported as
 * `@normlab/gpu/parity`; `@normlab/norm-layers` must be loaded (it registers the cpu norm kernels).
 *
 * Tolerances (float32 kernels vs the float64-accumulating cpu kernels, inputs ~N(0, 1)):
 * - conv2d / matmul: |gpu − cpu| ≤ 1e-4 + 1e-5·|cpu|·√K, K = the reduction length;
 * - moments: |Δmean| ≤ 1e-5·std (std, not mean: large-mean inputs are the point) and
 *   |Δvar| ≤ 1e-4·var;
 * - normalize / backward outputs: |gpu − cpu| ≤ 2e-4·(1 + |cpu|); weight/bias sums relative 1e-4.
 * - fused forward (`normForward`): y as normalize outputs, mean and biased variance as moments,
 *   rstd |Δ| ≤ 1e-4·rstd (it is computed on the device in float32 from the device variance).
 * - blend (GN+ / HybridNorm): y, du, dv as normalize outputs; dweight, dbias, dblend (sums over
 *   N·S terms) |gpu − cpu| ≤ 1e-4·(√(N·S) + |cpu|)·max(1, |γ|max).
 *
 * @module @normlab/gpu/parity
 */
import { type Tensor, type Conv2dParams, Rng, getKernel, randn, tensor } from '@normlab/tensor';

/** One parity case: a kernel run on backend `gpu` and on `cpu`, and how far apart they are. */
export interface CaseResult {
  /** The kernel and case, e.g. `conv2d: 1x1 pointwise, C=12→7`. */
  name: string;
  /** Whether every output was within its tolerance. */
  ok: boolean;
  /** The largest error divided by its tolerance (≤ 1 passes). */
  worst: number;
  /** `worst 0.123 of tolerance` when it passes, else where it failed (index, got, want). */
  detail: string;
}

type AnyKernel = (...args: any[]) => any;
const kernel = (name: string, backend: string): AnyKernel => (getKernel as unknown as (n: string, b: string) => AnyKernel)(name, backend);

function compare(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: (want: number) => number): CaseResult {
  if (got.length !== want.length) return { name, ok: false, worst: Infinity, detail: `length ${got.length} vs ${want.length}` };
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / tol(want[i]!);
    if (!(e <= worst)) {
      worst = e;
      at = i;
      if (Number.isNaN(e)) break;
    }
  }
  const ok = worst <= 1;
  return { name, ok, worst, detail: ok ? `worst ${worst.toFixed(3)} of tolerance` : `index ${at}: got ${got[at]} want ${want[at]}` };
}

function merge(name: string, parts: CaseResult[]): CaseResult {
  const bad = parts.find((p) => !p.ok);
  const worst = Math.max(...parts.map((p) => p.worst));
  return { name, ok: !bad, worst, detail: bad ? `${bad.name}: ${bad.detail}` : `worst ${worst.toFixed(3)} of tolerance` };
}

function params(stride: number, pad: number, dil: number, groups: number): Conv2dParams {
  return { strideH: stride, strideW: stride === 1 ? 1 : stride - 1, padH: pad, padW: pad, dilationH: dil, dilationW: 1, groups };
}

function outDim(input: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((input + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** Conv shapes: odd sizes, batch 1, channels not a power of two, groups, stride, dilation. */
const CONV_CASES: Array<[string, number[], number[], Conv2dParams, boolean]> = [
  ['3x3 pad 1, N=2, C 3→5', [2, 3, 9, 7], [5, 3, 3, 3], params(1, 1, 1, 1), true],
  ['batch 1, 5x5 stride 2', [1, 6, 11, 13], [10, 6, 5, 5], params(3, 2, 1, 1), false],
  ['groups 3, dilation 2', [2, 6, 10, 9], [9, 2, 3, 3], params(1, 2, 2, 3), true],
  ['1x1 pointwise, C=12→7', [3, 12, 5, 5], [7, 12, 1, 1], params(1, 0, 1, 1), true],
];

/** conv2d forward, input and weight gradients over strides, padding, dilation, groups; inputs from `seed`. */
export function convCases(seed = 1): CaseResult[] {
  const out: CaseResult[] = [];
  const rng = new Rng(seed);
  for (const [name, xs, ws, p, withBias] of CONV_CASES) {
    const x = randn(xs, { rng });
    const w = randn(ws, { rng });
    const b = withBias ? randn([ws[0]!], { rng }) : null;
    const ho = outDim(xs[2]!, ws[2]!, p.strideH, p.padH, p.dilationH);
    const wo = outDim(xs[3]!, ws[3]!, p.strideW, p.padW, p.dilationW);
    const dy = randn([xs[0]!, ws[0]!, ho, wo], { rng });
    const kf = ws[1]! * ws[2]! * ws[3]!;
    const tolF = (v: number) => 1e-4 + 1e-5 * Math.abs(v) * Math.sqrt(kf);
    const fwd = compare('conv2d', kernel('conv2d', 'gpu')(x, w, b, p).data, kernel('conv2d', 'cpu')(x, w, b, p).data, tolF);
    const kIn = (ws[0]! / p.groups) * ws[2]! * ws[3]!;
    const bi = compare(
      'conv2dBackwardInput',
      kernel('conv2dBackwardInput', 'gpu')(dy, w, xs, p).data,
      kernel('conv2dBackwardInput', 'cpu')(dy, w, xs, p).data,
      (v) => 1e-4 + 1e-5 * Math.abs(v) * Math.sqrt(kIn),
    );
    const kW = xs[0]! * ho * wo;
    const bw = compare(
      'conv2dBackwardWeight',
      kernel('conv2dBackwardWeight', 'gpu')(dy, x, ws, p).data,
      kernel('conv2dBackwardWeight', 'cpu')(dy, x, ws, p).data,
      (v) => 1e-4 * Math.sqrt(kW) + 1e-5 * Math.abs(v) * Math.sqrt(kW),
    );
    out.push({ ...fwd, name: `conv2d: ${name}` }, { ...bi, name: `conv2dBackwardInput: ${name}` }, { ...bw, name: `conv2dBackwardWeight: ${name}` });
  }
  return out;
}

/** matmul, plain, batched and transposed; inputs from `seed`. */
export function matmulCases(seed = 2): CaseResult[] {
  const rng = new Rng(seed);
  const cases: Array<[string, number[], number[], boolean, boolean]> = [
    ['17x13 @ 13x11', [17, 13], [13, 11], false, false],
    ['batched 3x(5x9)ᵀ @ 3x(7x5)ᵀ', [3, 9, 5], [3, 7, 9], true, true],
    ['1x33 @ 33x1', [1, 33], [33, 1], false, false],
  ];
  return cases.map(([name, as, bs, ta, tb]) => {
    const a = randn(as, { rng });
    const b = randn(bs, { rng });
    const k = ta ? as[as.length - 2]! : as[as.length - 1]!;
    const r = compare('matmul', kernel('matmul', 'gpu')(a, b, ta, tb).data, kernel('matmul', 'cpu')(a, b, ta, tb).data, (v) => 1e-4 + 1e-5 * Math.abs(v) * Math.sqrt(k));
    return { ...r, name: `matmul: ${name}` };
  });
}

interface Layout {
  n: number;
  c: number;
  s: number;
  groups: number;
  perSample: boolean;
}

const LAYOUTS: Array<[string, Layout, number]> = [
  ['GN G=3, C=6, odd S', { n: 3, c: 6, s: 35, groups: 3, perSample: true }, 0],
  ['BN pooled, C=5, N=4', { n: 4, c: 5, s: 9, groups: 5, perSample: false }, 0],
  ['LN G=1, batch 1', { n: 1, c: 7, s: 11, groups: 1, perSample: true }, 0],
  ['IN G=C=3', { n: 2, c: 3, s: 25, groups: 3, perSample: true }, 0],
  ['GN large mean 1e4', { n: 2, c: 10, s: 49, groups: 5, perSample: true }, 1e4],
  ['BGN pooled G=2, large mean 3e3', { n: 3, c: 4, s: 15, groups: 2, perSample: false }, 3e3],
];

function tensorOf(values: Float64Array | Float32Array, shape: number[]): Tensor {
  return tensor(Array.from(values), shape, { dtype: 'float32' });
}

function momentsCompare(name: string, g: { mean: Float64Array; variance: Float64Array }, c: { mean: Float64Array; variance: Float64Array }): CaseResult {
  const parts: CaseResult[] = [];
  const std = Array.from(c.variance, (v) => Math.sqrt(v));
  let i = 0;
  parts.push(compare('mean', g.mean, c.mean, () => 1e-5 * std[i++ % std.length]! + 1e-12));
  parts.push(compare('variance', g.variance, c.variance, (v) => 1e-4 * v + 1e-12));
  return merge(name, parts);
}

/** The norm kernels (moments, apply, backward; grouped and batch-axis, large-mean inputs included); inputs from `seed`. */
export function normCases(seed = 3): CaseResult[] {
  const out: CaseResult[] = [];
  const rng = new Rng(seed);
  for (const [name, l, shift] of LAYOUTS) {
    const shape = [l.n, l.c, l.s];
    const x = randn(shape, { rng, mean: shift });
    const dy = randn(shape, { rng });
    const w = randn([l.c], { rng, mean: 1 });
    const b = randn([l.c], { rng });
    const gm = kernel('normMoments', 'gpu')(x, l, 0);
    const cm = kernel('normMoments', 'cpu')(x, l, 0);
    out.push(momentsCompare(`normMoments: ${name}`, gm, cm));
    const cu = kernel('normMoments', 'cpu')(x, l, 1);
    out.push(momentsCompare(`normMoments unbiased: ${name}`, kernel('normMoments', 'gpu')(x, l, 1), cu));
    const rstd = cm.variance.map((v: number) => 1 / Math.sqrt(v + 1e-5));
    const tolOut = (v: number) => 2e-4 * (1 + Math.abs(v));
    out.push({
      ...compare('normApply', kernel('normApply', 'gpu')(x, l, cm.mean, rstd, w, b).data, kernel('normApply', 'cpu')(x, l, cm.mean, rstd, w, b).data, tolOut),
      name: `normApply: ${name}`,
    });
    const kk = cm.variance.map(() => 1.25);
    for (const [variant, kArg, statsConstant, acc] of [
      ['', null, false, false],
      [' with k, accumulateInto', kk, false, true],
      [' statsConstant', null, true, false],
    ] as Array<[string, Float64Array | null, boolean, boolean]>) {
      const base = randn(shape, { rng });
      const accG = acc ? tensorOf(base.data as Float32Array, shape) : null;
      const accC = acc ? tensorOf(base.data as Float32Array, shape) : null;
      const g = kernel('normBackward', 'gpu')(x, dy, l, cm.mean, rstd, kArg, w, statsConstant, accG);
      const c = kernel('normBackward', 'cpu')(x, dy, l, cm.mean, rstd, kArg, w, statsConstant, accC);
      const sumTol = (v: number) => 1e-4 * (Math.sqrt(l.s * l.n) + Math.abs(v));
      out.push(
        merge(`normBackward${variant}: ${name}`, [
          compare('dx', g.dx.data, c.dx.data, tolOut),
          compare('dweight', g.dweight, c.dweight, sumTol),
          compare('dbias', g.dbias, c.dbias, sumTol),
          { name: 'accumulateInto returned', ok: !acc || g.dx === accG, worst: 0, detail: 'dx must be accumulateInto' },
        ]),
      );
    }
  }
  // Batch-axis kernels (GN+'s batch stage): (N, P) with statistics over N.
  for (const [name, n, p, shift] of [
    ['N=5, P=37', 5, 37, 0],
    ['N=2, P=10, large mean 1e4', 2, 10, 1e4],
    ['N=8, P=3', 8, 3, 0],
  ] as Array<[string, number, number, number]>) {
    const x = randn([n, p], { rng, mean: shift });
    const dy = randn([n, p], { rng });
    const cm = kernel('batchAxisMoments', 'cpu')(x, n, p, 1);
    out.push(momentsCompare(`batchAxisMoments: ${name}`, kernel('batchAxisMoments', 'gpu')(x, n, p, 1), cm));
    const rstd = cm.variance.map((v: number) => 1 / (Math.sqrt(v) + 1e-5));
    const tolOut = (v: number) => 2e-4 * (1 + Math.abs(v));
    out.push({
      ...compare('batchAxisApply', kernel('batchAxisApply', 'gpu')(x, n, p, cm.mean, rstd).data, kernel('batchAxisApply', 'cpu')(x, n, p, cm.mean, rstd).data, tolOut),
      name: `batchAxisApply: ${name}`,
    });
    const k = cm.variance.map(() => 1.1);
    for (const acc of [false, true]) {
      const base = randn([n, p], { rng });
      const accG = acc ? tensorOf(base.data as Float32Array, [n, p]) : null;
      const accC = acc ? tensorOf(base.data as Float32Array, [n, p]) : null;
      const g = kernel('batchAxisBackward', 'gpu')(x, dy, n, p, cm.mean, rstd, k, accG);
      const c = kernel('batchAxisBackward', 'cpu')(x, dy, n, p, cm.mean, rstd, k, accC);
      // rstd can be large when N is 2 (std of two samples): scale the tolerance by it.
      const rmax = Math.max(...rstd);
      out.push({
        ...compare('batchAxisBackward', g.data, c.data, (v) => 2e-4 * (rmax + Math.abs(v))),
        name: `batchAxisBackward${acc ? ' accumulateInto' : ''}: ${name}`,
      });
    }
  }
  return out;
}

/**
 * Blend kernels (`blendAffine`, `blendAffineBackward`): odd S, C not a power of two, batch 1,
 * per-channel and per-layer (all channels equal) blend weights, with and without γ/β, and u ≈ v
 * (where the blend-weight gradient Σ dy·(u − v) is small and cancellation would show). The
 * kernel contract has no accumulateInto for these two.
 */
export function blendCases(seed = 4): CaseResult[] {
  const out: CaseResult[] = [];
  const rng = new Rng(seed);
  const cases: Array<[string, { n: number; c: number; s: number }, 'channel' | 'layer', boolean, boolean, boolean]> = [
    ['C=5, N=3, odd S, per-channel w, γ and β', { n: 3, c: 5, s: 21 }, 'channel', true, true, false],
    ['batch 1, C=7, per-layer w, no affine', { n: 1, c: 7, s: 9 }, 'layer', false, false, false],
    ['C=6, S=1, per-channel w, γ only', { n: 4, c: 6, s: 1 }, 'channel', true, false, false],
    ['C=12, N=2, S=49, per-layer w, u ≈ v', { n: 2, c: 12, s: 49 }, 'layer', true, true, true],
  ];
  for (const [name, l, kind, withWeight, withBias, close] of cases) {
    const shape = [l.n, l.c, l.s];
    const u = randn(shape, { rng });
    const noise = randn(shape, { rng, std: close ? 1e-3 : 1 });
    const v = close ? tensorOf(Float64Array.from(u.data, (x, i) => x + noise.data[i]!), shape) : noise;
    const dy = randn(shape, { rng });
    const layerW = rng.uniform();
    const blend = Float64Array.from({ length: l.c }, () => (kind === 'layer' ? layerW : rng.uniformRange(-0.25, 1.25)));
    const w = withWeight ? randn([l.c], { rng, mean: 1 }) : null;
    const b = withBias ? randn([l.c], { rng }) : null;
    const tolOut = (x: number) => 2e-4 * (1 + Math.abs(x));
    out.push({
      ...compare('blendAffine', kernel('blendAffine', 'gpu')(u, v, l, blend, w, b).data, kernel('blendAffine', 'cpu')(u, v, l, blend, w, b).data, tolOut),
      name: `blendAffine: ${name}`,
    });
    const g = kernel('blendAffineBackward', 'gpu')(dy, u, v, l, blend, w);
    const c = kernel('blendAffineBackward', 'cpu')(dy, u, v, l, blend, w);
    const gmax = w ? Math.max(1, ...Array.from(w.data, Math.abs)) : 1;
    const sumTol = (x: number) => 1e-4 * (Math.sqrt(l.s * l.n) + Math.abs(x)) * gmax;
    out.push(
      merge(`blendAffineBackward: ${name}`, [
        compare('du', g.du.data, c.du.data, tolOut),
        compare('dv', g.dv.data, c.dv.data, tolOut),
        compare('dweight', g.dweight, c.dweight, sumTol),
        compare('dbias', g.dbias, c.dbias, sumTol),
        // u ≈ v: Σ dy·(u − v) ~ 1e-3·√(N·S), so hold it to the same relative accuracy.
        compare('dblend', g.dblend, c.dblend, close ? (x) => 1e-3 * sumTol(x) : sumTol),
        { name: 'du/dv shape', ok: g.du.shape.join() === shape.join() && g.dv.shape.join() === shape.join(), worst: 0, detail: `du ${g.du.shape} dv ${g.dv.shape}` },
      ]),
    );
  }
  return out;
}

/**
 * The fused forward `normForward` (statistics kept on the device between the moments and the
 * normalize step): GN per sample with odd S and C not a power of two, GN with batch 1, BN's
 * pooled layout (slots span the batch), LN, large-mean inputs (1e4) in both layouts, with and
 * without γ/β.
 */
export function normForwardCases(seed = 5): CaseResult[] {
  const out: CaseResult[] = [];
  const rng = new Rng(seed);
  const cases: Array<[string, Layout, number, boolean]> = [
    ['GN G=3, C=6, odd S, γ and β', { n: 3, c: 6, s: 35, groups: 3, perSample: true }, 0, true],
    ['GN batch 1, C=10, G=5, S=9', { n: 1, c: 10, s: 9, groups: 5, perSample: true }, 0, true],
    ['BN pooled, C=5, N=4, odd S', { n: 4, c: 5, s: 9, groups: 5, perSample: false }, 0, true],
    ['BN pooled, C=3, N=7, S=1, no affine', { n: 7, c: 3, s: 1, groups: 3, perSample: false }, 0, false],
    ['LN G=1, C=7, batch 2, no affine', { n: 2, c: 7, s: 11, groups: 1, perSample: true }, 0, false],
    ['GN large mean 1e4, C=10, G=5', { n: 2, c: 10, s: 49, groups: 5, perSample: true }, 1e4, true],
    ['BN pooled large mean 1e4, C=6, N=3', { n: 3, c: 6, s: 25, groups: 6, perSample: false }, 1e4, true],
  ];
  for (const [name, l, shift, affine] of cases) {
    const shape = [l.n, l.c, l.s];
    const x = randn(shape, { rng, mean: shift });
    const w = affine ? randn([l.c], { rng, mean: 1 }) : null;
    const b = affine ? randn([l.c], { rng }) : null;
    const g = kernel('normForward', 'gpu')(x, l, 1e-5, w, b);
    const c = kernel('normForward', 'cpu')(x, l, 1e-5, w, b);
    out.push(
      merge(`normForward: ${name}`, [
        compare('y', g.y.data, c.y.data, (v) => 2e-4 * (1 + Math.abs(v))),
        momentsCompare('moments', g, c),
        compare('rstd', g.rstd, c.rstd, (v) => 1e-4 * v + 1e-12),
        { name: 'y shape', ok: g.y.shape.join() === shape.join(), worst: 0, detail: `y ${g.y.shape}` },
      ]),
    );
  }
  return out;
}

/** Every parity case (conv, matmul, norm, fused norm forward, blend) with the default seeds. */
export function allCases(): CaseResult[] {
  return [...convCases(), ...matmulCases(), ...normCases(), ...normForwardCases(), ...blendCases()];
}

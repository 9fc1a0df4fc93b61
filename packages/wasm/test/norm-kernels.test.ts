/**
 * The norm-layer kernels of backend `wasm` against the cpu reference kernels of
 * `@normlab/norm-layers`, kernel by kernel. It imports the built packages (this one cannot
 * depend on norm-layers, which reaches it through nn), so it lives outside src/ and its build;
 * vitest runs it with the package's other tests.
 *
 * Tolerances (documented in docs/wasm-backend.md, "Norm kernels"): the wasm kernels compute the
 * same float64 statistics from the same shifted sums, in another order (eight SIMD lanes), and
 * form every output in float64 before rounding it once, as the cpu kernels do. So float32 outputs
 * agree to FLOAT32_TOL·(1 + |cpu|) (a few float32 ulps; most are bit-equal) and float64
 * statistics and parameter sums to FLOAT64_TOL·(1 + |cpu|).
 */
import { Tensor, type TypedArray, clearFallbackLog, fallbackLog, getKernel, randn, runKernel, setBackend, setNumThreads, getNumThreads } from '@normlab/tensor';
import '@normlab/norm-layers';
import { afterEach, describe, expect, it } from 'vitest';
import { wasmInfo } from '@normlab/wasm';

const FLOAT32_TOL = 1e-6;
const FLOAT64_TOL = 1e-10;

type Value = Tensor | Float64Array | boolean | null | { [k: string]: Value };

function worstDiff(a: TypedArray, b: TypedArray): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) {
      expect(a[i], `element ${i}`).toBeNaN();
      continue;
    }
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  }
  return worst;
}

/** Compare a wasm result with the cpu one, field by field. */
function expectClose(what: string, wasm: Value, cpu: Value): void {
  if (cpu instanceof Tensor) {
    expect(wasm, what).toBeInstanceOf(Tensor);
    const w = wasm as Tensor;
    expect(w.shape, what).toEqual(cpu.shape);
    expect(w.dtype, what).toBe(cpu.dtype);
    expect(worstDiff(w.contiguous().data, cpu.contiguous().data), what).toBeLessThanOrEqual(FLOAT32_TOL);
  } else if (cpu instanceof Float64Array) {
    expect(wasm, what).toBeInstanceOf(Float64Array);
    expect(worstDiff(wasm as Float64Array, cpu), what).toBeLessThanOrEqual(FLOAT64_TOL);
  } else if (cpu === null || typeof cpu === 'boolean') {
    expect(wasm, what).toBe(cpu);
  } else {
    expect(Object.keys(wasm as object).sort(), what).toEqual(Object.keys(cpu).sort());
    for (const [k, v] of Object.entries(cpu)) expectClose(`${what}.${k}`, (wasm as Record<string, Value>)[k]!, v);
  }
}

type Kernel = (...args: unknown[]) => Value;
const kernel = (name: string, backend: string) => getKernel(name as never, backend) as unknown as Kernel;

/** Run kernel `name` on wasm and on cpu (fresh copies of an accumulation target for each) and compare. */
function check(name: string, args: Array<unknown | (() => unknown)>): Value {
  const make = () => args.map((a) => (typeof a === 'function' ? (a as () => unknown)() : a));
  const cpu = kernel(name, 'cpu')(...make());
  clearFallbackLog();
  const wasm = runKernel(name as never, ...(make() as never[])) as unknown as Value;
  expect(fallbackLog().filter((f) => f.op === name), `${name} ran on wasm`).toEqual([]);
  expectClose(name, wasm, cpu);
  return cpu;
}

/** Shapes (N, C, S, G): the benchmark's, and small odd ones (S not a multiple of 4, one sample, …). */
const SHAPES: Array<[number, number, number, number]> = [
  [16, 32, 1024, 8],
  [3, 6, 7, 3],
  [5, 4, 1, 2],
  [2, 8, 49, 4],
  [1, 12, 13, 1],
];

afterEach(() => {
  setBackend('wasm');
});

describe('norm kernels on wasm match the cpu kernels', () => {
  it('is the active backend and has them all but normApply', () => {
    expect(wasmInfo().active).toBe(true);
    for (const name of ['normMoments', 'normBackward', 'normForward', 'normParamGrads', 'batchAxisMoments', 'batchAxisApply', 'batchAxisBackward', 'blendAffine', 'blendAffineBackward', 'gnPlusForward', 'gnPlusBackward', 'hybridNormForward', 'hybridNormBackward']) {
      expect(wasmInfo().kernels).toContain(name);
    }
    // One read and one write in place on cpu beat copying in and out (docs/wasm-backend.md).
    expect(wasmInfo().kernels).not.toContain('normApply');
  });

  describe.each(SHAPES)('N %i C %i S %i G %i', (N, C, S, G) => {
    const x = randn([N, C, S], { seed: 1, mean: 3, std: 2 });
    const dy = randn([N, C, S], { seed: 2 });
    const w = randn([C], { seed: 3 });
    const b = randn([C], { seed: 4 });
    const blend = Float64Array.from({ length: C }, (_, c) => 0.2 + c / (2 * C));
    const layouts = {
      'GN (per sample)': { n: N, c: C, s: S, groups: G, perSample: true },
      'BN (pooled, G = C)': { n: N, c: C, s: S, groups: C, perSample: false },
      'BGN (pooled groups)': { n: N, c: C, s: S, groups: G, perSample: false },
      'IN (per sample, G = C)': { n: N, c: C, s: S, groups: C, perSample: true },
    };

    it.each(Object.entries(layouts))('grouped kernels, %s', (_, l) => {
      const f = check('normForward', [x, l, 1e-5, w, b]) as { mean: Float64Array; rstd: Float64Array };
      check('normForward', [x, l, 1e-5, null, null]);
      check('normMoments', [x, l, 0]);
      check('normMoments', [x, l, 1]);
      check('normBackward', [x, dy, l, f.mean, f.rstd, null, w, false, null]);
      check('normBackward', [x, dy, l, f.mean, f.rstd, f.rstd.map(() => 1.01), null, false, null]);
      check('normBackward', [x, dy, l, f.mean, f.rstd, null, w, true, null]);
      check('normBackward', [x, dy, l, f.mean, f.rstd, null, w, false, () => randn([N, C, S], { seed: 7 })]);
      check('normParamGrads', [x, dy, l, f.mean, f.rstd]);
    });

    it('GN+ and HybridNorm kernels', () => {
      const two = { n: N, c: C, s: S, groups: G };
      const g = check('gnPlusForward', [x, two, 1e-5, blend, w, b]) as { saved: unknown };
      check('gnPlusForward', [x, two, 1e-5, blend, null, null]);
      check('gnPlusBackward', [x, dy, two, g.saved, blend, w, true]);
      check('gnPlusBackward', [x, dy, two, g.saved, blend, null, false]);
      const h = check('hybridNormForward', [x, two, 1e-5, null, blend, w, b]) as { saved: { bnMean: Float64Array; bnRstd: Float64Array } };
      check('hybridNormForward', [x, two, 1e-5, { mean: h.saved.bnMean, rstd: h.saved.bnRstd }, blend, null, null]);
      check('hybridNormBackward', [x, dy, two, h.saved, blend, w, true]);
      check('hybridNormBackward', [x, dy, two, { ...h.saved, bnConstant: true }, blend, null, true]);
      check('hybridNormBackward', [x, dy, two, h.saved, blend, w, false]);
    });

    it('batch-axis and blend kernels', () => {
      const P = C * S;
      const m = check('batchAxisMoments', [x, N, P, 1]) as { mean: Float64Array; variance: Float64Array };
      check('batchAxisMoments', [x, N, P, 0]);
      const rstd = m.variance.map((v) => 1 / (Math.sqrt(v) + 1e-5));
      const k = rstd.map(() => 1.1);
      const v = check('batchAxisApply', [x, N, P, m.mean, rstd]) as Tensor;
      check('batchAxisBackward', [x, dy, N, P, m.mean, rstd, k, null]);
      check('batchAxisBackward', [x, dy, N, P, m.mean, rstd, k, () => randn([N, P], { seed: 8 })]);
      const u = x.reshape([N, C, S]);
      const vv = v.reshape([N, C, S]);
      check('blendAffine', [u, vv, { n: N, c: C, s: S }, blend, w, b]);
      check('blendAffine', [u, vv, { n: N, c: C, s: S }, blend, null, null]);
      check('blendAffineBackward', [dy, u, vv, { n: N, c: C, s: S }, blend, w]);
      check('blendAffineBackward', [dy, u, vv, { n: N, c: C, s: S }, blend, null]);
    });
  });

  it('keep the float64 statistics exact for a large mean with a small spread', () => {
    // mean 1e4, spread 1e-2: float32 statistics (or x − mean in float32) would be off by 1e-2 relative.
    const N = 4;
    const C = 8;
    const S = 33;
    const x = randn([N, C, S], { seed: 5, mean: 1e4, std: 1e-2 });
    const dy = randn([N, C, S], { seed: 6 });
    const two = { n: N, c: C, s: S, groups: 4 };
    for (const l of [{ ...two, perSample: true }, { ...two, groups: C, perSample: false }]) {
      const f = check('normForward', [x, l, 1e-5, null, null]) as { mean: Float64Array; rstd: Float64Array };
      check('normBackward', [x, dy, l, f.mean, f.rstd, null, null, false, null]);
    }
    const blend = new Float64Array(C).fill(0.5);
    const g = check('gnPlusForward', [x, two, 1e-5, blend, null, null]) as { saved: unknown };
    check('gnPlusBackward', [x, dy, two, g.saved, blend, null, true]);
    const h = check('hybridNormForward', [x, two, 1e-5, null, blend, null, null]) as { saved: unknown };
    check('hybridNormBackward', [x, dy, two, h.saved, blend, null, true]);
  });

  it('give the same bits streamed (one thread) and pipelined (several)', () => {
    // In-process the pipeline's worker roles cannot load TypeScript sources, so the calling
    // thread takes every role; test/threads-check.mjs runs it on real threads from dist/.
    const x = randn([16, 32, 1024], { seed: 1 });
    const dy = randn([16, 32, 1024], { seed: 2 });
    const l = { n: 16, c: 32, s: 1024, groups: 8, perSample: false };
    const run = (threads: number) => {
      const before = getNumThreads();
      setNumThreads(threads);
      try {
        const f = runKernel('normForward', x, l, 1e-5, null, null);
        const g = runKernel('normBackward', x, dy, l, f.mean, f.rstd, null, null, false, null);
        return [f.y.data, f.mean, f.rstd, g.dx.data, g.dweight, g.dbias].map((a) => Array.from(a));
      } finally {
        setNumThreads(before);
      }
    };
    expect(run(3)).toEqual(run(1));
  });

  it('send float64 tensors to cpu, with the reason recorded', () => {
    const x = randn([2, 4, 5], { seed: 1, dtype: 'float64' });
    const l = { n: 2, c: 4, s: 5, groups: 2, perSample: true };
    clearFallbackLog();
    const f = runKernel('normForward', x, l, 1e-5, null, null);
    expect(f.y.dtype).toBe('float64');
    expect(fallbackLog()).toContainEqual({ op: 'normForward', backend: 'wasm', reason: 'float64 tensors run on cpu (the wasm kernels are float32)' });
  });
});

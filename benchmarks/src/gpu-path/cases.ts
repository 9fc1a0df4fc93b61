/**
 * The GPU path's cases, the same in a browser page (gpu.js on WebGL2) and in Node (gpu.js on
 * headless-gl): matmul, conv2d forward and both gradients, and GN/BN forward + backward, each
 * timed on every backend given and checked against the cpu backend's result. Browser-safe: no
 * Node APIs.
 */
import { Variable } from '@normlab/autograd';
import { BatchNorm2d, GroupNorm } from '@normlab/norm-layers';
import {
  type Tensor,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  matmul,
  randn,
} from '@normlab/tensor';
import { type TimingOptions, median, timeRunner } from '../timing.js';

export const MATMUL = { m: 512, k: 512, n: 512 };
export const CONV = { n: 32, cin: 16, cout: 32, h: 28, w: 28, k: 3, pad: 1 };
export const NORM = { n: 16, c: 64, h: 32, w: 32, g: 32 };

/** After the first call (the warm-up: it compiles the gpu kernels), 3–10 timed calls within about 2 s. */
export const GPU_PATH_TIMING: TimingOptions = { warmup: 0, warmupMs: 0, reps: 10, maxTimeMs: 2000, minReps: 3 };

export interface GpuPathCase {
  name: string;
  /** Floating-point operations of one call. */
  flops: number;
  /** Builds the (seeded) inputs on the active backend and returns one call. */
  prepare: () => () => Tensor;
}

const convFlops = 2 * CONV.n * CONV.cout * CONV.h * CONV.w * CONV.cin * CONV.k * CONV.k;

function convCase(kind: 'forward' | 'backward input' | 'backward weight'): GpuPathCase {
  return {
    name: `conv2d ${kind} (N ${CONV.n}, ${CONV.cin}→${CONV.cout}, ${CONV.h}², 3×3)`,
    flops: convFlops,
    prepare: () => {
      const opts = { padding: CONV.pad };
      const x = randn([CONV.n, CONV.cin, CONV.h, CONV.w], { seed: 1 });
      const w = randn([CONV.cout, CONV.cin, CONV.k, CONV.k], { seed: 2 });
      const dy = randn(conv2dOutputShape(x.shape, w.shape, opts), { seed: 3 });
      if (kind === 'forward') return () => conv2d(x, w, null, opts);
      if (kind === 'backward input') return () => conv2dBackwardInput(dy, w, x.shape, opts);
      return () => conv2dBackwardWeight(dy, x, w.shape, opts);
    },
  };
}

function normCase(kind: 'GN' | 'BN'): GpuPathCase {
  return {
    name: `${kind} forward + backward (N ${NORM.n}, C ${NORM.c}, ${NORM.h}²${kind === 'GN' ? `, G ${NORM.g}` : ''})`,
    flops: 18 * NORM.n * NORM.c * NORM.h * NORM.w,
    prepare: () => {
      const x = randn([NORM.n, NORM.c, NORM.h, NORM.w], { seed: 1 });
      const dy = randn([NORM.n, NORM.c, NORM.h, NORM.w], { seed: 2 });
      const layer = kind === 'GN' ? new GroupNorm(NORM.g, NORM.c) : new BatchNorm2d(NORM.c);
      return () => {
        const xv = new Variable(x, { requiresGrad: true });
        layer.forward(xv).backward(dy);
        layer.zeroGrad();
        return xv.grad!;
      };
    },
  };
}

export const GPU_PATH_CASES: GpuPathCase[] = [
  {
    name: `matmul ${MATMUL.m}×${MATMUL.k} · ${MATMUL.k}×${MATMUL.n}`,
    flops: 2 * MATMUL.m * MATMUL.k * MATMUL.n,
    prepare: () => {
      const a = randn([MATMUL.m, MATMUL.k], { seed: 1 });
      const b = randn([MATMUL.k, MATMUL.n], { seed: 2 });
      return () => matmul(a, b);
    },
  },
  convCase('forward'),
  convCase('backward input'),
  convCase('backward weight'),
  normCase('GN'),
  normCase('BN'),
];

export interface CaseTiming {
  case: string;
  medianMs: number | null;
  minMs: number | null;
  samples: number;
  gflops: number | null;
  /** max |out − cpu's out| / max |cpu's out| (null on cpu itself). */
  relativeError: number | null;
  error: string | null;
}

export interface BackendRun {
  /** The backend's label, e.g. `gpu (webgl2)`. */
  backend: string;
  cases: CaseTiming[];
}

/**
 * Run every case on the backend `select()` activates; `reference` holds cpu's outputs by case
 * name (filled when it is empty, i.e. on the first, cpu, run).
 */
export async function runBackend(label: string, select: () => void, reference: Map<string, Float32Array>, log: (line: string) => void = () => {}): Promise<BackendRun> {
  const cases: CaseTiming[] = [];
  for (const c of GPU_PATH_CASES) {
    try {
      select();
      const call = c.prepare();
      // The first call compiles the gpu kernels (the warm-up) and gives the output that is
      // checked. One slower than the time budget (gpu.js on a software rasterizer) is the only
      // sample: a second would not change the verdict and would double the run.
      const t0 = performance.now();
      const out = call().contiguous().data as Float32Array;
      const first = performance.now() - t0;
      const ref = reference.get(c.name);
      if (!ref) reference.set(c.name, Float32Array.from(out));
      const samples = first > GPU_PATH_TIMING.maxTimeMs ? [first] : await timeRunner(call, GPU_PATH_TIMING);
      const med = median(samples);
      const row: CaseTiming = {
        case: c.name,
        medianMs: round(med),
        minMs: round(Math.min(...samples)),
        samples: samples.length,
        gflops: round(c.flops / med / 1e6),
        relativeError: ref ? relativeError(out, ref) : null,
        error: null,
      };
      cases.push(row);
      log(`  ${label} · ${c.name}: ${row.medianMs} ms (${row.samples} samples)${row.relativeError === null ? '' : `, relative error ${row.relativeError.toExponential(1)}`}`);
    } catch (err) {
      cases.push({ case: c.name, medianMs: null, minMs: null, samples: 0, gflops: null, relativeError: null, error: String((err as Error)?.message ?? err) });
      log(`  ${label} · ${c.name}: failed: ${String((err as Error)?.message ?? err)}`);
    }
  }
  return { backend: label, cases };
}

function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return scale > 0 ? err / scale : err;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** What the GPU path's page (benchmarks/gpu-page) reports. */
export interface PageReport {
  userAgent: string;
  renderer: string | null;
  vendor: string | null;
  webgpuAdapter: string | null;
  parity: { passed: number; failed: string[]; mode: string | null; error: string | null };
  runs: BackendRun[];
  warnings: string[];
  error: string | null;
}

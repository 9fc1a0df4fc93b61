/**
 * Backend `gpu` (@normlab/gpu, gpu.js) beside the pure-TS `cpu` kernels and tfjs-wasm, in the
 * same run: conv2d forward and both backward kernels (the conv2d suite's shape) and GN/BN
 * forward + backward (the norm suite's shape). The gpu mode is `webasm` unless `--gpu-mode M`
 * follows the suite arguments (`npm run bench -- --suite gpu -- --gpu-mode cpu`). The numbers
 * decide which kernels the gpu package would make default: see docs/benchmarks.md "gpu backend".
 */
import { Variable } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { BatchNorm2d, GroupNorm } from '@normlab/norm-layers';
import {
  type Tensor,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  randn,
  setBackend,
} from '@normlab/tensor';
import { type CaseResult, type Runner, type Suite, type SuiteContext, benchCases } from '../harness.js';
import { CONV, NORM } from '../gpu-path/cases.js';
import { KINDS, type Kind, tfRunner } from './conv2d.js';

type ConvKind = Kind;
const CONV_KINDS = KINDS;

function gpuMode(ctx: SuiteContext): string {
  const i = ctx.args.indexOf('--gpu-mode');
  return i >= 0 && ctx.args[i + 1] ? ctx.args[i + 1]! : 'webasm';
}

/** Select the backend in `setup`, so each runner is timed on its own backend. */
async function select(backend: 'cpu' | 'gpu', mode: string): Promise<string | undefined> {
  if (backend === 'cpu') {
    setBackend('cpu');
    return undefined;
  }
  try {
    const spec = '@normlab/gpu';
    await import(spec);
    setBackend('gpu', { mode });
    return undefined;
  } catch (err) {
    return `backend gpu (${mode}) unavailable: ${(err as Error).message}`;
  }
}

function convRunner(backend: 'cpu' | 'gpu', mode: string, kind: ConvKind): Runner {
  let x: Tensor | undefined;
  let w: Tensor | undefined;
  let dy: Tensor | undefined;
  const opts = { padding: CONV.pad };
  return {
    name: backend === 'gpu' ? `normlab gpu (${mode})` : 'normlab cpu',
    setup: async () => {
      const why = await select(backend, mode);
      if (why) return why;
      x = randn([CONV.n, CONV.cin, CONV.h, CONV.w], { seed: 1 });
      w = randn([CONV.cout, CONV.cin, CONV.k, CONV.k], { seed: 2 });
      dy = randn(conv2dOutputShape(x.shape, w.shape, opts), { seed: 3 });
    },
    run: () => {
      if (kind === 'forward') return conv2d(x!, w!, null, opts);
      if (kind === 'backward input') return conv2dBackwardInput(dy!, w!, x!.shape, opts);
      return conv2dBackwardWeight(dy!, x!, w!.shape, opts);
    },
    teardown: () => setBackend('cpu'),
  };
}

function normRunner(backend: 'cpu' | 'gpu', mode: string, kind: 'GN' | 'BN'): Runner {
  let x: Tensor | undefined;
  let dy: Tensor | undefined;
  let layer: Module | undefined;
  return {
    name: backend === 'gpu' ? `normlab gpu (${mode})` : 'normlab cpu',
    setup: async () => {
      const why = await select(backend, mode);
      if (why) return why;
      x = randn([NORM.n, NORM.c, NORM.h, NORM.w], { seed: 1 });
      dy = randn([NORM.n, NORM.c, NORM.h, NORM.w], { seed: 2 });
      layer = kind === 'GN' ? new GroupNorm(NORM.g, NORM.c) : new BatchNorm2d(NORM.c);
    },
    run: () => {
      const xv = new Variable(x!, { requiresGrad: true });
      const y = layer!.forward(xv) as Variable;
      y.backward(dy);
      layer!.zeroGrad();
      return xv.grad;
    },
    teardown: () => setBackend('cpu'),
  };
}

interface GpujsKernel {
  (...args: unknown[]): unknown;
  setAsyncMode(flag: boolean): GpujsKernel;
}

/**
 * gpu.js itself, in its asynchronous webasm mode: the only one where it splits a kernel across
 * worker threads. normlab's backend cannot use it (its ops are synchronous, this mode returns a
 * Promise per call); the row shows whether it would reach the targets if it could. Same kernel
 * source and settings as the backend's conv2d forward.
 */
function gpujsAsyncConvRunner(): Runner {
  let gpu: { createKernel: (fn: unknown, settings: object) => GpujsKernel; destroy: () => unknown } | undefined;
  let kernel: GpujsKernel | undefined;
  let args: Float32Array[] = [];
  return {
    name: 'gpu.js webasm, async mode (threads)',
    setup: async () => {
      const { kernelSources } = await import('@normlab/gpu');
      const mod = (await import('gpu.js')) as unknown as { GPU?: unknown; default?: { GPU: unknown } };
      const GPU = (mod.GPU ?? mod.default!.GPU) as new (s: object) => NonNullable<typeof gpu>;
      gpu = new GPU({ mode: 'webasm' });
      const { n, cin, cout, h, w, k, pad } = CONV;
      const constants = { n, cin, h, w, cout, cg: cin, kh: k, kw: k, ho: h, wo: w, coutG: cout, hasBias: 0, sh: 1, sw: 1, ph: pad, pw: pad, dh: 1, dw: 1 };
      kernel = gpu
        .createKernel(kernelSources.conv2dForwardKernel, {
          constants,
          output: [h * w, n * cout],
          returnType: 'Number',
          precision: 'single',
          tactic: 'precision',
          loopMaxIterations: 1000,
          dynamicOutput: false,
          dynamicArguments: false,
        })
        .setAsyncMode(true);
      args = [randn([n, cin, h, w], { seed: 1 }).data as Float32Array, randn([cout, cin, k, k], { seed: 2 }).data as Float32Array, new Float32Array(1)];
    },
    run: async () => kernel!(...args),
    teardown: () => gpu?.destroy(),
  };
}

const suite: Suite = {
  name: 'gpu',
  title: 'gpu backend (gpu.js) vs the pure-TS cpu kernels and tfjs-wasm',
  description:
    `conv2d at N ${CONV.n}, ${CONV.cin}→${CONV.cout} channels, ${CONV.h}×${CONV.w}, 3×3, padding 1; GN (G ${NORM.g}) and BN ` +
    `forward + backward at N ${NORM.n}, C ${NORM.c}, ${NORM.h}×${NORM.w}; float32. The subject is normlab with backend ` +
    "`gpu`; gpu.js's webasm mode is single-threaded here (its threads need the async contract, timed on its own in the forward case).",
  async run(ctx: SuiteContext) {
    const mode = gpuMode(ctx);
    const convFlops = 2 * CONV.n * CONV.cout * CONV.h * CONV.w * CONV.cin * CONV.k * CONV.k;
    const elements = NORM.n * NORM.c * NORM.h * NORM.w;
    const cases: CaseResult[] = await benchCases(ctx, [
      ...CONV_KINDS.map((kind) => ({
        name: `conv2d ${kind}`,
        flops: convFlops,
        description: `x [${CONV.n},${CONV.cin},${CONV.h},${CONV.w}], weight [${CONV.cout},${CONV.cin},3,3]`,
        subject: convRunner('gpu', mode, kind),
        peers: [convRunner('cpu', mode, kind), tfRunner('wasm', kind), ...(kind === 'forward' && mode === 'webasm' ? [gpujsAsyncConvRunner()] : [])],
      })),
      ...(['GN', 'BN'] as const).map((kind) => ({
        name: `${kind} forward+backward`,
        flops: 18 * elements,
        description: `x [${NORM.n},${NORM.c},${NORM.h},${NORM.w}]${kind === 'GN' ? `, G ${NORM.g}` : ''}`,
        subject: normRunner('gpu', mode, kind),
        peers: [normRunner('cpu', mode, kind)],
      })),
    ]);
    return {
      cases,
      notes: [
        'Ratios are normlab gpu speed / peer speed: below 1 means the gpu backend is slower than that peer.',
        'tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so it has no weight-gradient row.',
        "The 'gpu.js webasm, async mode (threads)' row runs the backend's conv2d kernel source in gpu.js directly, with its worker pool: the one gpu.js path with threads, which normlab's synchronous ops cannot call. Above 1 the backend is faster; it shows how far even that path is from the pure-TS kernel.",
        'Which cases the gpu package makes the default is decided by these rows (a gpu kernel becomes the default only where it beats cpu): see packages/gpu/README.md, "Speed: the numbers decide".',
      ],
    };
  },
};

export default suite;

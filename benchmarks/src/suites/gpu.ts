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
import { type CaseResult, type Runner, type Suite, type SuiteContext, benchCase } from '../harness.js';
import { KINDS, type Kind, tfRunner } from './conv2d.js';

const CONV = { n: 32, cin: 16, cout: 32, h: 28, w: 28, k: 3, pad: 1 };
const NORM = { n: 16, c: 64, h: 32, w: 32, g: 32 };

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

const suite: Suite = {
  name: 'gpu',
  title: 'gpu backend (gpu.js) vs the pure-TS cpu kernels and tfjs-wasm',
  description:
    `conv2d at N ${CONV.n}, ${CONV.cin}→${CONV.cout} channels, ${CONV.h}×${CONV.w}, 3×3, padding 1; GN (G ${NORM.g}) and BN ` +
    `forward + backward at N ${NORM.n}, C ${NORM.c}, ${NORM.h}×${NORM.w}; float32. The subject is normlab with backend ` +
    "`gpu`; gpu.js's webasm mode is single-threaded here (its threads need the async contract).",
  async run(ctx: SuiteContext) {
    const mode = gpuMode(ctx);
    const cases: CaseResult[] = [];
    const convFlops = 2 * CONV.n * CONV.cout * CONV.h * CONV.w * CONV.cin * CONV.k * CONV.k;
    for (const kind of CONV_KINDS) {
      cases.push(
        await benchCase(ctx, {
          name: `conv2d ${kind}`,
          flops: convFlops,
          description: `x [${CONV.n},${CONV.cin},${CONV.h},${CONV.w}], weight [${CONV.cout},${CONV.cin},3,3]`,
          subject: convRunner('gpu', mode, kind),
          peers: [convRunner('cpu', mode, kind), tfRunner('wasm', kind)],
        }),
      );
    }
    const elements = NORM.n * NORM.c * NORM.h * NORM.w;
    for (const kind of ['GN', 'BN'] as const) {
      cases.push(
        await benchCase(ctx, {
          name: `${kind} forward+backward`,
          flops: 18 * elements,
          description: `x [${NORM.n},${NORM.c},${NORM.h},${NORM.w}]${kind === 'GN' ? `, G ${NORM.g}` : ''}`,
          subject: normRunner('gpu', mode, kind),
          peers: [normRunner('cpu', mode, kind)],
        }),
      );
    }
    return {
      cases,
      notes: [
        'Ratios are normlab gpu speed / peer speed: below 1 means the gpu backend is slower than that peer.',
        'tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so it has no weight-gradient row.',
        'Which cases the gpu package makes the default is decided by these rows (a gpu kernel becomes the default only where it beats cpu): see packages/gpu/README.md, "Speed: the numbers decide".',
      ],
    };
  },
};

export default suite;

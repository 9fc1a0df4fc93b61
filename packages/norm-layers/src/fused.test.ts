/**
 * The fused kernels (`normForward`, `hybridNormForward`/`Backward`, `gnPlusForward`/`Backward`,
 * `normParamGrads`) against the composition of the basic kernels that a backend without them
 * runs. A backend registered with no kernels of its own takes the composed path (every kernel
 * falls back to cpu, but `hasKernel` is false for the fused ones), so both paths run the same
 * cpu arithmetic apart from the fusion itself; in float64 they must agree to rounding.
 */
import { Variable } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { type Tensor, randn, registerBackend, setBackend } from '@normlab/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, GNPlus, GroupNorm, HybridNorm, InstanceNorm2d } from './index.js';

const COMPOSED = 'norm-composed-test';

interface Run {
  y: Float64Array;
  dx: Float64Array | null;
  params: Map<string, Float64Array>;
}

/** Seeded non-trivial parameters, so every term of the backward matters. */
function randomizeParams(layer: Module, seed: number): void {
  let i = 0;
  for (const [name, p] of layer.namedParameters()) {
    const r = randn(p.shape as number[], { seed: seed + i++, dtype: 'float64' }).data;
    const d = p.data.data;
    for (let j = 0; j < d.length; j++) d[j] = name === 'weight' ? 0.5 + Math.abs(r[j]!) : r[j]!;
  }
}

function run(make: () => Module, shape: number[], opts: { backend: string; eval?: boolean; inputGrad: boolean }): Run {
  setBackend(opts.backend);
  try {
    const layer = make();
    randomizeParams(layer, 11);
    if (opts.eval) {
      // One training step first so the running statistics are not their init values.
      layer.train();
      layer.forward(new Variable(randn(shape, { seed: 5, dtype: 'float64', mean: 0.3, std: 2 })));
      layer.eval();
    }
    const x = new Variable(randn(shape, { seed: 1, dtype: 'float64', mean: 0.5, std: 1.5 }), { requiresGrad: opts.inputGrad });
    const dy: Tensor = randn(shape, { seed: 2, dtype: 'float64' });
    const y = layer.forward(x) as Variable;
    y.backward(dy);
    const params = new Map<string, Float64Array>();
    for (const [name, p] of layer.namedParameters()) params.set(name, Float64Array.from(p.grad!.contiguous().data));
    return {
      y: Float64Array.from(y.data.contiguous().data),
      dx: x.grad ? Float64Array.from(x.grad.contiguous().data) : null,
      params,
    };
  } finally {
    setBackend('cpu');
  }
}

function expectSame(what: string, a: Float64Array, b: Float64Array): void {
  expect(a.length, what).toBe(b.length);
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  expect(err / scale, `${what}: max |fused − composed| / max |composed|`).toBeLessThan(1e-10);
}

// Odd spatial size (unrolled loops' tails) and 1350 positions per sample, so GN+'s position
// chunks of 1024 cut through a channel.
const SHAPE = [3, 6, 15, 15];
const cases: Array<{ name: string; make: () => Module; eval?: boolean }> = [
  { name: 'GroupNorm', make: () => new GroupNorm(3, 6, { dtype: 'float64' }) },
  { name: 'BatchNorm2d', make: () => new BatchNorm2d(6, { dtype: 'float64' }) },
  { name: 'InstanceNorm2d', make: () => new InstanceNorm2d(6, { affine: true, dtype: 'float64' }) },
  { name: 'HybridNorm per-channel blend', make: () => new HybridNorm(3, 6, { blend: 'channel', dtype: 'float64' }) },
  { name: 'HybridNorm eval', make: () => new HybridNorm(3, 6, { dtype: 'float64' }), eval: true },
  { name: 'GNPlus gn-first', make: () => new GNPlus(3, 6, { dtype: 'float64' }) },
  { name: 'GNPlus gn-first raw', make: () => new GNPlus(3, 6, { dtype: 'float64', parameterization: 'raw' }) },
];

describe('fused kernels agree with the composed basic kernels', () => {
  beforeAll(() => registerBackend(COMPOSED));
  afterAll(() => setBackend('cpu'));

  for (const c of cases) {
    for (const inputGrad of [true, false]) {
      it(`${c.name}${inputGrad ? '' : ', input without gradient'}`, () => {
        const fused = run(c.make, SHAPE, { backend: 'cpu', eval: c.eval, inputGrad });
        const composed = run(c.make, SHAPE, { backend: COMPOSED, eval: c.eval, inputGrad });
        expectSame('y', fused.y, composed.y);
        if (inputGrad) {
          expectSame('dx', fused.dx!, composed.dx!);
        } else {
          expect(fused.dx).toBeNull();
          expect(composed.dx).toBeNull();
        }
        expect([...fused.params.keys()]).toEqual([...composed.params.keys()]);
        expect(fused.params.size).toBeGreaterThan(0);
        for (const [k, v] of fused.params) expectSame(`grad ${k}`, v, composed.params.get(k)!);
      });
    }
  }
});

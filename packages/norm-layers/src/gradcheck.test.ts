/**
 * Float64 finite-difference checks (autograd's `gradCheck`) of every layer's fused backward, in
 * training and eval mode, with respect to the input, weight, bias and the learned blend ρ.
 */
import { type Variable, gradCheck, formatGradCheck } from '@normlab/autograd';
import { type Module } from '@normlab/nn';
import { type Tensor, randn, rand, Rng } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  Distortion,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
} from './index.js';
import { Variable as V } from '@normlab/autograd';

type ParamName = 'weight' | 'bias' | 'rho';

/** Perturb the layer's parameters away from their init so that every term of the backward matters. */
function randomizeParams(layer: Module, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, p] of layer.namedParameters()) {
    const d = p.data.data;
    for (let i = 0; i < d.length; i++) d[i] = name === 'weight' ? 0.5 + rng.uniform() : name === 'rho' ? rng.normal(0.3, 0.5) : rng.normal();
  }
}

/**
 * gradCheck of `layer` w.r.t. the input and each named parameter: the checker's variables stand
 * in for the layer's parameters during the call.
 */
function checkLayer(layer: Module, x: Tensor, params: ParamName[], opts: { warm?: () => void } = {}) {
  const anyLayer = layer as unknown as Record<ParamName, Variable | null>;
  const saved = params.map((p) => anyLayer[p]);
  const inputs = [x, ...params.map((p) => anyLayer[p]!.data)];
  opts.warm?.();
  try {
    const r = gradCheck(
      (xv, ...pv) => {
        params.forEach((p, i) => (anyLayer[p] = pv[i]!));
        return layer.forward(xv!) as Variable;
      },
      inputs,
      { eps: 1e-6, atol: 1e-6, rtol: 1e-4 },
    );
    return r;
  } finally {
    params.forEach((p, i) => (anyLayer[p] = saved[i]!));
  }
}

function expectOk(r: ReturnType<typeof gradCheck>) {
  expect(r.ok, formatGradCheck(r)).toBe(true);
  expect(r.checked).toBeGreaterThan(0);
}

/** Run a few training steps so running statistics differ from their init before eval checks. */
function warmUp(layer: Module, shape: number[], seed: number) {
  layer.train();
  for (let i = 0; i < 3; i++) layer.forward(new V(randn(shape, { seed: seed + i, dtype: 'float64', mean: 0.5, std: 2 })));
}

const f64 = { dtype: 'float64' as const };
const x4 = (seed: number, shape = [3, 4, 2, 3]) => randn(shape, { seed, dtype: 'float64', mean: 0.3, std: 1.7 });

describe('gradCheck of every layer (float64)', () => {
  for (const mode of ['train', 'eval'] as const) {
    it(`BatchNorm2d ${mode}`, () => {
      const bn = new BatchNorm2d(4, { ...f64, momentum: 0.3 });
      randomizeParams(bn, 1);
      if (mode === 'eval') {
        warmUp(bn, [3, 4, 2, 3], 10);
        bn.eval();
      }
      expectOk(checkLayer(bn, x4(2), ['weight', 'bias']));
    });

    it(`BatchNorm1d ${mode}`, () => {
      const bn = new BatchNorm1d(5, { ...f64, momentum: null });
      randomizeParams(bn, 3);
      if (mode === 'eval') {
        warmUp(bn, [6, 5], 20);
        bn.eval();
      }
      expectOk(checkLayer(bn, randn([6, 5], { seed: 4, dtype: 'float64' }), ['weight', 'bias']));
    });

    it(`GroupNorm ${mode}`, () => {
      const gn = new GroupNorm(2, 4, f64);
      randomizeParams(gn, 5);
      if (mode === 'eval') gn.eval();
      expectOk(checkLayer(gn, x4(6), ['weight', 'bias']));
    });

    it(`LayerNorm2d ${mode}`, () => {
      const ln = new LayerNorm2d(4, f64);
      randomizeParams(ln, 7);
      if (mode === 'eval') ln.eval();
      expectOk(checkLayer(ln, x4(8), ['weight', 'bias']));
    });

    it(`InstanceNorm2d ${mode} (affine, running stats)`, () => {
      const inorm = new InstanceNorm2d(4, { ...f64, affine: true, trackRunningStats: true });
      randomizeParams(inorm, 9);
      if (mode === 'eval') {
        warmUp(inorm, [3, 4, 2, 3], 30);
        inorm.eval();
      }
      expectOk(checkLayer(inorm, x4(10), ['weight', 'bias']));
    });

    it(`BatchGroupNorm ${mode}`, () => {
      const bgn = new BatchGroupNorm(2, 4, f64);
      randomizeParams(bgn, 11);
      if (mode === 'eval') {
        warmUp(bgn, [3, 4, 2, 3], 40);
        bgn.eval();
      }
      expectOk(checkLayer(bgn, x4(12), ['weight', 'bias']));
    });

    for (const order of ['gn-first', 'bn-first', 'parallel'] as const) {
      for (const parameterization of ['sigmoid', 'raw'] as const) {
        it(`GNPlus ${order} ${parameterization} ${mode}`, () => {
          const g = new GNPlus(2, 4, { ...f64, order, parameterization });
          randomizeParams(g, 13);
          if (mode === 'eval') g.eval();
          expectOk(checkLayer(g, x4(14), ['weight', 'bias', 'rho']));
        });
      }
    }

    for (const blend of ['layer', 'channel'] as const) {
      it(`HybridNorm blend=${blend} ${mode}`, () => {
        const h = new HybridNorm(2, 4, { ...f64, blend, momentum: 0.5 });
        randomizeParams(h, 15);
        if (mode === 'eval') {
          warmUp(h, [3, 4, 2, 3], 50);
          h.eval();
        }
        expectOk(checkLayer(h, x4(16), ['weight', 'bias', 'rho']));
      });
    }

    it(`HybridNorm fixed blend ${mode}`, () => {
      const h = new HybridNorm(2, 4, { ...f64, blend: 0.3 });
      randomizeParams(h, 17);
      if (mode === 'eval') {
        warmUp(h, [3, 4, 2, 3], 60);
        h.eval();
      }
      expectOk(checkLayer(h, x4(18), ['weight', 'bias']));
    });
  }

  it('GroupNorm and BatchNorm2d without affine', () => {
    expectOk(checkLayer(new GroupNorm(4, 4, { ...f64, affine: false }), x4(19), []));
    expectOk(checkLayer(new BatchNorm2d(4, { ...f64, affine: false }), x4(20), []));
  });

  it('GNPlus on a larger group and batch', () => {
    const g = new GNPlus(3, 6, f64);
    randomizeParams(g, 21);
    expectOk(checkLayer(g, randn([4, 6, 2, 2], { seed: 22, dtype: 'float64' }), ['weight', 'bias', 'rho']));
  });

  it('Distortion modules pass the right gradient (training)', () => {
    for (const kind of ['additive', 'santurkar'] as const) {
      // A fresh, identically seeded module per call: the noise is the same in every evaluation.
      const r = gradCheck((xv) => new Distortion(kind, { seed: 5, groups: 2 }).forward(xv!), [x4(23)], {
        eps: 1e-6,
        atol: 1e-6,
        rtol: 1e-4,
      });
      expectOk(r);
    }
  });

  it('a chain of layers backpropagates through each fused op', () => {
    const gn = new GroupNorm(2, 4, f64);
    const bn = new BatchNorm2d(4, f64);
    randomizeParams(gn, 24);
    randomizeParams(bn, 25);
    const r = gradCheck((xv) => bn.forward(gn.forward(xv!)), [rand([3, 4, 2, 2], { seed: 26, dtype: 'float64' })], {
      atol: 1e-6,
      rtol: 1e-4,
    });
    expectOk(r);
  });
});

/**
 * Normalization switched off (`normalize = false`, `setNormalizationLive`): every layer computes
 * γ·x + β (the identity without affine), differentiably, with its running statistics untouched,
 * and switching back on restores exactly the normal behaviour.
 */
import { F, Variable, formatGradCheck, gradCheck } from '@normlab/autograd';
import { Conv2d, type Module, Sequential } from '@normlab/nn';
import { type Tensor, Rng, randn } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import {
  BatchGroupNorm,
  BatchNorm1d,
  BatchNorm2d,
  GNPlus,
  GroupNorm,
  HybridNorm,
  InstanceNorm2d,
  LayerNorm2d,
  NoNorm,
  NormLayerError,
  isNormLayer,
  setNormalizationLive,
} from './index.js';
import { snapshot } from './test-utils/index.js';

type Norm = Module & { normalize: boolean; weight: Variable | null; bias: Variable | null };
const f64 = { dtype: 'float64' as const };

/** Every layer class, float64, with affine (InstanceNorm2d opts in) and running stats where it has them. */
const LAYERS: Array<[string, () => Norm, number[]]> = [
  ['BatchNorm2d', () => new BatchNorm2d(4, f64) as Norm, [3, 4, 2, 3]],
  ['BatchNorm1d', () => new BatchNorm1d(4, f64) as Norm, [5, 4]],
  ['GroupNorm', () => new GroupNorm(2, 4, f64) as Norm, [3, 4, 2, 3]],
  ['LayerNorm2d', () => new LayerNorm2d(4, f64) as Norm, [3, 4, 2, 3]],
  ['InstanceNorm2d', () => new InstanceNorm2d(4, { ...f64, affine: true, trackRunningStats: true }) as Norm, [3, 4, 2, 3]],
  ['BatchGroupNorm', () => new BatchGroupNorm(2, 4, f64) as Norm, [3, 4, 2, 3]],
  ['GNPlus', () => new GNPlus(2, 4, f64) as Norm, [3, 4, 2, 3]],
  ['HybridNorm', () => new HybridNorm(2, 4, f64) as Norm, [3, 4, 2, 3]],
];

/** Parameters away from their init (γ = 1, β = 0 would hide a missing affine term). */
function randomize(layer: Module, seed: number): void {
  const rng = new Rng(seed);
  for (const [, p] of layer.namedParameters()) {
    const d = p.data.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal(0.5, 1);
  }
}

/** γ·x + β over channel dim 1, computed here element by element. */
function expectedAffine(x: Tensor, w: Tensor | null, b: Tensor | null): number[] {
  const xs = Array.from(x.contiguous().data);
  const c = x.shape[1]!;
  const inner = x.shape.slice(2).reduce((a, d) => a * d, 1);
  const wd = w ? Array.from(w.contiguous().data) : null;
  const bd = b ? Array.from(b.contiguous().data) : null;
  return xs.map((v, i) => {
    const ch = Math.floor(i / inner) % c;
    return v * (wd ? wd[ch]! : 1) + (bd ? bd[ch]! : 0);
  });
}

describe('normalization switched off', () => {
  for (const [name, make, shape] of LAYERS) {
    it(`${name}: identity plus affine, gradCheck, statistics untouched, back on restores`, () => {
      const layer = make();
      const twin = make();
      randomize(layer, 1);
      randomize(twin, 1);
      // Warm the running statistics so "untouched" is tested on non-initial values.
      for (const m of [layer, twin]) for (let i = 0; i < 2; i++) m.forward(new Variable(randn(shape, { seed: 10 + i, dtype: 'float64', mean: 1, std: 2 })));
      expect(layer.normalize).toBe(true);
      layer.normalize = false;
      const before = snapshot(layer);
      const x = randn(shape, { seed: 3, dtype: 'float64', mean: 0.7, std: 1.9 });

      for (const mode of ['train', 'eval'] as const) {
        layer.train(mode === 'train');
        const y = layer.forward(new Variable(x));
        const want = expectedAffine(x, layer.weight!.data, layer.bias!.data);
        const got = Array.from(y.data.contiguous().data);
        got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
      }
      expect(snapshot(layer)).toEqual(before);

      // Gradients to x, γ and β; the checker's variables stand in for the parameters.
      layer.train();
      const anyLayer = layer as unknown as Record<'weight' | 'bias', Variable>;
      const saved = [anyLayer.weight, anyLayer.bias];
      try {
        const r = gradCheck(
          (xv, w, b) => {
            anyLayer.weight = w!;
            anyLayer.bias = b!;
            return layer.forward(xv!);
          },
          [x, saved[0]!.data, saved[1]!.data],
          { eps: 1e-6, atol: 1e-7, rtol: 1e-6 },
        );
        expect(r.ok, formatGradCheck(r)).toBe(true);
        expect(r.checked).toBe(x.size + 2 * shape[1]!);
      } finally {
        anyLayer.weight = saved[0]!;
        anyLayer.bias = saved[1]!;
      }
      expect(snapshot(layer)).toEqual(before);

      // A blend parameter is outside the computation while off: no gradient reaches it.
      const rho = (layer as unknown as { rho?: Variable | null }).rho;
      if (rho) {
        rho.grad = null;
        F.sum(layer.forward(new Variable(x))).backward();
        expect(rho.grad).toBeNull();
      }

      // Back on: exactly what the twin (never switched off) computes, statistics updated alike.
      layer.normalize = true;
      const yOn = layer.forward(new Variable(x));
      const yTwin = twin.forward(new Variable(x));
      expect(Array.from(yOn.data.contiguous().data)).toEqual(Array.from(yTwin.data.contiguous().data));
      expect(snapshot(layer)).toEqual(snapshot(twin));
    });
  }

  it('without affine the layer is the identity, and batch constraints of the statistics do not apply', () => {
    const inorm = new InstanceNorm2d(3, f64);
    inorm.normalize = false;
    const x = new Variable(randn([2, 3, 2, 2], { seed: 5, dtype: 'float64' }), { requiresGrad: true });
    const y = inorm.forward(x);
    expect(Array.from(y.data.contiguous().data)).toEqual(Array.from(x.data.contiguous().data));
    F.sum(y).backward();
    expect(Array.from(x.grad!.contiguous().data)).toEqual(new Array(24).fill(1));
    // A batch of one cannot be standardized over the batch axis, but the identity needs no statistics.
    const gp = new GNPlus(2, 4);
    const one = new Variable(randn([1, 4, 2, 2], { seed: 6 }));
    expect(() => gp.forward(one)).toThrow(NormLayerError);
    gp.normalize = false;
    expect(gp.forward(one).shape).toEqual([1, 4, 2, 2]);
    // Input validation still runs while off.
    expect(() => gp.forward(new Variable(randn([2, 3, 2, 2])))).toThrow(/expected 4 channels/);
  });

  it('setNormalizationLive flips every norm layer of a tree and nothing else', () => {
    const norms = [new BatchNorm2d(4), new GroupNorm(2, 4), new GNPlus(2, 4), new HybridNorm(2, 4), new BatchGroupNorm(2, 4), new LayerNorm2d(4), new InstanceNorm2d(4)];
    const model = new Sequential(new Conv2d(2, 4, 3, { padding: 1 }), norms[0]!, new Sequential(...norms.slice(1)), new NoNorm(4));
    expect(model.modules().filter(isNormLayer).length).toBe(norms.length);
    expect(setNormalizationLive(model, false)).toBe(norms.length);
    for (const n of norms) expect(n.normalize).toBe(false);
    const x = new Variable(randn([2, 2, 3, 3], { seed: 2 }));
    const conv = model.modules()[1] as Conv2d;
    // γ = 1, β = 0 at init: with every layer off the model is the conv alone.
    expect(Array.from(model.forward(x).data.contiguous().data)).toEqual(Array.from(conv.forward(x).data.contiguous().data));
    expect(setNormalizationLive(model, true)).toBe(norms.length);
    for (const n of norms) expect(n.normalize).toBe(true);
    expect(() => setNormalizationLive(model, 'no' as unknown as boolean)).toThrow(NormLayerError);
    expect(() => setNormalizationLive({} as Module, true)).toThrow(/setNormalizationLive.*must be a Module/);
  });
});

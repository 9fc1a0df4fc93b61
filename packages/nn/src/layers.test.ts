import { F, Variable, gradCheck } from '@normlab/autograd';
import { ShapeError, Tensor, TensorError, arange, randn, tensor, zeros } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  Conv2d,
  Dropout,
  Flatten,
  GlobalAvgPool2d,
  Identity,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from './layers.js';

const v = (t: Tensor, requiresGrad = false) => new Variable(t, { requiresGrad });
const flat = (t: Tensor) => [...t.toTypedArray()];

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!)).toBeLessThan(tol));
}

describe('Linear', () => {
  it('computes x Wᵀ + b on any leading shape', () => {
    const l = new Linear(3, 2, { seed: 0 });
    const x = randn([2, 4, 3], { seed: 1 });
    const y = l.forward(v(x));
    expect(y.shape).toEqual([2, 4, 2]);
    const W = l.weight.data;
    const b = l.bias!.data;
    const want: number[] = [];
    for (let r = 0; r < 8; r++) {
      for (let o = 0; o < 2; o++) {
        let s = b.get(o);
        for (let i = 0; i < 3; i++) s += x.get(Math.floor(r / 4), r % 4, i) * W.get(o, i);
        want.push(s);
      }
    }
    expectClose(flat(y.data), want, 1e-5);
  });

  it('back-propagates into weight and bias', () => {
    const l = new Linear(3, 2, { seed: 0 });
    F.sum(l.forward(v(randn([5, 3], { seed: 2 })))).backward();
    expect(l.weight.grad!.shape).toEqual([2, 3]);
    expect(flat(l.bias!.grad!)).toEqual([5, 5]);
  });

  it('rejects a wrong input and bad sizes, naming the layer', () => {
    const l = new Linear(3, 2);
    expect(() => l.forward(v(zeros([2, 4])))).toThrow(ShapeError);
    expect(() => l.forward(v(zeros([2, 4])))).toThrow(/Linear: expected input with last dim 3, got shape \[2,4\]/);
    expect(() => l.forward(zeros([2, 3]) as unknown as Variable)).toThrow(/Linear: input must be a Variable/);
    expect(() => new Linear(0, 2)).toThrow(/inFeatures must be a positive integer/);
    expect(() => new Linear(2, 1.5)).toThrow(/outFeatures/);
  });
});

describe('Conv2d', () => {
  it('has PyTorch shapes and options', () => {
    const c = new Conv2d(4, 6, [3, 1], { stride: 2, padding: [1, 0], groups: 2, bias: false, seed: 0 });
    expect(c.weight.shape).toEqual([6, 2, 3, 1]);
    expect(c.bias).toBeNull();
    const y = c.forward(v(randn([2, 4, 7, 5], { seed: 1 })));
    expect(y.shape).toEqual([2, 6, 4, 3]);
    expect(c.namedParameters().map(([n]) => n)).toEqual(['weight']);
  });

  it('rejects bad channels, options and inputs', () => {
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups 2/);
    expect(() => new Conv2d(3, 4, 0)).toThrow(/kernelSize must be an integer >= 1/);
    expect(() => new Conv2d(3, 4, 3, { padding: -1 })).toThrow(/padding/);
    expect(() => new Conv2d(3, 4, 3, { wsEps: 0 })).toThrow(/wsEps/);
    const c = new Conv2d(3, 4, 3);
    expect(() => c.forward(v(zeros([1, 2, 5, 5])))).toThrow(/Conv2d: expected 3 input channels, got input of shape \[1,2,5,5\]/);
    expect(() => c.forward(v(zeros([3, 5, 5])))).toThrow(/expected input of shape \(N, C, H, W\)/);
  });

  it('weight standardization: each filter has mean 0 and variance 1 before the convolution', () => {
    const c = new Conv2d(3, 4, 3, { weightStandardization: true, seed: 3 });
    const w = c.effectiveWeight().data;
    for (let o = 0; o < 4; o++) {
      const f = flat(w.slice([[o, o + 1]]));
      const mean = f.reduce((a, b) => a + b, 0) / f.length;
      const variance = f.reduce((a, b) => a + (b - mean) ** 2, 0) / f.length;
      expect(Math.abs(mean)).toBeLessThan(1e-6);
      // Unit variance up to ε: var/(var + 1e-5) with the default init's var ≈ 1/81.
      expect(variance).toBeGreaterThan(0.998);
      expect(variance).toBeLessThanOrEqual(1);
    }
    // With a negligible ε, scaling the raw weight changes nothing once standardized.
    const c2 = new Conv2d(3, 4, 3, { weightStandardization: true, wsEps: 1e-12, seed: 3 });
    const x = v(randn([2, 3, 6, 6], { seed: 4 }));
    const y1 = flat(c2.forward(x).data);
    c2.weight.data = F.mul(c2.weight, 10).data;
    expectClose(flat(c2.forward(x).data), y1, 1e-4);
    expect(new Conv2d(3, 4, 3, { seed: 3 }).effectiveWeight()).toBeInstanceOf(Variable);
  });

  it('weight standardization matches PyTorch, forward and weight gradient', () => {
    // /usr/bin/python3 + torch 1.13, float64: w = sin(arange(24)).reshape(2,3,2,2),
    // x = cos(0.7·arange(27)).reshape(1,3,3,3), b = [0.1, -0.2];
    // ŵ = (w − w.mean((1,2,3))) / sqrt(w.var((1,2,3), unbiased=False) + 1e-5);
    // out = conv2d(x, ŵ, b); (out · cos(arange(8)).reshape(1,2,2,2)).sum().backward()
    const outTorch = [
      0.9537301811438729, 0.6996233603681947, -0.4024818190694847, -0.7321428909734822, 0.10723697400574816,
      -0.13113504632435036, -0.5777010859063854, -0.5758681189560384,
    ];
    const gradTorch = [
      3.1478444138101564, 2.298823802006412, -2.214569619491873, -3.770019275123468, 3.4349121798115, 2.9301578337470096,
      -1.832125389227637, -3.9880941208585092, 2.796832897622817, 2.389700322090419, -1.7904577907007388, -3.4030052536860893,
      -1.437582551544424, -1.9240170156921244, 0.7668867852269546, 2.7243845024447735, -1.431940022160551, -2.1225840080299436,
      0.563495341915108, 2.693782677781533, -1.287053245382878, -1.8575923582701634, 0.7216431640216631, 2.5905767296900555,
    ];
    const c = new Conv2d(3, 2, 2, { weightStandardization: true });
    const f64 = { dtype: 'float64' as const };
    const mapped = (n: number, fn: (i: number) => number) => tensor(Array.from({ length: n }, (_, i) => fn(i)), undefined, f64);
    // float64 parameters (loadStateDict would cast to the module's float32) keep the comparison tight.
    c.weight.data = mapped(24, Math.sin).reshape([2, 3, 2, 2]);
    c.bias!.data = tensor([0.1, -0.2], undefined, f64);
    const x = v(mapped(27, (i) => Math.cos(0.7 * i)).reshape([1, 3, 3, 3]));
    const out = c.forward(x);
    expectClose(flat(out.data), outTorch, 1e-10);
    F.sum(F.mul(out, v(mapped(8, Math.cos).reshape([1, 2, 2, 2])))).backward();
    expectClose(flat(c.weight.grad!), gradTorch, 1e-9);
  });

  it('weight standardization passes a gradient check', () => {
    const x = randn([1, 2, 4, 4], { seed: 5, dtype: 'float64' });
    const w = randn([3, 2, 3, 3], { seed: 6, dtype: 'float64' });
    const c = new Conv2d(2, 3, 3, { weightStandardization: true, padding: 1, bias: false });
    const report = gradCheck(
      (xv: Variable, wv: Variable) => {
        c.weight = wv as never;
        return c.forward(xv);
      },
      [x, w],
      { atol: 1e-6, rtol: 1e-4 },
    );
    expect(report.ok).toBe(true);
  });
});

describe('activation, pooling, reshaping layers', () => {
  const x = arange(0, 32).reshape([1, 2, 4, 4]);

  it('ReLU and Identity', () => {
    expect(flat(new ReLU().forward(v(tensor([-1, 0, 2]))).data)).toEqual([0, 0, 2]);
    const i = v(tensor([1, 2]));
    expect(new Identity().forward(i)).toBe(i);
  });

  it('MaxPool2d and AvgPool2d', () => {
    const m = new MaxPool2d(2).forward(v(x));
    expect(m.shape).toEqual([1, 2, 2, 2]);
    expect(flat(m.data)).toEqual([5, 7, 13, 15, 21, 23, 29, 31]);
    const a = new AvgPool2d(2).forward(v(x));
    expect(flat(a.data)).toEqual([2.5, 4.5, 10.5, 12.5, 18.5, 20.5, 26.5, 28.5]);
    expect(new MaxPool2d(3, { stride: 1, padding: 1 }).forward(v(x)).shape).toEqual([1, 2, 4, 4]);
    expect(new AvgPool2d([2, 1], { stride: [2, 1] }).forward(v(x)).shape).toEqual([1, 2, 2, 4]);
    expect(() => new MaxPool2d(2, { padding: 2 })).toThrow(/at most half the kernel size/);
    expect(() => new AvgPool2d(2).forward(v(zeros([4, 4])))).toThrow(/AvgPool2d: expected input of shape/);
  });

  it('GlobalAvgPool2d and Flatten', () => {
    const g = new GlobalAvgPool2d().forward(v(x));
    expect(g.shape).toEqual([1, 2, 1, 1]);
    expect(flat(g.data)).toEqual([7.5, 23.5]);
    expect(new Flatten().forward(g).shape).toEqual([1, 2]);
    expect(new Flatten(0).forward(v(x)).shape).toEqual([32]);
    expect(new Flatten(1, 2).forward(v(x)).shape).toEqual([1, 8, 4]);
  });
});

describe('Dropout', () => {
  it('is the identity in eval and with p = 0', () => {
    const d = new Dropout(0.5, { seed: 0 });
    const x = v(randn([100], { seed: 1 }));
    d.eval();
    expect(d.forward(x)).toBe(x);
    expect(new Dropout(0).forward(x)).toBe(x);
  });

  it('drops about p of the units in training and scales the rest by 1/(1 − p)', () => {
    const x = v(zeros([20000]).reshape([20000]));
    const ones = v(tensor(new Float32Array(20000).fill(1)));
    const y = flat(new Dropout(0.3, { seed: 0 }).forward(ones).data);
    const dropped = y.filter((e) => e === 0).length / y.length;
    expect(dropped).toBeGreaterThan(0.28);
    expect(dropped).toBeLessThan(0.32);
    expect(y.every((e) => e === 0 || Math.abs(e - 1 / 0.7) < 1e-6)).toBe(true);
    expect(x.shape).toEqual([20000]);
  });

  it('is seeded: same seed, same masks; successive calls differ', () => {
    const x = v(tensor(new Float32Array(64).fill(1)));
    const a = new Dropout(0.5, { seed: 7 });
    const b = new Dropout(0.5, { seed: 7 });
    const a1 = flat(a.forward(x).data);
    expect(flat(b.forward(x).data)).toEqual(a1);
    expect(flat(a.forward(x).data)).not.toEqual(a1);
  });

  it('validates p', () => {
    expect(() => new Dropout(1)).toThrow(TensorError);
    expect(() => new Dropout(-0.1)).toThrow(/Dropout: p must be/);
  });
});

describe('Sequential forward', () => {
  it('chains its modules in order', () => {
    const net = new Sequential(new Linear(4, 8, { seed: 0 }), new ReLU(), new Linear(8, 3, { seed: 1 }));
    const x = v(randn([5, 4], { seed: 2 }));
    const want = (net.at(2) as Linear).forward(F.relu((net.at(0) as Linear).forward(x)));
    expect(flat(net.forward(x).data)).toEqual(flat(want.data));
  });
});

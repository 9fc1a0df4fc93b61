import { Variable } from '@normlab/autograd';
import { Tensor, TensorError, ShapeError, tensor, zeros, ones } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { Linear, Sequential, Conv2d, ReLU } from './layers.js';
import { Module, Parameter, StateDictError } from './module.js';

/** A layer with a buffer, like a norm layer: own params, then buffers. */
class Stat extends Module {
  weight = new Parameter(ones([3]));
  bias = new Parameter(zeros([3]));
  constructor() {
    super();
    this.registerBuffer('running_mean', zeros([3]));
    this.registerBuffer('absent', null);
  }
  forward(x: Variable): Variable {
    return x;
  }
  setRunning(t: Tensor): void {
    this.setBuffer('running_mean', t);
  }
}

class Block extends Module {
  conv = new Linear(4, 3, { seed: 1 });
  norm = new Stat();
  scale = new Parameter(ones([1]));
  forward(x: Variable): Variable {
    return x;
  }
}

class Net extends Module {
  stem = new Parameter(zeros([2, 2]));
  body = new Sequential(new Block(), new ReLU(), new Block());
  head = new Linear(3, 2, { seed: 2, bias: false });
  forward(x: Variable): Variable {
    return x;
  }
}

describe('Module discovery', () => {
  it('finds parameters in assignment order, depth first, with dotted names', () => {
    const names = new Net().namedParameters().map(([n]) => n);
    expect(names).toEqual([
      'stem',
      'body.0.scale',
      'body.0.conv.weight',
      'body.0.conv.bias',
      'body.0.norm.weight',
      'body.0.norm.bias',
      'body.2.scale',
      'body.2.conv.weight',
      'body.2.conv.bias',
      'body.2.norm.weight',
      'body.2.norm.bias',
      'head.weight',
    ]);
    expect(new Net().parameters()).toHaveLength(12);
  });

  it('names Sequential children 0, 1, … and supports length, at and iteration', () => {
    const s = new Sequential(new Linear(2, 3, { seed: 0 }), new ReLU(), new Linear(3, 1, { seed: 0 }));
    expect(s.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(s.length).toBe(3);
    expect(s.at(-1)).toBe(s.at(2));
    expect([...s].map((m) => m.constructor.name)).toEqual(['Linear', 'ReLU', 'Linear']);
    expect(new Sequential([new ReLU(), new ReLU()]).length).toBe(2);
    expect(() => s.at(3)).toThrow(TensorError);
    expect(() => new Sequential({} as Module)).toThrow(/element 0 must be a Module/);
  });

  it('lists buffers with dotted names, skipping null ones', () => {
    expect(new Net().namedBuffers().map(([n]) => n)).toEqual(['body.0.norm.running_mean', 'body.2.norm.running_mean']);
    expect(new Net().buffers()).toHaveLength(2);
  });

  it('lists a shared parameter or module once, and survives a back-reference', () => {
    class Shared extends Module {
      a = new Linear(2, 2, { seed: 0 });
      b = this.a;
      forward(x: Variable) {
        return x;
      }
    }
    const m = new Shared();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias']);
    expect(Object.keys(m.stateDict())).toEqual(['a.weight', 'a.bias']);
    class Child extends Module {
      w = new Parameter(zeros([1]));
      parent: Module | null = null;
      forward(x: Variable) {
        return x;
      }
    }
    class Parent extends Module {
      child = new Child();
      constructor() {
        super();
        this.child.parent = this;
      }
      forward(x: Variable) {
        return x;
      }
    }
    expect(new Parent().namedParameters().map(([n]) => n)).toEqual(['child.w']);
  });

  it('propagates train() and eval() to every descendant', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    net.eval();
    expect(net.modules().length).toBe(10); // Net, body, 2 × (Block, conv, norm), ReLU, head
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.train(false).training).toBe(false);
  });

  it('zeroGrad clears every gradient', () => {
    const net = new Net();
    for (const p of net.parameters()) p.grad = ones(p.shape);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('validates buffers and child names', () => {
    const s = new Stat();
    expect(() => s.getBuffer('nope')).toThrow(/no buffer named 'nope'/);
    expect(() => s.setRunning(zeros([4]))).toThrow(ShapeError);
    expect(() => s.setRunning([1, 2, 3] as unknown as Tensor)).toThrow(/must be a Tensor/);
    s.setRunning(ones([3]));
    expect(s.getBuffer('running_mean')!.toArray()).toEqual([1, 1, 1]);
    const q = new Sequential();
    expect(() => q.registerModule('a.b', new ReLU())).toThrow(/without '.'/);
    expect(() => q.registerModule('x', 3 as unknown as Module)).toThrow(/must be a Module/);
    class Bad extends Module {
      weight = new Parameter(zeros([1]));
      constructor() {
        super();
        this.registerBuffer('weight', zeros([1]));
      }
      forward(x: Variable) {
        return x;
      }
    }
    expect(() => new Bad()).toThrow(/already a parameter/);
  });

  it('Parameter requires grad by default', () => {
    expect(new Parameter(zeros([1])).requiresGrad).toBe(true);
    expect(new Parameter(zeros([1]), { requiresGrad: false }).requiresGrad).toBe(false);
  });
});

describe('stateDict / loadStateDict', () => {
  it('uses PyTorch order: own params, own buffers, then children', () => {
    expect(Object.keys(new Block().stateDict())).toEqual([
      'scale',
      'conv.weight',
      'conv.bias',
      'norm.weight',
      'norm.bias',
      'norm.running_mean',
    ]);
  });

  it('round-trips into a differently initialized model, copying the values', () => {
    const a = new Sequential(new Linear(3, 2, { seed: 1 }), new Stat());
    const b = new Sequential(new Linear(3, 2, { seed: 2 }), new Stat());
    (a.at(1) as Stat).setRunning(tensor([1, 2, 3]));
    expect(b.stateDict()['0.weight']!.toArray()).not.toEqual(a.stateDict()['0.weight']!.toArray());
    const state = a.stateDict();
    const res = b.loadStateDict(state);
    expect(res).toEqual({ missing: [], unexpected: [] });
    for (const [k, v] of Object.entries(a.stateDict())) expect(b.stateDict()[k]!.toArray()).toEqual(v.toArray());
    // A copy: changing the source afterwards does not reach the loaded model.
    state['1.running_mean']!.data[0] = 99;
    expect((b.at(1) as Stat).getBuffer('running_mean')!.toArray()).toEqual([1, 2, 3]);
  });

  it('casts values to the module dtype', () => {
    const m = new Stat();
    m.loadStateDict({ weight: tensor([1, 2, 3], undefined, { dtype: 'float64' }), bias: zeros([3]), running_mean: zeros([3]) });
    expect(m.weight.data.dtype).toBe('float32');
    expect(m.weight.data.toArray()).toEqual([1, 2, 3]);
  });

  const fresh = () => new Sequential(new Linear(2, 2, { seed: 3 }), new Stat());
  const snapshot = (m: Module) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, v.toArray()]));

  it('names missing keys and changes nothing', () => {
    const m = fresh();
    const before = snapshot(m);
    const state = fresh().stateDict();
    state['0.weight'] = tensor([[9, 9], [9, 9]]);
    delete state['1.running_mean'];
    expect(() => m.loadStateDict(state)).toThrow(StateDictError);
    expect(() => m.loadStateDict(state)).toThrow(/missing keys: 1\.running_mean/);
    expect(snapshot(m)).toEqual(before);
  });

  it('names unexpected keys and changes nothing', () => {
    const m = fresh();
    const before = snapshot(m);
    const state = { ...fresh().stateDict(), '0.weight': tensor([[9, 9], [9, 9]]), extra: zeros([1]) };
    expect(() => m.loadStateDict(state)).toThrow(/unexpected keys: extra/);
    expect(snapshot(m)).toEqual(before);
  });

  it('names mis-shaped keys with both shapes, even when not strict, and changes nothing', () => {
    const m = fresh();
    const before = snapshot(m);
    const state = { ...fresh().stateDict(), '0.weight': tensor([[9, 9], [9, 9]]), '0.bias': zeros([3]) };
    expect(() => m.loadStateDict(state)).toThrow(/'0\.bias' has shape \[3\] in the state dict but \[2\] in the module/);
    expect(() => m.loadStateDict(state, { strict: false })).toThrow(StateDictError);
    expect(snapshot(m)).toEqual(before);
  });

  it('rejects non-tensor values and non-object states', () => {
    const m = new Stat();
    expect(() => m.loadStateDict({ ...m.stateDict(), weight: [1, 2, 3] as unknown as Tensor })).toThrow(/'weight' must be a Tensor/);
    expect(() => m.loadStateDict(null as unknown as Record<string, Tensor>)).toThrow(StateDictError);
  });

  it('loads what it can with strict: false and reports the rest', () => {
    const m = fresh();
    const res = m.loadStateDict({ '0.bias': tensor([5, 6]), other: zeros([2]) }, { strict: false });
    expect(res.missing).toEqual(['0.weight', '1.weight', '1.bias', '1.running_mean']);
    expect(res.unexpected).toEqual(['other']);
    expect((m.at(0) as Linear).bias!.data.toArray()).toEqual([5, 6]);
  });

  /** A layer with a count buffer PyTorch keeps as int64, as a norm layer's `num_batches_tracked`. */
  class Counted extends Module {
    constructor(initial: Tensor = tensor(0, undefined, { dtype: 'float64' })) {
      super();
      this.registerBuffer('running_mean', zeros([2]));
      this.registerBuffer('num_batches_tracked', initial, { savedAs: 'int64' });
    }
    forward(x: Variable): Variable {
      return x;
    }
    set(t: Tensor): void {
      this.setBuffer('num_batches_tracked', t);
    }
  }
  const f64 = (v: number) => tensor(v, undefined, { dtype: 'float64' });

  it("savedAs: 'int64' buffers are listed by int64Keys() with dotted names; others are not", () => {
    const net = new Sequential(new Counted(), new Stat(), new Sequential(new Counted()));
    expect(net.int64Keys()).toEqual(['0.num_batches_tracked', '2.0.num_batches_tracked']);
    expect(new Stat().int64Keys()).toEqual([]);
    // The state dict is unchanged: the count is a float64 tensor among the other buffers.
    expect(Object.keys(net.stateDict())).toContain('2.0.num_batches_tracked');
    expect(net.stateDict()['0.num_batches_tracked']!.dtype).toBe('float64');
  });

  it('an int64 buffer holds integers within ±2^53 in a float64 tensor: register, set and load check it', () => {
    expect(() => new Counted(tensor(0))).toThrow(/int64 buffer 'num_batches_tracked' must be a float64 tensor.*got float32/);
    expect(() => new Counted(f64(1.5))).toThrow(/int64 buffer 'num_batches_tracked' holds 1.5 at flat index 0, not an integer/);
    const m = new Counted();
    expect(() => m.set(f64(2 ** 53 + 2))).toThrow(TensorError);
    expect(() => m.set(f64(Number.NaN))).toThrow(/holds NaN/);
    m.set(f64(2 ** 53));
    const before = snapshot(m);
    // Loading casts to float64; a fraction or NaN is refused (PyTorch's int64 cannot hold it) and nothing changes.
    expect(() => m.loadStateDict({ running_mean: ones([2]), num_batches_tracked: tensor(2.5) })).toThrow(StateDictError);
    expect(() => m.loadStateDict({ running_mean: ones([2]), num_batches_tracked: f64(Number.NaN) })).toThrow(/'num_batches_tracked' is an int64 buffer but holds NaN/);
    expect(snapshot(m)).toEqual(before);
    // A float32 count from an old file loads (cast to float64).
    m.loadStateDict({ running_mean: ones([2]), num_batches_tracked: tensor(7) });
    expect(m.getBuffer('num_batches_tracked')!.dtype).toBe('float64');
    expect(m.getBuffer('num_batches_tracked')!.toArray()).toEqual(7);
    expect(() => (m as unknown as { registerBuffer(n: string, t: Tensor, o: unknown): void }).registerBuffer('x', zeros([1]), { savedAs: 'int32' })).toThrow(
      /savedAs must be 'int64' or absent, got/,
    );
  });

  it('loads Conv2d weights (4-D) by name', () => {
    const a = new Conv2d(2, 3, 3, { seed: 1 });
    const b = new Conv2d(2, 3, 3, { seed: 2 });
    b.loadStateDict(a.stateDict());
    expect(b.weight.data.toArray()).toEqual(a.weight.data.toArray());
    expect(() => new Conv2d(2, 4, 3).loadStateDict(a.stateDict())).toThrow(/\[3,2,3,3\] in the state dict but \[4,2,3,3\]/);
  });
});

import { Variable } from '@normlab/autograd';
import { type DType, Tensor, tensor, zeros } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { Parameter } from './module.js';
import { AdamW, type Optimizer, OptimizerError, SGD } from './optim.js';

/*
 * Expected values made with /usr/bin/python3 and torch 1.13 in float64
 * (torch.set_default_dtype(torch.float64)): a Parameter starting at P0, for each step t
 *   opt.zero_grad(); p.grad = 2 p + 0.1 (t + 1) − 0.05 · arange(6).reshape(2, 3); opt.step()
 * and the final p.tolist() pasted below.
 */
const P0 = [
  [0.5, -1.2, 2.0],
  [0.3, 0.0, -0.7],
];

function setGrad(p: Variable, t: number): void {
  const d = p.data.toTypedArray();
  const g = d.slice();
  for (let i = 0; i < g.length; i++) g[i] = 2 * d[i]! + 0.1 * (t + 1) - 0.05 * i;
  p.grad = new Tensor(g, p.data.shape);
}

function run(make: (ps: Variable[]) => Optimizer<{ lr: number }>, steps: number, dtype: DType = 'float64'): number[] {
  const p = new Parameter(tensor(P0, undefined, { dtype }));
  const opt = make([p]);
  for (let t = 0; t < steps; t++) {
    opt.zeroGrad();
    setGrad(p, t);
    opt.step();
  }
  return [...p.data.toTypedArray()];
}

function expectClose(actual: number[], expected: number[][], tol: number): void {
  const flat = expected.flat();
  expect(actual).toHaveLength(flat.length);
  actual.forEach((v, i) => expect(Math.abs(v - flat[i]!)).toBeLessThan(tol));
}

const TORCH = {
  // SGD(lr=0.1, weight_decay=0.1), 3 steps
  sgdPlain: [[0.19447849999999997, -0.6316172999999999, 0.958178], [0.13208219999999998, -0.003759000000000001, -0.33681579999999994]],
  // SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), 4 steps
  sgdMomentum: [[0.0543393279067034, -0.3743553788519793, 0.4854454917952408], [0.056750785036558345, -0.0038023281775806258, -0.16953875383301778]],
  // SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4), 4 steps
  sgdNesterov: [[-0.06275529420832503, -0.19965861299142587, 0.12333413326012178], [-0.013569185522979374, -0.019073628581895055, -0.06212060756200652]],
  // SGD(lr=0.05, momentum=0.5, maximize=True), 3 steps
  sgdMaximize: [[0.7743, -1.72955, 2.9500000000000006], [0.44615, -0.005300000000000001, -1.04315]],
  // AdamW(lr=0.01, weight_decay=0.1), 5 steps
  adamw: [[0.44741284693383504, -1.1444243027545669, 1.9400471337984542], [0.24838336275365527, -0.0008876281245540256, -0.6471583057121165]],
  // AdamW(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0, amsgrad=True), 5 steps
  adamwAmsgrad: [[0.2500002236905505, -0.9552599596501874, 1.750000062227652], [0.05000044032166106, -0.07180458460767475, -0.4596092641718181]],
};

describe('SGD matches torch.optim.SGD', () => {
  it('plain with weight decay', () => expectClose(run((ps) => new SGD(ps, { lr: 0.1, weightDecay: 0.1 }), 3), TORCH.sgdPlain, 1e-12));
  it('momentum with dampening', () =>
    expectClose(run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }), 4), TORCH.sgdMomentum, 1e-12));
  it('Nesterov', () =>
    expectClose(run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }), 4), TORCH.sgdNesterov, 1e-12));
  it('maximize', () => expectClose(run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.5, maximize: true }), 3), TORCH.sgdMaximize, 1e-12));
  it('float32 parameters stay float32 and agree to float32 precision', () => {
    const out = run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }), 4, 'float32');
    expectClose(out, TORCH.sgdMomentum, 1e-6);
  });
});

describe('AdamW matches torch.optim.AdamW', () => {
  it('decoupled weight decay and bias correction', () =>
    expectClose(run((ps) => new AdamW(ps, { lr: 0.01, weightDecay: 0.1 }), 5), TORCH.adamw, 1e-12));
  it('amsgrad', () =>
    expectClose(run((ps) => new AdamW(ps, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0, amsgrad: true }), 5), TORCH.adamwAmsgrad, 1e-12));
  it('float32', () => expectClose(run((ps) => new AdamW(ps, { lr: 0.01, weightDecay: 0.1 }), 5, 'float32'), TORCH.adamw, 1e-6));
});

describe('Optimizer behaviour', () => {
  it('skips parameters without a gradient and replaces data with a new tensor', () => {
    const a = new Parameter(tensor([1, 2]));
    const b = new Parameter(tensor([3, 4]));
    const opt = new SGD([a, b], { lr: 0.5 });
    const old = a.data;
    a.grad = tensor([1, 1]);
    opt.step();
    expect(a.data.toArray()).toEqual([0.5, 1.5]);
    expect(old.toArray()).toEqual([1, 2]);
    expect(b.data.toArray()).toEqual([3, 4]);
  });

  it('param groups take their own options; lr reads the first and sets all', () => {
    const a = new Parameter(tensor([1]));
    const b = new Parameter(tensor([1]));
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.1, weightDecay: 1 }], { lr: 1 });
    a.grad = tensor([1]);
    b.grad = tensor([1]);
    opt.step();
    expect(a.data.item()).toBeCloseTo(0, 12);
    expect(b.data.item()).toBeCloseTo(1 - 0.1 * (1 + 1), 6);
    expect(opt.lr).toBe(1);
    opt.lr = 0.01;
    expect(opt.paramGroups.map((g) => g.options.lr)).toEqual([0.01, 0.01]);
  });

  it('zeroGrad clears gradients', () => {
    const a = new Parameter(tensor([1]));
    a.grad = tensor([1]);
    new AdamW([a]).zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('rejects bad options with typed errors naming the option', () => {
    const p = [new Parameter(zeros([1]))];
    expect(() => new SGD(p, { lr: -1 })).toThrow(/SGD: lr must be/);
    expect(() => new SGD(p, {} as { lr: number })).toThrow(/lr must be a finite number/);
    expect(() => new SGD(p, { lr: 0.1, nesterov: true })).toThrow(OptimizerError);
    expect(() => new SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/dampening 0/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new SGD([{ params: p, weight_decay: 1 } as never], { lr: 0.1 })).toThrow(/unknown option 'weight_decay'/);
    expect(() => new SGD([p[0]!, p[0]!], { lr: 0.1 })).toThrow(/more than once/);
    expect(() => new AdamW(p, { betas: [0.9, 1] })).toThrow(/betas/);
    expect(() => new AdamW(p, { eps: -1 })).toThrow(/eps/);
    expect(() => new SGD([zeros([1]) as unknown as Variable], { lr: 1 })).toThrow(/must be Variables or groups/);
  });

  it('rejects a gradient of the wrong shape', () => {
    const a = new Parameter(zeros([2]));
    a.grad = zeros([3]);
    expect(() => new SGD([a], { lr: 1 }).step()).toThrow(/gradient of shape \[3\] does not match parameter of shape \[2\]/);
  });
});

describe('Optimizer state dicts resume exactly', () => {
  const cases: Array<[string, (ps: Variable[]) => Optimizer<{ lr: number }>]> = [
    ['SGD', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.01, amsgrad: true })],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      const straight = run(make, 6);
      // Run 3 steps, save, restore into a fresh optimizer over a fresh parameter, run 3 more.
      const p = new Parameter(tensor(P0, undefined, { dtype: 'float64' }));
      const opt = make([p]);
      for (let t = 0; t < 3; t++) {
        setGrad(p, t);
        opt.step();
      }
      const saved = opt.stateDict();
      const savedCopy = JSON.stringify(saved, (_k, v) => (v instanceof Tensor ? v.toArray() : v));
      const q = new Parameter(p.data.clone());
      const opt2 = make([q]);
      opt2.loadStateDict(saved);
      for (let t = 3; t < 6; t++) {
        setGrad(q, t);
        opt2.step();
        setGrad(p, t);
        opt.step();
      }
      expect([...q.data.toTypedArray()]).toEqual(straight);
      // The saved dict was a snapshot: stepping did not change it.
      expect(JSON.stringify(saved, (_k, v) => (v instanceof Tensor ? v.toArray() : v))).toBe(savedCopy);
    });
  }

  it('restores group options and rejects mismatched states without changing anything', () => {
    const p = new Parameter(zeros([2]));
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = tensor([1, 1]);
    opt.step();
    const state = opt.stateDict();
    expect(state.paramGroups[0]).toMatchObject({ lr: 0.1, momentum: 0.9, params: [0] });
    expect(Object.keys(state.state[0]!)).toEqual(['momentumBuffer']);

    const other = new SGD([new Parameter(zeros([3]))], { lr: 0.5, momentum: 0.9 });
    expect(() => other.loadStateDict(state)).toThrow(/shape \[2\], the parameter \[3\]/);
    expect(other.lr).toBe(0.5);
    const two = new SGD([new Parameter(zeros([2])), new Parameter(zeros([2]))], { lr: 0.5 });
    expect(() => two.loadStateDict(state)).toThrow(/group 0 has 1 parameters in the state, 2 in the optimizer/);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [] })).toThrow(/1 parameter groups|0 parameter groups/);
    expect(() => opt.loadStateDict(null as never)).toThrow(OptimizerError);

    const fresh = new SGD([new Parameter(zeros([2]))], { lr: 0.5 });
    fresh.loadStateDict(state);
    expect(fresh.lr).toBe(0.1);
    expect(fresh.paramGroups[0]!.options.momentum).toBe(0.9);
  });

  it('reads state keys as parameter indices in decimal digits only', () => {
    const ps = Array.from({ length: 11 }, () => new Parameter(zeros([2])));
    const opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    const groups = opt.stateDict().paramGroups;
    const buf = { momentumBuffer: tensor([1, 2]) };
    // Number('1e1') is 10 and Number('') is 0: neither is a parameter index.
    for (const key of ['1e1', '', '0x1', ' 1', '-0', '1.0']) {
      expect(() => opt.loadStateDict({ state: { [key]: buf }, paramGroups: groups }), JSON.stringify(key)).toThrow(
        new RegExp(`state for parameter '${key.replace('.', '\\.')}': expected an index 0\\.\\.10 in decimal digits`),
      );
    }
    expect(() => opt.loadStateDict({ state: { 3: null as never }, paramGroups: groups })).toThrow(/state for parameter 3 must be an object, got null/);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [null as never] })).toThrow(/group 0 must be an object, got null/);
    opt.loadStateDict({ state: { 10: buf }, paramGroups: groups });
    expect(Object.keys(opt.stateDict().state)).toEqual(['10']);
  });

  it('keeps a state entry named __proto__ as an entry (JSON.parse keeps such keys as own properties)', () => {
    const p = new Parameter(zeros([2]));
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const entries = JSON.parse('{"__proto__": 1, "step": 2}') as Record<string, Tensor | number>;
    entries.momentumBuffer = tensor([3, 4]);
    opt.loadStateDict({ state: { 0: entries }, paramGroups: opt.stateDict().paramGroups });
    const back = opt.stateDict().state[0]!;
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'momentumBuffer', 'step']);
    expect(back['__proto__']).toBe(1);
    // A Tensor under that name must not become the entries' prototype either.
    const withTensor = Object.defineProperty({}, '__proto__', { value: tensor([5, 6]), enumerable: true }) as Record<string, Tensor | number>;
    opt.loadStateDict({ state: { 0: withTensor }, paramGroups: opt.stateDict().paramGroups });
    expect((opt.stateDict().state[0]!['__proto__'] as Tensor).toArray()).toEqual([5, 6]);
  });
});

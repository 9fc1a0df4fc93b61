import { describe, expect, it } from 'vitest';
import { type Tensor, mul, ones, tensor, zeros } from '@normlab/tensor';
import * as F from './functional.js';
import { AutogradError, Variable, isGradEnabled, noGrad } from './variable.js';

const f64 = { dtype: 'float64' as const };
const leaf = (values: number[]) => new Variable(tensor(values, undefined, f64), { requiresGrad: true });
const arr = (t: Tensor | null) => Array.from(t!.toTypedArray());

describe('Variable', () => {
  it('exposes data, shape, dtype, item', () => {
    const v = new Variable(tensor([[1, 2, 3]]));
    expect(v.shape).toEqual([1, 3]);
    expect(v.dtype).toBe('float32');
    expect(v.requiresGrad).toBe(false);
    expect(v.isLeaf).toBe(true);
    expect(new Variable(tensor([4])).item()).toBe(4);
    expect(() => new Variable([1, 2] as unknown as Tensor)).toThrow(AutogradError);
  });

  it('accumulates gradients across backward calls until zeroGrad', () => {
    const x = leaf([1, 2]);
    const loss = () => F.sum(F.mul(x, x)); // d/dx = 2x
    loss().backward();
    expect(arr(x.grad)).toEqual([2, 4]);
    loss().backward();
    expect(arr(x.grad)).toEqual([4, 8]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    loss().backward();
    expect(arr(x.grad)).toEqual([2, 4]);
  });

  it('sums the gradients of every path through a diamond', () => {
    // a = 2x; b = a²; c = a + b  ⇒  dc/dx = 2 + 2a·2 = 2 + 8x
    const x = leaf([1, -0.5]);
    const a = F.mul(x, 2);
    const b = F.mul(a, a);
    const c = F.add(a, b);
    F.sum(c).backward();
    expect(arr(x.grad)).toEqual([10, -2]);
    // A node reached twice from the same op (x·x) also gets both contributions.
    const y = leaf([3]);
    F.mul(y, y).backward();
    expect(arr(y.grad)).toEqual([6]);
  });

  it('processes a shared node only after all its consumers (wide diamond)', () => {
    const x = leaf([2]);
    const h = F.exp(x);
    const branches = [F.mul(h, 1), F.mul(h, 2), F.mul(h, 3), F.square(h)];
    let total = branches[0]!;
    for (const b of branches.slice(1)) total = F.add(total, b);
    total.backward();
    const e = Math.exp(2);
    expect(x.grad!.item()).toBeCloseTo(6 * e + 2 * e * e, 9);
  });

  it('does not keep gradients on intermediate nodes, nor on constants', () => {
    const x = leaf([1, 2]);
    const c = new Variable(tensor([3, 4], undefined, f64));
    const h = F.mul(x, c);
    F.sum(h).backward();
    expect(h.grad).toBeNull();
    expect(c.grad).toBeNull();
    expect(arr(x.grad)).toEqual([3, 4]);
  });

  it('backward from a non-scalar output needs a gradOutput of its shape (cast to its dtype)', () => {
    const x = leaf([1, 2, 3]);
    const y = F.mul(x, 2);
    expect(() => y.backward()).toThrow(/backward: gradOutput is required for a non-scalar output of shape \[3\]/);
    expect(() => y.backward(ones([2]))).toThrow(/gradOutput shape \[2\] does not match output shape \[3\]/);
    y.backward(tensor([1, 0, -1])); // float32 into a float64 graph
    expect(arr(x.grad)).toEqual([2, 0, -2]);
    expect(x.grad!.dtype).toBe('float64');
  });

  it('a leaf can be the root', () => {
    const x = leaf([5]);
    x.backward();
    expect(arr(x.grad)).toEqual([1]);
  });

  it('the accumulated gradient does not alias the caller\'s gradOutput', () => {
    const x = leaf([1, 2]);
    const g = tensor([1, 1], undefined, f64);
    x.backward(g);
    x.backward(g);
    expect(arr(g)).toEqual([1, 1]);
    expect(arr(x.grad)).toEqual([2, 2]);
  });

  it('throws on backward of a variable that needs no gradient', () => {
    const c = new Variable(tensor([1]));
    expect(() => c.backward()).toThrow(AutogradError);
    expect(() => F.mul(c, 2).backward()).toThrow(/does not require a gradient/);
  });

  it('noGrad records nothing, nests, and restores the mode even after a throw', () => {
    const x = leaf([1, 2]);
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      noGrad(() => expect(isGradEnabled()).toBe(false));
      expect(isGradEnabled()).toBe(false);
      return F.mul(x, 3);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.isLeaf).toBe(true);
    expect(arr(y.data)).toEqual([3, 6]);
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('detach cuts the graph but shares the value', () => {
    const x = leaf([1, 2]);
    const d = F.mul(x, 2).detach();
    expect(d.requiresGrad).toBe(false);
    expect(arr(d.data)).toEqual([2, 4]);
    // Only the attached path contributes: d(x·d + x)/dx = d + 1
    F.sum(F.add(F.mul(x, d), x)).backward();
    expect(arr(x.grad)).toEqual([3, 5]);
  });

  it('fromOp validates what a backward function returns', () => {
    const x = leaf([1, 2]);
    const wrongCount = Variable.fromOp('bad', x.data, [x], () => []);
    expect(() => wrongCount.backward(ones([2], f64))).toThrow(/bad: backward returned 0 gradients for 1 inputs/);
    const wrongShape = Variable.fromOp('bad2', x.data, [x], () => [zeros([3], f64)]);
    expect(() => wrongShape.backward(ones([2], f64))).toThrow(/bad2: backward gave a gradient of shape \[3\] for an input of shape \[2\]/);
    const wrongDType = Variable.fromOp('bad3', x.data, [x], (g) => [g.astype('float32')]);
    expect(() => wrongDType.backward(ones([2], f64))).toThrow(/bad3: backward gave a float32 gradient for a float64 input/);
    const nullGrad = Variable.fromOp('stop', x.data, [x], () => [null]);
    nullGrad.backward(ones([2], f64));
    expect(x.grad).toBeNull();
  });

  it('fromOp makes a constant when no parent needs a gradient', () => {
    const c = new Variable(tensor([1]));
    const y = Variable.fromOp('op', mul(c.data, 2), [c], (g) => [g]);
    expect(y.requiresGrad).toBe(false);
    expect(y.parents).toEqual([]);
  });

  it('records each op with its non-Variable arguments, enough to replay it', () => {
    const x = new Variable(tensor(Array.from({ length: 32 }, (_, i) => i), [1, 2, 4, 4]), { requiresGrad: true });
    const pooled = F.maxPool2d(x, { kernelSize: 2, stride: 2 });
    expect(pooled.op).toBe('maxPool2d');
    expect(pooled.attrs).toEqual({ kernelSize: 2, stride: 2 });
    const flat = F.flatten(pooled, 1);
    expect(flat.attrs).toEqual({ startDim: 1, endDim: -1 });
    expect(F.reshape(flat, [1, 2, 4]).attrs).toEqual({ shape: [1, 2, 4] });
    expect(F.mean(flat, -1, true).attrs).toEqual({ axes: [1], keepDims: true });
    // A number operand is no parent: the attributes say which side it was on.
    const scaled = F.sub(2, flat);
    expect(scaled.parents).toEqual([flat]);
    expect(scaled.attrs).toEqual({ a: 2 });
    expect(F.div(flat, 4).attrs).toEqual({ b: 4 });
    expect(F.add(flat, flat).attrs).toEqual({});
    expect(x.attrs).toEqual({});
    // Nothing is recorded for a constant.
    expect(F.maxPool2d(new Variable(x.data), { kernelSize: 2 }).attrs).toEqual({});
  });

  it('handles a deep chain without overflowing the stack', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = F.mul(y, 1);
    y.backward();
    expect(arr(x.grad)).toEqual([1]);
  });
});

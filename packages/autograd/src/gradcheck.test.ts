import { describe, expect, it } from 'vitest';
import { mul, randn, tensor, zeros } from '@normlab/tensor';
import * as F from './functional.js';
import { assertGradCheck, formatGradCheck, gradCheck } from './gradcheck.js';
import { AutogradError, Variable } from './variable.js';

const f64 = { dtype: 'float64' as const };

/** y = 2x with a backward that claims 3 (a deliberately wrong gradient). */
const wrongScale = (x: Variable) => Variable.fromOp('wrongScale', mul(x.data, 2), [x], (g) => [mul(g, 3)]);

describe('gradCheck', () => {
  it('passes for a correct gradient and reports small errors', () => {
    const r = gradCheck((a, b) => F.mul(F.tanh(a!), b!), [randn([3], { seed: 1 }), randn([3], { seed: 2 })]);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(6);
    expect(r.maxAbsError).toBeLessThan(1e-7);
    expect(r.worst).not.toBeNull();
  });

  it('detects a wrong gradient and reports the worst element', () => {
    const x = tensor([1, -2, 0.5], undefined, f64);
    const r = gradCheck((v) => wrongScale(v!), [x], { gradOutput: tensor([1, 1, 1], undefined, f64) });
    expect(r.ok).toBe(false);
    expect(r.worst!.input).toBe(0);
    expect(r.worst!.analytic).toBeCloseTo(3, 12);
    expect(r.worst!.numeric).toBeCloseTo(2, 6);
    expect(r.maxAbsError).toBeCloseTo(1, 6);
    expect(r.maxRelError).toBeCloseTo(0.5, 6);
    expect(() => assertGradCheck((v) => wrongScale(v!), [x])).toThrow(AutogradError);
    expect(() => assertGradCheck((v) => wrongScale(v!), [x])).toThrow(/gradCheck: FAILED on 3 elements.*worst: input 0 \(shape \[3\]\) flat index \d/);
  });

  it('pinpoints a single wrong element in the second input', () => {
    // Correct except for element 4 of b, whose gradient is off by 0.01.
    const fn = (a: Variable, b: Variable) =>
      Variable.fromOp('almost', mul(a.data, b.data), [a, b], (g) => {
        const db = mul(g, a.data).clone();
        db.data[4]! += 0.01;
        return [mul(g, b.data), db];
      });
    const r = gradCheck((a, b) => fn(a!, b!), [randn([2, 3], { seed: 3 }), randn([2, 3], { seed: 4 })]);
    expect(r.ok).toBe(false);
    expect(r.worst).toMatchObject({ input: 1, index: 4 });
    expect(r.worst!.analytic - r.worst!.numeric).toBeCloseTo(0.01, 6);
  });

  it('a random gradOutput catches errors that an all-ones contraction would hide', () => {
    // softmax's backward with g = 1 is exactly 0: dropping the y·Σ(g·y) term goes unnoticed with ones.
    const badSoftmax = (x: Variable) => {
      const y = F.softmax(x).data;
      return Variable.fromOp('badSoftmax', y, [x], (g) => [mul(g, y)]);
    };
    const x = randn([2, 4], { seed: 5, ...f64 });
    expect(gradCheck((v) => badSoftmax(v!), [x]).ok).toBe(false);
  });

  it('casts inputs to float64 copies and leaves the originals untouched', () => {
    const x = randn([4], { seed: 6 });
    const before = Array.from(x.toTypedArray());
    let seen = '';
    const r = gradCheck((v) => {
      seen = v!.dtype;
      return F.tanh(v!);
    }, [x]);
    expect(r.ok).toBe(true);
    expect(seen).toBe('float64');
    expect(x.dtype).toBe('float32');
    expect(Array.from(x.toTypedArray())).toEqual(before);
  });

  it('treats an input the output does not depend on as having gradient 0', () => {
    const r = gradCheck((a, _unused) => F.mul(a!, 2), [tensor([1, 2]), tensor([3])]);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(3);
    // An output that depends on no input at all: every gradient is 0 on both sides.
    expect(gradCheck(() => new Variable(zeros([2], f64)), [tensor([1])]).ok).toBe(true);
  });

  it('validates its arguments', () => {
    const x = tensor([1, 2]);
    expect(() => gradCheck((v) => v!, [])).toThrow(/inputs must be a non-empty array/);
    expect(() => gradCheck((v) => v!, [x], { eps: 0 })).toThrow(/eps must be a finite positive number/);
    expect(() => gradCheck((v) => v!, [x], { atol: -1 })).toThrow(AutogradError);
    expect(() => gradCheck(() => 3 as unknown as Variable, [x])).toThrow(/fn must return a Variable, got number/);
    expect(() => gradCheck((v) => v!, [x], { gradOutput: tensor([1, 2, 3]) })).toThrow(/gradOutput has shape \[3\] but fn's output has shape \[2\]/);
  });

  it('formats a passing report', () => {
    const r = gradCheck((v) => F.exp(v!), [tensor([0.1, 0.2])]);
    expect(formatGradCheck(r)).toMatch(/^passed on 2 elements/);
  });
});

import { Variable } from '@normlab/autograd';
import { tensor, zeros } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { clipGradNorm, gradNorm } from './clip.js';
import { Parameter } from './module.js';

function pair(): [Parameter, Parameter, Parameter] {
  const a = new Parameter(zeros([1, 2]));
  const b = new Parameter(zeros([1]));
  const c = new Parameter(zeros([3])); // no gradient: skipped
  a.grad = tensor([[3, -4]]);
  b.grad = tensor([12]);
  return [a, b, c];
}

describe('gradNorm / clipGradNorm', () => {
  it('gradNorm is the norm of all gradients together', () => {
    expect(gradNorm(pair())).toBeCloseTo(13, 12);
    expect(gradNorm(pair(), Infinity)).toBe(12);
    expect(gradNorm(pair(), 1)).toBeCloseTo(19, 12);
    expect(gradNorm([new Parameter(zeros([2]))])).toBe(0);
  });

  it('matches torch.nn.utils.clip_grad_norm_', () => {
    // torch 1.13: a.grad=[[3,-4]], b.grad=[12]; clip_grad_norm_([a, b], 6.5) → 13.0,
    // a.grad=[[1.4999998846153937, -1.9999998461538582]], b.grad=[5.999999538461575]
    const ps = pair();
    expect(clipGradNorm(ps, 6.5)).toBeCloseTo(13, 12);
    const [a, b] = ps;
    expect(a.grad!.toArray()).toEqual([[Math.fround(1.4999998846153937), Math.fround(-1.9999998461538582)]]);
    expect(b.grad!.get(0)).toBeCloseTo(5.999999538461575, 5);
  });

  it('leaves small gradients alone', () => {
    const ps = pair();
    expect(clipGradNorm(ps, 100)).toBeCloseTo(13, 12);
    expect(ps[0].grad!.toArray()).toEqual([[3, -4]]);
  });

  it('flags non-finite norms on request and validates arguments', () => {
    const p = new Parameter(zeros([1]));
    p.grad = tensor([Number.NaN]);
    expect(Number.isNaN(gradNorm([p]))).toBe(true);
    expect(() => clipGradNorm([p], 1, { errorIfNonfinite: true })).toThrow(/non-finite/);
    expect(() => clipGradNorm(pair(), -1)).toThrow(/maxNorm/);
    expect(() => gradNorm([zeros([1]) as unknown as Variable])).toThrow(/parameter 0 must be a Variable/);
  });
});

import { describe, expect, it } from 'vitest';
import * as T from '@normlab/tensor';
import { Rng, ShapeError, type Tensor, TensorError, randn, rand, tensor } from '@normlab/tensor';
import * as F from './functional.js';
import { assertGradCheck, type GradCheckOptions } from './gradcheck.js';
import { AutogradError, Variable } from './variable.js';

const f64 = { dtype: 'float64' as const };
let seed = 1;
/** Standard normal float64 test input, a fresh seed each call. */
const rn = (shape: number[]) => randn(shape, { seed: seed++, ...f64 });
/** Uniform float64 in [low, high). */
const ru = (shape: number[], low: number, high: number) => rand(shape, { seed: seed++, low, high, ...f64 });

/** Gradient check that fails the test with the checker's report (worst element included). */
function check(fn: (...v: Variable[]) => Variable, inputs: Tensor[], options?: GradCheckOptions): void {
  const r = assertGradCheck(fn, inputs, options);
  expect(r.ok).toBe(true);
  expect(r.checked).toBe(inputs.reduce((s, t) => s + t.size, 0));
}

function close(actual: Tensor, expected: number[] | number, tol = 1e-9): void {
  const a = actual.toTypedArray();
  const e = typeof expected === 'number' ? [expected] : expected;
  expect(a.length).toBe(e.length);
  e.forEach((v, i) => expect(Math.abs(a[i]! - v)).toBeLessThan(tol));
}

describe('elementwise binary ops with broadcasting', () => {
  it('add [2,3] + [3]', () => check((a, b) => F.add(a!, b!), [rn([2, 3]), rn([3])]));
  it('sub [2,1,4] − [3,1]', () => check((a, b) => F.sub(a!, b!), [rn([2, 1, 4]), rn([3, 1])]));
  it('mul [2,1,4] · [3,1]', () => check((a, b) => F.mul(a!, b!), [rn([2, 1, 4]), rn([3, 1])]));
  it('div [2,3] / [2,1] with the divisor away from 0', () => check((a, b) => F.div(a!, b!), [rn([2, 3]), ru([2, 1], 0.5, 2)]));
  it('pow with a variable base and exponent', () => check((a, b) => F.pow(a!, b!), [ru([2, 3], 0.5, 2), rn([3])]));
  it('pow with constant exponents', () => {
    check((a) => F.pow(a!, 2.5), [ru([3, 2], 0.5, 2)]);
    check((a) => F.pow(a!, -1), [ru([3, 2], 0.5, 2)]);
    check((b) => F.pow(2, b!), [rn([4])]);
  });
  it('pow with exponent 0 has gradient 0, also at a = 0', () => {
    const x = new Variable(tensor([0, 1, -2], undefined, f64), { requiresGrad: true });
    F.sum(F.pow(x, 0)).backward();
    close(x.grad!, [0, 0, 0]);
  });
  it('number operands on either side', () => {
    check((a) => F.add(a!, 2), [rn([3])]);
    check((a) => F.sub(3, a!), [rn([3])]);
    check((a) => F.mul(a!, -1.5), [rn([2, 2])]);
    check((a) => F.div(1, a!), [ru([4], 0.5, 2)]);
  });
  it('maximum and minimum, broadcasting', () => {
    check((a, b) => F.maximum(a!, b!), [rn([2, 3]), rn([3])]);
    check((a, b) => F.minimum(a!, b!), [rn([2, 1]), rn([1, 3])]);
    check((a) => F.maximum(a!, 0.1), [rn([5])]);
  });
  it('maximum splits the gradient evenly at a tie', () => {
    const a = new Variable(tensor([1, 2], undefined, f64), { requiresGrad: true });
    const b = new Variable(tensor([1, 3], undefined, f64), { requiresGrad: true });
    F.sum(F.maximum(a, b)).backward();
    close(a.grad!, [0.5, 0]);
    close(b.grad!, [0.5, 1]);
  });
  it('rejects two numbers and non-variables', () => {
    expect(() => F.add(1, 2)).toThrow(AutogradError);
    expect(() => F.where(tensor([1]), 1, 2)).toThrow(/where: at least one operand must be a Variable/);
    expect(() => F.mul(tensor([1]) as unknown as Variable, 2)).toThrow(/mul: a must be a Variable or a number, got Tensor/);
  });
  it('shape mismatches surface as ShapeError naming the op', () => {
    const a = new Variable(rn([2, 3]), { requiresGrad: true });
    const b = new Variable(rn([4]), { requiresGrad: true });
    expect(() => F.add(a, b)).toThrow(ShapeError);
  });
});

describe('elementwise unary ops', () => {
  it('neg, exp, square, sigmoid, tanh', () => {
    check((x) => F.neg(x!), [rn([2, 3])]);
    check((x) => F.exp(x!), [rn([2, 3])]);
    check((x) => F.square(x!), [rn([2, 3])]);
    check((x) => F.sigmoid(x!), [rn([2, 3])]);
    check((x) => F.tanh(x!), [rn([2, 3])]);
  });
  it('log, sqrt, rsqrt on positive inputs', () => {
    check((x) => F.log(x!), [ru([2, 3], 0.3, 3)]);
    check((x) => F.sqrt(x!), [ru([2, 3], 0.3, 3)]);
    check((x) => F.rsqrt(x!), [ru([2, 3], 0.3, 3)]);
  });
  it('abs and relu away from the kink', () => {
    const x = tensor([-1.3, -0.2, 0.4, 2.1, -0.7, 0.9], [2, 3], f64);
    check((v) => F.abs(v!), [x]);
    check((v) => F.relu(v!), [x]);
  });
  it('relu and abs have gradient 0 at 0', () => {
    const x = new Variable(tensor([0, 0], undefined, f64), { requiresGrad: true });
    F.sum(F.add(F.relu(x), F.abs(x))).backward();
    close(x.grad!, [0, 0]);
  });
  it('clamp passes the gradient only inside [min, max]', () => {
    const x = tensor([-2, -0.5, 0.3, 0.8, 1.7, 3], [6], f64);
    check((v) => F.clamp(v!, -1, 1), [x]);
    check((v) => F.clamp(v!, 0), [x]);
    check((v) => F.clamp(v!, undefined, 1), [x]);
    const v = new Variable(x, { requiresGrad: true });
    F.sum(F.clamp(v, -1, 1)).backward();
    close(v.grad!, [0, 1, 1, 1, 0, 0]);
  });
  it('where, with broadcasting and a number branch', () => {
    const cond = tensor([1, 0, 1], [3], f64);
    check((a, b) => F.where(cond, a!, b!), [rn([2, 3]), rn([2, 1])]);
    check((a) => F.where(cond, a!, 0), [rn([2, 3])]);
    check((b) => F.where(cond, -1, b!), [rn([1])]);
  });
});

describe('reductions', () => {
  it('sum over several axes, with and without keepDims', () => {
    check((x) => F.sum(x!, [0, 2]), [rn([2, 3, 4])]);
    check((x) => F.sum(x!, [0, 2], true), [rn([2, 3, 4])]);
    check((x) => F.sum(x!), [rn([2, 3])]);
    check((x) => F.sum(x!, -1, true), [rn([2, 3])]);
  });
  it('mean over several axes, with and without keepDims', () => {
    check((x) => F.mean(x!, [1, -1]), [rn([2, 3, 4])]);
    check((x) => F.mean(x!, [0, 1], true), [rn([2, 3, 4])]);
    check((x) => F.mean(x!), [rn([5])]);
  });
  it('variance and std, biased and unbiased', () => {
    check((x) => F.variance(x!, [0, 2]), [rn([2, 3, 4])]);
    check((x) => F.variance(x!, 1, { unbiased: true, keepDims: true }), [rn([2, 3, 4])]);
    check((x) => F.std(x!, [1, 2], { keepDims: true }), [rn([2, 3, 4])]);
    check((x) => F.std(x!, undefined, { unbiased: true }), [rn([3, 3])]);
  });
  it('std of a constant has gradient 0, not NaN', () => {
    const x = new Variable(tensor([2, 2, 2], undefined, f64), { requiresGrad: true });
    F.std(x).backward();
    close(x.grad!, [0, 0, 0]);
  });
  it('max and min over axes', () => {
    check((x) => F.max(x!, [0, 2]), [rn([2, 3, 4])]);
    check((x) => F.min(x!, 1, true), [rn([2, 3, 4])]);
    check((x) => F.max(x!), [rn([3, 2])]);
  });
  it('max shares the gradient among ties', () => {
    const x = new Variable(tensor([3, 1, 3, 2], undefined, f64), { requiresGrad: true });
    F.max(x).backward();
    close(x.grad!, [0.5, 0, 0.5, 0]);
  });
  it('softmax, logSoftmax, logSumExp', () => {
    check((x) => F.softmax(x!, 1), [rn([2, 4, 3])]);
    check((x) => F.softmax(x!), [rn([3, 4])]);
    check((x) => F.logSoftmax(x!, 0), [rn([3, 4])]);
    check((x) => F.logSumExp(x!, [1, 2]), [rn([2, 3, 4])]);
    check((x) => F.logSumExp(x!, -1, true), [rn([2, 3])]);
  });
  it('bad axes throw AxisError naming the op', () => {
    const x = new Variable(rn([2, 3]), { requiresGrad: true });
    expect(() => F.sum(x, 2)).toThrow(/sum: axis 2 is out of range/);
    expect(() => F.mean(x, [0, -2])).toThrow(T.AxisError);
  });
});

describe('shape ops', () => {
  it('reshape, permute, transpose, flatten', () => {
    check((x) => F.reshape(x!, [3, -1]), [rn([2, 3, 2])]);
    check((x) => F.permute(x!, [2, 0, 1]), [rn([2, 3, 4])]);
    check((x) => F.permute(x!, [-1, 0, 1]), [rn([2, 3, 4])]);
    check((x) => F.transpose(x!), [rn([2, 3])]);
    check((x) => F.transpose(x!, 0, 2), [rn([2, 3, 4])]);
    check((x) => F.flatten(x!, 1), [rn([2, 3, 2])]);
  });
  it('expand, squeeze, unsqueeze', () => {
    check((x) => F.expand(x!, [2, 3, 4]), [rn([3, 1])]);
    check((x) => F.squeeze(x!), [rn([2, 1, 3])]);
    check((x) => F.squeeze(x!, 1), [rn([2, 1, 3])]);
    check((x) => F.unsqueeze(x!, -1), [rn([2, 3])]);
  });
  it('concat and stack', () => {
    check((a, b, c) => F.concat([a!, b!, c!], 1), [rn([2, 1, 3]), rn([2, 2, 3]), rn([2, 3, 3])]);
    check((a, b) => F.stack([a!, b!], 1), [rn([2, 3]), rn([2, 3])]);
    check((a, b) => F.stack([a!, b!], -1), [rn([2, 3]), rn([2, 3])]);
  });
  it('concat with a constant input leaves it without a gradient', () => {
    const a = new Variable(rn([2]), { requiresGrad: true });
    const b = new Variable(rn([3]));
    F.sum(F.mul(F.concat([a, b]), 2)).backward();
    close(a.grad!, [2, 2]);
    expect(b.grad).toBeNull();
  });
  it('pad (all axes and trailing axes) and slice (with a step)', () => {
    check((x) => F.pad(x!, [[1, 2]]), [rn([2, 3])]);
    check((x) => F.pad(x!, [[0, 1], [2, 0]], 1.5), [rn([2, 3])]);
    check((x) => F.pad(x!, [[1, 1], [1, 1]]), [rn([1, 2, 2, 3])]);
    check((x) => F.slice(x!, [[0, 2], null, [1, 5, 2]]), [rn([3, 2, 5])]);
    check((x) => F.slice(x!, [[-2, 3]]), [rn([3, 2])]);
  });
});

describe('matmul and linear', () => {
  it('2-D and with transposes', () => {
    check((a, b) => F.matmul(a!, b!), [rn([2, 3]), rn([3, 4])]);
    check((a, b) => F.matmul(a!, b!, { transposeA: true }), [rn([3, 2]), rn([3, 4])]);
    check((a, b) => F.matmul(a!, b!, { transposeB: true }), [rn([2, 3]), rn([4, 3])]);
    check((a, b) => F.matmul(a!, b!, { transposeA: true, transposeB: true }), [rn([3, 2]), rn([4, 3])]);
  });
  it('batched with broadcast batch axes', () => {
    check((a, b) => F.matmul(a!, b!), [rn([2, 3, 4]), rn([4, 2])]);
    check((a, b) => F.matmul(a!, b!), [rn([2, 1, 3, 4]), rn([3, 4, 2])]);
    check((a, b) => F.matmul(a!, b!, { transposeB: true }), [rn([2, 3, 4]), rn([1, 2, 4])]);
  });
  it('1-D operands', () => {
    check((a, b) => F.matmul(a!, b!), [rn([3]), rn([3])]);
    check((a, b) => F.matmul(a!, b!), [rn([3]), rn([2, 3, 4])]);
    check((a, b) => F.matmul(a!, b!), [rn([2, 3, 4]), rn([4])]);
  });
  it('linear with and without bias, batched input', () => {
    check((x, w, b) => F.linear(x!, w!, b!), [rn([4, 3]), rn([2, 3]), rn([2])]);
    check((x, w) => F.linear(x!, w!), [rn([2, 2, 3]), rn([5, 3])]);
    check((x, w, b) => F.linear(x!, w!, b!), [rn([3]), rn([2, 3]), rn([2])]);
  });
  it('linear matches x·Wᵀ + b and validates shapes', () => {
    const x = new Variable(tensor([[1, 2]], undefined, f64));
    const w = new Variable(tensor([[1, 0], [2, -1], [0.5, 0.5]], undefined, f64));
    const b = new Variable(tensor([0, 1, -1], undefined, f64));
    close(F.linear(x, w, b).data, [1, 1, 0.5]);
    expect(() => F.linear(x, new Variable(rn([3, 4])))).toThrow(/linear: input's last axis must be in_features 4/);
    expect(() => F.linear(x, w, new Variable(rn([2])))).toThrow(/linear: bias must have shape \[3\], got \[2\]/);
  });
});

describe('convolution and pooling', () => {
  it('conv2d plain, with bias', () => {
    check((x, w, b) => F.conv2d(x!, w!, b!), [rn([2, 2, 4, 4]), rn([3, 2, 3, 3]), rn([3])]);
  });
  it('conv2d with stride and padding', () => {
    check((x, w) => F.conv2d(x!, w!, null, { stride: 2, padding: 1 }), [rn([1, 2, 5, 5]), rn([2, 2, 3, 3])]);
  });
  it('conv2d with dilation and asymmetric options', () => {
    check((x, w, b) => F.conv2d(x!, w!, b!, { dilation: 2, padding: [1, 2], stride: [1, 2] }), [rn([1, 1, 6, 5]), rn([2, 1, 2, 3]), rn([2])]);
  });
  it('conv2d with groups', () => {
    check((x, w, b) => F.conv2d(x!, w!, b!, { groups: 2, padding: 1 }), [rn([2, 4, 3, 3]), rn([4, 2, 2, 2]), rn([4])]);
    // depthwise
    check((x, w) => F.conv2d(x!, w!, undefined, { groups: 3, stride: 2 }), [rn([1, 3, 5, 5]), rn([3, 1, 3, 3])]);
  });
  it('maxPool2d with stride and padding', () => {
    check((x) => F.maxPool2d(x!, { kernelSize: 2 }), [rn([2, 2, 4, 4])]);
    check((x) => F.maxPool2d(x!, { kernelSize: 3, stride: 2, padding: 1 }), [rn([1, 2, 5, 5])]);
    check((x) => F.maxPool2d(x!, { kernelSize: [2, 3], stride: 1 }), [rn([1, 1, 3, 4])]);
  });
  it('avgPool2d with and without countIncludePad', () => {
    check((x) => F.avgPool2d(x!, { kernelSize: 2 }), [rn([2, 2, 4, 4])]);
    check((x) => F.avgPool2d(x!, { kernelSize: 3, stride: 2, padding: 1 }), [rn([1, 2, 5, 5])]);
    check((x) => F.avgPool2d(x!, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }), [rn([1, 2, 5, 5])]);
  });
  it('globalAvgPool2d', () => {
    check((x) => F.globalAvgPool2d(x!), [rn([2, 3, 3, 2])]);
  });
  it('a small CNN end to end', () => {
    check(
      (x, w, b, lw) => {
        const h = F.relu(F.conv2d(x!, w!, b!, { padding: 1 }));
        const p = F.flatten(F.maxPool2d(h, { kernelSize: 2 }), 1);
        return F.crossEntropy(F.linear(p, lw!), [1, 0]);
      },
      [rn([2, 1, 4, 4]), rn([2, 1, 3, 3]), rn([2]), rn([3, 8])],
    );
  });
});

describe('dropout', () => {
  it('is the identity when not training or p = 0', () => {
    const x = new Variable(rn([3, 3]), { requiresGrad: true });
    expect(F.dropout(x, 0.5, { training: false })).toBe(x);
    expect(F.dropout(x, 0)).toBe(x);
  });
  it('zeroes about p of the elements and scales the rest by 1/(1−p)', () => {
    const x = new Variable(T.ones([20000], f64));
    const y = F.dropout(x, 0.3, { rng: new Rng(5) }).data.toTypedArray();
    let zerosCount = 0;
    let wrongScale = 0;
    for (const v of y) {
      if (v === 0) zerosCount++;
      else if (Math.abs(v - 1 / 0.7) > 1e-12) wrongScale++;
    }
    expect(wrongScale).toBe(0);
    expect(Math.abs(zerosCount / y.length - 0.3)).toBeLessThan(0.02);
  });
  it('is reproducible with a seeded rng and passes gradCheck', () => {
    const a = F.dropout(new Variable(T.ones([50])), 0.5, { rng: new Rng(9) }).data.toTypedArray();
    const b = F.dropout(new Variable(T.ones([50])), 0.5, { rng: new Rng(9) }).data.toTypedArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    check((x) => F.dropout(x!, 0.4, { rng: new Rng(3) }), [rn([4, 5])]);
  });
  it('rejects p outside [0, 1)', () => {
    const x = new Variable(rn([2]));
    expect(() => F.dropout(x, 1)).toThrow(/dropout: p must be a probability in \[0, 1\), got 1/);
    expect(() => F.dropout(x, -0.1)).toThrow(AutogradError);
    expect(() => F.dropout(x, Number.NaN)).toThrow(AutogradError);
  });
});

describe('losses', () => {
  // Reference values from PyTorch 1.13 (torch.nn.functional.cross_entropy, float64).
  const logits = () => tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.3, -0.7, 0.0], [-2.0, 0.4, 0.9, 1.1]], undefined, f64);
  const targets = [2, 0, 3];

  it('crossEntropy matches PyTorch for each reduction and label smoothing', () => {
    const x = new Variable(logits());
    close(F.crossEntropy(x, targets).data, 0.5676477058684514);
    close(F.crossEntropy(x, Int32Array.from(targets), { reduction: 'sum' }).data, 1.702943117605354);
    close(F.crossEntropy(x, targets, { reduction: 'none' }).data, [0.35240593810343074, 0.4917208015660495, 0.8588163779358736]);
    close(F.crossEntropy(x, targets, { labelSmoothing: 0.2 }).data, 0.8226477058684514);
    close(F.crossEntropy(x, targets, { labelSmoothing: 0.2, reduction: 'sum' }).data, 2.467943117605354);
    close(F.crossEntropy(x, targets, { labelSmoothing: 0.2, reduction: 'none' }).data, [0.6724059381034309, 0.7367208015660496, 1.0588163779358737]);
    expect(F.crossEntropy(x, targets).shape).toEqual([]);
  });
  it('crossEntropy gradient matches PyTorch with label smoothing', () => {
    const x = new Variable(logits(), { requiresGrad: true });
    F.crossEntropy(x, targets, { labelSmoothing: 0.2 }).backward();
    close(x.grad!, [
      0.03561977271527866, -0.004999985073782036, -0.04900176942837521, 0.018381981786878596,
      -0.07947563591745747, 0.04473409184874422, 0.005921410063485362, 0.028820134005227857,
      -0.010304769609030071, 0.053461646715146374, 0.09895537528425294, -0.14211225239036926,
    ], 1e-12);
  });
  it('crossEntropy passes gradCheck for every reduction, with and without smoothing', () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      for (const labelSmoothing of [0, 0.1]) {
        check((x) => F.crossEntropy(x!, [1, 0, 3], { reduction, labelSmoothing }), [rn([3, 4])]);
      }
    }
  });
  it('crossEntropy equals softmax → log → NLL composed from primitives', () => {
    const x0 = rn([3, 4]);
    const oneHot = T.zeros([3, 4], f64);
    targets.forEach((t, i) => (oneHot.data[i * 4 + t] = 1));
    const a = new Variable(x0, { requiresGrad: true });
    const b = new Variable(x0.clone(), { requiresGrad: true });
    const fused = F.crossEntropy(a, targets);
    const composed = F.div(F.neg(F.sum(F.mul(F.log(F.softmax(b, 1)), new Variable(oneHot)))), 3);
    close(fused.data, composed.item(), 1e-12);
    fused.backward();
    composed.backward();
    close(a.grad!, Array.from(b.grad!.toTypedArray()), 1e-12);
    check((x) => F.div(F.neg(F.sum(F.mul(F.log(F.softmax(x!, 1)), new Variable(oneHot)))), 3), [x0]);
  });
  it('crossEntropy validates targets, shapes and options', () => {
    const x = new Variable(logits());
    expect(() => F.crossEntropy(x, [0, 1])).toThrow(/crossEntropy: expected 3 targets \(the batch size of logits \[3,4\]\), got 2/);
    expect(() => F.crossEntropy(x, [0, 1, 4])).toThrow(/target 2 must be an integer class index in \[0, 4\), got 4/);
    expect(() => F.crossEntropy(x, [0, -1, 2])).toThrow(AutogradError);
    expect(() => F.crossEntropy(x, [0, 1.5, 2])).toThrow(AutogradError);
    expect(() => F.crossEntropy(new Variable(rn([4])), [0])).toThrow(ShapeError);
    expect(() => F.crossEntropy(x, targets, { labelSmoothing: 1.5 })).toThrow(/labelSmoothing must be in \[0, 1\]/);
    expect(() => F.crossEntropy(x, targets, { reduction: 'avg' as 'mean' })).toThrow(/reduction must be 'mean', 'sum' or 'none'/);
    expect(() => F.crossEntropy(x, 'abc' as unknown as number[])).toThrow(TensorError);
  });
  it('mseLoss value, gradients for both sides, reductions', () => {
    const p = tensor([1, 2, 3], undefined, f64);
    const t = tensor([0, 2, 5], undefined, f64);
    close(F.mseLoss(new Variable(p), t).data, 5 / 3);
    close(F.mseLoss(new Variable(p), t, { reduction: 'sum' }).data, 5);
    close(F.mseLoss(new Variable(p), t, { reduction: 'none' }).data, [1, 0, 4]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      check((a, b) => F.mseLoss(a!, b!, { reduction }), [rn([2, 3]), rn([2, 3])]);
    }
    expect(() => F.mseLoss(new Variable(p), rn([2]))).toThrow(/mseLoss: pred and target must have the same shape, got \[3\] and \[2\]/);
  });
});

/**
 * The functional namespace: one differentiable version of each `@normlab/tensor` op.
 *
 * Every op has the same form: compute the value with the tensor op, then hand it to
 * `Variable.fromOp` together with the vector-Jacobian product (VJP) that maps the gradient of the
 * output `g` to the gradient of each input. The VJP is written right beside the forward, in terms
 * of tensor ops, so it reads like the math (as in micrograd). Gradients of broadcast operands are
 * summed back to the operand's shape with `sumToShape`.
 *
 * Only the gradients of inputs that require one are computed: each VJP is a thunk that the
 * helpers below call lazily.
 */
import * as T from '@normlab/tensor';
import { type Rng, type Shape, type Tensor, ShapeError, defaultRng, fmtShape, normalizeAxis } from '@normlab/tensor';
import { AutogradError, type OpAttrs, Variable } from './variable.js';

/** A differentiable operand, or a constant number where the tensor op takes one. */
export type Operand = Variable | number;
/** Axes as the tensor reductions take them: one axis, several, or undefined for all. */
export type Axes = T.Axes;
type Grad = (g: Tensor) => Tensor;

/** Options of `conv2d`: the tensor op's (stride, padding, dilation, groups). */
export type Conv2dOptions = NonNullable<Parameters<typeof T.conv2d>[3]>;
/** Options of `maxPool2d`: kernel size, stride, padding. */
export type MaxPool2dOptions = Parameters<typeof T.maxPool2d>[1];
/** Options of `avgPool2d`: kernel size, stride, padding, whether padding counts in the mean. */
export type AvgPool2dOptions = Parameters<typeof T.avgPool2d>[1];
/** Options of `matmul`: whether to transpose either operand's last two axes. */
export type MatmulOptions = NonNullable<Parameters<typeof T.matmul>[2]>;
/** One `[start, end]` or `[start, end, step]` (or null for the whole axis) per axis, as `Tensor.slice`. */
export type SliceRanges = Parameters<typeof T.slice>[1];
/** How a loss reduces its per-example values: their mean (default), their sum, or none (one per example). */
export type Reduction = 'mean' | 'sum' | 'none';

// ---------------------------------------------------------------------------------------------
// Helpers

function checkVar(op: string, name: string, x: unknown): asserts x is Variable {
  if (!(x instanceof Variable)) {
    throw new AutogradError(op, `${name} must be a Variable, got ${describe(x)}`);
  }
}

function checkOperand(op: string, name: string, x: unknown): asserts x is Operand {
  if (!(x instanceof Variable) && typeof x !== 'number') {
    throw new AutogradError(op, `${name} must be a Variable or a number, got ${describe(x)}`);
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** Both operands valid, and not both numbers (there would be nothing to differentiate). */
function checkOperands(op: string, a: unknown, b: unknown): void {
  checkOperand(op, 'a', a);
  checkOperand(op, 'b', b);
  if (typeof a === 'number' && typeof b === 'number') {
    throw new AutogradError(op, `at least one operand must be a Variable, got two numbers ${a} and ${b}`);
  }
}

/** The value the tensor op sees: the tensor of a variable, or the number itself. */
function val(a: Operand): Tensor | number {
  return typeof a === 'number' ? a : a.data;
}

/** An op of one variable; `attrs` are its other arguments, recorded in the graph. */
function unary(op: string, x: Variable, out: Tensor, dx: Grad, attrs?: OpAttrs): Variable {
  return Variable.fromOp(op, out, [x], (g) => [dx(g)], attrs);
}

/**
 * An op of two operands, either of which may be a number. The VJPs get the full broadcast
 * gradient; the sum back to each operand's shape (the gradient of broadcasting) happens here.
 * A number operand is not a parent: it is recorded in the attributes as `a` or `b`.
 */
function binary(op: string, a: Operand, b: Operand, out: Tensor, da: Grad, db: Grad, attrs: OpAttrs = {}): Variable {
  const parents: Variable[] = [];
  const vjps: Grad[] = [];
  if (a instanceof Variable) {
    parents.push(a);
    vjps.push(da);
  }
  if (b instanceof Variable) {
    parents.push(b);
    vjps.push(db);
  }
  const recorded = typeof a === 'number' ? { ...attrs, a } : typeof b === 'number' ? { ...attrs, b } : attrs;
  return Variable.fromOp(op, out, parents, (g) =>
    parents.map((p, i) => (p.requiresGrad ? T.sumToShape(vjps[i]!(g), p.shape) : null)),
    recorded,
  );
}

/** Sorted, de-duplicated, non-negative reduction axes (undefined = all), as the tensor ops read them. */
function reductionAxes(op: string, rank: number, axes: Axes): number[] {
  return T.normalizeAxes(op, axes, rank);
}

/** `shape` with the reduced axes kept as size 1. */
function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** The number of elements each output of the reduction summarizes. */
function reducedCount(shape: Shape, axes: readonly number[]): number {
  let n = 1;
  for (const a of axes) n *= shape[a]!;
  return n;
}

/**
 * A reduced tensor (`keepDims` or not) viewed with the reduced axes as size 1, so it broadcasts
 * against the input: the shape every reduction VJP works in.
 */
function keep(t: Tensor, inShape: Shape, axes: readonly number[]): Tensor {
  return t.reshape(keptShape(inShape, axes));
}

/** Spread a reduced gradient back over the input's shape (the VJP of a sum). */
function spread(g: Tensor, inShape: Shape, axes: readonly number[]): Tensor {
  return T.broadcastTo(keep(g, inShape, axes), inShape);
}

// ---------------------------------------------------------------------------------------------
// Elementwise, binary (NumPy broadcasting; a number operand is a constant)

/** a + b */
export function add(a: Operand, b: Operand): Variable {
  checkOperands('add', a, b);
  return binary('add', a, b, T.add(val(a), val(b)),
    (g) => g,
    (g) => g);
}

/** a − b */
export function sub(a: Operand, b: Operand): Variable {
  checkOperands('sub', a, b);
  return binary('sub', a, b, T.sub(val(a), val(b)),
    (g) => g,
    (g) => T.neg(g));
}

/** a · b */
export function mul(a: Operand, b: Operand): Variable {
  checkOperands('mul', a, b);
  return binary('mul', a, b, T.mul(val(a), val(b)),
    (g) => T.mul(g, val(b)), // ∂(ab)/∂a = b
    (g) => T.mul(g, val(a))); // ∂(ab)/∂b = a
}

/** a / b */
export function div(a: Operand, b: Operand): Variable {
  checkOperands('div', a, b);
  const out = T.div(val(a), val(b));
  return binary('div', a, b, out,
    (g) => T.div(g, val(b)), // ∂(a/b)/∂a = 1/b
    (g) => T.neg(T.div(T.mul(g, out), val(b)))); // ∂(a/b)/∂b = −a/b² = −out/b
}

/** a ^ b */
export function pow(a: Operand, b: Operand): Variable {
  checkOperands('pow', a, b);
  const out = T.pow(val(a), val(b));
  return binary('pow', a, b, out,
    // ∂(aᵇ)/∂a = b·aᵇ⁻¹; a constant exponent 0 has gradient 0 everywhere (also at a = 0).
    (g) => {
      if (b === 0) return T.mul(g, 0);
      const bMinus1 = typeof b === 'number' ? b - 1 : T.sub(b.data, 1);
      return T.mul(g, T.mul(val(b), T.pow(val(a), bMinus1)));
    },
    // ∂(aᵇ)/∂b = aᵇ·ln a; where a = 0 PyTorch takes the limit 0 (for b > 0), not 0·(−∞).
    (g) => {
      if (typeof a === 'number') return T.mul(g, T.mul(out, a === 0 ? 0 : Math.log(a)));
      const lnA = T.where(T.eq(a.data, 0), 0, T.log(a.data));
      return T.mul(g, T.mul(out, lnA));
    });
}

/** Elementwise max(a, b); at ties the gradient is split evenly, as in PyTorch. */
export function maximum(a: Operand, b: Operand): Variable {
  checkOperands('maximum', a, b);
  const out = T.maximum(val(a), val(b));
  return binary('maximum', a, b, out,
    (g) => T.mul(g, tieShare(val(a), val(b), T.gt)),
    (g) => T.mul(g, tieShare(val(b), val(a), T.gt)));
}

/** Elementwise min(a, b); at ties the gradient is split evenly, as in PyTorch. */
export function minimum(a: Operand, b: Operand): Variable {
  checkOperands('minimum', a, b);
  const out = T.minimum(val(a), val(b));
  return binary('minimum', a, b, out,
    (g) => T.mul(g, tieShare(val(a), val(b), T.lt)),
    (g) => T.mul(g, tieShare(val(b), val(a), T.lt)));
}

/** 1 where `x` wins against `y`, ½ at a tie, 0 where it loses. */
function tieShare(x: Tensor | number, y: Tensor | number, wins: (p: Tensor | number, q: Tensor | number) => Tensor): Tensor {
  return T.add(wins(x, y), T.mul(T.eq(x, y), 0.5));
}

// ---------------------------------------------------------------------------------------------
// Elementwise, unary

/** −x */
export function neg(x: Variable): Variable {
  checkVar('neg', 'x', x);
  return unary('neg', x, T.neg(x.data), (g) => T.neg(g));
}

/** eˣ */
export function exp(x: Variable): Variable {
  checkVar('exp', 'x', x);
  const out = T.exp(x.data);
  return unary('exp', x, out, (g) => T.mul(g, out)); // (eˣ)' = eˣ
}

/** ln x */
export function log(x: Variable): Variable {
  checkVar('log', 'x', x);
  return unary('log', x, T.log(x.data), (g) => T.div(g, x.data)); // (ln x)' = 1/x
}

/** √x */
export function sqrt(x: Variable): Variable {
  checkVar('sqrt', 'x', x);
  const out = T.sqrt(x.data);
  return unary('sqrt', x, out, (g) => T.div(g, T.mul(out, 2))); // (√x)' = 1/(2√x)
}

/** 1/√x */
export function rsqrt(x: Variable): Variable {
  checkVar('rsqrt', 'x', x);
  const out = T.rsqrt(x.data);
  // (x^−½)' = −½·x^−3/2 = −½·out³
  return unary('rsqrt', x, out, (g) => T.mul(g, T.mul(T.pow(out, 3), -0.5)));
}

/** |x|; the gradient at 0 is 0 (sign(0) = 0), as in PyTorch. */
export function abs(x: Variable): Variable {
  checkVar('abs', 'x', x);
  return unary('abs', x, T.abs(x.data), (g) => T.mul(g, T.sign(x.data)));
}

/** x² */
export function square(x: Variable): Variable {
  checkVar('square', 'x', x);
  return unary('square', x, T.square(x.data), (g) => T.mul(g, T.mul(x.data, 2)));
}

/** max(x, 0); the gradient at 0 is 0, as in PyTorch. */
export function relu(x: Variable): Variable {
  checkVar('relu', 'x', x);
  return unary('relu', x, T.relu(x.data), (g) => T.reluBackward(g, x.data));
}

/** σ(x) = 1/(1 + e⁻ˣ) */
export function sigmoid(x: Variable): Variable {
  checkVar('sigmoid', 'x', x);
  const out = T.sigmoid(x.data);
  return unary('sigmoid', x, out, (g) => T.mul(g, T.mul(out, T.sub(1, out)))); // σ' = σ(1 − σ)
}

/** tanh x */
export function tanh(x: Variable): Variable {
  checkVar('tanh', 'x', x);
  const out = T.tanh(x.data);
  return unary('tanh', x, out, (g) => T.mul(g, T.sub(1, T.square(out)))); // tanh' = 1 − tanh²
}

/** x clamped to [min, max]; the gradient passes where min ≤ x ≤ max, as in PyTorch. */
export function clamp(x: Variable, min?: number, max?: number): Variable {
  checkVar('clamp', 'x', x);
  const out = T.clamp(x.data, min, max);
  return unary('clamp', x, out, (g) => {
    let passed = g;
    if (min !== undefined) passed = T.mul(passed, T.ge(x.data, min));
    if (max !== undefined) passed = T.mul(passed, T.le(x.data, max));
    return passed;
  }, { min, max });
}

/**
 * `cond ? a : b` elementwise with broadcasting. `cond` is a constant (a Tensor, or a Variable
 * whose value is used); each branch gets the gradient where it was chosen.
 */
export function where(cond: Tensor | Variable, a: Operand, b: Operand): Variable {
  const c = cond instanceof Variable ? cond.data : cond;
  T.checkTensor('where', 'cond', c);
  checkOperands('where', a, b);
  if (typeof a === 'number' && typeof b === 'number') {
    throw new AutogradError('where', 'at least one of a, b must be a Variable, got two numbers');
  }
  const out = T.where(c, val(a), val(b));
  return binary('where', a, b, out,
    (g) => T.where(c, g, 0), // the gradient flows to the branch that was chosen
    (g) => T.where(c, 0, g),
    { cond: c });
}

// ---------------------------------------------------------------------------------------------
// Reductions

/** Σ over `axes` (all by default). */
export function sum(x: Variable, axes?: Axes, keepDims = false): Variable {
  checkVar('sum', 'x', x);
  const ax = reductionAxes('sum', x.data.rank, axes);
  return unary('sum', x, T.sum(x.data, ax, keepDims), (g) => spread(g, x.shape, ax), { axes: ax, keepDims }); // ∂Σx/∂xᵢ = 1
}

/** Mean over `axes` (all by default). */
export function mean(x: Variable, axes?: Axes, keepDims = false): Variable {
  checkVar('mean', 'x', x);
  const ax = reductionAxes('mean', x.data.rank, axes);
  const n = reducedCount(x.shape, ax);
  return unary('mean', x, T.mean(x.data, ax, keepDims), (g) => T.div(spread(g, x.shape, ax), n), { axes: ax, keepDims }); // 1/n each
}

/** Options of `variance`. */
export interface VarianceOptions {
  /** Divide by n − 1 (Bessel's correction) instead of n. Default false (biased). */
  unbiased?: boolean;
  /** Keep each reduced axis with size 1 (default false). */
  keepDims?: boolean;
}

/** Variance over `axes`: Σ(x − μ)²/(n − ddof). */
export function variance(x: Variable, axes?: Axes, options: VarianceOptions = {}): Variable {
  checkVar('variance', 'x', x);
  const ax = reductionAxes('variance', x.data.rank, axes);
  const ddof = options.unbiased ? 1 : 0;
  const out = T.variance(x.data, ax, { unbiased: options.unbiased ?? false, keepDims: options.keepDims ?? false });
  // ∂var/∂xᵢ = 2(xᵢ − μ)/(n − ddof)  (the ∂μ/∂xᵢ terms sum to zero)
  return unary('variance', x, out, (g) => {
    const centered = T.sub(x.data, T.mean(x.data, ax, true));
    return T.mul(spread(g, x.shape, ax), T.mul(centered, 2 / (reducedCount(x.shape, ax) - ddof)));
  }, { axes: ax, unbiased: ddof === 1, keepDims: options.keepDims ?? false });
}

/** Standard deviation over `axes`. At σ = 0 the gradient is taken as 0 (PyTorch gives NaN). */
export function std(x: Variable, axes?: Axes, options: VarianceOptions = {}): Variable {
  checkVar('std', 'x', x);
  const ax = reductionAxes('std', x.data.rank, axes);
  const ddof = options.unbiased ? 1 : 0;
  const out = T.std(x.data, ax, { unbiased: options.unbiased ?? false, keepDims: options.keepDims ?? false });
  // ∂σ/∂xᵢ = (xᵢ − μ)/((n − ddof)·σ)
  return unary('std', x, out, (g) => {
    const sigma = keep(out, x.shape, ax);
    const safeSigma = T.where(T.eq(sigma, 0), T.full([], Infinity, { dtype: sigma.dtype }), sigma);
    const centered = T.sub(x.data, T.mean(x.data, ax, true));
    const scale = T.div(keep(g, x.shape, ax), T.mul(safeSigma, reducedCount(x.shape, ax) - ddof));
    return T.mul(centered, scale);
  }, { axes: ax, unbiased: ddof === 1, keepDims: options.keepDims ?? false });
}

/** Max over `axes`; the gradient is shared evenly among tied maxima (as PyTorch's amax). */
export function max(x: Variable, axes?: Axes, keepDims = false): Variable {
  checkVar('max', 'x', x);
  const ax = reductionAxes('max', x.data.rank, axes);
  const out = T.max(x.data, ax, keepDims);
  return unary('max', x, out, (g) => extremumGrad(g, x.data, out, ax), { axes: ax, keepDims });
}

/** Min over `axes`; the gradient is shared evenly among tied minima (as PyTorch's amin). */
export function min(x: Variable, axes?: Axes, keepDims = false): Variable {
  checkVar('min', 'x', x);
  const ax = reductionAxes('min', x.data.rank, axes);
  const out = T.min(x.data, ax, keepDims);
  return unary('min', x, out, (g) => extremumGrad(g, x.data, out, ax), { axes: ax, keepDims });
}

function extremumGrad(g: Tensor, x: Tensor, out: Tensor, ax: readonly number[]): Tensor {
  const hit = T.eq(x, keep(out, x.shape, ax)); // 1 at the arg-extrema
  const ties = T.sum(hit, ax, true);
  return T.mul(hit, T.div(keep(g, x.shape, ax), ties));
}

/** softmax along `axis`. */
export function softmax(x: Variable, axis = -1): Variable {
  checkVar('softmax', 'x', x);
  const y = T.softmax(x.data, axis);
  // ∂L/∂x = y ⊙ (g − Σ_axis g ⊙ y)
  return unary('softmax', x, y, (g) => T.mul(y, T.sub(g, T.sum(T.mul(g, y), axis, true))), { axis });
}

/** log softmax along `axis`. */
export function logSoftmax(x: Variable, axis = -1): Variable {
  checkVar('logSoftmax', 'x', x);
  const out = T.logSoftmax(x.data, axis);
  // ∂L/∂x = g − softmax(x) ⊙ Σ_axis g
  return unary('logSoftmax', x, out, (g) => T.sub(g, T.mul(T.exp(out), T.sum(g, axis, true))), { axis });
}

/** log Σ exp(x) over `axes`. */
export function logSumExp(x: Variable, axes?: Axes, keepDims = false): Variable {
  checkVar('logSumExp', 'x', x);
  const ax = reductionAxes('logSumExp', x.data.rank, axes);
  const out = T.logSumExp(x.data, ax, keepDims);
  // ∂lse/∂xᵢ = exp(xᵢ − lse) = softmax over the reduced axes
  return unary('logSumExp', x, out, (g) => T.mul(keep(g, x.shape, ax), T.exp(T.sub(x.data, keep(out, x.shape, ax)))), { axes: ax, keepDims });
}

// ---------------------------------------------------------------------------------------------
// Shape

/** The same values in `shape` (one entry may be −1). */
export function reshape(x: Variable, shape: readonly number[]): Variable {
  checkVar('reshape', 'x', x);
  return unary('reshape', x, T.reshape(x.data, shape), (g) => T.reshape(g, x.shape), { shape: [...shape] });
}

/** Axes reordered; the gradient is permuted back by the inverse permutation. */
export function permute(x: Variable, axes: readonly number[]): Variable {
  checkVar('permute', 'x', x);
  const out = T.permute(x.data, axes);
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => {
    inverse[normalizeAxis('permute', a, x.data.rank)] = i;
  });
  return unary('permute', x, out, (g) => T.permute(g, inverse), { axes: [...axes] });
}

/** Two axes swapped (default the last two); a swap is its own inverse. */
export function transpose(x: Variable, dim0?: number, dim1?: number): Variable {
  checkVar('transpose', 'x', x);
  return unary('transpose', x, T.transpose(x.data, dim0, dim1), (g) => T.transpose(g, dim0, dim1), { dim0, dim1 });
}

/** Size-1 axes repeated to `shape`; the gradient sums over the repeats. */
export function expand(x: Variable, shape: readonly number[]): Variable {
  checkVar('expand', 'x', x);
  return unary('expand', x, T.expand(x.data, shape), (g) => T.sumToShape(g, x.shape), { shape: [...shape] });
}

/** `x` without `axis` (which must have size 1), or without every size-1 axis; the gradient is reshaped back. */
export function squeeze(x: Variable, axis?: number): Variable {
  checkVar('squeeze', 'x', x);
  return unary('squeeze', x, T.squeeze(x.data, axis), (g) => T.reshape(g, x.shape), { axis });
}

/** `x` with a size-1 axis inserted at `axis`. */
export function unsqueeze(x: Variable, axis: number): Variable {
  checkVar('unsqueeze', 'x', x);
  return unary('unsqueeze', x, T.unsqueeze(x.data, axis), (g) => T.reshape(g, x.shape), { axis });
}

/** Axes `startDim`..`endDim` (inclusive) merged into one, as `torch.flatten`. */
export function flatten(x: Variable, startDim = 0, endDim = -1): Variable {
  checkVar('flatten', 'x', x);
  return unary('flatten', x, T.flatten(x.data, startDim, endDim), (g) => T.reshape(g, x.shape), { startDim, endDim });
}

/** Joined along `axis`; the gradient is split back into the pieces. */
export function concat(xs: readonly Variable[], axis = 0): Variable {
  if (!Array.isArray(xs) || xs.length === 0) throw new AutogradError('concat', 'expected a non-empty array of Variables');
  xs.forEach((x, i) => checkVar('concat', `xs[${i}]`, x));
  const out = T.concat(xs.map((x) => x.data), axis);
  const ax = normalizeAxis('concat', axis, out.rank);
  return Variable.fromOp('concat', out, xs, (g) => T.split(g, xs.map((x) => x.shape[ax]!), ax), { axis: ax });
}

/** Stacked along a new `axis`; each input gets its slice of the gradient. */
export function stack(xs: readonly Variable[], axis = 0): Variable {
  if (!Array.isArray(xs) || xs.length === 0) throw new AutogradError('stack', 'expected a non-empty array of Variables');
  xs.forEach((x, i) => checkVar('stack', `xs[${i}]`, x));
  const out = T.stack(xs.map((x) => x.data), axis);
  const ax = normalizeAxis('stack', axis, out.rank);
  return Variable.fromOp('stack', out, xs, (g) =>
    T.split(g, xs.map(() => 1), ax).map((piece, i) => T.reshape(piece, xs[i]!.shape)),
    { axis: ax },
  );
}

/**
 * Padded with `value`: `pads` is one `[before, after]` per axis from the first, or per trailing
 * axes. The gradient is the un-padded window of the output gradient.
 */
export function pad(x: Variable, pads: ReadonlyArray<readonly [number, number]>, value = 0): Variable {
  checkVar('pad', 'x', x);
  const out = T.pad(x.data, pads as Parameters<typeof T.pad>[1], value);
  const first = x.data.rank - pads.length;
  return unary('pad', x, out, (g) =>
    g.slice(x.shape.map((d, i) => (i < first ? null : ([pads[i - first]![0], pads[i - first]![0] + d] as const)))),
    { pads, value },
  );
}

/** A sub-range along each axis (see `Tensor.slice`); the gradient is scattered back into zeros. */
export function slice(x: Variable, ranges: SliceRanges): Variable {
  checkVar('slice', 'x', x);
  const out = T.slice(x.data, ranges);
  return unary('slice', x, out, (g) => {
    const dx = T.zeros(x.shape, { dtype: g.dtype });
    scatterInto(dx.slice(ranges as Parameters<Tensor['slice']>[0]), g);
    return dx;
  }, { ranges });
}

/** Copy `src` (any layout) into the strided view `dst`, which shares its storage with its base. */
function scatterInto(dst: Tensor, src: Tensor): void {
  const s = src.contiguous().data;
  const { data, shape, strides, offset } = dst;
  const rank = shape.length;
  const n = dst.size;
  if (n === 0) return;
  if (rank === 0) {
    data[offset] = s[0]!;
    return;
  }
  // Innermost axis in a tight loop, outer axes with an odometer (as copyStrided, reversed).
  const inner = shape[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let p = offset;
  for (let o = 0; o < n; o += inner) {
    for (let i = 0, q = p; i < inner; i++, q += innerStride) data[q] = s[o + i]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      p += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      p -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Linear algebra

/**
 * Matrix product as `torch.matmul` (1-D, 2-D, batched with broadcast batch axes), optionally of
 * the transposes of the (last two axes of the) operands.
 */
export function matmul(a: Variable, b: Variable, options: MatmulOptions = {}): Variable {
  checkVar('matmul', 'a', a);
  checkVar('matmul', 'b', b);
  const out = T.matmul(a.data, b.data, options);
  // Work with 1-D operands promoted to matrices, as matmul does: a (k) → (1, k), b (k) → (k, 1).
  const tA = a.data.rank >= 2 && !!options.transposeA;
  const tB = b.data.rank >= 2 && !!options.transposeB;
  const a2 = a.data.rank === 1 ? T.reshape(a.data, [1, a.shape[0]!]) : a.data;
  const b2 = b.data.rank === 1 ? T.reshape(b.data, [b.shape[0]!, 1]) : b.data;
  return Variable.fromOp('matmul', out, [a, b], (g) => {
    // g in the promoted shape (…, m, n)
    const outShape = [...out.shape];
    if (a.data.rank === 1) outShape.splice(outShape.length - (b.data.rank === 1 ? 0 : 1), 0, 1);
    if (b.data.rank === 1) outShape.push(1);
    const g2 = T.reshape(g, outShape);
    // C = op(A)·op(B):  ∂/∂op(A) = G·op(B)ᵀ,  ∂/∂op(B) = op(A)ᵀ·G; transpose back when op is ᵀ.
    const da = !a.requiresGrad
      ? null
      : tA
        ? T.matmul(b2, g2, { transposeA: tB, transposeB: true })
        : T.matmul(g2, b2, { transposeB: !tB });
    const db = !b.requiresGrad
      ? null
      : tB
        ? T.matmul(g2, a2, { transposeA: true, transposeB: tA })
        : T.matmul(a2, g2, { transposeA: !tA });
    return [
      da && T.reshape(T.sumToShape(da, a2.shape), a.shape),
      db && T.reshape(T.sumToShape(db, b2.shape), b.shape),
    ];
  }, { transposeA: !!options.transposeA, transposeB: !!options.transposeB });
}

/** y = x·Wᵀ + b with weight (out, in) and bias (out), as `torch.nn.functional.linear`. */
export function linear(x: Variable, weight: Variable, bias?: Variable | null): Variable {
  checkVar('linear', 'x', x);
  checkVar('linear', 'weight', weight);
  if (bias != null) checkVar('linear', 'bias', bias);
  if (weight.data.rank !== 2) {
    throw new ShapeError('linear', `weight must be 2-D (out, in), got shape ${fmtShape(weight.shape)}`);
  }
  const [outF, inF] = weight.shape as [number, number];
  if (x.data.rank < 1 || x.shape[x.data.rank - 1] !== inF) {
    throw new ShapeError('linear', `input's last axis must be in_features ${inF} of weight ${fmtShape(weight.shape)}, got input shape ${fmtShape(x.shape)}`);
  }
  if (bias != null && (bias.data.rank !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError('linear', `bias must have shape [${outF}], got ${fmtShape(bias.shape)}`);
  }
  let out = T.matmul(x.data, weight.data, { transposeB: true });
  if (bias != null) out = T.add(out, bias.data);
  const parents = bias != null ? [x, weight, bias] : [x, weight];
  return Variable.fromOp('linear', out, parents, (g) => {
    const rows = g.size / outF;
    const g2 = T.reshape(g, [rows, outF]); // every leading axis is a batch axis
    return [
      x.requiresGrad ? T.matmul(g, weight.data) : null, // ∂/∂x = G·W
      weight.requiresGrad ? T.matmul(g2, T.reshape(x.data, [rows, inF]), { transposeA: true }) : null, // ∂/∂W = Gᵀ·X
      ...(bias != null ? [bias.requiresGrad ? T.sum(g2, 0) : null] : []), // ∂/∂b = Σ_rows G
    ];
  });
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling (NCHW)

/** 2-D cross-correlation as `torch.nn.functional.conv2d`: x (N, C, H, W), weight (O, C/groups, kH, kW). */
export function conv2d(x: Variable, weight: Variable, bias?: Variable | null, options: Conv2dOptions = {} as Conv2dOptions): Variable {
  checkVar('conv2d', 'x', x);
  checkVar('conv2d', 'weight', weight);
  if (bias != null) checkVar('conv2d', 'bias', bias);
  const out = T.conv2d(x.data, weight.data, bias?.data, options);
  const parents = bias != null ? [x, weight, bias] : [x, weight];
  return Variable.fromOp('conv2d', out, parents, (g) => [
    x.requiresGrad ? T.conv2dBackwardInput(g, weight.data, x.shape, options) : null, // transposed conv of G with W
    weight.requiresGrad ? T.conv2dBackwardWeight(g, x.data, weight.shape, options) : null, // correlation of X with G
    ...(bias != null ? [bias.requiresGrad ? T.sum(g, [0, 2, 3]) : null] : []), // Σ over N, H, W
  ], { ...options });
}

/** Max pooling; the gradient goes to the arg-max of each window (the recorded indices). */
export function maxPool2d(x: Variable, options: MaxPool2dOptions): Variable {
  checkVar('maxPool2d', 'x', x);
  const { output, indices } = T.maxPool2d(x.data, options);
  return unary('maxPool2d', x, output, (g) => T.maxPool2dBackward(g, indices, x.shape), { ...options });
}

/** Average pooling; each window's gradient is spread evenly over it. */
export function avgPool2d(x: Variable, options: AvgPool2dOptions): Variable {
  checkVar('avgPool2d', 'x', x);
  return unary('avgPool2d', x, T.avgPool2d(x.data, options), (g) => T.avgPool2dBackward(g, x.shape, options), { ...options });
}

/** Mean over H and W: (N, C, H, W) → (N, C, 1, 1). */
export function globalAvgPool2d(x: Variable): Variable {
  checkVar('globalAvgPool2d', 'x', x);
  const out = T.globalAvgPool2d(x.data);
  const hw = x.data.rank === 4 ? x.shape[2]! * x.shape[3]! : 1;
  return unary('globalAvgPool2d', x, out, (g) => T.div(T.broadcastTo(g, x.shape), hw));
}

// ---------------------------------------------------------------------------------------------
// Dropout

/** Options of `dropout`. */
export interface DropoutOptions {
  /** Drop only in training (default true, as `torch.nn.functional.dropout`). */
  training?: boolean;
  /** Source of the mask (default: the global generator, see `manualSeed`). */
  rng?: Rng;
}

/**
 * Inverted dropout: each element is zeroed with probability `p` and the survivors are scaled by
 * 1/(1 − p), so the expectation is unchanged and evaluation needs no rescaling. The identity when
 * not training or when p = 0.
 */
export function dropout(x: Variable, p: number, options: DropoutOptions = {}): Variable {
  checkVar('dropout', 'x', x);
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
    throw new AutogradError('dropout', `p must be a probability in [0, 1), got ${p}`);
  }
  if (options.training === false || p === 0) return x;
  const rng = options.rng ?? defaultRng();
  const mask = T.zeros(x.shape, { dtype: x.dtype });
  const m = mask.data;
  const keepScale = 1 / (1 - p);
  // Compare raw 32-bit draws with p·2³² instead of calling uniform() (two draws) per element.
  const threshold = p * 4294967296;
  for (let i = 0; i < m.length; i++) m[i] = rng.nextUint32() < threshold ? 0 : keepScale;
  return unary('dropout', x, T.mul(x.data, mask), (g) => T.mul(g, mask), { p });
}

// ---------------------------------------------------------------------------------------------
// Losses

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions {
  /** How the per-example losses are combined (default `mean`). */
  reduction?: Reduction;
  /** ε in [0, 1]: the target becomes (1 − ε)·one-hot + ε/C (as PyTorch's `label_smoothing`). */
  labelSmoothing?: number;
}

function checkReduction(op: string, reduction: unknown): Reduction {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new AutogradError(op, `reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
  return reduction;
}

/**
 * Cross-entropy from logits (N, C) and class indices (N), fused as log-softmax + negative
 * log-likelihood. With label smoothing ε, per sample
 *   loss = (1 − ε)·(−log p_target) + ε·mean_c(−log p_c),
 * whose gradient with respect to the logits is softmax − q with q = (1 − ε)·one-hot + ε/C.
 */
export function crossEntropy(
  logits: Variable,
  targets: Int32Array | readonly number[],
  options: CrossEntropyOptions = {},
): Variable {
  const op = 'crossEntropy';
  checkVar(op, 'logits', logits);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const eps = options.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) {
    throw new AutogradError(op, `labelSmoothing must be in [0, 1], got ${eps}`);
  }
  if (logits.data.rank !== 2) {
    throw new ShapeError(op, `logits must be 2-D (batch, classes), got shape ${fmtShape(logits.shape)}`);
  }
  const [n, c] = logits.shape as [number, number];
  if (!(targets instanceof Int32Array) && !Array.isArray(targets)) {
    throw new AutogradError(op, `targets must be an Int32Array or an array of class indices, got ${describe(targets)}`);
  }
  if (targets.length !== n) {
    throw new ShapeError(op, `expected ${n} targets (the batch size of logits ${fmtShape(logits.shape)}), got ${targets.length}`);
  }
  if (n === 0 && reduction === 'mean') throw new ShapeError(op, 'the mean over an empty batch is undefined');
  if (c === 0) throw new ShapeError(op, `logits must have at least one class, got shape ${fmtShape(logits.shape)}`);
  const tgt = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= c) {
      throw new AutogradError(op, `target ${i} must be an integer class index in [0, ${c}), got ${t}`);
    }
    tgt[i] = t;
  }

  const logp = T.logSoftmax(logits.data, 1).contiguous().data;
  const perSample = T.zeros([n], { dtype: logits.dtype });
  const ps = perSample.data;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    let sumLogp = 0;
    for (let k = 0; k < c; k++) sumLogp += logp[row + k]!;
    const li = -(1 - eps) * logp[row + tgt[i]!]! - (eps / c) * sumLogp;
    ps[i] = li;
    total += li;
  }
  const out = reduction === 'none' ? perSample : T.full([], reduction === 'mean' ? total / n : total, { dtype: logits.dtype });

  return unary(op, logits, out, (g) => {
    const gv = g.contiguous().data;
    const dx = T.zeros([n, c], { dtype: logits.dtype });
    const d = dx.data;
    const scale = reduction === 'mean' ? 1 / n : 1;
    const smooth = eps / c;
    for (let i = 0; i < n; i++) {
      const gi = (reduction === 'none' ? gv[i]! : gv[0]!) * scale;
      const row = i * c;
      // ∂loss_i/∂z_ik = softmax_ik − q_ik
      for (let k = 0; k < c; k++) d[row + k] = gi * (Math.exp(logp[row + k]!) - smooth);
      d[row + tgt[i]!]! -= gi * (1 - eps);
    }
    return dx;
  }, { targets: tgt, reduction, labelSmoothing: eps });
}

/** Options of `mseLoss`. */
export interface MseLossOptions {
  /** How the per-element squared errors are combined (default `mean`). */
  reduction?: Reduction;
}

/** Mean squared error (pred − target)², both of the same shape; `target` may be a Tensor. */
export function mseLoss(pred: Variable, target: Variable | Tensor, options: MseLossOptions = {}): Variable {
  const op = 'mseLoss';
  checkVar(op, 'pred', pred);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const tv = target instanceof Variable ? target : new Variable(target as Tensor);
  T.checkTensor(op, 'target', tv.data);
  if (!T.shapesEqual(pred.shape, tv.shape)) {
    throw new ShapeError(op, `pred and target must have the same shape, got ${fmtShape(pred.shape)} and ${fmtShape(tv.shape)}`);
  }
  if (pred.size === 0 && reduction === 'mean') throw new ShapeError(op, 'the mean over an empty tensor is undefined');
  const diff = T.sub(pred.data, tv.data);
  const sq = T.square(diff);
  const out = reduction === 'none' ? sq : reduction === 'sum' ? T.sum(sq) : T.mean(sq);
  const scale = reduction === 'mean' ? 2 / pred.size : 2;
  return Variable.fromOp(op, out, [pred, tv], (g) => {
    // ∂(p − t)²/∂p = 2(p − t) = −∂/∂t; g broadcasts when reduced to a scalar
    const dPred = T.mul(T.mul(diff, scale), g);
    return [pred.requiresGrad ? dPred : null, tv.requiresGrad ? T.neg(dPred) : null];
  }, { reduction });
}

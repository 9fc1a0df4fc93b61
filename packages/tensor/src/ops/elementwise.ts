/**
 * Elementwise ops with NumPy broadcasting. A `number` operand takes the other operand's dtype;
 * two tensors of different dtypes throw `DTypeError` (no implicit promotion).
 */
import { DTypeError, ShapeError, TensorError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { type Shape, Tensor, allocate, checkSameDType, checkTensor } from '../tensor.js';

type Binary = (a: Tensor, b: Tensor) => Tensor;
type Unary = (x: Tensor) => Tensor;

declare module '../registry.js' {
  interface KernelSignatures {
    /** Binary kernels take validated same-dtype operands with broadcastable shapes. */
    add: Binary;
    /** a − b. */
    sub: Binary;
    /** a · b. */
    mul: Binary;
    /** a / b (IEEE: x/0 is ±Infinity or NaN). */
    div: Binary;
    /** a raised to the power b (`Math.pow` per element). */
    pow: Binary;
    /** The larger of a and b per element (NaN if either is NaN). */
    maximum: Binary;
    /** The smaller of a and b per element (NaN if either is NaN). */
    minimum: Binary;
    /** 1 where a = b, else 0, in the operands' dtype. */
    eq: Binary;
    /** 1 where a ≠ b, else 0. */
    ne: Binary;
    /** 1 where a < b, else 0. */
    lt: Binary;
    /** 1 where a ≤ b, else 0. */
    le: Binary;
    /** 1 where a > b, else 0. */
    gt: Binary;
    /** 1 where a ≥ b, else 0. */
    ge: Binary;
    /** −x. Unary kernels take one validated tensor and return a new one of its shape and dtype. */
    neg: Unary;
    /** eˣ. */
    exp: Unary;
    /** Natural logarithm (−Infinity at 0, NaN below). */
    log: Unary;
    /** √x (NaN below 0). */
    sqrt: Unary;
    /** 1/√x. */
    rsqrt: Unary;
    /** |x|. */
    abs: Unary;
    /** x². */
    square: Unary;
    /** −1, 0 or 1 by the sign of x (NaN stays NaN). */
    sign: Unary;
    /** max(x, 0). */
    relu: Unary;
    /** dy and x of one shape and dtype. */
    reluBackward: (dy: Tensor, x: Tensor) => Tensor;
    /** 1 / (1 + e⁻ˣ). */
    sigmoid: Unary;
    /** Hyperbolic tangent. */
    tanh: Unary;
    /** Bounds are numbers; a missing bound is ±Infinity. */
    clamp: (x: Tensor, min: number, max: number) => Tensor;
    /** `cond` may have either dtype; `a` and `b` share one, which the result takes. */
    where: (cond: Tensor, a: Tensor, b: Tensor) => Tensor;
    /** True when no element is NaN or ±Infinity. */
    isFiniteAll: (x: Tensor) => boolean;
  }
}

/**
 * The NumPy broadcast of two shapes: aligned at the trailing axis, each pair of sizes equal or
 * one of them 1. Throws `ShapeError` naming `op` and both shapes.
 */
export function broadcastShapes(a: Shape, b: Shape, op = 'broadcastShapes'): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)]!;
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)]!;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else throw new ShapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast (axis ${i}: ${da} vs ${db})`);
  }
  return out;
}

function scalarLike(value: number, like: Tensor): Tensor {
  const data = allocate(like.dtype, 1);
  data[0] = value;
  return new Tensor(data, []);
}

/** Resolve `a`, `b` (tensor or number) to two same-dtype tensors with broadcastable shapes. */
function binaryOperands(op: string, a: Tensor | number, b: Tensor | number): [Tensor, Tensor] {
  const aNum = typeof a === 'number';
  const bNum = typeof b === 'number';
  if (aNum && bNum) throw new TensorError(op, `at least one operand must be a Tensor, got numbers ${a} and ${b}`);
  if (!aNum) checkTensor(op, 'a', a);
  if (!bNum) checkTensor(op, 'b', b);
  const ta = aNum ? scalarLike(a, b as Tensor) : (a as Tensor);
  const tb = bNum ? scalarLike(b, ta) : (b as Tensor);
  checkSameDType(op, ta, tb);
  broadcastShapes(ta.shape, tb.shape, op);
  return [ta, tb];
}

/** `a + b`. */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('add', ...binaryOperands('add', a, b));
}
/** `a - b`. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('sub', ...binaryOperands('sub', a, b));
}
/** `a * b`. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('mul', ...binaryOperands('mul', a, b));
}
/** `a / b` (true division). */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('div', ...binaryOperands('div', a, b));
}
/** `a ** b`. */
export function pow(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('pow', ...binaryOperands('pow', a, b));
}
/** The elementwise larger value; NaN propagates (as `torch.maximum`). */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('maximum', ...binaryOperands('maximum', a, b));
}
/** The elementwise smaller value; NaN propagates (as `torch.minimum`). */
export function minimum(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('minimum', ...binaryOperands('minimum', a, b));
}
/** 1 where `a == b`, else 0, in the operands' dtype. */
export function eq(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('eq', ...binaryOperands('eq', a, b));
}
/** 1 where `a != b`, else 0. */
export function ne(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('ne', ...binaryOperands('ne', a, b));
}
/** 1 where `a < b`, else 0. */
export function lt(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('lt', ...binaryOperands('lt', a, b));
}
/** 1 where `a <= b`, else 0. */
export function le(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('le', ...binaryOperands('le', a, b));
}
/** 1 where `a > b`, else 0. */
export function gt(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('gt', ...binaryOperands('gt', a, b));
}
/** 1 where `a >= b`, else 0. */
export function ge(a: Tensor | number, b: Tensor | number): Tensor {
  return runKernel('ge', ...binaryOperands('ge', a, b));
}

function unaryOperand(op: string, x: unknown): Tensor {
  checkTensor(op, 'x', x);
  return x;
}

/** `-x`. */
export function neg(x: Tensor): Tensor {
  return runKernel('neg', unaryOperand('neg', x));
}
/** `e^x`. */
export function exp(x: Tensor): Tensor {
  return runKernel('exp', unaryOperand('exp', x));
}
/** Natural logarithm (NaN below 0, -Infinity at 0). */
export function log(x: Tensor): Tensor {
  return runKernel('log', unaryOperand('log', x));
}
/** Square root (NaN below 0). */
export function sqrt(x: Tensor): Tensor {
  return runKernel('sqrt', unaryOperand('sqrt', x));
}
/** `1 / sqrt(x)`. */
export function rsqrt(x: Tensor): Tensor {
  return runKernel('rsqrt', unaryOperand('rsqrt', x));
}
/** `|x|`. */
export function abs(x: Tensor): Tensor {
  return runKernel('abs', unaryOperand('abs', x));
}
/** `x * x`. */
export function square(x: Tensor): Tensor {
  return runKernel('square', unaryOperand('square', x));
}
/** -1, 0 or 1 (NaN stays NaN). */
export function sign(x: Tensor): Tensor {
  return runKernel('sign', unaryOperand('sign', x));
}
/** `max(x, 0)`; NaN stays NaN. */
export function relu(x: Tensor): Tensor {
  return runKernel('relu', unaryOperand('relu', x));
}
/**
 * The gradient of `relu`: `dy` where `x > 0`, else 0 (PyTorch's `threshold_backward`; where x is
 * NaN or ≤ 0 the gradient is 0 whatever dy holds). One pass instead of `mul(dy, gt(x, 0))`.
 */
export function reluBackward(dy: Tensor, x: Tensor): Tensor {
  checkTensor('reluBackward', 'dy', dy);
  checkTensor('reluBackward', 'x', x);
  checkSameDType('reluBackward', dy, x);
  if (dy.rank !== x.rank || dy.shape.some((d, i) => d !== x.shape[i])) {
    throw new ShapeError('reluBackward', `dy ${fmtShape(dy.shape)} and x ${fmtShape(x.shape)} must have one shape`);
  }
  return runKernel('reluBackward', dy, x);
}
/** `1 / (1 + e^-x)`, computed without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor {
  return runKernel('sigmoid', unaryOperand('sigmoid', x));
}
/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return runKernel('tanh', unaryOperand('tanh', x));
}

/** Limit `x` to `[min, max]`; either bound may be omitted (`undefined`), not both. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  checkTensor('clamp', 'x', x);
  if (min === undefined && max === undefined) {
    throw new TensorError('clamp', 'at least one of min and max must be given');
  }
  for (const [name, v] of [['min', min], ['max', max]] as const) {
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) {
      throw new TensorError('clamp', `${name} must be a number, got ${String(v)}`);
    }
  }
  return runKernel('clamp', x, min ?? -Infinity, max ?? Infinity);
}

/**
 * `a` where `cond` is non-zero, else `b`, broadcasting all three. `a` and `b` may be numbers
 * (taking the other's dtype, or `cond`'s when both are numbers); `cond` may have either dtype.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  checkTensor('where', 'cond', cond);
  if (typeof a !== 'number') checkTensor('where', 'a', a);
  if (typeof b !== 'number') checkTensor('where', 'b', b);
  const like = typeof a !== 'number' ? a : typeof b !== 'number' ? b : cond;
  const ta = typeof a === 'number' ? scalarLike(a, like) : a;
  const tb = typeof b === 'number' ? scalarLike(b, like) : b;
  if (ta.dtype !== tb.dtype) throw new DTypeError('where', `a and b have different dtypes: ${ta.dtype} and ${tb.dtype}`);
  const ab = broadcastShapes(ta.shape, tb.shape, 'where');
  try {
    broadcastShapes(cond.shape, ab, 'where');
  } catch {
    throw new ShapeError('where', `cond ${fmtShape(cond.shape)}, a ${fmtShape(ta.shape)} and b ${fmtShape(tb.shape)} cannot be broadcast together`);
  }
  return runKernel('where', cond, ta, tb);
}

/** Whether every element is finite (no NaN, no ±Infinity). */
export function isFiniteAll(x: Tensor): boolean {
  checkTensor('isFiniteAll', 'x', x);
  return runKernel('isFiniteAll', x);
}

/**
 * CPU kernels of the elementwise ops. Binary kernels broadcast by walking strided operands
 * (expanded views and broadcast axes have stride 0) without materializing them. Each inner loop
 * is written out per op; the op is chosen by a `switch` outside the loop, once per row.
 * Row shapes get their own loops: both contiguous, one side a single value (tensor with scalar,
 * or a broadcast innermost axis), and general strides.
 */
import { broadcastShapes } from '../../ops/elementwise.js';
import { registerKernel } from '../../registry.js';
import { type TypedArray, Tensor, allocate, allocateUninitialized, contiguousStrides, shapeSize, shapesEqual } from '../../tensor.js';
import { broadcastStridesOf, forEachRow, planStrided } from './strided.js';

const enum Bin {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
}

// Math.max/min propagate NaN, as torch.maximum/minimum do. Comparisons convert the boolean
// with unary plus: `c ? 1 : 0` compiles to a branch that mispredicts on random data (3x slower).
function rowContig(op: Bin, a: TypedArray, pa: number, b: TypedArray, pb: number, o: TypedArray, po: number, n: number): void {
  switch (op) {
    case Bin.Add: for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! + b[pb + i]!; break;
    case Bin.Sub: for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! - b[pb + i]!; break;
    case Bin.Mul: for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! * b[pb + i]!; break;
    case Bin.Div: for (let i = 0; i < n; i++) o[po + i] = a[pa + i]! / b[pb + i]!; break;
    case Bin.Pow: for (let i = 0; i < n; i++) o[po + i] = Math.pow(a[pa + i]!, b[pb + i]!); break;
    case Bin.Maximum: for (let i = 0; i < n; i++) o[po + i] = Math.max(a[pa + i]!, b[pb + i]!); break;
    case Bin.Minimum: for (let i = 0; i < n; i++) o[po + i] = Math.min(a[pa + i]!, b[pb + i]!); break;
    case Bin.Eq: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! === b[pb + i]!); break;
    case Bin.Ne: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! !== b[pb + i]!); break;
    case Bin.Lt: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! < b[pb + i]!); break;
    case Bin.Le: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! <= b[pb + i]!); break;
    case Bin.Gt: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! > b[pb + i]!); break;
    case Bin.Ge: for (let i = 0; i < n; i++) o[po + i] = +(a[pa + i]! >= b[pb + i]!); break;
  }
}

/** `a` strided, `b` a single value. */
function rowScalarB(op: Bin, a: TypedArray, pa: number, sa: number, y: number, o: TypedArray, po: number, n: number): void {
  switch (op) {
    case Bin.Add: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = a[k]! + y; break;
    case Bin.Sub: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = a[k]! - y; break;
    case Bin.Mul: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = a[k]! * y; break;
    case Bin.Div: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = a[k]! / y; break;
    case Bin.Pow:
      // Squaring is common (variances, losses): skip Math.pow's general path; x*x is exact.
      if (y === 2) for (let i = 0, k = pa; i < n; i++, k += sa) { const x = a[k]!; o[po + i] = x * x; }
      else for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = Math.pow(a[k]!, y);
      break;
    case Bin.Maximum: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = Math.max(a[k]!, y); break;
    case Bin.Minimum: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = Math.min(a[k]!, y); break;
    case Bin.Eq: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! === y); break;
    case Bin.Ne: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! !== y); break;
    case Bin.Lt: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! < y); break;
    case Bin.Le: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! <= y); break;
    case Bin.Gt: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! > y); break;
    case Bin.Ge: for (let i = 0, k = pa; i < n; i++, k += sa) o[po + i] = +(a[k]! >= y); break;
  }
}

/** `a` a single value, `b` strided. */
function rowScalarA(op: Bin, x: number, b: TypedArray, pb: number, sb: number, o: TypedArray, po: number, n: number): void {
  switch (op) {
    case Bin.Add: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = x + b[k]!; break;
    case Bin.Sub: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = x - b[k]!; break;
    case Bin.Mul: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = x * b[k]!; break;
    case Bin.Div: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = x / b[k]!; break;
    case Bin.Pow: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = Math.pow(x, b[k]!); break;
    case Bin.Maximum: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = Math.max(x, b[k]!); break;
    case Bin.Minimum: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = Math.min(x, b[k]!); break;
    case Bin.Eq: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x === b[k]!); break;
    case Bin.Ne: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x !== b[k]!); break;
    case Bin.Lt: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x < b[k]!); break;
    case Bin.Le: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x <= b[k]!); break;
    case Bin.Gt: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x > b[k]!); break;
    case Bin.Ge: for (let i = 0, k = pb; i < n; i++, k += sb) o[po + i] = +(x >= b[k]!); break;
  }
}

/** Both operands strided. */
function rowStrided(op: Bin, a: TypedArray, pa: number, sa: number, b: TypedArray, pb: number, sb: number, o: TypedArray, po: number, n: number): void {
  switch (op) {
    case Bin.Add: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = a[j]! + b[k]!; break;
    case Bin.Sub: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = a[j]! - b[k]!; break;
    case Bin.Mul: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = a[j]! * b[k]!; break;
    case Bin.Div: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = a[j]! / b[k]!; break;
    case Bin.Pow: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = Math.pow(a[j]!, b[k]!); break;
    case Bin.Maximum: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = Math.max(a[j]!, b[k]!); break;
    case Bin.Minimum: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = Math.min(a[j]!, b[k]!); break;
    case Bin.Eq: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! === b[k]!); break;
    case Bin.Ne: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! !== b[k]!); break;
    case Bin.Lt: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! < b[k]!); break;
    case Bin.Le: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! <= b[k]!); break;
    case Bin.Gt: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! > b[k]!); break;
    case Bin.Ge: for (let i = 0, j = pa, k = pb; i < n; i++, j += sa, k += sb) o[po + i] = +(a[j]! >= b[k]!); break;
  }
}

function binaryRow(op: Bin, a: TypedArray, pa: number, sa: number, b: TypedArray, pb: number, sb: number, o: TypedArray, po: number, n: number): void {
  if (sa === 1 && sb === 1) rowContig(op, a, pa, b, pb, o, po, n);
  else if (sb === 0) rowScalarB(op, a, pa, sa, b[pb]!, o, po, n);
  else if (sa === 0) rowScalarA(op, a[pa]!, b, pb, sb, o, po, n);
  else rowStrided(op, a, pa, sa, b, pb, sb, o, po, n);
}

/** `a op b` with broadcasting; the operands share a dtype (checked by the op). */
function binary(op: Bin, a: Tensor, b: Tensor): Tensor {
  const shape = shapesEqual(a.shape, b.shape) ? [...a.shape] : broadcastShapes(a.shape, b.shape);
  const size = shapeSize(shape);
  const out = allocate(a.dtype, size);
  if (size === 0) return new Tensor(out, shape);
  // Fast paths: one call, one loop over everything.
  if (a.size === size && b.size === size && a.isContiguous() && b.isContiguous() && shapesEqual(a.shape, b.shape)) {
    rowContig(op, a.data, a.offset, b.data, b.offset, out, 0, size);
  } else if (b.size === 1 && a.size === size && a.isContiguous()) {
    rowScalarB(op, a.data, a.offset, 1, b.data[b.offset]!, out, 0, size);
  } else if (a.size === 1 && b.size === size && b.isContiguous()) {
    rowScalarA(op, a.data[a.offset]!, b.data, b.offset, 1, out, 0, size);
  } else {
    const plan = planStrided(shape, [
      contiguousStrides(shape),
      broadcastStridesOf(a.shape, a.strides, shape),
      broadcastStridesOf(b.shape, b.strides, shape),
    ]);
    const last = plan.dims.length - 1;
    const sa = plan.strides[1]![last]!;
    const sb = plan.strides[2]![last]!;
    const ad = a.data;
    const bd = b.data;
    forEachRow(plan, [0, a.offset, b.offset], (p, n) => binaryRow(op, ad, p[1]!, sa, bd, p[2]!, sb, out, p[0]!, n));
  }
  return new Tensor(out, shape);
}

const enum Un {
  Neg,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Abs,
  Square,
  Sign,
  Relu,
  Sigmoid,
  Tanh,
}

/** `o[po + i] = f(x[px + i])`; `o` may be `x` (in place). */
function unaryRow(op: Un, x: TypedArray, px: number, o: TypedArray, n: number): void {
  switch (op) {
    case Un.Neg: for (let i = 0; i < n; i++) o[i] = -x[px + i]!; break;
    case Un.Exp: for (let i = 0; i < n; i++) o[i] = Math.exp(x[px + i]!); break;
    case Un.Log: for (let i = 0; i < n; i++) o[i] = Math.log(x[px + i]!); break;
    case Un.Sqrt: for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[px + i]!); break;
    case Un.Rsqrt: for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(x[px + i]!); break;
    case Un.Abs: for (let i = 0; i < n; i++) o[i] = Math.abs(x[px + i]!); break;
    case Un.Square: for (let i = 0; i < n; i++) { const v = x[px + i]!; o[i] = v * v; } break;
    case Un.Sign: for (let i = 0; i < n; i++) o[i] = Math.sign(x[px + i]!); break;
    case Un.Relu:
      // Branch-free: a sign test mispredicts half the time on zero-mean data (4x slower here),
      // and so does Math.max. (v + |v|) / 2 is exact, maps -0 to 0 and keeps NaN (as
      // torch.relu); the rarely taken tests repair the overflow of 2v above 8.9e307 and
      // -Infinity, whose (v + |v|) is NaN.
      for (let i = 0; i < n; i++) {
        const v = x[px + i]!;
        const r = (v + Math.abs(v)) * 0.5;
        o[i] = r === Infinity ? v : r !== r && v === -Infinity ? 0 : r;
      }
      break;
    case Un.Sigmoid:
      // With e = exp(-|v|) (never overflows): 1 / (1 + e) for v >= 0, e / (1 + e) for v < 0.
      // The numerator is selected arithmetically (t is 0 or 1, e is finite) rather than by a
      // branch that mispredicts on zero-mean data; both forms are the exact expressions.
      for (let i = 0; i < n; i++) {
        const v = x[px + i]!;
        const e = Math.exp(-Math.abs(v));
        const t = +(v >= 0);
        o[i] = (t + (1 - t) * e) / (1 + e);
      }
      break;
    case Un.Tanh: for (let i = 0; i < n; i++) o[i] = Math.tanh(x[px + i]!); break;
  }
}

function unary(op: Un, x: Tensor): Tensor {
  if (x.isContiguous()) {
    const out = allocate(x.dtype, x.size);
    unaryRow(op, x.data, x.offset, out, x.size);
    return new Tensor(out, x.shape);
  }
  // A strided view: gather once into the output, then transform in place.
  const out = x.toTypedArray();
  unaryRow(op, out, 0, out, out.length);
  return new Tensor(out, x.shape);
}

function reluBackwardKernel(dy: Tensor, x: Tensor): Tensor {
  const g = dy.contiguous().data;
  const xd = x.contiguous().data;
  const n = g.length;
  const out = allocateUninitialized(dy.dtype, n);
  for (let i = 0; i < n; i++) out[i] = xd[i]! > 0 ? g[i]! : 0;
  return new Tensor(out, dy.shape);
}

function clampKernel(x: Tensor, lo: number, hi: number): Tensor {
  const out = x.toTypedArray();
  // NaN fails both tests and stays NaN, as in torch.clamp.
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return new Tensor(out, x.shape);
}

function whereKernel(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const out = allocate(a.dtype, shapeSize(shape));
  const plan = planStrided(shape, [
    contiguousStrides(shape),
    broadcastStridesOf(cond.shape, cond.strides, shape),
    broadcastStridesOf(a.shape, a.strides, shape),
    broadcastStridesOf(b.shape, b.strides, shape),
  ]);
  const last = plan.dims.length - 1;
  const sc = plan.strides[1]![last]!;
  const sa = plan.strides[2]![last]!;
  const sb = plan.strides[3]![last]!;
  const cd = cond.data;
  const ad = a.data;
  const bd = b.data;
  forEachRow(plan, [0, cond.offset, a.offset, b.offset], (p, n) => {
    const po = p[0]!;
    for (let i = 0, c = p[1]!, j = p[2]!, k = p[3]!; i < n; i++, c += sc, j += sa, k += sb) {
      // NaN counts as true (non-zero), as in torch.where on a float condition cast to bool.
      out[po + i] = cd[c] !== 0 ? ad[j]! : bd[k]!;
    }
  });
  return new Tensor(out, shape);
}

function isFiniteAllKernel(x: Tensor): boolean {
  // x * 0 is 0 for finite x and NaN for ±Infinity and NaN: one test per element, no branch.
  let acc = 0;
  if (x.isContiguous()) {
    const d = x.data;
    const end = x.offset + x.size;
    for (let i = x.offset; i < end; i++) acc += d[i]! * 0;
    return acc === 0;
  }
  const plan = planStrided(x.shape, [x.strides]);
  const s = plan.strides[0]![plan.dims.length - 1]!;
  const d = x.data;
  forEachRow(plan, [x.offset], (p, n) => {
    for (let i = 0, k = p[0]!; i < n; i++, k += s) acc += d[k]! * 0;
  });
  return acc === 0;
}

registerKernel('add', 'cpu', (a, b) => binary(Bin.Add, a, b));
registerKernel('sub', 'cpu', (a, b) => binary(Bin.Sub, a, b));
registerKernel('mul', 'cpu', (a, b) => binary(Bin.Mul, a, b));
registerKernel('div', 'cpu', (a, b) => binary(Bin.Div, a, b));
registerKernel('pow', 'cpu', (a, b) => binary(Bin.Pow, a, b));
registerKernel('maximum', 'cpu', (a, b) => binary(Bin.Maximum, a, b));
registerKernel('minimum', 'cpu', (a, b) => binary(Bin.Minimum, a, b));
registerKernel('eq', 'cpu', (a, b) => binary(Bin.Eq, a, b));
registerKernel('ne', 'cpu', (a, b) => binary(Bin.Ne, a, b));
registerKernel('lt', 'cpu', (a, b) => binary(Bin.Lt, a, b));
registerKernel('le', 'cpu', (a, b) => binary(Bin.Le, a, b));
registerKernel('gt', 'cpu', (a, b) => binary(Bin.Gt, a, b));
registerKernel('ge', 'cpu', (a, b) => binary(Bin.Ge, a, b));

registerKernel('neg', 'cpu', (x) => unary(Un.Neg, x));
registerKernel('exp', 'cpu', (x) => unary(Un.Exp, x));
registerKernel('log', 'cpu', (x) => unary(Un.Log, x));
registerKernel('sqrt', 'cpu', (x) => unary(Un.Sqrt, x));
registerKernel('rsqrt', 'cpu', (x) => unary(Un.Rsqrt, x));
registerKernel('abs', 'cpu', (x) => unary(Un.Abs, x));
registerKernel('square', 'cpu', (x) => unary(Un.Square, x));
registerKernel('sign', 'cpu', (x) => unary(Un.Sign, x));
registerKernel('relu', 'cpu', (x) => unary(Un.Relu, x));
registerKernel('reluBackward', 'cpu', reluBackwardKernel);
registerKernel('sigmoid', 'cpu', (x) => unary(Un.Sigmoid, x));
registerKernel('tanh', 'cpu', (x) => unary(Un.Tanh, x));
registerKernel('clamp', 'cpu', clampKernel);
registerKernel('where', 'cpu', whereKernel);
registerKernel('isFiniteAll', 'cpu', isFiniteAllKernel);

/**
 * Shape ops. The pure views (reshape of a contiguous tensor, permute, transpose, expand,
 * squeeze, unsqueeze, slice, split) are `Tensor` methods and need no kernel; the ops that make
 * new storage (broadcastTo, concat/stack, pad, cast) and sumToShape (a sum) go through
 * `runKernel` so that a backend may supply them.
 */
import { AxisError, DTypeError, ShapeError, TensorError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { type DType, type Shape, Tensor, checkDType, checkShape, checkTensor, normalizeAxis, shapesEqual } from '../tensor.js';
import { broadcastShapes } from './elementwise.js';

declare module '../registry.js' {
  interface KernelSignatures {
    /** `shape` is a valid broadcast target of `x.shape`. */
    broadcastTo: (x: Tensor, shape: Shape) => Tensor;
    /** Same dtype and rank; shapes equal except along non-negative `axis`. */
    concat: (tensors: readonly Tensor[], axis: number) => Tensor;
    /** One non-negative [before, after] per axis of `x`. */
    pad: (x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value: number) => Tensor;
    /** `x` copied into `dtype`. */
    cast: (x: Tensor, dtype: DType) => Tensor;
  }
}

type Range = readonly [number, number] | readonly [number, number, number] | null;

/** The same values in `shape` (one entry may be -1); a view when `x` is contiguous. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'x', x);
  if (!Array.isArray(shape)) throw new ShapeError('reshape', `shape must be an array, got ${String(shape)}`);
  return x.reshape(shape);
}

/** A view with the axes reordered. */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  checkTensor('permute', 'x', x);
  if (!Array.isArray(axes)) throw new AxisError('permute', `axes must be an array, got ${String(axes)}`);
  return x.permute(axes);
}

/** A view with two axes swapped (default: the last two). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  checkTensor('transpose', 'x', x);
  if (x.rank < 2 && dim0 === -2 && dim1 === -1) return x;
  return x.transpose(dim0, dim1);
}

/** A view repeating size-1 axes to `shape` (stride 0), as `torch.expand`. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('expand', 'x', x);
  return x.expand(shape);
}

/** Remove size-1 axes (all, or the one given). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  checkTensor('squeeze', 'x', x);
  return x.squeeze(axis);
}

/** Insert a size-1 axis at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  checkTensor('unsqueeze', 'x', x);
  return x.unsqueeze(axis);
}

/** A view of sub-ranges (see `Tensor.slice`). */
export function slice(x: Tensor, ranges: ReadonlyArray<Range>): Tensor {
  checkTensor('slice', 'x', x);
  if (!Array.isArray(ranges)) throw new ShapeError('slice', `ranges must be an array, got ${String(ranges)}`);
  return x.slice(ranges);
}

/** Merge axes `startDim..endDim` into one (as `torch.flatten`); a 0-d tensor becomes shape [1]. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', 'x', x);
  if (x.rank === 0) return x.reshape([1]);
  const s = normalizeAxis('flatten', startDim, x.rank);
  const e = normalizeAxis('flatten', endDim, x.rank);
  if (s > e) throw new AxisError('flatten', `startDim ${startDim} must not come after endDim ${endDim} for rank ${x.rank}`);
  let merged = 1;
  for (let i = s; i <= e; i++) merged *= x.shape[i]!;
  return x.reshape([...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** `x` broadcast to `shape`, materialized (a contiguous copy). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('broadcastTo', 'x', x);
  const target = checkShape('broadcastTo', shape);
  let ok = x.rank <= target.length;
  if (ok) {
    const b = broadcastShapesOrNull(x.shape, target);
    ok = b !== null && shapesEqual(b, target);
  }
  if (!ok) throw new ShapeError('broadcastTo', `cannot broadcast shape ${fmtShape(x.shape)} to ${fmtShape(target)}`);
  return runKernel('broadcastTo', x, target);
}

function broadcastShapesOrNull(a: Shape, b: Shape): number[] | null {
  try {
    return broadcastShapes(a, b);
  } catch {
    return null;
  }
}

/**
 * Sum `x` down to `shape`, a shape that broadcasts to `x.shape`: the leading axes `shape` lacks
 * and the axes where it has size 1 are summed. This is the gradient of broadcasting. Returns `x`
 * itself when the shapes are already equal.
 */
export function sumToShape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('sumToShape', 'x', x);
  const target = checkShape('sumToShape', shape);
  const lead = x.rank - target.length;
  const fail = () =>
    new ShapeError('sumToShape', `shape ${fmtShape(target)} does not broadcast to the tensor's shape ${fmtShape(x.shape)}`);
  if (lead < 0) throw fail();
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead) {
      axes.push(i);
      continue;
    }
    const want = target[i - lead]!;
    const have = x.shape[i]!;
    if (want === have) continue;
    if (want !== 1) throw fail();
    axes.push(i);
  }
  if (axes.length === 0) return x;
  return runKernel('sum', x, axes, false).reshape(target);
}

function checkTensorList(op: string, tensors: unknown): readonly Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new TensorError(op, `expected a non-empty array of tensors, got ${Array.isArray(tensors) ? 'an empty array' : String(tensors)}`);
  }
  tensors.forEach((t, i) => checkTensor(op, `tensors[${i}]`, t));
  const first = tensors[0] as Tensor;
  for (let i = 1; i < tensors.length; i++) {
    const t = tensors[i] as Tensor;
    if (t.dtype !== first.dtype) {
      throw new DTypeError(op, `tensors[0] is ${first.dtype} but tensors[${i}] is ${t.dtype}`);
    }
  }
  return tensors as Tensor[];
}

/** Join tensors along an existing `axis`; all other sizes must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const list = checkTensorList('concat', tensors);
  const first = list[0]!;
  if (first.rank === 0) throw new ShapeError('concat', 'cannot concatenate 0-d tensors (use stack)');
  const ax = normalizeAxis('concat', axis, first.rank);
  for (let i = 1; i < list.length; i++) {
    const t = list[i]!;
    const same = t.rank === first.rank && t.shape.every((d, j) => j === ax || d === first.shape[j]);
    if (!same) {
      throw new ShapeError(
        'concat',
        `tensors[0] has shape ${fmtShape(first.shape)} but tensors[${i}] has shape ${fmtShape(t.shape)}; all sizes except axis ${ax} must match`,
      );
    }
  }
  return runKernel('concat', list, ax);
}

/** Join same-shape tensors along a new `axis`. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const list = checkTensorList('stack', tensors);
  const first = list[0]!;
  const ax = normalizeAxis('stack', axis, first.rank + 1);
  for (let i = 1; i < list.length; i++) {
    if (!shapesEqual(list[i]!.shape, first.shape)) {
      throw new ShapeError('stack', `tensors[0] has shape ${fmtShape(first.shape)} but tensors[${i}] has shape ${fmtShape(list[i]!.shape)}`);
    }
  }
  return runKernel('concat', list.map((t) => t.unsqueeze(ax)), ax);
}

/**
 * Views of consecutive pieces along `axis`, as `torch.split`: `sizes` is a chunk size (the last
 * piece may be smaller) or the list of piece sizes, which must add up to the axis length.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  checkTensor('split', 'x', x);
  const ax = normalizeAxis('split', axis, x.rank);
  const len = x.shape[ax]!;
  let pieces: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new ShapeError('split', `chunk size must be a positive integer, got ${sizes}`);
    pieces = [];
    for (let at = 0; at < len; at += sizes) pieces.push(Math.min(sizes, len - at));
    if (len === 0) pieces.push(0);
  } else if (Array.isArray(sizes)) {
    for (const s of sizes) {
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
        throw new ShapeError('split', `sizes must be non-negative integers, got [${sizes.join(',')}]`);
      }
    }
    const total = sizes.reduce((a: number, b: number) => a + b, 0);
    if (total !== len) {
      throw new ShapeError('split', `sizes [${sizes.join(',')}] add up to ${total}, expected axis ${ax} length ${len} of shape ${fmtShape(x.shape)}`);
    }
    pieces = [...sizes];
  } else {
    throw new ShapeError('split', `sizes must be a number or an array, got ${String(sizes)}`);
  }
  const out: Tensor[] = [];
  let at = 0;
  for (const p of pieces) {
    const ranges: Range[] = x.shape.map(() => null);
    ranges[ax] = [at, at + p];
    out.push(x.slice(ranges));
    at += p;
  }
  return out;
}

/**
 * Constant padding. `pads` holds one `[before, after]` pair per axis starting from the first,
 * or, when shorter than the rank, per trailing axis (`[[1, 1], [2, 2]]` on NCHW pads H and W).
 */
export function pad(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value = 0): Tensor {
  checkTensor('pad', 'x', x);
  if (!Array.isArray(pads) || pads.length > x.rank) {
    throw new ShapeError('pad', `expected at most ${x.rank} [before, after] pairs for shape ${fmtShape(x.shape)}, got ${Array.isArray(pads) ? pads.length : String(pads)}`);
  }
  if (typeof value !== 'number') throw new TensorError('pad', `value must be a number, got ${String(value)}`);
  const lead = x.rank - pads.length;
  const full: Array<readonly [number, number]> = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead) {
      full.push([0, 0]);
      continue;
    }
    const p = pads[i - lead];
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
      throw new ShapeError('pad', `pads for axis ${i} must be [before, after] non-negative integers, got ${JSON.stringify(p)}`);
    }
    full.push([p[0], p[1]]);
  }
  return runKernel('pad', x, full, value);
}

/** `x` in `dtype` (`x` itself when it already has it). */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor('cast', 'x', x);
  return runKernel('cast', x, checkDType('cast', dtype));
}

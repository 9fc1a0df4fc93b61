/**
 * CPU kernels of the shape ops that produce new storage: materialized broadcast, concat, pad,
 * cast. Copies walk the source's strides directly (see `strided.ts`), so a transposed or
 * expanded source is never copied twice.
 */
import { registerKernel } from '../../registry.js';
import { type DType, type Shape, type TypedArray, Tensor, allocate, contiguousStrides, copyStrided, shapeSize } from '../../tensor.js';
import { forEachRow, planStrided } from './strided.js';

/** Copy `src` into `dst` at `dstOffset` with `dstStrides` (aligned with `src.shape`). */
function copyInto(dst: TypedArray, dstStrides: Shape, dstOffset: number, src: Tensor): void {
  const plan = planStrided(src.shape, [dstStrides, src.strides]);
  const last = plan.dims.length - 1;
  const so = plan.strides[0]![last]!;
  const si = plan.strides[1]![last]!;
  const s = src.data;
  if (so === 1 && si === 1 && (s instanceof Float32Array) === (dst instanceof Float32Array)) {
    // Same dtype, contiguous rows: a memcpy per row.
    forEachRow(plan, [dstOffset, src.offset], (p, n) => {
      dst.set(s.subarray(p[1]!, p[1]! + n), p[0]!);
    });
  } else {
    forEachRow(plan, [dstOffset, src.offset], (p, n) => {
      for (let i = 0, a = p[0]!, b = p[1]!; i < n; i++, a += so, b += si) dst[a] = s[b]!;
    });
  }
}

function broadcastToKernel(x: Tensor, shape: Shape): Tensor {
  const out = allocate(x.dtype, shapeSize(shape));
  copyStrided(x.expand(shape), out);
  return new Tensor(out, shape);
}

function concatKernel(tensors: readonly Tensor[], axis: number): Tensor {
  const first = tensors[0]!;
  const shape = [...first.shape];
  let total = 0;
  for (const t of tensors) total += t.shape[axis]!;
  shape[axis] = total;
  const out = allocate(first.dtype, shapeSize(shape));
  const strides = contiguousStrides(shape);
  let at = 0;
  for (const t of tensors) {
    if (t.size > 0) copyInto(out, strides, at * strides[axis]!, t);
    at += t.shape[axis]!;
  }
  return new Tensor(out, shape);
}

/** `pads`: one [before, after] per axis of `x`. */
function padKernel(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value: number): Tensor {
  const shape = x.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
  const out = allocate(x.dtype, shapeSize(shape));
  if (value !== 0) out.fill(value);
  const strides = contiguousStrides(shape);
  let offset = 0;
  for (let i = 0; i < shape.length; i++) offset += pads[i]![0] * strides[i]!;
  if (x.size > 0) copyInto(out, strides, offset, x);
  return new Tensor(out, shape);
}

function castKernel(x: Tensor, dtype: DType): Tensor {
  return x.astype(dtype);
}

registerKernel('broadcastTo', 'cpu', broadcastToKernel);
registerKernel('concat', 'cpu', concatKernel);
registerKernel('pad', 'cpu', padKernel);
registerKernel('cast', 'cpu', castKernel);

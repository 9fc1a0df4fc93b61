/**
 * Walking several strided operands of one logical shape together, without materializing them.
 * Used by the broadcasting elementwise kernels, the reductions (input walked against an output
 * whose reduced axes have stride 0) and the strided copies of the shape kernels.
 *
 * A plan drops size-1 axes and merges neighbouring axes that are contiguous relative to each
 * other in every operand, so that the common cases collapse to one long innermost row: the
 * caller's row function then runs a tight loop, and is called once per row, never per element.
 */
import type { Shape } from '../../tensor.js';

export interface StridedPlan {
  /** Collapsed sizes, outermost first; at least one entry. */
  readonly dims: number[];
  /** One stride array (aligned with `dims`) per operand. */
  readonly strides: number[][];
  /** Product of `dims`. */
  readonly size: number;
}

/**
 * The strides of a tensor with `shape`/`strides` seen through NumPy broadcasting as `outShape`:
 * missing leading axes and size-1 axes get stride 0. Assumes the shapes are compatible.
 */
export function broadcastStridesOf(shape: Shape, strides: Shape, outShape: Shape): number[] {
  const lead = outShape.length - shape.length;
  const out = new Array<number>(outShape.length);
  for (let i = 0; i < outShape.length; i++) {
    const j = i - lead;
    out[i] = j < 0 || shape[j] === 1 ? 0 : strides[j]!;
  }
  return out;
}

/** Collapse `shape` with one aligned stride array per operand (see the module comment). */
export function planStrided(shape: Shape, strides: ReadonlyArray<Shape>): StridedPlan {
  const k = strides.length;
  const dims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  let size = 1;
  for (const d of shape) size *= d;
  // Build from the innermost axis outwards; merge axis i into the current (inner) block when
  // every operand's stride on i equals its block stride times the block length.
  let curDim = 0;
  const cur = new Array<number>(k).fill(0);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 1) continue;
    if (curDim === 0) {
      curDim = d;
      for (let o = 0; o < k; o++) cur[o] = strides[o]![i]!;
      continue;
    }
    let mergeable = true;
    for (let o = 0; o < k; o++) {
      if (strides[o]![i] !== cur[o]! * curDim) {
        mergeable = false;
        break;
      }
    }
    if (mergeable) {
      curDim *= d;
    } else {
      dims.push(curDim);
      for (let o = 0; o < k; o++) outStrides[o]!.push(cur[o]!);
      curDim = d;
      for (let o = 0; o < k; o++) cur[o] = strides[o]![i]!;
    }
  }
  if (curDim === 0) {
    // Every axis had size 1 (or there were none): one row of one element.
    curDim = 1;
  }
  dims.push(curDim);
  for (let o = 0; o < k; o++) outStrides[o]!.push(cur[o]!);
  dims.reverse();
  for (const s of outStrides) s.reverse();
  return { dims, strides: outStrides, size };
}

/**
 * Call `row(ptr, n)` once per innermost row of `plan`, where `ptr[o]` is operand o's position
 * of the row's first element (starting from `offsets[o]`) and `n` the row length. The inner
 * strides are `plan.strides[o][plan.dims.length - 1]`. `ptr` is reused between calls.
 */
export function forEachRow(plan: StridedPlan, offsets: readonly number[], row: (ptr: number[], n: number) => void): void {
  if (plan.size === 0) return;
  const { dims, strides } = plan;
  const k = strides.length;
  const last = dims.length - 1;
  const n = dims[last]!;
  const ptr = [...offsets];
  if (last === 0) {
    row(ptr, n);
    return;
  }
  const idx = new Array<number>(last).fill(0);
  const rows = plan.size / n;
  for (let r = 0; r < rows; r++) {
    row(ptr, n);
    // Advance the odometer over the outer axes.
    let ax = last - 1;
    while (ax >= 0) {
      idx[ax]!++;
      if (idx[ax]! < dims[ax]!) {
        for (let o = 0; o < k; o++) ptr[o]! += strides[o]![ax]!;
        break;
      }
      for (let o = 0; o < k; o++) ptr[o]! -= strides[o]![ax]! * (dims[ax]! - 1);
      idx[ax] = 0;
      ax--;
    }
  }
}

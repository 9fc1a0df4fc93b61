/**
 * Staging tensors into the arena and results out of it: the one place kernels copy.
 */
import { Tensor, allocateUninitialized, contiguousStrides } from '@normlab/tensor';
import { alloc, heapF32, type Slots, allocSlots } from './runtime.js';

/** A float32 tensor's values in the arena: element (i₀, i₁, …) at `ptr + 4·Σ iₖ·strides[k]`. */
export interface Staged {
  ptr: number;
  strides: number[];
}

/**
 * Copy what `t` reaches of its storage into the arena with one memcpy, keeping its strides (a
 * transposed or broadcast view is not materialized: the kernels read strides). A view that
 * reaches over much more storage than it has elements (a narrow slice) is made contiguous first.
 */
export function stage(t: Tensor): Staged {
  let lo = t.offset;
  let hi = t.offset;
  for (let i = 0; i < t.rank; i++) {
    const d = t.shape[i]!;
    const s = t.strides[i]!;
    if (d === 0) return { ptr: alloc(0), strides: [...t.strides] };
    if (s >= 0) hi += (d - 1) * s;
    else lo += (d - 1) * s;
  }
  const span = hi - lo + 1;
  if (span > 2 * t.size + 16) {
    const c = t.contiguous();
    const ptr = alloc(4 * c.size);
    heapF32().set(c.data as Float32Array, ptr >>> 2);
    return { ptr, strides: contiguousStrides(c.shape) };
  }
  const base = alloc(4 * span);
  heapF32().set((t.data as Float32Array).subarray(lo, hi + 1), base >>> 2);
  return { ptr: base + 4 * (t.offset - lo), strides: [...t.strides] };
}

/** A fresh float32 tensor of `shape` holding the arena's values at `ptr`. */
export function unstage(ptr: number, shape: readonly number[]): Tensor {
  let size = 1;
  for (const d of shape) size *= d;
  const out = allocateUninitialized('float32', size) as Float32Array;
  out.set(heapF32().subarray(ptr >>> 2, (ptr >>> 2) + size));
  return new Tensor(out, shape);
}

/**
 * `ParallelIO.pieces` for the wasm range functions: each worker's part in up to 8 pieces, so that
 * the calling thread, done with its own part, takes over what a worker has not started (a busy
 * machine may not run the worker for a while). The kernels' items carry no per-call setup worth
 * repeating (a piece claims a scratch slot; the conv items' im2col is per chunk).
 */
export const PIECES = 8;

/** The scratch-slot fields a range function's args carry (plain numbers, as parallelFor wants). */
export interface SlotArgs {
  slotWords: number;
  slotBase: number;
  slotBytes: number;
  slotCount: number;
}

export function slotArgs(count: number, bytes: number): SlotArgs {
  const s = allocSlots(count, bytes);
  return { slotWords: s.words, slotBase: s.base, slotBytes: s.bytes, slotCount: s.count };
}

export function slotsOf(a: SlotArgs): Slots {
  return { words: a.slotWords, base: a.slotBase, bytes: a.slotBytes, count: a.slotCount };
}

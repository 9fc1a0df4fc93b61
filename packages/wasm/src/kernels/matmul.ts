/**
 * matmul on the wasm GEMM. B is packed once per distinct batch operand on the calling thread;
 * the rows of C are split across threads in items of MR rows (a register tile), each thread
 * packing its own blocks of A into its scratch slot. Every thread works on the one shared memory.
 */
import { Tensor, getNumThreads, parallelFor, rangeKernel, shapeSize } from '@normlab/tensor';
import { claimSlot, kernels, kernelsFor, mark, alloc, heapI32, release, releaseSlot, wasmMemory } from '../runtime.js';
import { PIECES, type SlotArgs, slotArgs, slotsOf, stage, unstage } from '../stage.js';

/** The GEMM's register tile height (assembly/gemm.ts MR): items are this many rows of C. */
export const GEMM_MR = 4;
/** Its width (NR): B panels are this many columns. */
export const GEMM_NR = 8;

/** What `matmulWasmRows` reads: addresses in the shared memory, and the sizes. */
export interface MatmulWasmArgs extends SlotArgs {
  memory: WebAssembly.Memory;
  /** Address of `batch` (A address, packed-B address) pairs, as int32 words. */
  table: number;
  c: number;
  batch: number;
  m: number;
  n: number;
  k: number;
  ars: number;
  acs: number;
}

/** C rows of items [i0, i1), an item being GEMM_MR rows of one batch entry. A range function. */
export function matmulWasmRows(x: MatmulWasmArgs, i0: number, i1: number): void {
  const ex = kernelsFor(x.memory);
  const slots = slotsOf(x);
  const slot = claimSlot(x.memory, slots);
  try {
    const table = new Int32Array(x.memory.buffer, x.table, 2 * x.batch);
    const { m, n, k } = x;
    const perBatch = Math.ceil(m / GEMM_MR);
    for (let it = i0; it < i1; ) {
      const t = Math.floor(it / perBatch);
      const last = Math.min(i1, (t + 1) * perBatch);
      const r0 = (it - t * perBatch) * GEMM_MR;
      const r1 = Math.min(m, (last - t * perBatch) * GEMM_MR);
      it = last;
      ex.gemmRows(r0, r1, n, k, table[2 * t]! >>> 0, x.ars, x.acs, table[2 * t + 1]! >>> 0, x.c + 4 * t * m * n, n, 0, slots.base + slot * slots.bytes);
    }
  } finally {
    releaseSlot(x.memory, slots, slot);
  }
}

const matmulTask = rangeKernel(import.meta.url, 'matmulWasmRows', matmulWasmRows);

/** Bytes of B packed into NR-column panels. */
export function packedBBytes(k: number, n: number): number {
  return 4 * k * Math.ceil(n / GEMM_NR) * GEMM_NR;
}

/** The `matmul` kernel (same contract as cpu's: batch axes equal, stride-0 where broadcast). */
export function matmulWasm(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor {
  const ra = a.rank;
  const rb = b.rank;
  const batchShape = a.shape.slice(0, ra - 2);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const batch = shapeSize(batchShape);
  const top = mark();
  try {
    const A = stage(a);
    const B = stage(b);
    let ars = A.strides[ra - 2]!, acs = A.strides[ra - 1]!;
    if (transposeA) [ars, acs] = [acs, ars];
    let brs = B.strides[rb - 2]!, bcs = B.strides[rb - 1]!;
    if (transposeB) [brs, bcs] = [bcs, brs];
    const ex = kernels();
    // Per batch entry: A's address and B's packed panels (packed once per distinct B address).
    const table = alloc(8 * batch);
    const packedBytes = packedBBytes(k, n);
    const packedAt = new Map<number, number>();
    const nb = batchShape.length;
    const idx = new Array<number>(nb).fill(0);
    let oa = 0;
    let ob = 0;
    for (let t = 0; t < batch; t++) {
      const bAddr = B.ptr + 4 * ob;
      let bp = packedAt.get(bAddr);
      if (bp === undefined) {
        bp = alloc(packedBytes);
        ex.packB(bAddr, brs, bcs, k, n, bp);
        packedAt.set(bAddr, bp);
      }
      const words = heapI32();
      words[(table >>> 2) + 2 * t] = A.ptr + 4 * oa;
      words[(table >>> 2) + 2 * t + 1] = bp;
      for (let ax = nb - 1; ax >= 0; ax--) {
        idx[ax]!++;
        oa += A.strides[ax]!;
        ob += B.strides[ax]!;
        if (idx[ax]! < batchShape[ax]!) break;
        oa -= A.strides[ax]! * batchShape[ax]!;
        ob -= B.strides[ax]! * batchShape[ax]!;
        idx[ax] = 0;
      }
    }
    const c = alloc(4 * batch * m * n);
    const x: MatmulWasmArgs = {
      memory: wasmMemory(),
      table,
      c,
      batch,
      m,
      n,
      k,
      ars,
      acs,
      ...slotArgs(getNumThreads(), ex.GEMM_SCRATCH_BYTES.value as number),
    };
    const perBatch = Math.ceil(m / GEMM_MR);
    parallelFor(matmulTask, x, batch * perBatch, GEMM_MR * n * k, { out: [], pieces: PIECES });
    return unstage(c, [...batchShape, m, n]);
  } finally {
    release(top);
  }
}

/**
 * How the norm kernels reach their operands. Every item function of assembly/norm/ works on a
 * range of *items* (statistic slots, channel groups, rows, position chunks), item i being `runs`
 * runs of `block` floats, run r of item i at `r·runStride + i·block` of its operand, and takes
 * `(operand pointers…, i0, i1, runs, runStride, block, …rest)` with the pointers at item i0's
 * data. The operands are ordinary arrays (docs/wasm-backend.md, "Norm kernels"), so the calling
 * thread copies them into the arena and the results out, a chunk of items (about 64 KiB of each
 * operand) at a time through buffers small enough to stay in cache — never whole: copying 4 MiB
 * whole into the arena cost 4–5 times what it costs through a cache-sized buffer.
 *
 * - **one thread — streamed**: copy a chunk in, compute it, copy its outputs out.
 * - **several threads — pipelined**: the calling thread copies chunks into a small ring of chunk
 *   buffers while the other threads compute the chunks already there, computes one itself only
 *   when the ring is full, and copies finished chunks out in order. The copies, which only the
 *   calling thread can make, overlap the computing.
 *
 * Each item is computed whole by one thread with the same code either way, so the results do not
 * depend on the path nor on the thread count.
 */
import { getNumThreads, parallelFor, rangeKernel } from '@normlab/tensor';
import { alloc, heapF32, heapI32, kernels, kernelsFor, memoryShared, wasmMemory } from '../../runtime.js';

/** An item-range entry point of the kernels module. */
type ItemFunction = (...args: number[]) => void;

/** The item functions of assembly/norm/ (exported by assembly/index.ts). */
export type NormKernelName =
  | 'normMomentsSlots'
  | 'normForwardSlots'
  | 'normParamGradsSlots'
  | 'normBackwardSlots'
  | 'gnPlusForwardGroups'
  | 'gnPlusBackwardGroups'
  | 'hybridRowStatsSlots'
  | 'hybridApplySlots'
  | 'hybridRowSumsSlots'
  | 'hybridBackwardSlots'
  | 'batchAxisMomentsItems'
  | 'batchAxisApplyItems'
  | 'batchAxisBackwardItems'
  | 'blendAffineRows'
  | 'blendAffineBackwardRows';

/** The kernels module's other norm exports, called once per op on the calling thread. */
export interface NormHelpers {
  hybridBatchStats(N: number, C: number, S: number, G: number, eps: number, rowMean: number, rowM2: number, gnMean: number, gnRstd: number, bnMean: number, bnVar: number, bnRstd: number): void;
  hybridChannelTerms(N: number, C: number, S: number, G: number, w: number, blend: number, gnRstd: number, bnMean: number, bnRstd: number, bnConstant: number, s1: number, s2: number, dweight: number, dbias: number, dblend: number, ca: number, cb: number, ce: number): void;
}

function entry(memory: WebAssembly.Memory | undefined, name: NormKernelName): ItemFunction {
  const ex = (memory ? kernelsFor(memory) : kernels()) as unknown as Record<NormKernelName, ItemFunction>;
  return ex[name];
}

/** The calling thread's norm helpers. */
export function normHelpers(): NormHelpers {
  return kernels() as unknown as NormHelpers;
}

/** Where a kernel's items lie in its operands (see the file comment). */
export interface ItemLayout {
  items: number;
  runs: number;
  /** Floats between runs in the whole array. */
  runStride: number;
  block: number;
  /** Floats of a run the items cover (items·block unless the last item is shorter). */
  extent?: number;
}

/** A float32 operand of an item kernel: read, written, or both; absent ones are passed as address 0. */
export interface Operand {
  data: Float32Array | null;
  read: boolean;
  write: boolean;
}

export const input = (data: Float32Array): Operand => ({ data, read: true, write: false });
export const output = (data: Float32Array | null): Operand => ({ data, read: false, write: true });
export const inout = (data: Float32Array): Operand => ({ data, read: true, write: true });

/**
 * Bytes of one operand's chunk: with the three operands of a backward, a streamed chunk stays in
 * L2 between the copy in, the kernel's passes and the copy out.
 */
const CHUNK_BYTES = 64 << 10;

/** Items per chunk: a function of the layout only. */
function chunkItems(l: ItemLayout): number {
  return Math.max(1, Math.min(l.items, Math.floor(CHUNK_BYTES / (4 * l.runs * l.block))));
}

/** Work (element visits) below which a kernel stays in one thread, as `parallelFor` would keep it. */
const MIN_PARALLEL_WORK = 1 << 19;
/** How long a thread waits for another one's chunk before giving up (ms). */
const WAIT_TIMEOUT_MS = 120_000;

/** Run `name` over all items of `l`; `rest` are its arguments after the layout. */
export function runItems(name: NormKernelName, l: ItemLayout, operands: Operand[], rest: number[], workPerItem: number): void {
  if (l.items === 0) return;
  const threads = memoryShared() ? getNumThreads() : 1;
  if (threads > 1 && l.items > 1 && l.items * workPerItem >= MIN_PARALLEL_WORK) runPipelined(name, l, operands, rest, threads, workPerItem);
  else runStreamed(name, l, operands, rest);
}

/** Floats of items [i0, i1) in one run. */
function widthOf(l: ItemLayout, i0: number, i1: number): number {
  return Math.min(i1 * l.block, l.extent ?? l.items * l.block) - i0 * l.block;
}

/**
 * Copy the chunk of items [i0, i1) between the operands' arrays and their chunk buffers (`into`
 * the arena or out of it); in buffer k, run r of the chunk starts `width` floats after run r − 1.
 */
function copyItems(l: ItemLayout, operands: Operand[], bufs: number[], i0: number, i1: number, into: boolean): void {
  const heap = heapF32();
  const width = widthOf(l, i0, i1);
  for (let k = 0; k < operands.length; k++) {
    const op = operands[k]!;
    if (!op.data || (into ? !op.read : !op.write)) continue;
    const base = bufs[k]! >>> 2;
    for (let r = 0; r < l.runs; r++) {
      const from = r * l.runStride + i0 * l.block;
      const at = base + r * width;
      if (into) heap.set(op.data.subarray(from, from + width), at);
      else op.data.set(heap.subarray(at, at + width), from);
    }
  }
}

/** Items a chunk at a time through one set of chunk buffers, in this thread. */
function runStreamed(name: NormKernelName, l: ItemLayout, operands: Operand[], rest: number[]): void {
  const per = chunkItems(l);
  const bufs = operands.map((op) => (op.data ? alloc(4 * per * l.runs * l.block) : 0));
  const fn = entry(undefined, name);
  for (let i0 = 0; i0 < l.items; i0 += per) {
    const i1 = Math.min(l.items, i0 + per);
    const width = widthOf(l, i0, i1);
    copyItems(l, operands, bufs, i0, i1, true);
    fn(...bufs, i0, i1, l.runs, width, l.block, ...rest);
    copyItems(l, operands, bufs, i0, i1, false);
  }
}

/** What `normPipelineRange` reads: the entry point, the ring of chunk buffers, the chunks. */
export interface NormPipelineArgs {
  memory: WebAssembly.Memory;
  name: NormKernelName;
  /** Operand buffers of ring slot 0 (0 for an absent operand); slot k is `k·slotBytes` further. */
  ptrs: number[];
  slotBytes: number;
  slots: number;
  items: number;
  runs: number;
  block: number;
  /** Floats of a run the items cover. */
  extent: number;
  rest: number[];
  /** Items per chunk, and chunks. */
  per: number;
  chunks: number;
  /**
   * Address of the int32 words [next chunk to claim, ready[chunks], done[chunks]]: a chunk is
   * ready once its operands are in its ring slot, done once it is computed there.
   */
  words: number;
}

/** The operands of the pipeline in progress, on the calling thread (workers never see them). */
let pipelineOperands: { l: ItemLayout; operands: Operand[] } | undefined;

function waitFor(words: Int32Array, i: number, what: string): void {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (let spins = 0; Atomics.load(words, i) === 0; spins++) {
    if (spins > 1000) Atomics.wait(words, i, 0, 1);
    if (Date.now() > deadline) throw new Error(`norm kernel: ${what} not there after ${WAIT_TIMEOUT_MS / 1000} s`);
  }
}

/** Chunk c's items, buffers (its ring slot's) and floats per run there. */
function chunkOf(a: NormPipelineArgs, c: number): { i0: number; i1: number; bufs: number[]; width: number } {
  const i0 = c * a.per;
  const i1 = Math.min(a.items, i0 + a.per);
  const slot = (c % a.slots) * a.slotBytes;
  return { i0, i1, bufs: a.ptrs.map((p) => (p ? p + slot : 0)), width: Math.min(i1 * a.block, a.extent) - i0 * a.block };
}

/** Compute chunk c (its operands are in its slot) and say so. */
function compute(a: NormPipelineArgs, words: Int32Array, fn: ItemFunction, c: number): void {
  const { i0, i1, bufs, width } = chunkOf(a, c);
  fn(...bufs, i0, i1, a.runs, width, a.block, ...a.rest);
  Atomics.store(words, 1 + a.chunks + c, 1);
  Atomics.notify(words, 1 + a.chunks + c);
}

/**
 * Role 0, always the calling thread (it holds the operands): copy chunks into the ring while it
 * has a free slot, compute the next unclaimed chunk itself when it has none, and copy finished
 * chunks out in order (which frees their slots). The copies, which only this thread can make,
 * come first; it computes only what the others leave, so alone it streams, a ring behind. Other
 * roles: claim chunks in order and compute each once it is ready. A range function.
 */
export function normPipelineRange(a: NormPipelineArgs, start: number, end: number): void {
  const words = new Int32Array(a.memory.buffer, a.words, 1 + 2 * a.chunks);
  const fn = entry(a.memory, a.name);
  if (start > 0) {
    if (end <= start) return;
    for (let c = Atomics.add(words, 0, 1); c < a.chunks; c = Atomics.add(words, 0, 1)) {
      waitFor(words, 1 + c, 'a chunk of operands');
      compute(a, words, fn, c);
    }
    return;
  }
  const job = pipelineOperands;
  if (!job) throw new Error('norm kernel: the copying role ran outside the calling thread');
  const { l, operands } = job;
  let copied = 0;
  let out = 0;
  const copyOut = () => {
    const { i0, i1, bufs } = chunkOf(a, out);
    copyItems(l, operands, bufs, i0, i1, false);
    out++;
  };
  const drain = () => {
    while (out < copied && Atomics.load(words, 1 + a.chunks + out) === 1) copyOut();
  };
  /** Copy the next chunk in, once its slot is free (the chunk `slots` before it copied out). */
  const copyIn = () => {
    while (copied - out >= a.slots) {
      waitFor(words, 1 + a.chunks + out, 'a chunk another thread computes');
      copyOut();
    }
    const { i0, i1, bufs } = chunkOf(a, copied);
    copyItems(l, operands, bufs, i0, i1, true);
    Atomics.store(words, 1 + copied, 1);
    Atomics.notify(words, 1 + copied);
    copied++;
  };
  for (;;) {
    drain();
    if (out === a.chunks) return;
    if (copied < a.chunks && copied - out < a.slots) {
      copyIn();
      continue;
    }
    // The ring is full: compute the next unclaimed chunk rather than wait.
    const c = Atomics.add(words, 0, 1);
    if (c < a.chunks) {
      while (copied <= c) copyIn();
      compute(a, words, fn, c);
    } else if (copied < a.chunks) {
      copyIn(); // claimed by a thread that waits for it
    } else {
      waitFor(words, 1 + a.chunks + out, 'a chunk another thread computes');
      copyOut();
    }
  }
}

const normPipelineTask = rangeKernel(import.meta.url, 'normPipelineRange', normPipelineRange);

function runPipelined(name: NormKernelName, l: ItemLayout, operands: Operand[], rest: number[], threads: number, workPerItem: number): void {
  const per = chunkItems(l);
  const chunks = Math.ceil(l.items / per);
  // Slots for the chunks the other threads compute, as many waiting ready for them, and the
  // calling thread's own: small enough to stay in cache.
  const slots = Math.min(chunks, 2 * threads);
  const slotBytes = Math.ceil((4 * per * l.runs * l.block) / 64) * 64;
  const ptrs = operands.map((op) => (op.data ? alloc(slotBytes * slots) : 0));
  const words = alloc(4 * (1 + 2 * chunks));
  heapI32().fill(0, words >>> 2, (words >>> 2) + 1 + 2 * chunks);
  const args: NormPipelineArgs = {
    memory: wasmMemory(),
    name,
    ptrs,
    slotBytes,
    slots,
    items: l.items,
    runs: l.runs,
    block: l.block,
    extent: l.extent ?? l.items * l.block,
    rest,
    per,
    chunks,
    words,
  };
  pipelineOperands = { l, operands };
  try {
    // One role per thread, each worth a part of the work.
    parallelFor(normPipelineTask, args, threads, (l.items * workPerItem) / threads, { out: [] });
  } finally {
    pipelineOperands = undefined;
  }
}

/** A float64 block of the arena holding `values` (or `length` unspecified values). */
export function allocF64(length: number, values?: Float64Array | null): number {
  const p = alloc(8 * length);
  if (values) new Float64Array(wasmMemory().buffer, p, length).set(values);
  return p;
}

/** A float64 block of zeros. */
export function zerosF64(length: number): number {
  const p = alloc(8 * length);
  new Float64Array(wasmMemory().buffer, p, length).fill(0);
  return p;
}

/** A float32 block holding `values`, or 0 (the kernels' "none") for null. */
export function copyParam(values: Float32Array | null): number {
  if (!values) return 0;
  const p = alloc(4 * values.length);
  heapF32().set(values, p >>> 2);
  return p;
}

/** A copy of the `length` float64 values at `p`. */
export function readF64(p: number, length: number): Float64Array {
  return new Float64Array(wasmMemory().buffer, p, length).slice();
}

/** A float64 view of the arena (valid until it grows or is released). */
export function viewF64(p: number, length: number): Float64Array {
  return new Float64Array(wasmMemory().buffer, p, length);
}

/**
 * The WebAssembly runtime behind backend `wasm`: the compiled kernels module, the one memory
 * every thread's instance shares, the scratch arena kernels stage their operands in, and the
 * per-thread scratch slots of a parallel kernel.
 *
 * Storage (docs/wasm-backend.md, "Storage"): tensors stay on ordinary ArrayBuffers. A kernel
 * copies its operands into the arena (one memcpy each), computes there, copies its result out into
 * a fresh `allocateUninitialized` array, and releases the arena to where it was. The arena is
 * never shrunk: after the first steps of a training run it has the size of the largest op and is
 * reused by every call. (Storage inside wasm memory, freed by a FinalizationRegistry, cannot work
 * for normlab's synchronous training loop: finalizers only run once the event loop turns.)
 *
 * Loading: Node and web workers compile synchronously when the package is imported; a browser's
 * main thread refuses synchronous compiles of more than 4 KB, so there `initWasm()` (async) must
 * be awaited before the backend can run.
 */
import { MAX_PAGES, PLAIN_WASM_BASE64, SHARED_WASM_BASE64 } from './generated/wasm-bytes.js';

/** The kernels module's exports (pointers are byte addresses, sizes element counts). */
export interface KernelExports {
  packB(b: number, brs: number, bcs: number, k: number, n: number, dst: number): void;
  gemmRows(m0: number, m1: number, n: number, k: number, a: number, ars: number, acs: number, bp: number, c: number, ldc: number, accumulate: number, scratch: number): void;
  GEMM_SCRATCH_BYTES: WebAssembly.Global;
  im2col(x: number, imageStride: number, nb: number, c0: number, channels: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, ho: number, wo: number, dst: number, ld: number): void;
  col2im(src: number, ld: number, dx: number, imageStride: number, nb: number, c0: number, channels: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, ho: number, wo: number): void;
  gatherRows(src: number, imageStride: number, nb: number, r0: number, rows: number, L: number, dst: number): void;
  scatterRows(src: number, nb: number, r0: number, rows: number, L: number, dst: number, imageStride: number, bias: number): void;
  sumPartials(parts: number, count: number, size: number, out: number): void;
  relu(x: number, out: number, n: number): void;
  winogradInput(x: number, channels: number, h: number, w: number, padH: number, padW: number, tw: number, t0: number, tb: number, v: number, vStride: number): void;
  winogradOutput(m: number, mStride: number, rows: number, tb: number, t0: number, tw: number, out: number, ho: number, wo: number, bias: number): void;
  reluBackward(dy: number, x: number, out: number, n: number): void;
}

/** Bytes below this address are the module's own static area (empty today); the arena starts here. */
const ARENA_BASE = 1 << 16;
const PAGE = 1 << 16;
/** Alignment of every arena block: a cache line. */
const ALIGN = 64;

interface State {
  memory: WebAssembly.Memory;
  shared: boolean;
  exports: KernelExports;
}

let state: State | undefined;
let initError: string | undefined;
/** A pending `initWasm()`. */
let initPromise: Promise<void> | undefined;
/** Top of the arena (bytes). */
let top = ARENA_BASE;
/** The largest the arena has been (bytes above ARENA_BASE), for `wasmInfo()`. */
let peak = 0;
let f32View: Float32Array | undefined;
let i32View: Int32Array | undefined;

function decodeBase64(s: string): Uint8Array {
  const nodeBuffer = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (nodeBuffer) return new Uint8Array(nodeBuffer.from(s, 'base64'));
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Whether this environment can share one WebAssembly memory between threads. */
function canShare(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return isolated !== false;
}

function newMemory(shared: boolean): WebAssembly.Memory {
  // Node reserves the maximum of a shared memory as address space up front (it cannot move);
  // browsers get a quarter of it, since some refuse to reserve 4 GiB.
  const browser = typeof (globalThis as { window?: unknown }).window !== 'undefined';
  const maximum = browser ? MAX_PAGES / 4 : MAX_PAGES;
  return new WebAssembly.Memory({ initial: ARENA_BASE / PAGE + 16, maximum, shared } as WebAssembly.MemoryDescriptor);
}

function bytesOf(shared: boolean): Uint8Array {
  return decodeBase64(shared ? SHARED_WASM_BASE64 : PLAIN_WASM_BASE64);
}

function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}

/** Whether this engine runs WebAssembly with 128-bit SIMD (Node ≥ 16.4, every current browser). */
export function simdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytesOf(false) as BufferSource);
  } catch {
    return false;
  }
}

/**
 * Compile and instantiate the kernels now (Node, web workers). Returns false, with the reason in
 * `wasmInfo().error`, when this environment cannot (no SIMD, or a browser's main thread, which
 * must await `initWasm()`).
 */
export function initWasmSync(): boolean {
  if (state) return true;
  try {
    if (!simdSupported()) throw new Error('this engine has no WebAssembly SIMD');
    const shared = canShare();
    const memory = newMemory(shared);
    const module = new WebAssembly.Module(bytesOf(shared) as BufferSource);
    state = { memory, shared, exports: instantiate(module, memory) };
    initError = undefined;
    return true;
  } catch (e) {
    initError = (e as Error).message;
    return false;
  }
}

/** Compile and instantiate the kernels asynchronously (what a browser's main thread must do). */
export function initWasm(): Promise<void> {
  if (state) return Promise.resolve();
  initPromise ??= (async () => {
    if (!simdSupported()) {
      initError = 'this engine has no WebAssembly SIMD';
      throw new Error(initError);
    }
    const shared = canShare();
    const memory = newMemory(shared);
    const module = await WebAssembly.compile(bytesOf(shared) as BufferSource);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    state = { memory, shared, exports: instance.exports as unknown as KernelExports };
    initError = undefined;
  })();
  return initPromise;
}

/** Whether the kernels are compiled and ready in this thread. */
export function wasmReady(): boolean {
  return state !== undefined;
}

/** Why the kernels are not ready (undefined when they are, or nobody tried yet). */
export function wasmInitError(): string | undefined {
  return initError;
}

function current(): State {
  if (!state) throw new Error(`the wasm kernels are not initialized${initError ? `: ${initError}` : " (await initWasm() first)"}`);
  return state;
}

/** The calling thread's kernels. */
export function kernels(): KernelExports {
  return current().exports;
}

/** The memory the kernels work in (shared when threads can use it). */
export function wasmMemory(): WebAssembly.Memory {
  return current().memory;
}

/** Whether the memory is shared (and so worker threads can run the kernels on it). */
export function memoryShared(): boolean {
  return current().shared;
}

let workerModule: WebAssembly.Module | undefined;
let workerExports: { memory: WebAssembly.Memory; exports: KernelExports } | undefined;

/**
 * The kernels of this thread bound to `memory`: the main instance in the thread that owns it, and
 * in a worker an instance created on first use against the shared memory it was sent (one per
 * worker, kept: every process has one backend memory). For range functions.
 */
export function kernelsFor(memory: WebAssembly.Memory): KernelExports {
  if (state && state.memory === memory) return state.exports;
  // In a worker each task's message carries a fresh clone of the same shared memory (the one
  // backend memory of the process): the instance made for the first one serves them all.
  if (workerExports && state === undefined) return workerExports.exports;
  workerModule ??= new WebAssembly.Module(bytesOf(true) as BufferSource);
  workerExports = { memory, exports: instantiate(workerModule, memory) };
  return workerExports.exports;
}

// ---- The arena ----------------------------------------------------------------------------

/** The arena's current top, to hand back to `release` when the kernel is done. */
export function mark(): number {
  return top;
}

/** Free every block allocated since `m` (kernels call this in a `finally`). */
export function release(m: number): void {
  top = m;
}

/**
 * A block of `bytes` in the arena (64-byte aligned, contents unspecified), growing the memory as
 * needed; throws a RangeError past the memory's maximum (the op then runs on `cpu`).
 */
export function alloc(bytes: number): number {
  const p = Math.ceil(top / ALIGN) * ALIGN;
  const end = p + Math.max(0, bytes);
  const memory = wasmMemory();
  const have = memory.buffer.byteLength;
  if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
  top = end;
  peak = Math.max(peak, end - ARENA_BASE);
  return p;
}

/** A float32 view of the whole memory (refreshed after growth). */
export function heapF32(): Float32Array {
  const buffer = wasmMemory().buffer;
  if (!f32View || f32View.buffer !== buffer) f32View = new Float32Array(buffer);
  return f32View;
}

/** An int32 view of the whole memory (refreshed after growth). */
export function heapI32(): Int32Array {
  const buffer = wasmMemory().buffer;
  if (!i32View || i32View.buffer !== buffer) i32View = new Int32Array(buffer);
  return i32View;
}

// ---- Per-thread scratch slots -------------------------------------------------------------

/** Scratch for a parallel kernel: `count` slots of `bytes`, each claimed by one running range call at a time. */
export interface Slots {
  /** Address of `count` int32 claim words (0 free, 1 taken). */
  words: number;
  /** Address of slot 0; slot i is at base + i·bytes. */
  base: number;
  bytes: number;
  count: number;
}

/** Allocate `count` slots of `bytes` (one per thread that may run a range call at once). */
export function allocSlots(count: number, bytes: number): Slots {
  const words = alloc(4 * count);
  heapI32().fill(0, words >>> 2, (words >>> 2) + count);
  const size = Math.ceil(bytes / ALIGN) * ALIGN;
  return { words, base: alloc(size * count), bytes: size, count };
}

/**
 * Claim a free slot (Atomics on the claim words: never more range calls run at once than there
 * are threads, so one is always free); returns its index. Give it back with `releaseSlot`.
 */
export function claimSlot(memory: WebAssembly.Memory, slots: Slots): number {
  const w = new Int32Array(memory.buffer, slots.words, slots.count);
  for (;;) {
    for (let i = 0; i < slots.count; i++) {
      if (Atomics.compareExchange(w, i, 0, 1) === 0) return i;
    }
  }
}

export function releaseSlot(memory: WebAssembly.Memory, slots: Slots, index: number): void {
  Atomics.store(new Int32Array(memory.buffer, slots.words, slots.count), index, 0);
}

/** What `wasmInfo()` reports about the runtime. */
export interface RuntimeInfo {
  ready: boolean;
  error: string | undefined;
  shared: boolean;
  /** Bytes of the wasm memory. */
  memoryBytes: number;
  /** The most arena bytes one op has needed. */
  arenaPeakBytes: number;
}

export function runtimeInfo(): RuntimeInfo {
  return {
    ready: state !== undefined,
    error: initError,
    shared: state?.shared ?? false,
    memoryBytes: state?.memory.buffer.byteLength ?? 0,
    arenaPeakBytes: peak,
  };
}

/**
 * Intra-op parallelism for the pure-TypeScript kernels, as PyTorch's intra-op threads: ops stay
 * synchronous, a kernel's items are split across a pool of worker threads, the calling thread
 * computes the first part itself and then waits until the workers have finished (polling for up
 * to SPIN_MS, then blocked in Atomics.wait).
 *
 * A kernel takes part through a range function `(args, start, end) => void`, exported from its
 * module, that computes items [start, end) and writes only their results; `args` is a plain
 * object of numbers, booleans, null and typed arrays, and may hold a shared `WebAssembly.Memory`,
 * which every thread then sees as the same memory (it is posted, never copied: `@normlab/wasm`'s
 * kernels pass their memory and addresses in it, so nothing is copied for the workers). The module names it once with
 * `rangeKernel(import.meta.url, 'exportName', fn)` and calls `parallelFor(kernel, args, count,
 * workPerItem, io)`. An item is always computed whole by one thread, in the same order, so
 * results are bit-identical for every thread count; reductions across items go through per-item
 * partial results that the caller combines in a fixed order.
 *
 * A kernel may cut each worker's part into pieces (`ParallelIO.pieces`): the calling thread,
 * done with its own part, runs the pieces a worker has not claimed yet, so a worker that starts
 * late or runs slowly (a busy or shared machine) holds the op up by one piece, not a whole part.
 *
 * Tensors stay on ordinary ArrayBuffers, which workers cannot see: the calling thread works on
 * them in place, and each worker's share of the large arrays is copied into the pool's scratch
 * SharedArrayBuffers (kept and reused, one per argument name, each as large as the largest array
 * passed under that name; `setNumThreads(1)` frees them with the pool) and its results copied back
 * (`ParallelIO`). Copies cost memory bandwidth (about 0.2–1 ms per 4 MB here): compute-bound
 * kernels (conv2d, matmul) gain nearly 2× on two cores, memory-bound ones (the norm kernels) only
 * when they pass over their data several times. Tensors are not themselves put on
 * SharedArrayBuffers because V8 (Node 20) frees those only at a full GC and does not count them
 * towards starting one: 3000 4 MB allocations grew the process to 10 GB.
 *
 * It runs the range function on [0, count) in the calling thread instead when: one thread is
 * configured; the work is too small to pay for a wake-up; the module is not a `.js` file a worker
 * can import (TypeScript sources under a test runner); worker threads do not exist (browsers, or
 * Node before 20.16, which lacks process.getBuiltinModule: there `getNumThreads()` is 1, and
 * a count asked for, or Node's default, is warned about once); the pool was given up after a
 * failure; inside a worker; or inside another parallelFor's part (nesting would reuse busy workers).
 *
 * Threads: `NORMLAB_NUM_THREADS`, else the machine's available parallelism (at most 8);
 * `setNumThreads(n)` at run time.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { TensorError } from './errors.js';
import { warnOnce } from './warnings.js';

/** A worker failed, died or did not answer in time: the op's result is incomplete. */
export class ParallelError extends TensorError {
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'ParallelError';
  }
}

/**
 * A kernel's inner loop over part of its work: items `start` (inclusive) to `end` (exclusive).
 * `parallelFor` calls it once per part, in the calling thread or in a worker, with the same `args`.
 */
export type RangeFunction<A> = (args: A, start: number, end: number) => void;

/** A kernel's range function and where a worker finds it. */
export interface RangeKernel<A> {
  /** URL of the module that exports the function (the caller's `import.meta.url`). */
  readonly moduleUrl: string;
  /** The name it is exported under; errors from workers name the kernel by it. */
  readonly exportName: string;
  /** The function itself, run directly in the calling thread. */
  readonly fn: RangeFunction<A>;
}

/** Name a module's exported range function so workers can import it (pass `import.meta.url`). */
export function rangeKernel<A>(moduleUrl: string, exportName: string, fn: RangeFunction<A>): RangeKernel<A> {
  return { moduleUrl, exportName, fn };
}

/**
 * Work (inner-loop iterations: element visits, multiply-adds) below which a part is not worth a
 * thread: about 0.1–0.3 ms. A wake-up costs ~50 µs on an idle machine, but a busy one (several
 * processes, each with its threads) may not run the worker for a scheduler slice, so small ops
 * stay in the calling thread.
 */
const MIN_WORK_PER_PART = 1 << 18;
/** How long the calling thread waits for a worker before it gives up (first call: start-up too). */
const WORKER_TIMEOUT_MS = 120_000;
/**
 * How long a thread polls before it sleeps (milliseconds): the calling thread for workers still
 * running, a worker for its next task (see parallel-worker.ts). Waking a sleeping thread costs
 * 0.05–0.3 ms on the machines measured, a fifth of a norm layer's part; spinning for a moment
 * first is what OpenMP runtimes (and so PyTorch's threads) do.
 */
export const SPIN_MS = 1;
const MAX_DEFAULT_THREADS = 8;
const MAX_THREADS = 256;

// A worker's status word is tag + phase: each task gets a fresh tag (a multiple of 4), so a
// worker that wakes up late to a task the calling thread already did cannot claim a newer one.
const PENDING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
let lastTag = 0;

const WORKER_FLAG = Symbol.for('normlab.parallel.worker');
/** Module URLs a worker thread can import as they are (not TypeScript sources under a test runner). */
const WORKER_IMPORTABLE = /\.[cm]?js$/;

type WorkerThreadsModule = typeof import('node:worker_threads');
type OsModule = typeof import('node:os');

interface NodeProcessLike {
  getBuiltinModule?: (id: string) => unknown;
  env?: Record<string, string | undefined>;
  versions?: { node?: string };
}

function nodeProcess(): NodeProcessLike | undefined {
  return (globalThis as { process?: NodeProcessLike }).process;
}

/** `node:worker_threads` when this is Node (20.16+); undefined in browsers. */
function workerThreads(): WorkerThreadsModule | undefined {
  return nodeProcess()?.getBuiltinModule?.('node:worker_threads') as WorkerThreadsModule | undefined;
}

function insideWorker(): boolean {
  return (globalThis as Record<symbol, unknown>)[WORKER_FLAG] === true;
}

function checkThreadCount(source: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new TensorError('setNumThreads', `${source} must be an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(n)}`);
  }
  return n;
}

function defaultThreads(): number {
  const env = nodeProcess()?.env?.NORMLAB_NUM_THREADS;
  if (env !== undefined && env !== '') {
    threadsAskedFor = true;
    return checkThreadCount('NORMLAB_NUM_THREADS', Number(env));
  }
  const os = nodeProcess()?.getBuiltinModule?.('node:os') as OsModule | undefined;
  const cores = os ? (os.availableParallelism?.() ?? os.cpus().length) : 1;
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, cores));
}

/**
 * Why the kernels cannot run on worker threads in this environment, or undefined when they can:
 * outside Node (browsers: there is no Web Worker pool), and in Node before 20.16 (or 21.x–22.2),
 * which lacks process.getBuiltinModule, the way this package reaches node:worker_threads without
 * importing a Node module that browser bundles would have to stub.
 */
function threadsUnavailable(): string | undefined {
  const proc = nodeProcess();
  const node = proc?.versions?.node;
  if (node === undefined) return 'worker threads exist only in Node (there is no Web Worker pool)';
  if (typeof proc!.getBuiltinModule !== 'function') return `Node ${node} lacks process.getBuiltinModule, which the worker threads need (Node 20.16+ or 22.3+)`;
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
  return undefined;
}

/** The count asked for: NORMLAB_NUM_THREADS, `setNumThreads`, else the cores. */
let threads: number | undefined;
/** Whether `threads` came from NORMLAB_NUM_THREADS or `setNumThreads` rather than the default. */
let threadsAskedFor = false;

/** Say once why the kernels run in one thread. */
function warnThreadsUnavailable(why: string): void {
  warnOnce('tensor:threads-unavailable', `@normlab/tensor: ${why}; the cpu kernels run in one thread`);
}

/**
 * Threads the kernels use (the calling thread included): the count asked for where worker threads
 * exist, else 1. Where they do not, a count above 1 asked for, or Node's default of every core,
 * is warned about once rather than silently dropped.
 */
export function getNumThreads(): number {
  threads ??= defaultThreads();
  const why = threadsUnavailable();
  if (why === undefined) return threads;
  if (threads > 1 || (!threadsAskedFor && nodeProcess()?.versions?.node !== undefined)) warnThreadsUnavailable(why);
  return 1;
}

/** Set the threads the kernels may use (1 = everything in the calling thread). */
export function setNumThreads(n: number): void {
  const next = checkThreadCount('threads', n);
  if (pool && pool.workers.length !== next - 1) closePool();
  threads = next;
  threadsAskedFor = true;
  getNumThreads(); // warns here, where more threads were asked for, when they cannot run
}

/** Whether kernels may run on worker threads here and now. */
function threadsAvailable(): boolean {
  return getNumThreads() > 1 && !insideWorker() && workerThreads() !== undefined;
}

interface Pool {
  workers: Worker[];
  errorPorts: MessagePort[];
  /**
   * One status word per worker: tag + PENDING once a part is posted; the worker claims it
   * (RUNNING) and ends with DONE or FAILED, unless the calling thread has already done all its
   * pieces and voided the task (DONE) before the worker woke up.
   */
  status: Int32Array;
  /** One word per worker: the pieces of its part not yet claimed (see `claimFirst`). */
  claims: Int32Array;
  /** Scratch shared memory per argument name, grown as needed and reused. */
  scratch: Map<string, SharedArrayBuffer>;
}

let pool: Pool | undefined;
/** True while a parallelFor has parts out: a nested call runs in its caller's thread. */
let busy = false;
/** Why the pool was given up (a worker that died or hung); parallelFor then runs serially. */
let poolBroken: string | undefined;

function closePool(): void {
  if (!pool) return;
  for (const w of pool.workers) void w.terminate();
  for (const p of pool.errorPorts) p.close();
  pool = undefined;
}

function openPool(wt: WorkerThreadsModule, count: number): Pool {
  const status = new Int32Array(new SharedArrayBuffer(4 * count));
  const claims = new Int32Array(new SharedArrayBuffer(4 * count));
  const workers: Worker[] = [];
  const errorPorts: MessagePort[] = [];
  const script = new URL('./parallel-worker.js', import.meta.url);
  for (let i = 0; i < count; i++) {
    const { port1, port2 } = new wt.MessageChannel();
    const worker = new wt.Worker(script, {
      workerData: { status, claims, index: i, errorPort: port2 },
      transferList: [port2],
    });
    // Workers must not keep a finished program alive, nor crash it from their thread.
    worker.unref();
    worker.on('error', () => undefined);
    port1.unref();
    workers.push(worker);
    errorPorts.push(port1);
  }
  return { workers, errorPorts, status, claims, scratch: new Map() };
}

type TypedArrayLike = Float32Array | Float64Array;
type TypedArrayConstructorLike = new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => TypedArrayLike;

/** A view of `a`'s type and length on the pool's scratch memory for `key`. */
function scratchView(p: Pool, key: string, a: TypedArrayLike): TypedArrayLike {
  let buf = p.scratch.get(key);
  if (!buf || buf.byteLength < a.byteLength) {
    buf = new SharedArrayBuffer(Math.max(a.byteLength, 2 * (buf?.byteLength ?? 0)));
    p.scratch.set(key, buf);
  }
  return new (a.constructor as TypedArrayConstructorLike)(buf, 0, a.length);
}

/** What a kernel's range function reads and writes, so the pool knows what to copy where. */
export interface ParallelIO<A> {
  /**
   * The typed arrays of `args` the kernel writes; every other one is only read. In a worker they
   * start with unspecified contents (scratch memory): the kernel writes every element of its
   * items, or lists the array in `inout` to have it copied in.
   */
  out: readonly (keyof A & string)[];
  /** Written arrays it also reads (a gradient it adds to). */
  inout?: readonly (keyof A & string)[];
  /**
   * The large arrays, each with the element ranges [from, to) that items [start, end) touch in
   * it (flat: from₀, to₀, from₁, to₁, …). The calling thread works on these arrays in place;
   * only the workers' ranges are copied to and from scratch memory. Every other array is
   * mirrored whole (for everyone), which suits small ones: statistics, γ, per-row sums.
   */
  split?: { [K in keyof A & string]?: (start: number, end: number) => number[] };
  /**
   * Cut each worker's part into up to this many pieces (default 1): the worker runs them in
   * order, and the calling thread, once done with its own part, runs those the worker has not
   * claimed yet (from the end). A worker slowed down (a busy or shared machine) then costs one
   * piece, not its whole part. For range functions with no per-call setup worth repeating.
   */
  pieces?: number;
}

/** Item bound of piece j of a part [start, end) cut into `pieces`: the same in every thread. */
export function pieceBound(start: number, end: number, pieces: number, j: number): number {
  return start + Math.round((j * (end - start)) / pieces);
}

// A claims word holds the unclaimed pieces [first, end) of one worker's part as first + end·2^16:
// the worker takes them from the front, the calling thread from the back, each by compare-and-swap.
const PIECE_BITS = 16;
const MAX_PIECES = (1 << (PIECE_BITS - 1)) - 1;

function claimsWord(pieces: number): number {
  return pieces << PIECE_BITS;
}

/** Claim the first unclaimed piece of worker `i`'s part; -1 when none is left. */
export function claimFirst(claims: Int32Array, i: number): number {
  for (;;) {
    const word = Atomics.load(claims, i);
    const first = word & 0xffff;
    const end = word >>> PIECE_BITS;
    if (first >= end) return -1;
    if (Atomics.compareExchange(claims, i, word, first + 1 + (end << PIECE_BITS)) === word) return first;
  }
}

/** Claim the last unclaimed piece of worker `i`'s part; -1 when none is left. */
function claimLast(claims: Int32Array, i: number): number {
  for (;;) {
    const word = Atomics.load(claims, i);
    const first = word & 0xffff;
    const end = word >>> PIECE_BITS;
    if (first >= end) return -1;
    if (Atomics.compareExchange(claims, i, word, first + ((end - 1) << PIECE_BITS)) === word) return end - 1;
  }
}

function copyRanges(to: TypedArrayLike, from: TypedArrayLike, ranges: number[]): void {
  for (let i = 0; i < ranges.length; i += 2) to.set(from.subarray(ranges[i]!, ranges[i + 1]!), ranges[i]!);
}

/**
 * Run `kernel.fn(args, start, end)` over [0, count), split into contiguous parts across the
 * threads when it pays (see the file comment); returns once every part is done.
 * `workPerItem`: about how many elements one item visits, to decide whether to split.
 */
export function parallelFor<A extends object>(kernel: RangeKernel<A>, args: A, count: number, workPerItem: number, io: ParallelIO<A>): void {
  const parts = Math.min(getNumThreads(), count, Math.floor((count * workPerItem) / MIN_WORK_PER_PART));
  const usable = parts > 1 && !busy && poolBroken === undefined && WORKER_IMPORTABLE.test(kernel.moduleUrl);
  const wt = usable && threadsAvailable() ? workerThreads() : undefined;
  if (!wt) {
    kernel.fn(args, 0, count);
    return;
  }
  if (!pool) pool = openPool(wt, getNumThreads() - 1);
  const p0 = pool;
  const bound = (p: number) => Math.round((p * count) / parts);
  const written = new Set<string>(io.out);
  const read = (key: string) => !written.has(key) || (io.inout?.includes(key as keyof A & string) ?? false);
  const split = (io.split ?? {}) as Record<string, ((start: number, end: number) => number[]) | undefined>;
  const mainArgs: Record<string, unknown> = {};
  const workerArgs: Record<string, unknown> = {};
  const copyBack: (() => void)[] = [];
  for (const [key, value] of Object.entries(args)) {
    if (!ArrayBuffer.isView(value)) {
      mainArgs[key] = value;
      workerArgs[key] = value;
      continue;
    }
    const a = value as TypedArrayLike;
    const view = scratchView(p0, key, a);
    workerArgs[key] = view;
    const ranges = split[key];
    if (ranges) {
      const workerRanges: number[][] = [];
      for (let p = 1; p < parts; p++) workerRanges.push(ranges(bound(p), bound(p + 1)));
      mainArgs[key] = a;
      if (read(key)) for (const r of workerRanges) copyRanges(view, a, r);
      if (written.has(key)) copyBack.push(() => workerRanges.forEach((r) => copyRanges(a, view, r)));
    } else {
      mainArgs[key] = view;
      if (read(key)) view.set(a);
      if (written.has(key)) copyBack.push(() => a.set(view));
    }
  }
  busy = true;
  try {
    const pieces = Math.max(1, Math.min(MAX_PIECES, Math.floor(io.pieces ?? 1)));
    runParts(wt, p0, kernel, mainArgs as A, workerArgs as A, bound, parts, pieces);
  } finally {
    busy = false;
  }
  for (const f of copyBack) f();
}

function runParts<A>(
  wt: WorkerThreadsModule,
  p0: Pool,
  kernel: RangeKernel<A>,
  mainArgs: A,
  workerArgs: A,
  bound: (part: number) => number,
  parts: number,
  pieces: number,
): void {
  const { workers, errorPorts, status, claims } = p0;
  lastTag = (lastTag + 4) % 0x40000000;
  const tag = lastTag;
  const piecesOf = (p: number) => Math.min(pieces, bound(p + 1) - bound(p));
  for (let p = 1; p < parts; p++) {
    Atomics.store(claims, p - 1, claimsWord(piecesOf(p)));
    Atomics.store(status, p - 1, tag + PENDING);
    const task = { moduleUrl: kernel.moduleUrl, exportName: kernel.exportName, args: workerArgs, start: bound(p), end: bound(p + 1), pieces: piecesOf(p), tag };
    workers[p - 1]!.postMessage(task);
  }
  let ownError: unknown;
  try {
    kernel.fn(mainArgs, 0, bound(1));
  } catch (e) {
    ownError = e;
  }
  // Every part must be finished before we return (nothing may write into args afterwards), even
  // when our own failed. The pieces a worker has not claimed yet (a busy machine may not have
  // scheduled it, or slowed it down) are done here rather than waited for, last first.
  const deadline = Date.now() + WORKER_TIMEOUT_MS;
  // Poll for up to SPIN_MS before sleeping: a futex wake-up took 0.05–0.3 ms here.
  const spinUntil = performance.now() + SPIN_MS;
  let failure: string | undefined;
  for (let p = 1; p < parts; p++) {
    const i = p - 1;
    const n = piecesOf(p);
    for (let j = claimLast(claims, i); j >= 0; j = claimLast(claims, i)) {
      // Ours now (and not worth running once our own part has failed).
      if (ownError !== undefined) continue;
      try {
        kernel.fn(workerArgs, pieceBound(bound(p), bound(p + 1), n, j), pieceBound(bound(p), bound(p + 1), n, j + 1));
      } catch (e) {
        ownError = e;
      }
    }
    // A worker that never started has nothing left to do: its task is void from here on.
    if (Atomics.compareExchange(status, i, tag + PENDING, tag + DONE) === tag + PENDING) continue;
    while (Atomics.load(status, i) === tag + RUNNING) {
      if (Date.now() > deadline) {
        poolBroken = `worker ${i + 1} did not finish within ${WORKER_TIMEOUT_MS / 1000} s`;
        closePool();
        throw new ParallelError(kernel.exportName, `${poolBroken}; later ops run in one thread`);
      }
      if (performance.now() > spinUntil) Atomics.wait(status, i, tag + RUNNING, 1000);
    }
    if (Atomics.load(status, i) === tag + FAILED) {
      const message = wt.receiveMessageOnPort(errorPorts[i]!)?.message as string | undefined;
      failure ??= message ?? 'a worker failed without a message';
    }
  }
  if (ownError !== undefined) throw ownError;
  if (failure !== undefined) throw new ParallelError(kernel.exportName, `in a worker thread: ${failure}`);
}

/** For tests: the reason the pool was given up, if it was. */
export function parallelStatus(): {
  /** The thread count ops use (`getNumThreads()`). */
  threads: number;
  /** Worker threads started so far (0 until a parallel op has run). */
  workers: number;
  /** Why the pool was given up, or undefined while it works. */
  broken: string | undefined;
} {
  return { threads: getNumThreads(), workers: pool?.workers.length ?? 0, broken: poolBroken };
}

/**
 * `@normlab/wasm`: WebAssembly SIMD kernels registered into the tensor kernel registry as
 * backend `wasm`, and made the active backend when the package is imported (Node, web workers),
 * or when `initWasm()` resolves (a browser's main thread), unless `NORMLAB_BACKEND` names
 * another backend or one other than `cpu` is already active. Ops without a wasm kernel, float64
 * tensors, and calls the arena cannot hold run on `cpu` (each reason recorded once in
 * `fallbackLog()`, listed by `wasmInfo()`).
 */
import { Tensor, TensorError, fallbackLog, getBackend, getNumThreads, registerBackend, registerKernel, setBackend, warnOnce } from '@normlab/tensor';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dWasm } from './kernels/conv.js';
import { reluBackwardWasm, reluWasm } from './kernels/elementwise.js';
import { matmulWasm } from './kernels/matmul.js';
import { NORM_KERNELS, registerNormKernels } from './kernels/norm/index.js';
import * as runtime from './runtime.js';
import { initWasm as initRuntime, initWasmSync, memoryShared, runtimeInfo, wasmInitError } from './runtime.js';

// The public API is declared here rather than re-exported from runtime.js: runtime's declarations
// name WebAssembly types, which a consumer compiling for Node without the DOM library lacks
// (tools/consumer-check compiles with lib ES2022 + @types/node and skipLibCheck off).

/** Whether this engine runs WebAssembly with 128-bit SIMD (Node ≥ 16.4, every current browser). */
export function simdSupported(): boolean {
  return runtime.simdSupported();
}

/** Whether the kernels module is compiled and instantiated, so backend `wasm` can run now. */
export function wasmReady(): boolean {
  return runtime.wasmReady();
}

/** The backend cannot start here (no WebAssembly SIMD, or not initialized yet). */
export class WasmBackendError extends TensorError {
  /** The error's `op` is `setBackend(wasm)`; `message` says what is missing. */
  constructor(message: string) {
    super('setBackend(wasm)', message);
    this.name = 'WasmBackendError';
  }
}

/** The ops backend `wasm` has its own kernels for. */
export const WASM_KERNELS: readonly string[] = ['matmul', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'relu', 'reluBackward', ...NORM_KERNELS];

/** Why a call must run on `cpu`, or undefined when the wasm kernels take it. */
function rejects(_name: string, args: unknown[]): string | undefined {
  if (!wasmReady()) return `the wasm kernels are not initialized${wasmInitError() ? `: ${wasmInitError()}` : ' (await initWasm())'}`;
  for (const a of args) {
    if (a instanceof Tensor && a.dtype !== 'float32') return `${a.dtype} tensors run on cpu (the wasm kernels are float32)`;
  }
  return undefined;
}

registerBackend('wasm', {
  init: () => {
    if (!wasmReady()) {
      throw new WasmBackendError(
        wasmInitError() ?? 'the wasm kernels are not compiled yet: await initWasm() first (a browser main thread cannot compile them synchronously)',
      );
    }
  },
  rejects,
});

registerKernel('matmul', 'wasm', matmulWasm);
registerKernel('conv2d', 'wasm', conv2dWasm);
registerKernel('conv2dBackwardInput', 'wasm', conv2dBackwardInputWasm);
registerKernel('conv2dBackwardWeight', 'wasm', conv2dBackwardWeightWasm);
registerKernel('relu', 'wasm', reluWasm);
registerKernel('reluBackward', 'wasm', reluBackwardWasm);
registerNormKernels();

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;

/** Make `wasm` active unless the environment or the program chose another backend. */
function activateByDefault(): void {
  const wanted = env?.NORMLAB_BACKEND;
  if (wanted !== undefined && wanted !== '' && wanted !== 'wasm') return;
  if (getBackend() !== 'cpu') return;
  setBackend('wasm');
}

// Node and web workers compile now; a browser's main thread waits for initWasm().
if (initWasmSync()) {
  activateByDefault();
} else if (!simdSupported()) {
  warnOnce('wasm:no-simd', `normlab: WebAssembly SIMD is not available here; the cpu backend stays active (${wasmInitError()})`);
}

/**
 * Compile the kernels asynchronously and make `wasm` the active backend (as importing does where
 * a synchronous compile is allowed). A browser's main thread must await this before the wasm
 * kernels run; elsewhere it resolves at once. Rejects with `WasmBackendError` without SIMD.
 */
export async function initWasm(): Promise<void> {
  try {
    await initRuntime();
  } catch (e) {
    throw new WasmBackendError((e as Error).message);
  }
  activateByDefault();
}

/** What `wasmInfo()` returns. */
export interface WasmInfo {
  /** Whether `wasm` is the active backend. */
  active: boolean;
  /** Whether the kernels are compiled and instantiated in this thread. */
  ready: boolean;
  /** Why they are not, when they are not. */
  error: string | undefined;
  /** Whether the memory is shared, so that the kernels' work is split over `threads` threads. */
  shared: boolean;
  /** Threads the kernels split their work over (1 without shared memory). */
  threads: number;
  /** Bytes of the wasm memory, and the most one op has used of it. */
  memoryBytes: number;
  /** The most bytes of that memory one op has used for its operands and scratch so far. */
  arenaPeakBytes: number;
  /** The ops backend `wasm` has its own kernels for (`WASM_KERNELS`); the others run on `cpu`. */
  kernels: readonly string[];
  /** Every op that ran on `cpu` while `wasm` was active, and why (once per reason). */
  fallbacks: Array<{
    /** The op that ran on `cpu`. */
    op: string;
    /** Why the wasm kernels did not take it. */
    reason: string;
  }>;
}

/** The wasm backend's state in this thread: readiness, memory, threads, and what fell back to `cpu`. */
export function wasmInfo(): WasmInfo {
  const r = runtimeInfo();
  return {
    active: getBackend() === 'wasm',
    ready: r.ready,
    error: r.error,
    shared: r.ready && memoryShared(),
    threads: r.ready && memoryShared() ? getNumThreads() : 1,
    memoryBytes: r.memoryBytes,
    arenaPeakBytes: r.arenaPeakBytes,
    kernels: WASM_KERNELS,
    fallbacks: fallbackLog()
      .filter((f) => f.backend === 'wasm')
      .map(({ op, reason }) => ({ op, reason })),
  };
}

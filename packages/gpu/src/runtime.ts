/**
 * The gpu.js runtime behind backend `gpu`: the mode, the `GPU` instance, the per-shape kernel
 * cache, and what `backendInfo()` reports (the mode that actually runs, and every fallback).
 */
import gpujs from 'gpu.js';
import { TensorError, fallbackLog, onFallback, warnOnce } from '@normlab/tensor';

/** The gpu.js modes `setBackend('gpu', {mode})` accepts. */
export const GPU_MODES = ['gpu', 'webasm', 'webgl2', 'webgl', 'headlessgl', 'webgpu', 'cpu'] as const;
/** A gpu.js mode: `gpu` lets gpu.js choose; the others force one (see `GPU_MODES`). */
export type GpuMode = (typeof GPU_MODES)[number];

/** The slice of gpu.js's kernel object this package uses. */
interface GpuKernel {
  (...args: unknown[]): unknown;
  kernel?: { constructor: { mode?: string }; fallbackReason?: string | null };
  destroy?: (removeCanvasReferences?: boolean) => void;
}

interface GpuInstance {
  Kernel?: { mode?: string };
  createKernel(fn: (...args: any[]) => unknown, settings: Record<string, unknown>): GpuKernel;
  destroy(): unknown;
}

interface GpuStatic {
  new (settings: { mode: string }): GpuInstance;
  isWebGLSupported: boolean;
  isWebGL2Supported: boolean;
  isHeadlessGLSupported: boolean;
  isWebAssemblySupported: boolean;
  isWebGPUSupported: boolean;
}

// gpu.js is CommonJS in Node (its namespace arrives as the default export) and a global in the
// browser build (the test page maps the 'gpu.js' specifier to a shim exporting that global).
const ns = gpujs as unknown as { GPU?: GpuStatic; default?: { GPU?: GpuStatic } };
const GPU: GpuStatic = (ns.GPU ?? ns.default?.GPU) as GpuStatic;

/** Raised for a mode this environment cannot run, or a bad `setBackend('gpu', …)` option. */
export class GpuBackendError extends TensorError {
  /** The error's `op` is `setBackend(gpu)`; `message` says what was wrong. */
  constructor(message: string) {
    super('setBackend(gpu)', message);
    this.name = 'GpuBackendError';
  }
}

/** What `backendInfo()` returns. */
export interface BackendInfo {
  /** Whether backend `gpu` is the active tensor backend. */
  active: boolean;
  /** The mode asked for (`gpu` = gpu.js's auto choice). */
  requestedMode: GpuMode | null;
  /** The gpu.js mode that compiles and runs the kernels. */
  mode: string | null;
  /** Kernels compiled in this process (one per op and shape), and the mode each actually ran in. */
  kernels: Array<{
    /** The kernel and its shape constants, e.g. `conv2d:{"n":2,…}`. */
    key: string;
    /** The mode gpu.js was asked for when it compiled the kernel. */
    requestedMode: string;
    /** The mode the kernel ran in (differs when gpu.js fell back, e.g. to `cpu`). */
    mode: string;
  }>;
  /** Every op that ran on `cpu` instead, with why (once per reason). */
  fallbacks: Array<{
    /** The op that ran on `cpu`. */
    op: string;
    /** Why the gpu kernels did not take it. */
    reason: string;
  }>;
  /**
   * Multi-kernel ops that chain kernels on the device (once per op and mode): `texture` says the
   * intermediate results really stayed on the device as gpu.js textures (GL modes) rather than
   * arrays (webasm / cpu modes, where there is no separate device memory).
   */
  pipelines: Array<{
    /** The multi-kernel op, e.g. `normForward`. */
    op: string;
    /** The gpu.js mode its kernels ran in. */
    mode: string;
    /** Whether the intermediate results stayed on the device as textures. */
    texture: boolean;
  }>;
}

let gpu: GpuInstance | null = null;
let requestedMode: GpuMode | null = null;
let actualMode: string | null = null;
let isActive = false;
/** Kernels that compiled and ran, by cache key; Map order is the LRU order. */
const cache = new Map<string, GpuKernel>();
/** Every kernel compiled in this process and the mode it ran in (kept across backend switches). */
const kernelModes = new Map<string, { requested: string; mode: string }>();
const HISTORY_LIMIT = 1000;
/** Kernels that failed to compile, by cache key: later calls fail fast with the same reason. */
const failed = new Map<string, string>();
const CACHE_LIMIT = 96;
/** Pipelined ops seen, by `op|mode|texture` (kept across backend switches, like kernelModes). */
const pipelineLog = new Map<string, { op: string; mode: string; texture: boolean }>();

function supported(mode: GpuMode): boolean {
  switch (mode) {
    case 'webasm':
      return GPU.isWebAssemblySupported;
    case 'webgl2':
      return GPU.isWebGL2Supported;
    case 'webgl':
      return GPU.isWebGLSupported;
    case 'headlessgl':
      return GPU.isHeadlessGLSupported;
    case 'webgpu':
      return GPU.isWebGPUSupported;
    default:
      return true;
  }
}

/** Start (or switch) gpu.js in `mode`; throws `GpuBackendError` when the mode cannot run here. */
export function initRuntime(options: Record<string, unknown>): void {
  const mode = (options.mode ?? 'gpu') as GpuMode;
  if (!(GPU_MODES as readonly string[]).includes(mode as string)) {
    throw new GpuBackendError(`mode must be one of ${GPU_MODES.join(', ')}, got ${JSON.stringify(options.mode)}`);
  }
  if (mode === 'webgpu') {
    // gpu.js's WebGPU kernels return Promises; normlab's tensor API is synchronous.
    throw new GpuBackendError(
      "mode 'webgpu' is asynchronous in gpu.js (every kernel call returns a Promise) and normlab's tensor API is synchronous; " +
        "use 'webgl2' or 'gpu' in a browser (the browser test runs the kernels on WebGPU directly when an adapter exists)",
    );
  }
  if (!supported(mode)) {
    throw new GpuBackendError(`gpu.js mode '${mode}' is not available in this environment (try 'gpu' for the automatic choice, or 'webasm')`);
  }
  if (gpu && requestedMode === mode) return;
  disposeRuntime();
  gpu = new GPU({ mode });
  requestedMode = mode;
  // The mode gpu.js picked (auto: headless-gl, WebGL2, WebGL, else WebAssembly). gpu.js's GL
  // kernel classes all call themselves 'gpu', so name the GL flavour by the same probes it uses.
  if (mode !== 'gpu') {
    actualMode = mode;
  } else if (gpu.Kernel?.mode === 'gpu') {
    actualMode = GPU.isHeadlessGLSupported ? 'headlessgl' : GPU.isWebGL2Supported ? 'webgl2' : 'webgl';
  } else {
    actualMode = gpu.Kernel?.mode ?? 'unknown';
  }
}

export function setActive(active: boolean): void {
  isActive = active;
  if (active) onFallback(reportFallback);
}

/** Drop every compiled kernel and the gpu.js instance. */
export function disposeRuntime(): void {
  for (const k of cache.values()) {
    try {
      k.destroy?.();
    } catch {
      // A kernel whose context is gone cannot be destroyed twice; nothing to free.
    }
  }
  cache.clear();
  failed.clear();
  if (gpu) {
    try {
      void gpu.destroy();
    } catch {
      // Same as above.
    }
  }
  gpu = null;
  requestedMode = null;
  actualMode = null;
}

/** The mode kernels run in (null before `setBackend('gpu')`). */
export function currentMode(): string | null {
  return actualMode;
}

/** Modes whose kernel outputs can stay on the device as textures between kernels. */
export function isTextureMode(): boolean {
  return actualMode === 'webgl2' || actualMode === 'webgl' || actualMode === 'headlessgl';
}

/**
 * Warn once per distinct reason (not per op: "no kernel for this op" would otherwise repeat for
 * every elementwise op); `backendInfo().fallbacks` lists each op.
 */
function reportFallback(info: { op: string; backend: string; reason: string }): void {
  if (info.backend !== 'gpu') return;
  const generic = info.reason.replace(/\d+/g, '#');
  warnOnce(`gpu:fallback:${generic}`, `normlab gpu backend: '${info.op}' runs on cpu: ${info.reason}`);
}

/** The gpu backend's state in this process: mode, compiled kernels, fallbacks to `cpu`, device pipelines. */
export function backendInfo(): BackendInfo {
  return {
    active: isActive,
    requestedMode,
    mode: actualMode,
    kernels: [...kernelModes].map(([key, k]) => ({ key: key.slice(key.indexOf(':') + 1), requestedMode: k.requested, mode: k.mode })),
    fallbacks: fallbackLog()
      .filter((f) => f.backend === 'gpu')
      .map(({ op, reason }) => ({ op, reason })),
    pipelines: [...pipelineLog.values()].map((p) => ({ ...p })),
  };
}

/** Whether a gpu.js result is a texture (a pipeline output still on the device). */
export function isTexture(result: unknown): boolean {
  return result !== null && typeof result === 'object' && typeof (result as { toArray?: unknown }).toArray === 'function';
}

/** Record that `op` chained its kernels on the device, and whether the link was a texture. */
export function recordPipeline(op: string, intermediate: unknown): void {
  const texture = isTexture(intermediate);
  const mode = actualMode ?? 'unknown';
  pipelineLog.set(`${op}|${mode}|${texture}`, { op, mode, texture });
}

export interface KernelSpec {
  /** Cache identity: the kernel's name; with `constants` and `output` it names one compilation. */
  name: string;
  fn: (...args: any[]) => unknown;
  constants: Record<string, number>;
  output: number[];
  returnType?: 'Number' | 'Array(2)' | 'Array(3)';
  /** Return a texture (GL modes) so the next kernel reads it on the device. */
  pipeline?: boolean;
  /** The longest loop the kernel runs (gpu.js caps loops at `loopMaxIterations`). */
  maxLoop?: number;
}

/**
 * Compile (once per shape) and run a kernel. A compile or run failure throws a plain `Error`
 * (not a `TensorError`), which the registry turns into a `cpu` fallback with the reason; the
 * failure is remembered so the same shape fails fast afterwards.
 */
export function runGpuKernel(spec: KernelSpec, args: unknown[]): unknown {
  if (!gpu) throw new Error('the gpu backend is not initialized');
  const key = `${spec.name}${spec.pipeline ? '|tex' : ''}|${spec.output.join('x')}|${Object.entries(spec.constants)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
  const earlier = failed.get(key);
  if (earlier !== undefined) throw new Error(earlier);
  let kernel = cache.get(key);
  const fresh = kernel === undefined;
  try {
    if (!kernel) {
      kernel = gpu.createKernel(spec.fn, {
        constants: spec.constants,
        output: spec.output,
        returnType: spec.returnType ?? 'Number',
        pipeline: spec.pipeline === true,
        precision: 'single',
        tactic: 'precision',
        loopMaxIterations: Math.max(1000, (spec.maxLoop ?? 0) + 1),
        dynamicOutput: false,
        dynamicArguments: false,
      });
    } else {
      cache.delete(key); // re-insert below: Map order is the LRU order
    }
    const result = kernel(...args);
    if (fresh) {
      const ran = kernelMode(kernel);
      kernelModes.set(`${requestedMode}:${key}`, { requested: requestedMode ?? 'gpu', mode: ran });
      if (kernelModes.size > HISTORY_LIMIT) kernelModes.delete(kernelModes.keys().next().value as string);
      if (ran === 'cpu' && actualMode !== 'cpu') {
        // gpu.js degraded this kernel to its JS mode: correct but slow, and not what was asked.
        const why = kernel.kernel?.fallbackReason ?? 'unknown reason';
        reportFallback({ op: spec.name, backend: 'gpu', reason: `gpu.js ran it in its cpu mode: ${why}` });
      }
    }
    cache.set(key, kernel);
    if (cache.size > CACHE_LIMIT) {
      const [oldKey, old] = cache.entries().next().value as [string, GpuKernel];
      cache.delete(oldKey);
      old.destroy?.();
    }
    return result;
  } catch (err) {
    const message = `gpu.js (${actualMode}) could not compile or run '${spec.name}': ${(err as Error).message ?? String(err)}`;
    failed.set(key, message);
    if (kernel && fresh) kernel.destroy?.();
    throw new Error(message);
  }
}

/** The mode a compiled kernel really runs in (gpu.js calls every GL kernel class 'gpu'). */
function kernelMode(k: GpuKernel): string {
  const inner = k.kernel as { constructor: { mode?: string }; context?: unknown } | undefined;
  const m = inner?.constructor.mode;
  if (m !== 'gpu') return m ?? actualMode ?? 'unknown';
  const g = globalThis as { WebGL2RenderingContext?: new () => unknown; WebGLRenderingContext?: new () => unknown };
  if (g.WebGL2RenderingContext && inner!.context instanceof g.WebGL2RenderingContext) return 'webgl2';
  if (g.WebGLRenderingContext && inner!.context instanceof g.WebGLRenderingContext) return 'webgl';
  return 'headlessgl';
}

/**
 * A gpu.js result as one flat Float32Array: 1-D results already are; 2-D results (and Array(n)
 * returns) are views into one buffer in gpu.js, which is reused when the views are contiguous.
 */
export function flatResult(result: unknown, length: number): Float32Array {
  if (result instanceof Float32Array && result.length === length) return result;
  if (result && typeof (result as { toArray?: unknown }).toArray === 'function') {
    return flatResult((result as { toArray(): unknown }).toArray(), length);
  }
  const leaves: Float32Array[] = [];
  collectLeaves(result, leaves);
  const first = leaves[0];
  if (first && first.buffer.byteLength >= first.byteOffset + length * 4) {
    let contiguous = true;
    let expect = first.byteOffset;
    for (const leaf of leaves) {
      if (leaf.buffer !== first.buffer || leaf.byteOffset !== expect) {
        contiguous = false;
        break;
      }
      expect += leaf.byteLength;
    }
    if (contiguous && expect - first.byteOffset === length * 4) {
      return new Float32Array(first.buffer, first.byteOffset, length);
    }
  }
  const out = new Float32Array(length);
  let o = 0;
  for (const leaf of leaves) {
    out.set(leaf, o);
    o += leaf.length;
  }
  if (o !== length) throw new Error(`gpu.js returned ${o} values, expected ${length}`);
  return out;
}

function collectLeaves(v: unknown, out: Float32Array[]): void {
  if (v instanceof Float32Array) {
    out.push(v);
  } else if (Array.isArray(v)) {
    for (const e of v) collectLeaves(e, out);
  } else if (ArrayBuffer.isView(v)) {
    out.push(Float32Array.from(v as unknown as ArrayLike<number>));
  } else {
    throw new Error(`unexpected gpu.js result of type ${typeof v}`);
  }
}

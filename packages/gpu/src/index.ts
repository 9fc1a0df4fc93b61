/**
 * `@normlab/gpu`: gpu.js kernels registered into the tensor kernel registry as backend `gpu`.
 *
 * Importing this module registers the backend and its kernels; `cpu` stays the active backend
 * until `setBackend('gpu', {mode})` (or `NORMLAB_BACKEND=gpu` in the environment, read here at
 * import, with `NORMLAB_GPU_MODE` choosing the mode). Anything the backend cannot take — float64
 * tensors, empty or oversized tensors, an op without a gpu kernel, a kernel gpu.js fails to
 * compile — runs on `cpu`; each reason is warned once and listed by `backendInfo()`.
 *
 * @module @normlab/gpu
 */
import { Tensor, registerBackend, registerKernel, setBackend, warn } from '@normlab/tensor';
import { conv2dBackwardInputGpu, conv2dBackwardWeightGpu, conv2dGpu, matmulGpu } from './conv-matmul.js';
import {
  batchAxisApplyGpu,
  batchAxisBackwardGpu,
  batchAxisMomentsGpu,
  blendAffineBackwardGpu,
  blendAffineGpu,
  normApplyGpu,
  normBackwardGpu,
  normForwardGpu,
  normMomentsGpu,
} from './norm.js';
import { disposeRuntime, initRuntime, setActive } from './runtime.js';

export {
  GPU_MODES,
  GpuBackendError,
  backendInfo,
  currentMode,
  type BackendInfo,
  type GpuMode,
} from './runtime.js';
/** The kernel functions in gpu.js's kernel language, as the backend compiles them (for reading and for tests). */
export * as kernelSources from './kernel-sources.js';

/** gpu.js indexes in float32: integer indices are exact below 2^24. */
export const MAX_ELEMENTS = 2 ** 24;

/** Why a call must run on `cpu`, or undefined when the gpu kernels can take it. */
function rejects(_name: string, args: unknown[]): string | undefined {
  for (const a of args) {
    if (!(a instanceof Tensor)) continue;
    if (a.dtype !== 'float32') return `${a.dtype} tensors run on cpu (gpu.js computes in float32)`;
    if (a.size === 0) return 'empty tensors run on cpu';
    if (a.size >= MAX_ELEMENTS) {
      return `a tensor of ${a.size} elements exceeds gpu.js's float32 index range (${MAX_ELEMENTS})`;
    }
  }
  return undefined;
}

registerBackend('gpu', {
  init: (options) => {
    initRuntime(options);
    setActive(true);
  },
  dispose: () => {
    setActive(false);
    disposeRuntime();
  },
  rejects,
});

registerKernel('matmul', 'gpu', matmulGpu);
registerKernel('conv2d', 'gpu', conv2dGpu);
registerKernel('conv2dBackwardInput', 'gpu', conv2dBackwardInputGpu);
registerKernel('conv2dBackwardWeight', 'gpu', conv2dBackwardWeightGpu);

// The norm-layers kernel names are typed by @normlab/norm-layers' declaration merging, which this
// package does not depend on; register them untyped (the signatures mirror its src/kernels/index.ts).
const registerUntyped = registerKernel as unknown as (name: string, backend: string, fn: (...args: any[]) => unknown) => void;
registerUntyped('normMoments', 'gpu', normMomentsGpu);
registerUntyped('normApply', 'gpu', normApplyGpu);
registerUntyped('normBackward', 'gpu', normBackwardGpu);
registerUntyped('normForward', 'gpu', normForwardGpu);
registerUntyped('batchAxisMoments', 'gpu', batchAxisMomentsGpu);
registerUntyped('batchAxisApply', 'gpu', batchAxisApplyGpu);
registerUntyped('batchAxisBackward', 'gpu', batchAxisBackwardGpu);
registerUntyped('blendAffine', 'gpu', blendAffineGpu);
registerUntyped('blendAffineBackward', 'gpu', blendAffineBackwardGpu);

/** The ops backend `gpu` has its own kernels for. */
export const GPU_KERNELS = [
  'matmul',
  'conv2d',
  'conv2dBackwardInput',
  'conv2dBackwardWeight',
  'normMoments',
  'normApply',
  'normBackward',
  'normForward',
  'batchAxisMoments',
  'batchAxisApply',
  'batchAxisBackward',
  'blendAffine',
  'blendAffineBackward',
] as const;

// NORMLAB_BACKEND=gpu selects this backend at import; NORMLAB_GPU_MODE picks the gpu.js mode.
const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
if (env?.NORMLAB_BACKEND === 'gpu') {
  try {
    setBackend('gpu', { mode: env.NORMLAB_GPU_MODE || 'gpu' });
  } catch (err) {
    warn(`normlab: NORMLAB_BACKEND=gpu ignored, staying on cpu: ${(err as Error).message}`);
  }
}

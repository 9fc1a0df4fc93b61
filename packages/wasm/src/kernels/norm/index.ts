/**
 * The norm-layer kernels of backend `wasm`, one module per family as the cpu reference in
 * packages/norm-layers/src/kernels/ (grouped, batch-axis, blend, gnplus, hybrid; the row loops
 * in assembly/norm/rows.ts; how operands reach the arena in items.ts). Their names and
 * signatures are typed by `@normlab/norm-layers`, which this package does not depend on, so they
 * are registered untyped.
 *
 * All but `normApply`: a single pass that writes one output per input element, it ran 15–30%
 * slower here than the cpu kernel (the copies in and out cost more than SIMD saves over one
 * read and one write in place; docs/wasm-backend.md, "Norm kernels"), so it stays on cpu.
 */
import { registerKernel } from '@normlab/tensor';
import { batchAxisApplyWasm, batchAxisBackwardWasm, batchAxisMomentsWasm } from './batch-axis.js';
import { blendAffineBackwardWasm, blendAffineWasm } from './blend.js';
import { gnPlusBackwardWasm, gnPlusForwardWasm } from './gnplus.js';
import { normBackwardWasm, normForwardWasm, normMomentsWasm, normParamGradsWasm } from './grouped.js';
import { hybridNormBackwardWasm, hybridNormForwardWasm } from './hybrid.js';

const registerUntyped = registerKernel as unknown as (name: string, backend: string, fn: (...args: any[]) => unknown) => void;

const KERNELS = {
  normMoments: normMomentsWasm,
  normBackward: normBackwardWasm,
  normForward: normForwardWasm,
  normParamGrads: normParamGradsWasm,
  batchAxisMoments: batchAxisMomentsWasm,
  batchAxisApply: batchAxisApplyWasm,
  batchAxisBackward: batchAxisBackwardWasm,
  blendAffine: blendAffineWasm,
  blendAffineBackward: blendAffineBackwardWasm,
  gnPlusForward: gnPlusForwardWasm,
  gnPlusBackward: gnPlusBackwardWasm,
  hybridNormForward: hybridNormForwardWasm,
  hybridNormBackward: hybridNormBackwardWasm,
} as const;

/** The norm-layer kernels backend `wasm` has its own versions of. */
export const NORM_KERNELS = Object.keys(KERNELS) as Array<keyof typeof KERNELS>;

/** Register them (once, from the package's index). */
export function registerNormKernels(): void {
  for (const [name, fn] of Object.entries(KERNELS)) registerUntyped(name, 'wasm', fn);
}

/**
 * Helpers shared by this package's tests (excluded from the build by tsconfig.build.json).
 */
import type { Tensor } from '@normlab/tensor';

/** A module's state dict as plain arrays, for before/after equality checks. */
export function snapshot(m: { stateDict(): Record<string, Tensor> }): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.contiguous().data)]));
}

/**
 * relu and its gradient: one SIMD pass each (the cpu loops branch on every element's sign, which
 * a CNN's activations make unpredictable). Single-threaded: the copies in and out of the arena,
 * on the calling thread, are most of the call.
 */
import { Tensor } from '@normlab/tensor';
import { alloc, kernels, mark, release } from '../runtime.js';
import { stage, unstage } from '../stage.js';

export function reluWasm(x: Tensor): Tensor {
  const top = mark();
  try {
    const X = stage(x.contiguous());
    const out = alloc(4 * x.size);
    kernels().relu(X.ptr, out, x.size);
    return unstage(out, x.shape);
  } finally {
    release(top);
  }
}

export function reluBackwardWasm(dy: Tensor, x: Tensor): Tensor {
  const top = mark();
  try {
    const DY = stage(dy.contiguous());
    const X = stage(x.contiguous());
    const out = alloc(4 * x.size);
    kernels().reluBackward(DY.ptr, X.ptr, out, x.size);
    return unstage(out, x.shape);
  } finally {
    release(top);
  }
}

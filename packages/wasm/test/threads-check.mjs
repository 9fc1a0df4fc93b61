// The wasm kernels' outputs as digests of their bits, for a thread test: `kernelDigests(tensor)`
// runs every case with the tensor library it is given (the test passes the one vitest loaded,
// where kernels run in one thread); run as a script (`NORMLAB_NUM_THREADS=n node
// test/threads-check.mjs`) it loads the built package, whose kernels split their work across n
// threads on the shared memory, and prints {digests, status, wasm} as one JSON line. The
// norm-layer kernels are called by name (`runKernel`): this package's own, without
// @normlab/norm-layers.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/** SHA-256 of the bits of a tensor, or of every tensor and float64 array in a kernel's result. */
function digest(t) {
  const h = createHash('sha256');
  const add = (v) => {
    if (v === null || typeof v !== 'object') return;
    if (ArrayBuffer.isView(v)) h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    else if (v instanceof T0.Tensor) add(v.contiguous().data);
    else for (const k of Object.keys(v).sort()) add(v[k]);
  };
  add(t);
  return h.digest('hex').slice(0, 16);
}

let T0;

/**
 * The norm-layer kernels at sizes where they split across threads (pipelined: the calling thread
 * copies chunks in and out while the others compute): per-sample and pooled slots, GN+ groups,
 * HybridNorm slots, batch-axis position chunks, blend rows.
 */
function normCases(T) {
  const N = 16;
  const C = 32;
  const S = 1024;
  const G = 8;
  const x = T.randn([N, C, S], { seed: 20, mean: 3, std: 2 });
  const dy = T.randn([N, C, S], { seed: 21 });
  const w = T.randn([C], { seed: 22 });
  const b = T.randn([C], { seed: 23 });
  const blend = Float64Array.from({ length: C }, (_, c) => 0.2 + c / (2 * C));
  const gn = { n: N, c: C, s: S, groups: G, perSample: true };
  const bn = { n: N, c: C, s: S, groups: C, perSample: false };
  const two = { n: N, c: C, s: S, groups: G };
  const k = T.runKernel;
  const stats = (l) => k('normForward', x, l, 1e-5, w, b);
  return {
    'norm forward, GN': () => stats(gn),
    'norm forward, BN': () => stats(bn),
    'norm backward, GN': () => k('normBackward', x, dy, gn, stats(gn).mean, stats(gn).rstd, null, w, false, null),
    'norm backward, BN, accumulated': () => k('normBackward', x, dy, bn, stats(bn).mean, stats(bn).rstd, null, w, false, T.randn([N, C, S], { seed: 24 })),
    'norm moments and forward, BGN': () => {
      const l = { ...two, perSample: false };
      return { m: k('normMoments', x, l, 1), f: k('normForward', x, l, 1e-5, w, b) };
    },
    'norm parameter gradients, GN': () => k('normParamGrads', x, dy, gn, stats(gn).mean, stats(gn).rstd),
    'GN+ forward and backward': () => {
      const f = k('gnPlusForward', x, two, 1e-5, blend, w, b);
      return { f, g: k('gnPlusBackward', x, dy, two, f.saved, blend, w, true) };
    },
    'HybridNorm forward and backward': () => {
      const f = k('hybridNormForward', x, two, 1e-5, null, blend, w, b);
      return { f, g: k('hybridNormBackward', x, dy, two, f.saved, blend, w, true) };
    },
    'batch-axis kernels': () => {
      const P = C * S;
      const m = k('batchAxisMoments', x, N, P, 1);
      const v = k('batchAxisApply', x, N, P, m.mean, m.variance);
      return { m, v, dx: k('batchAxisBackward', x, dy, N, P, m.mean, m.variance, m.variance, null) };
    },
    'blend kernels': () => {
      const y = k('blendAffine', x, dy, { n: N, c: C, s: S }, blend, w, b);
      return { y, g: k('blendAffineBackward', dy, x, y, { n: N, c: C, s: S }, blend, w) };
    },
  };
}

export function kernelDigests(T) {
  T0 = T;
  const cases = {
    ...normCases(T),
    'matmul 256x300x200': () => T.matmul(T.randn([256, 300], { seed: 1 }), T.randn([300, 200], { seed: 2 })),
    'matmul batched, B transposed': () => T.matmul(T.randn([3, 130, 70], { seed: 3 }), T.randn([3, 90, 70], { seed: 4 }), { transposeB: true }),
    'conv2d forward 3x3 pad 1': () => T.conv2d(T.randn([9, 5, 12, 12], { seed: 5 }), T.randn([11, 5, 3, 3], { seed: 6 }), T.randn([11], { seed: 7 }), { padding: 1 }),
    'conv2d forward stride 2, small maps': () => T.conv2d(T.randn([20, 12, 4, 4], { seed: 8 }), T.randn([70, 12, 3, 3], { seed: 9 }), null, { stride: 2, padding: 1 }),
    'conv2d input gradient': () => T.conv2dBackwardInput(T.randn([9, 11, 12, 12], { seed: 10 }), T.randn([11, 20, 3, 3], { seed: 11 }), [9, 20, 12, 12], { padding: 1 }),
    'conv2d input gradient stride 2': () => T.conv2dBackwardInput(T.randn([20, 70, 2, 2], { seed: 12 }), T.randn([70, 12, 3, 3], { seed: 13 }), [20, 12, 4, 4], { stride: 2, padding: 1 }),
    'conv2d weight gradient': () => T.conv2dBackwardWeight(T.randn([9, 11, 12, 12], { seed: 14 }), T.randn([9, 5, 12, 12], { seed: 15 }), [11, 5, 3, 3], { padding: 1 }),
    'conv2d weight gradient, groups 2, stride 2': () => T.conv2dBackwardWeight(T.randn([20, 8, 2, 2], { seed: 16 }), T.randn([20, 12, 4, 4], { seed: 17 }), [8, 6, 3, 3], { stride: 2, padding: 1, groups: 2 }),
  };
  const out = {};
  for (const [name, fn] of Object.entries(cases)) out[name] = digest(fn());
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const T = await import('@normlab/tensor');
  const { wasmInfo } = await import('../dist/index.js');
  const digests = kernelDigests(T);
  const info = wasmInfo();
  console.log(JSON.stringify({ digests, status: T.parallelStatus(), wasm: { active: info.active, shared: info.shared, fallbacks: info.fallbacks } }));
}

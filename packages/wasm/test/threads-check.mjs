// The wasm kernels' outputs as digests of their bits, for a thread test: `kernelDigests(tensor)`
// runs every case with the tensor library it is given (the test passes the one vitest loaded,
// where kernels run in one thread); run as a script (`NORMLAB_NUM_THREADS=n node
// test/threads-check.mjs`) it loads the built package, whose kernels split their work across n
// threads on the shared memory, and prints {digests, status, wasm} as one JSON line.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

function digest(t) {
  const d = t.contiguous().data;
  return createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex').slice(0, 16);
}

export function kernelDigests(T) {
  const cases = {
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

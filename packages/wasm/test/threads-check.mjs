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

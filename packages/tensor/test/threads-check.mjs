// The threaded tensor kernels (conv2d and its gradients, matmul) on a spread of shapes, one
// SHA-256 per output. Run as a script it uses the BUILT package (dist/, whose kernels worker
// threads can import) and prints one JSON line, for src/kernel-threads.test.ts to compare across
// NORMLAB_NUM_THREADS and against the sources run in one thread. `--lib PATH` uses another
// build's dist/index.js instead (a before/after check).
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// [name, N, Cin, Cout, H, W, k, options]: Winograd (3×3 s1), merged small outputs, per-image
// large outputs, strided, pointwise, depth 1, groups of 6 output channels (not a multiple of the
// weight gradient's 4-row items), dilated float64 (accumulated in place).
export const CASES = [
  ['winograd', 8, 16, 32, 28, 28, 3, { padding: 1 }],
  ['merged s2', 16, 32, 64, 14, 14, 3, { stride: 2, padding: 1 }],
  ['merged 4x4', 32, 64, 40, 8, 8, 3, { stride: 2, padding: 1 }],
  ['per-image s2', 6, 8, 12, 40, 40, 3, { stride: 2, padding: 1 }],
  ['pointwise', 8, 24, 20, 20, 20, 1, {}],
  ['depth 1', 16, 1, 32, 28, 28, 3, { padding: 1 }],
  ['groups', 8, 12, 18, 17, 17, 3, { padding: 1, groups: 3 }],
  ['dilated float64', 4, 6, 10, 19, 19, 3, { padding: 2, dilation: 2, dtype: 'float64' }],
];

// [name, A shape, B shape (as stored), transposeA, transposeB, dtype]: a square product, a broadcast batch
// with both operands transposed, odd float64 sizes.
export const MATMUL_CASES = [
  ['512 square', [512, 512], [512, 512], false, false, 'float32'],
  ['batched transposed', [3, 70, 101], [90, 70], true, true, 'float32'],
  ['odd float64', [2, 37, 300], [2, 300, 41], false, false, 'float64'],
];

export function kernelDigests(lib) {
  const { conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, matmul, randn } = lib;
  const hash = (t) => createHash('sha256').update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex');
  const digests = {};
  for (const [name, n, cin, cout, h, w, k, o] of CASES) {
    const { dtype = 'float32', ...opts } = o;
    const x = randn([n, cin, h, w], { seed: 1, dtype });
    const wt = randn([cout, cin / (opts.groups ?? 1), k, k], { seed: 2, dtype });
    const bias = randn([cout], { seed: 3, dtype });
    const dy = randn(conv2dOutputShape(x.shape, wt.shape, opts), { seed: 4, dtype });
    digests[`${name} forward`] = hash(conv2d(x, wt, bias, opts));
    digests[`${name} input grad`] = hash(conv2dBackwardInput(dy, wt, x.shape, opts));
    digests[`${name} weight grad`] = hash(conv2dBackwardWeight(dy, x, wt.shape, opts));
  }
  for (const [name, as, bs, ta, tb, dtype] of MATMUL_CASES) {
    const a = randn(as, { seed: 5, dtype });
    const b = randn(bs, { seed: 6, dtype });
    digests[`matmul ${name}`] = hash(matmul(a, b, { transposeA: ta, transposeB: tb }));
  }
  return digests;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const libArg = process.argv.indexOf('--lib');
  const lib = await import(libArg > 0 ? pathToFileURL(process.argv[libArg + 1]).href : '../dist/index.js');
  console.log(JSON.stringify({ digests: kernelDigests(lib), status: lib.parallelStatus?.() ?? null }));
}

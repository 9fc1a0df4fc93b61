// Runs the BUILT norm kernels (dist/, which worker threads can import) in a plain Node process
// and prints a SHA-256 of every output for src/parallel.test.ts, which compares thread counts.
// NORMLAB_NUM_THREADS comes from the parent's environment.
import { createHash } from 'node:crypto';
import { parallelStatus, randn, runKernel } from '@normlab/tensor';
import '../dist/index.js';

const N = 16;
const C = 32;
const S = 2048;
const G = 8;
const x = randn([N, C, S], { seed: 11, mean: 3, std: 2 });
const dy = randn([N, C, S], { seed: 12 });
const w = randn([C], { seed: 13 });
const b = randn([C], { seed: 14 });
const blend = Float64Array.from({ length: C }, (_, c) => 0.2 + c / (2 * C));

const digests = {};
function record(name, ...arrays) {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  digests[name] = h.digest('hex');
}

const layouts = {
  gn: { n: N, c: C, s: S, groups: G, perSample: true },
  bn: { n: N, c: C, s: S, groups: C, perSample: false },
  bgn: { n: N, c: C, s: S, groups: G, perSample: false },
  in: { n: N, c: C, s: S, groups: C, perSample: true },
};
for (const [name, l] of Object.entries(layouts)) {
  const f = runKernel('normForward', x, l, 1e-5, w, b);
  record(`${name} forward`, f.y.data, f.mean, f.variance, f.rstd);
  const g = runKernel('normBackward', x, dy, l, f.mean, f.rstd, null, w, false, null);
  record(`${name} backward`, g.dx.data, g.dweight, g.dbias);
  const acc = randn([N, C, S], { seed: 15 });
  runKernel('normBackward', x, dy, l, f.mean, f.rstd, null, w, false, acc);
  record(`${name} backward accumulated`, acc.data);
}
const two = { n: N, c: C, s: S, groups: G };
const f = runKernel('gnPlusForward', x, two, 1e-5, blend, w, b);
record('gnplus forward', f.y.data, ...Object.values(f.saved));
const g = runKernel('gnPlusBackward', x, dy, two, f.saved, blend, w, true);
record('gnplus backward', g.dx.data, g.dweight, g.dbias, g.dblend);
console.log(JSON.stringify({ digests, status: parallelStatus() }));

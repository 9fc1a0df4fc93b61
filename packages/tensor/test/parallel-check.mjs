// Runs the BUILT tensor package's parallelFor in a plain Node process (worker threads import
// dist/ and the .mjs kernels directly) and prints one JSON line for src/parallel.test.ts.
// NORMLAB_NUM_THREADS comes from the parent's environment.
import { ParallelError, getNumThreads, parallelFor, parallelStatus, rangeKernel } from '../dist/index.js';
import * as kernels from './range-kernels.mjs';

const url = new URL('./range-kernels.mjs', import.meta.url).href;
const blockSums = rangeKernel(url, 'blockSums', kernels.blockSums);
const failsOnLast = rangeKernel(url, 'failsOnLast', kernels.failsOnLast);
const nestedSums = rangeKernel(url, 'nestedSums', kernels.nestedSums);
const slowInWorkers = rangeKernel(url, 'slowInWorkers', kernels.slowInWorkers);
const firstPartLate = rangeKernel(url, 'blockSumsFirstPartLate', kernels.blockSumsFirstPartLate);
// The same function from another module: one a polling worker has not imported yet.
const elsewhere = rangeKernel(new URL('./range-kernels-elsewhere.mjs', import.meta.url).href, 'blockSumsFirstPartLate', kernels.blockSumsFirstPartLate);

function runBlockSums(count, k, work = 1 << 16, kernel = blockSums, pieces = 1, lateMs = undefined) {
  const x = new Float32Array(count * k);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 100 + (i % 7);
  const a = { k, count, x, out: new Float32Array(count * k), perItem: new Float64Array(count), acc: new Float64Array(count).fill(1), tid: new Float64Array(count), ...(lateMs === undefined ? {} : { lateMs }) };
  // Declared work per item: enough for every thread to get a part (the real work is the block).
  parallelFor(kernel, a, count, work, {
    out: ['out', 'perItem', 'acc', 'tid'],
    inout: ['acc'],
    split: { x: (s, e) => [s * k, e * k], out: (s, e) => [s * k, e * k] },
    pieces,
  });
  let outOk = true;
  for (let i = 0; i < x.length; i++) if (a.out[i] !== Math.fround(2 * x[i])) outOk = false;
  const tids = [...new Set(a.tid)];
  return { outOk, perItem: Array.from(a.perItem), acc: Array.from(a.acc), threads: tids.length, tids, tid: Array.from(a.tid) };
}

let threadsError = null;
try {
  getNumThreads();
} catch (e) {
  threadsError = `${e.name}: ${e.message}`;
}
const result = { threadsError };
if (!threadsError) {
  result.threads = getNumThreads();
  result.big = runBlockSums(64, 4096);
  // A part whose worker has not started when the calling thread is done with its own (the first
  // calls: the workers are still importing the kernel; a loaded machine) is done by the calling
  // thread; count how many threads took part over a few calls whose first part is slow.
  const seen = new Set();
  for (let i = 0; i < 40 && seen.size < result.threads; i++) {
    const r = runBlockSums(64, 4096, 1 << 16, firstPartLate);
    if (!r.outOk || JSON.stringify(r.perItem) !== JSON.stringify(result.big.perItem)) result.big.outOk = false;
    for (const t of r.tids) seen.add(t);
  }
  result.threadsSeen = seen.size;
  // Straight after those calls the workers are polling for their next task; this one needs a
  // module import first (a worker leaves its polling loop for it, then runs its part; the calling
  // thread's part sleeps 200 ms meanwhile).
  const other = runBlockSums(64, 4096, 1 << 16, elsewhere, 1, 200);
  result.newModuleOk = other.outOk && JSON.stringify(other.perItem) === JSON.stringify(result.big.perItem);
  result.newModuleWorkers = other.tids.filter((t) => t !== 0).length;
  // Workers that sleep 50 ms per piece: the calling thread, done with its own part at once,
  // runs the pieces they have not claimed. Count the items outside its own part that it ran.
  const slow = runBlockSums(64, 4096, 1 << 16, slowInWorkers, 4);
  const ownEnd = Math.round(64 / result.threads);
  result.slowWorkers = {
    ok: slow.outOk && JSON.stringify(slow.perItem) === JSON.stringify(result.big.perItem),
    takenOver: slow.tid.filter((t, i) => i >= ownEnd && t === 0).length,
    byWorkers: slow.tid.filter((t) => t !== 0).length,
  };
  result.small = runBlockSums(4, 16, 16);
  // The failing item lies in the last part: a worker's, or the calling thread's if it took the
  // part back. Either way the error names it; from a worker it comes as a ParallelError.
  const f = { count: 64, tid: new Float64Array(64), big: new Float32Array(64 * 4096) };
  try {
    parallelFor(failsOnLast, f, 64, 1 << 16, { out: ['tid'] });
    result.error = null;
  } catch (e) {
    result.error = { name: e.name, isParallelError: e instanceof ParallelError, message: e.message };
  }
  result.afterError = runBlockSums(64, 4096);
  const nx = new Float32Array(64 * 4096);
  for (let i = 0; i < nx.length; i++) nx[i] = Math.sin(i * 0.37) * 100 + (i % 7);
  const n = { k: 4096, x: nx, perItem: new Float64Array(64) };
  parallelFor(nestedSums, n, 64, 1 << 16, { out: ['perItem'], split: { x: (s, e) => [s * 4096, e * 4096] } });
  result.nested = Array.from(n.perItem);
  result.status = parallelStatus();
}
console.log(JSON.stringify(result));

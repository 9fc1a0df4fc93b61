// Range functions for the parallel tests (plain JavaScript, so worker threads can import this
// file directly). Each item i owns elements [i·k, (i + 1)·k) of x and out.
import { threadId } from 'node:worker_threads';

/** out = 2·x on the item's block; perItem[i] = Σ block; acc[i] += Σ block; tid[i] = the thread that ran it. */
export function blockSums(a, start, end) {
  for (let i = start; i < end; i++) {
    let s = 0;
    for (let j = i * a.k; j < (i + 1) * a.k; j++) {
      a.out[j] = 2 * a.x[j];
      s += a.x[j];
    }
    a.perItem[i] = s;
    a.acc[i] += s;
    a.tid[i] = threadId;
  }
}

/**
 * blockSums, but the part starting at item 0 (the calling thread's) first sleeps `a.lateMs`
 * (default 20 ms), so that the workers claim theirs before the calling thread could take them
 * over, even on a loaded machine: for the tests that workers take part.
 */
export function blockSumsFirstPartLate(a, start, end) {
  if (start === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, a.lateMs ?? 20);
  blockSums(a, start, end);
}

/** blockSums, but a worker thread first sleeps 50 ms per call: a worker on a busy machine. */
export function slowInWorkers(a, start, end) {
  if (threadId !== 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  blockSums(a, start, end);
}

/**
 * Throws on the last item (a worker's part when split), after writing the others. The first part
 * lingers 100 ms, so that a worker has claimed the last one before the calling thread could take
 * it back.
 */
export function failsOnLast(a, start, end) {
  if (start === 0 && end < a.count) for (const t0 = Date.now(); Date.now() - t0 < 100; );
  for (let i = start; i < end; i++) {
    if (i === a.count - 1) throw new RangeError(`item ${i} is bad`);
    a.tid[i] = threadId;
  }
}

const { parallelFor, rangeKernel } = await import('../dist/index.js');
const innerSums = rangeKernel(import.meta.url, 'blockSums', blockSums);

/**
 * perItem[i] = Σ of item i's block as 16 sub-blocks summed by blockSums through a parallelFor
 * called from inside a part: the nested call must run in its caller's thread (the workers are
 * busy with the outer parts), not hang, and give the one-thread numbers.
 */
export function nestedSums(a, start, end) {
  const k = a.k / 16;
  for (let i = start; i < end; i++) {
    const x = a.x.subarray(i * a.k, (i + 1) * a.k);
    const b = { k, count: 16, x, out: new Float32Array(a.k), perItem: new Float64Array(16), acc: new Float64Array(16), tid: new Float64Array(16) };
    parallelFor(innerSums, b, 16, 1 << 17, { out: ['out', 'perItem', 'acc', 'tid'], inout: ['acc'] });
    let s = 0;
    for (let j = 0; j < 16; j++) s += b.perItem[j];
    a.perItem[i] = s;
  }
}

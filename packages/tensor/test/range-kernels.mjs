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

/** Throws on the last item (a worker's part when split), after writing the others. */
export function failsOnLast(a, start, end) {
  for (let i = start; i < end; i++) {
    if (i === a.count - 1) throw new RangeError(`item ${i} is bad`);
    a.tid[i] = threadId;
  }
}

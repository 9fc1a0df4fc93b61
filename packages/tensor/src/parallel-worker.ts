/**
 * The body of a `parallel.ts` worker thread: it imports a kernel's module (once), runs the named
 * range function on its part of the shared arrays, and sets its status word (DONE, or FAILED
 * with the error's text on its error port) before waking the waiting thread.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';

// Kernels that a range function calls must not try to open a pool of their own in here.
(globalThis as Record<symbol, unknown>)[Symbol.for('normlab.parallel.worker')] = true;

interface Task {
  moduleUrl: string;
  exportName: string;
  args: object;
  start: number;
  end: number;
}

const DONE = 1;
const FAILED = 2;
const { status, index, errorPort } = workerData as { status: Int32Array; index: number; errorPort: MessagePort };
const modules = new Map<string, Promise<Record<string, unknown>>>();

async function run(task: Task): Promise<void> {
  let mod = modules.get(task.moduleUrl);
  if (!mod) {
    mod = import(task.moduleUrl) as Promise<Record<string, unknown>>;
    modules.set(task.moduleUrl, mod);
  }
  const fn = (await mod)[task.exportName];
  if (typeof fn !== 'function') throw new Error(`${task.moduleUrl} exports no function '${task.exportName}'`);
  fn(task.args, task.start, task.end);
}

parentPort!.on('message', (task: Task) => {
  run(task).then(
    () => Atomics.store(status, index, DONE),
    (e: unknown) => {
      errorPort.postMessage(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      Atomics.store(status, index, FAILED);
    },
  ).finally(() => Atomics.notify(status, index));
});

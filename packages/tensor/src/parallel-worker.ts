/**
 * The body of a `parallel.ts` worker thread: it imports a kernel's module (once), claims its part
 * (status tag + PENDING → RUNNING; if the calling thread took the part back meanwhile, or the
 * message is older than the current task, there is nothing to do), runs the named range function
 * on its part of the shared arrays, and sets DONE, or FAILED with the error's text on its error
 * port, before waking the waiting thread.
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
  /** This task's tag in the status word (a multiple of 4; the phase is added to it). */
  tag: number;
}

const PENDING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const { status, index, errorPort } = workerData as { status: Int32Array; index: number; errorPort: MessagePort };
const modules = new Map<string, Promise<Record<string, unknown>>>();

/** The imported kernel module, once per module URL. */
function load(url: string): Promise<Record<string, unknown>> {
  let mod = modules.get(url);
  if (!mod) {
    mod = import(url) as Promise<Record<string, unknown>>;
    modules.set(url, mod);
  }
  return mod;
}

function finish(task: Task, phase: number): void {
  Atomics.store(status, index, task.tag + phase);
  Atomics.notify(status, index);
}

function fail(task: Task, e: unknown): void {
  errorPort.postMessage(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  finish(task, FAILED);
}

parentPort!.on('message', (task: Task) => {
  load(task.moduleUrl).then(
    (mod) => {
      // Claim the part; if the calling thread took it back (or this message is stale), stop.
      if (Atomics.compareExchange(status, index, task.tag + PENDING, task.tag + RUNNING) !== task.tag + PENDING) return;
      try {
        const fn = mod[task.exportName];
        if (typeof fn !== 'function') throw new Error(`${task.moduleUrl} exports no function '${task.exportName}'`);
        fn(task.args, task.start, task.end);
        finish(task, DONE);
      } catch (e) {
        fail(task, e);
      }
    },
    (e: unknown) => {
      if (Atomics.compareExchange(status, index, task.tag + PENDING, task.tag + RUNNING) === task.tag + PENDING) fail(task, e);
    },
  );
});

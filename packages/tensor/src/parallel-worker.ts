/**
 * The body of a `parallel.ts` worker thread: it imports a kernel's module (once), claims its part
 * (status tag + PENDING → RUNNING; if the calling thread voided the task meanwhile, or the
 * message is older than the current task, there is nothing to do), runs the named range function
 * on each piece of its part it can claim (the calling thread takes the others), and sets DONE, or
 * FAILED with the error's text on its error port, before waking the waiting thread.
 *
 * After a part it stays awake for SPIN_MS, polling for the next task, before it goes back to
 * its event loop to sleep: ops come in bursts (forward, then backward; layer after layer), and a
 * sleeping worker took 0.1–0.3 ms here to wake up for a message.
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SPIN_MS, claimFirst, pieceBound } from './parallel.js';

// Kernels that a range function calls must not try to open a pool of their own in here.
(globalThis as Record<symbol, unknown>)[Symbol.for('normlab.parallel.worker')] = true;

interface Task {
  moduleUrl: string;
  exportName: string;
  args: object;
  start: number;
  end: number;
  /** The part is cut into this many pieces, claimed one by one (the calling thread may take some). */
  pieces: number;
  /** This task's tag in the status word (a multiple of 4; the phase is added to it). */
  tag: number;
}

const PENDING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const { status, claims, index, errorPort } = workerData as { status: Int32Array; claims: Int32Array; index: number; errorPort: MessagePort };
const modules = new Map<string, Promise<Record<string, unknown>>>();
/** Modules already imported, so a task polled for while spinning can run at once. */
const loaded = new Map<string, Record<string, unknown>>();

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

/** Claim the task's part and run it (see the file comment). */
function run(task: Task, mod: Record<string, unknown>): void {
  // Claim the part; if the calling thread voided the task (or this message is stale), stop.
  if (Atomics.compareExchange(status, index, task.tag + PENDING, task.tag + RUNNING) !== task.tag + PENDING) return;
  try {
    const fn = mod[task.exportName];
    if (typeof fn !== 'function') throw new Error(`${task.moduleUrl} exports no function '${task.exportName}'`);
    for (let j = claimFirst(claims, index); j >= 0; j = claimFirst(claims, index)) {
      fn(task.args, pieceBound(task.start, task.end, task.pieces, j), pieceBound(task.start, task.end, task.pieces, j + 1));
    }
    finish(task, DONE);
  } catch (e) {
    fail(task, e);
  }
}

/** The next task if one is posted within SPIN_MS (taken off the port without the event loop). */
function nextTask(): Task | undefined {
  const until = performance.now() + SPIN_MS;
  do {
    // The calling thread marks the part PENDING before it posts the task: poll the cheap word.
    if ((Atomics.load(status, index) & 3) === PENDING) {
      const m = receiveMessageOnPort(parentPort!);
      if (m) return m.message as Task;
    }
  } while (performance.now() < until);
  return undefined;
}

/** Run tasks as long as they keep coming within SPIN_MS, then return to the event loop. */
function serve(first: Task): void {
  let task: Task | undefined = first;
  while (task) {
    const mod = loaded.get(task.moduleUrl);
    if (!mod) {
      const t = task;
      load(t.moduleUrl).then(
        (m) => {
          loaded.set(t.moduleUrl, m);
          serve(t);
        },
        (e: unknown) => {
          if (Atomics.compareExchange(status, index, t.tag + PENDING, t.tag + RUNNING) === t.tag + PENDING) fail(t, e);
        },
      );
      return;
    }
    run(task, mod);
    task = nextTask();
  }
}

parentPort!.on('message', serve);

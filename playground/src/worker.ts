/**
 * A training worker: one run of the page, so the page stays responsive while it trains. Steps run
 * in slices of about SLICE_MS; between slices the worker yields, so `stop` (and `reset`) land
 * within one slice. Step metrics go to the page once per slice.
 */
import { chooseBackend } from './backend.js';
import { RateMeter } from './meters.js';
import { decodeSubset } from './mnist-subset.js';
import type { RunConfig, RunState, StepPoint, SubsetData, ToWorker, WorkerEvent } from './protocol.js';
import { EVAL_EVERY, PROBE_EVERY, TrainingSession } from './session.js';

const SLICE_MS = 60;

const scope = self as unknown as DedicatedWorkerGlobalScope;
let generation = 0;
const post = (event: WorkerEvent) => scope.postMessage({ generation, ...event });

let data: SubsetData | null = null;
let session: TrainingSession | null = null;
let state: RunState = 'idle';
const rate = new RateMeter();
// A message to itself through a channel yields to the worker's queue (the page's `stop`) with
// none of setTimeout's clamping. At most one is pending.
const tick = new MessageChannel();
let tickPending = false;

function schedule(): void {
  if (tickPending) return;
  tickPending = true;
  tick.port2.postMessage(null);
}

function setState(next: RunState): void {
  state = next;
  post({ type: 'state', state, step: session?.step ?? 0 });
}

function fail(err: unknown): void {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  setState('failed');
}

/** Evaluation and the probe at step 0, at their intervals, and at the last step. */
function report(s: TrainingSession): void {
  if (s.step % EVAL_EVERY === 0 || s.done) post({ type: 'eval', step: s.step, ...s.evaluate() });
  if (s.step % PROBE_EVERY === 0 || s.done) post({ type: 'probe', probe: s.probe() });
}

function newSession(config: RunConfig, next: number): void {
  generation = next;
  session = null;
  rate.clear();
  session = new TrainingSession(config, data!);
  setState('idle');
  report(session);
}

function runSlice(): void {
  const s = session;
  if (state !== 'running' || !s) return;
  try {
    const points: StepPoint[] = [];
    const until = performance.now() + SLICE_MS;
    let reported = false;
    while (!s.done && performance.now() < until && !reported) {
      const t0 = performance.now();
      const { images, ...point } = s.trainStep();
      rate.add(images, performance.now() - t0);
      points.push(point);
      // Post the steps before the evaluation, so the curves and the accuracy stay in order.
      reported = s.step % EVAL_EVERY === 0 || s.step % PROBE_EVERY === 0 || s.done;
    }
    post({ type: 'steps', points, imagesPerSecond: rate.rate() });
    if (reported) report(s);
    if (s.done) setState('done');
    else schedule();
  } catch (err) {
    fail(err);
  }
}
tick.port1.onmessage = () => {
  tickPending = false;
  runSlice();
};

async function handle(msg: ToWorker): Promise<void> {
  try {
    switch (msg.type) {
      case 'init':
        generation = msg.generation;
        data = decodeSubset(msg.subset);
        post({ type: 'ready', backend: await chooseBackend(msg.backend), trainImages: data.train.n, testImages: data.test.n });
        newSession(msg.config, msg.generation);
        break;
      case 'start':
        if (session && !session.done && state !== 'running' && state !== 'failed') {
          setState('running');
          schedule();
        }
        break;
      case 'stop':
        if (state === 'running') setState('stopped');
        break;
      case 'reset':
        newSession(msg.config, msg.generation);
        break;
    }
  } catch (err) {
    fail(err);
  }
}

// One message at a time, in order: `init` awaits the backend, and what follows waits for it.
let queue = Promise.resolve();
scope.onmessage = (e: MessageEvent<ToWorker>) => {
  queue = queue.then(() => handle(e.data));
};

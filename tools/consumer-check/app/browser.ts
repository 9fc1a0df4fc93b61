/**
 * The browser entry (bundled by esbuild, run in headless Chromium): trains the same model, and
 * checks that asking for 4 threads, which a page cannot run, reports the 1 that runs.
 */
import { getNumThreads, setNumThreads } from '@normlab/tensor';
import { trainSmallModel } from './train.js';

const report = (result: object) => {
  (globalThis as { __consumerCheck?: object }).__consumerCheck = result;
};
try {
  setNumThreads(4);
  const { losses } = trainSmallModel();
  report({ losses, threadsAfterSetNumThreads4: getNumThreads() });
} catch (e) {
  report({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
}

/**
 * The TensorFlow.js peers: `@tensorflow/tfjs-backend-cpu` (pure JS) and
 * `@tensorflow/tfjs-backend-wasm` (XNNPACK), the latter's .wasm binaries loaded from node_modules
 * (no network). Suites switch between them with `useTf(name)`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export { tf };
export type TfBackend = 'cpu' | 'wasm';

const require = createRequire(import.meta.url);
// Production mode: no debug checks in the timed calls, and no banner recommending tfjs-node.
tf.enableProdMode();
let wasmPathsSet = false;

/** Make `name` tfjs's active backend; returns why it could not, or undefined on success. */
export async function useTf(name: TfBackend): Promise<string | undefined> {
  try {
    if (name === 'wasm' && !wasmPathsSet) {
      const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
      setWasmPaths(dir + path.sep);
      wasmPathsSet = true;
    }
    const ok = await tf.setBackend(name);
    await tf.ready();
    if (!ok || tf.getBackend() !== name) return `tfjs backend '${name}' did not initialize`;
    return undefined;
  } catch (err) {
    return `tfjs backend '${name}' failed: ${(err as Error).message}`;
  }
}

/** Whether the active tfjs backend has a kernel for `kernelName` (e.g. wasm lacks Conv2DBackpropFilter). */
export function tfHasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/** Human-readable peer name. */
export function tfPeerName(name: TfBackend): string {
  return name === 'cpu' ? 'tfjs-backend-cpu' : 'tfjs-backend-wasm';
}

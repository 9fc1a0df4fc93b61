// Setup file of vitest.suites.config.ts: import the wasm package (NORMLAB_BACKEND=wasm makes it
// active at import) and check that it is active and loaded before the suite's tests run. Test
// files are isolated, so a file that switches backends affects only itself.
import { getBackend } from '@normlab/tensor';
import { wasmInfo } from '@normlab/wasm';

if (getBackend() !== 'wasm') throw new Error(`expected backend wasm after import, got ${getBackend()}`);
if (!wasmInfo().ready) throw new Error(`the wasm kernels did not load: ${wasmInfo().error}`);

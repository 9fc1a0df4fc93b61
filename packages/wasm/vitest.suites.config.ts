// Reruns the test suites of @normlab/tensor, @normlab/autograd, @normlab/nn and
// @normlab/norm-layers with backend `wasm` active (NORMLAB_BACKEND=wasm; test/select-wasm.ts
// imports the built package and checks): `npm run test:suites-on-wasm -w @normlab/wasm`, part of
// this package's `npm test`. Same tests as on cpu; the tolerances are the suites' own.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SUITES = ['tensor', 'autograd', 'nn', 'norm-layers'];

export default mergeConfig(
  shared,
  defineConfig({
    test: {
      projects: SUITES.map((name) => ({
        extends: true,
        // The tensor suite imports its own sources (./index.js): the wasm package, processed by
        // vite here, must register its kernels into that same registry, not the built one.
        ...(name === 'tensor' ? { resolve: { alias: { '@normlab/tensor': path.resolve(here, '../tensor/src/index.ts') } } } : {}),
        test: {
          name: `${name} on wasm`,
          root: path.resolve(here, '..', name),
          include: ['src/**/*.test.ts'],
          // The registry's own tests (the default backend is cpu there), and the cpu kernels'
          // thread test (it compares them in child processes that load no wasm).
          exclude: name === 'tensor' ? ['src/registry.test.ts', 'src/kernel-threads.test.ts'] : [],
          setupFiles: [path.resolve(here, 'test/select-wasm.ts')],
          env: {
            NORMLAB_BACKEND: 'wasm',
            // In the tensor suite the pool's worker script would be a TypeScript source; threads
            // are tested from dist (src/threads.test.ts).
            ...(name === 'tensor' ? { NORMLAB_NUM_THREADS: '1' } : {}),
          },
          ...(name === 'tensor' ? { server: { deps: { inline: [/@normlab\/wasm/] } } } : {}),
        },
      })),
    },
  }),
);

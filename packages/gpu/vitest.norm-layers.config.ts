// Runs the @normlab/norm-layers test suite with backend `gpu` selected (NORMLAB_BACKEND=gpu):
// `npm run test:norm-layers-on-gpu -w @normlab/gpu` (NORMLAB_GPU_MODE overrides the mode; webasm
// by default, so the gpu kernels really run in Node).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export default mergeConfig(
  shared,
  defineConfig({
    test: {
      root: path.resolve(here, '../norm-layers'),
      include: ['src/**/*.test.ts'],
      setupFiles: [path.resolve(here, 'test/select-gpu.ts')],
      env: { NORMLAB_BACKEND: 'gpu', NORMLAB_GPU_MODE: process.env.NORMLAB_GPU_MODE ?? 'webasm' },
    },
  }),
);

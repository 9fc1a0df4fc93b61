// The one vitest configuration every package's vitest.config.ts re-exports.
//
// Why these limits: the suite must pass on a slow 2-core laptop that is busy with other work,
// with turbo running several packages' vitest processes at once. vitest's default 5 s per test
// was measured to fail there (a small CNN trained to near-zero loss took 5.5 s on an idle
// machine). No test asserts a time; these limits only decide when a stuck test is given up.
import { defineConfig } from 'vitest/config';

export const TEST_TIMEOUT_MS = 120_000;

/**
 * The limit of each child process a test starts (a CLI run, a check script), from the test's:
 * close enough to it that a child slowed down by a busy machine is never killed while its test
 * still had time, under it so that a stuck child fails its test with the child's own output
 * rather than a bare timeout. A test that starts several keeps their total far below both.
 * Test files import it from here (their package's tsconfig.json type-checks this file too).
 */
export const CHILD_TIMEOUT_MS = TEST_TIMEOUT_MS - 10_000;

export default defineConfig({
  test: {
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
    teardownTimeout: 30_000,
    // Every package's own suite runs on the pure-TS reference kernels, even those that import
    // @normlab/wasm (through @normlab/nn), which would otherwise make `wasm` the default backend;
    // packages/wasm reruns the suites on `wasm` (its vitest.suites.config.ts). NORMLAB_BACKEND in
    // the environment overrides this.
    env: { NORMLAB_BACKEND: process.env.NORMLAB_BACKEND ?? 'cpu' },
  },
});

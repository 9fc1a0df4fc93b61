import { defineConfig, type Rolldown } from 'vite';

/**
 * The normlab packages the page imports, as built (`dist/`). Their node-only modules (the
 * dataset file readers, checkpoints, the metrics log) import `node:fs` and friends; the page uses
 * none of them and a bundle's tree shaking drops them. The dev server serves linked packages
 * unbundled, where those imports would run, so it pre-bundles these too (after `npm run build`
 * in a package, `npm run playground` picks the change up: it starts with `--force`).
 */
const NORMLAB_PACKAGES = [
  '@normlab/tensor',
  '@normlab/wasm',
  '@normlab/autograd',
  '@normlab/nn',
  '@normlab/norm-layers',
  '@normlab/datasets',
  '@normlab/models',
  '@normlab/gpu',
];

/**
 * Vite notes each `node:` import of those node-only modules. The page never calls them (what is
 * left of them in the bundle is an empty stub module), and the browser test would fail if it did.
 */
function quietAboutNodeModules(level: Rolldown.LogLevel, log: Rolldown.RollupLog, handler: Rolldown.LogOrStringHandler): void {
  if (level === 'warn' && /has been externalized for browser compatibility/.test(log.message)) return;
  handler(level, log);
}

/** Rolldown's check that warns when plugins take most of a build: the worker's nested build always does. */
const checks = { pluginTimings: false };

export default defineConfig({
  // Relative asset URLs: dist/ works from any path of a static server.
  base: './',
  // The data subset (scripts/mnist-subset.mjs writes it), served at the root and copied to dist/.
  publicDir: 'generated',
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  optimizeDeps: { include: NORMLAB_PACKAGES },
  build: {
    target: 'es2022',
    // gpu.js compiles its kernels from their source text (Function.prototype.toString), and a
    // minifier's renaming and rewriting of @normlab/gpu's kernel functions is code gpu.js's
    // parser rejects ("Unhandled binary expression between Array & Number").
    minify: false,
    rolldownOptions: { onLog: quietAboutNodeModules, checks },
  },
  worker: {
    format: 'es',
    rolldownOptions: { onLog: quietAboutNodeModules, checks },
  },
});

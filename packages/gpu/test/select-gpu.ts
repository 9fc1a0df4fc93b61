// Setup file of vitest.norm-layers.config.ts: import the built gpu package (it reads
// NORMLAB_BACKEND at import) and make sure the suite really runs on it.
import { getBackend } from '@normlab/tensor';
import { afterAll } from 'vitest';
import { backendInfo } from '@normlab/gpu';

if (getBackend() !== 'gpu') throw new Error(`expected backend gpu after import, got ${getBackend()}`);

// Suites that run in float64 by design (gradient checks; the fused-vs-composed comparison; the
// window ablation's gradient checks; the float64 statistics checks), where every kernel rightly
// falls back to cpu, and the cpu kernels' thread test, which runs in a child process.
const CPU_ONLY_SUITES = ['gradcheck.test.ts', 'fused.test.ts', 'window.test.ts', 'moments.test.ts', 'parallel.test.ts'];
const file = (globalThis as { __vitest_worker__?: { filepath?: string } }).__vitest_worker__?.filepath ?? '';
const allowCpuOnly = CPU_ONLY_SUITES.some((name) => file.endsWith(name));

afterAll(() => {
  const info = backendInfo();
  const ranNorm = info.kernels.some((k) => k.key.startsWith('norm') || k.key.startsWith('batchAxis'));
  if (!ranNorm && !allowCpuOnly) {
    throw new Error(`no normalization kernel ran on the gpu backend in ${file}; fallbacks: ${JSON.stringify(info.fallbacks)}`);
  }
  const bad = info.kernels.filter((k) => k.requestedMode === info.requestedMode && k.mode !== info.mode);
  if (bad.length > 0) throw new Error(`kernels ran in another mode than ${info.mode}: ${JSON.stringify(bad)}`);
});

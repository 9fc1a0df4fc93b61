// Setup file of vitest.norm-layers.config.ts: import the built gpu package (it reads
// NORMLAB_BACKEND at import) and make sure the suite really runs on it.
import { getBackend } from '@normlab/tensor';
import { afterAll } from 'vitest';
import { backendInfo } from '@normlab/gpu';

if (getBackend() !== 'gpu') throw new Error(`expected backend gpu after import, got ${getBackend()}`);

// gradcheck runs in float64 by design: there every kernel rightly falls back to cpu.
const file = (globalThis as { __vitest_worker__?: { filepath?: string } }).__vitest_worker__?.filepath ?? '';
const allowCpuOnly = file.endsWith('gradcheck.test.ts');

afterAll(() => {
  const info = backendInfo();
  const ranNorm = info.kernels.some((k) => k.key.startsWith('norm') || k.key.startsWith('batchAxis'));
  if (!ranNorm && !allowCpuOnly) {
    throw new Error(`no normalization kernel ran on the gpu backend in ${file}; fallbacks: ${JSON.stringify(info.fallbacks)}`);
  }
  const bad = info.kernels.filter((k) => k.requestedMode === info.requestedMode && k.mode !== info.mode);
  if (bad.length > 0) throw new Error(`kernels ran in another mode than ${info.mode}: ${JSON.stringify(bad)}`);
});

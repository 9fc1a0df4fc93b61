import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('the built dist/ output', () => {
  it('runs every kernel from dist in webasm, selected through NORMLAB_BACKEND/NORMLAB_GPU_MODE', () => {
    expect(existsSync(path.join(pkg, 'dist', 'index.js')), 'build first: npm run build -w @normlab/gpu').toBe(true);
    const run = spawnSync(process.execPath, ['test/dist-check.mjs'], {
      cwd: pkg,
      env: { ...process.env, NORMLAB_BACKEND: 'gpu', NORMLAB_GPU_MODE: 'webasm' },
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
    });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
      backend: string;
      info: { mode: string; kernels: Array<{ mode: string }>; fallbacks: unknown[] };
      results: Array<{ name: string; ok: boolean; detail: string }>;
    };
    expect(out.backend).toBe('gpu');
    expect(out.info.mode).toBe('webasm');
    expect(out.info.kernels.length).toBeGreaterThan(10);
    expect(out.info.kernels.every((k) => k.mode === 'webasm')).toBe(true);
    expect(out.info.fallbacks).toEqual([]);
    expect(out.results.filter((r) => !r.ok)).toEqual([]);
    expect(run.stderr).toBe(''); // no fallback warnings
  });
});

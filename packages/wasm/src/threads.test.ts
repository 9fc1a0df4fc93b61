import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as T from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import './index.js';
// @ts-expect-error a plain-JavaScript helper shared with the child process
import { kernelDigests } from '../test/threads-check.mjs';

// From dist/ the wasm kernels split their items across worker threads, every thread running its
// own instance of the module on the one shared memory; test/threads-check.mjs runs them there.
const CHECK = fileURLToPath(new URL('../test/threads-check.mjs', import.meta.url));

interface CheckResult {
  digests: Record<string, string>;
  status: { threads: number; workers: number };
  wasm: { active: boolean; shared: boolean; fallbacks: unknown[] };
}

function run(threads: number): CheckResult {
  const out = execFileSync(process.execPath, [CHECK], { env: { ...process.env, NORMLAB_NUM_THREADS: String(threads) }, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as CheckResult;
}

describe('wasm kernels on several threads', () => {
  const serial = kernelDigests(T) as Record<string, string>;
  const runs = [1, 2, 3].map(run);

  it('ran on the wasm backend, on worker threads sharing its memory', () => {
    expect(runs.map((r) => r.wasm.active && r.wasm.shared)).toEqual([true, true, true]);
    expect(runs.map((r) => r.status.workers)).toEqual([0, 1, 2]);
    expect(runs.flatMap((r) => r.wasm.fallbacks)).toEqual([]);
  });

  it('give the bits of the one-thread kernels, for every case and thread count', () => {
    expect(Object.keys(serial).length).toBeGreaterThan(0);
    for (const r of runs) expect(r.digests).toEqual(serial);
  });
});

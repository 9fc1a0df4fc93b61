import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';
import * as lib from './index.js';
// @ts-expect-error a plain-JavaScript helper shared with the child process
import { kernelDigests } from '../test/threads-check.mjs';

// From dist/ the conv2d kernels split images (forward, input gradient) or 4-row blocks of output
// channels (weight gradient) across threads, and matmul 4-row blocks of its output;
// test/threads-check.mjs runs them there.
const CHECK = fileURLToPath(new URL('../test/threads-check.mjs', import.meta.url));

function run(threads: number): { digests: Record<string, string>; status: { threads: number; workers: number } } {
  const out = execFileSync(process.execPath, [CHECK], { env: { ...process.env, NORMLAB_NUM_THREADS: String(threads) }, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('conv2d and matmul kernels on several threads', () => {
  const serial = kernelDigests(lib) as Record<string, string>;
  const runs = [1, 2, 3].map(run);

  it('ran on worker threads when asked to', () => {
    expect(runs.map((r) => r.status.workers)).toEqual([0, 1, 2]);
  });

  it('give the bits of the one-thread kernels, for every case and thread count', () => {
    expect(Object.keys(serial)).toHaveLength(27);
    for (const r of runs) expect(r.digests).toEqual(serial);
  });
});

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';

// The kernels split their slots or groups across worker threads only when a worker can import
// them, i.e. from dist/; test/parallel-check.mjs runs them there in a plain Node process.
const CHECK = fileURLToPath(new URL('../test/parallel-check.mjs', import.meta.url));

function run(threads: number): { digests: Record<string, string>; status: { threads: number; workers: number } } {
  const out = execFileSync(process.execPath, [CHECK], {
    env: { ...process.env, NORMLAB_NUM_THREADS: String(threads) },
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('norm kernels on several threads', () => {
  const one = run(1);
  const two = run(2);
  const three = run(3);

  it('ran on worker threads when asked to', () => {
    expect(one.status.workers).toBe(0);
    expect(two.status).toMatchObject({ threads: 2, workers: 1 });
    expect(three.status).toMatchObject({ threads: 3, workers: 2 });
  });

  it('give bit-identical outputs, statistics and gradients for every thread count', () => {
    expect(Object.keys(one.digests)).toHaveLength(14);
    expect(two.digests).toEqual(one.digests);
    expect(three.digests).toEqual(one.digests);
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';
import { TensorError } from './errors.js';
import { getNumThreads, parallelFor, rangeKernel, setNumThreads } from './parallel.js';

// The pool needs the built worker script and kernels a worker can import (JavaScript files), so
// it is exercised in a plain Node process running dist/ (test/parallel-check.mjs).
const CHECK = fileURLToPath(new URL('../test/parallel-check.mjs', import.meta.url));

interface BlockRun {
  outOk: boolean;
  perItem: number[];
  acc: number[];
  threads: number;
}
interface CheckResult {
  threadsError: string | null;
  threads?: number;
  big?: BlockRun;
  threadsSeen?: number;
  newModuleOk?: boolean;
  newModuleWorkers?: number;
  slowWorkers?: { ok: boolean; takenOver: number; byWorkers: number };
  small?: BlockRun;
  error?: { name: string; isParallelError: boolean; message: string } | null;
  afterError?: BlockRun;
  nested?: number[];
  status?: { threads: number; workers: number; broken?: string };
}

function check(threads: string): CheckResult {
  const out = execFileSync(process.execPath, [CHECK], {
    env: { ...process.env, NORMLAB_NUM_THREADS: threads },
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as CheckResult;
}

describe('parallelFor across worker threads', () => {
  const one = check('1');
  const two = check('2');
  const three = check('3');

  it('reads NORMLAB_NUM_THREADS', () => {
    expect([one.threads, two.threads, three.threads]).toEqual([1, 2, 3]);
  });

  it('splits large work across the threads and copies every share back', () => {
    expect([one.threadsSeen, two.threadsSeen, three.threadsSeen]).toEqual([1, 2, 3]);
    for (const r of [one, two, three]) expect(r.big!.outOk).toBe(true);
  });

  it('gives bit-identical results for every thread count', () => {
    expect(two.big!.perItem).toEqual(one.big!.perItem);
    expect(three.big!.perItem).toEqual(one.big!.perItem);
    // acc was read (inout) and added to.
    expect(two.big!.acc).toEqual(one.big!.perItem.map((s) => 1 + s));
    expect(three.big!.acc).toEqual(two.big!.acc);
  });

  it('runs a kernel from a module the polling workers have not imported yet', () => {
    for (const r of [one, two, three]) expect(r.newModuleOk).toBe(true);
    expect(one.newModuleWorkers).toBe(0);
    // A worker imported the module and ran its part (its thread id, not the calling thread's).
    expect(two.newModuleWorkers).toBe(1);
    expect(three.newModuleWorkers).toBe(2);
  });

  it("runs the pieces of a slow worker's part that the worker has not claimed in the calling thread", () => {
    for (const r of [one, two, three]) expect(r.slowWorkers!.ok).toBe(true);
    expect(one.slowWorkers!.takenOver).toBe(0); // one thread: nothing to take over
    // Whatever a worker has not claimed when the calling thread is done with its own part (all of
    // it, if the worker has not woken up yet; else the pieces after the one it sleeps through).
    for (const r of [two, three]) {
      expect(r.slowWorkers!.takenOver).toBeGreaterThan(0);
      expect(r.slowWorkers!.takenOver + r.slowWorkers!.byWorkers).toBe(64 - Math.round(64 / r.threads!));
    }
  });

  it('keeps small work in the calling thread', () => {
    expect(two.small!.threads).toBe(1);
    expect(two.small!.perItem).toEqual(one.small!.perItem);
  });

  it("reports a part's error (from a worker as a ParallelError naming the kernel), and keeps working", () => {
    expect(one.error).toMatchObject({ name: 'RangeError', isParallelError: false, message: 'item 63 is bad' });
    for (const r of [two, three]) {
      expect([
        { name: 'RangeError', isParallelError: false, message: 'item 63 is bad' },
        { name: 'ParallelError', isParallelError: true, message: 'failsOnLast: in a worker thread: RangeError: item 63 is bad' },
      ]).toContainEqual(r.error);
      expect(r.afterError!.outOk).toBe(true);
      expect(r.afterError!.perItem).toEqual(one.big!.perItem);
    }
    expect(two.status!.broken).toBeUndefined();
  });

  it('runs a parallelFor nested in a part in its caller\'s thread, with the same numbers', () => {
    expect(one.nested).toHaveLength(64);
    expect(two.nested).toEqual(one.nested);
    expect(three.nested).toEqual(one.nested);
  });

  it('rejects a malformed NORMLAB_NUM_THREADS with a named error', () => {
    expect(check('two').threadsError).toBe('TensorError: setNumThreads: NORMLAB_NUM_THREADS must be an integer from 1 to 256, got null');
    expect(check('0').threadsError).toContain('NORMLAB_NUM_THREADS must be an integer from 1 to 256, got 0');
  });
});

describe('setNumThreads', () => {
  it('rejects counts that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 1000]) expect(() => setNumThreads(bad)).toThrow(TensorError);
    expect(() => setNumThreads(0)).toThrow('setNumThreads: threads must be an integer from 1 to 256, got 0');
  });

  it('runs a kernel from TypeScript sources in the calling thread', () => {
    const before = getNumThreads();
    setNumThreads(2);
    try {
      const seen: number[] = [];
      const k = rangeKernel(import.meta.url, 'none', (a: { out: Float64Array }, s: number, e: number) => {
        seen.push(s, e);
        for (let i = s; i < e; i++) a.out[i] = i;
      });
      const out = new Float64Array(1 << 18);
      parallelFor(k, { out }, out.length, 1, { out: ['out'] });
      expect(seen).toEqual([0, out.length]);
      expect(out[12345]).toBe(12345);
    } finally {
      setNumThreads(before);
    }
  });
});

describe('where worker threads do not exist', () => {
  // The built package in a Node process whose environment a preload script changes first: one
  // without process.getBuiltinModule (Node before 20.16), and one without `process` (a browser).
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  const program = `
    import { getNumThreads, matmul, randn, setNumThreads } from './dist/index.js';
    const seen = [getNumThreads()];
    matmul(randn([256, 256], { seed: 1 }), randn([256, 256], { seed: 2 }));
    setNumThreads(4);
    seen.push(getNumThreads());
    setNumThreads(3);
    seen.push(getNumThreads());
    console.log(JSON.stringify(seen));`;
  function run(preload: string): { seen: number[]; warnings: string[] } {
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, '--input-type=module', '-e', program], {
      cwd: packageDir,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
      env: { ...process.env, NORMLAB_NUM_THREADS: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    return { seen: JSON.parse(r.stdout.trim()) as number[], warnings: r.stderr.split('\n').filter((l) => l.includes('@normlab/tensor')) };
  }

  it('an old Node reports one thread and says once why', () => {
    const { seen, warnings } = run('delete process.getBuiltinModule;');
    expect(seen).toEqual([1, 1, 1]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/lacks process\.getBuiltinModule, which the worker threads need \(Node 20\.16\+ or 22\.3\+\); the cpu kernels run in one thread/);
  });

  it('a browser reports the one thread that runs, and says once why when more were asked for', () => {
    const { seen, warnings } = run('Object.defineProperty(globalThis, "process", { value: undefined, configurable: true });');
    expect(seen).toEqual([1, 1, 1]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/worker threads exist only in Node/);
  });
});

/**
 * The root README's quick start, run exactly as written: the code block after its
 * `<!-- quick-start -->` marker, in a scratch folder whose node_modules is the repository's (so
 * `@normlab/*` resolve to the built packages), checked against the output the README states.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

describe('the README quick start', () => {
  it('runs and prints what the README says', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const code = /<!-- quick-start -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'a ```js block after <!-- quick-start --> in README.md').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'normlab-quick-start-'));
    try {
      symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
      writeFileSync(join(dir, 'quick-start.mjs'), code!);
      // One thread: the output is the same bit for bit on any count (the thread tests check that), and a
      // worker pool costs a fresh process a third more CPU to start, then waits on its threads
      // whenever a busy machine deschedules one.
      const r = spawnSync(process.execPath, ['quick-start.mjs'], { cwd: dir, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, env: { ...process.env, NORMLAB_NUM_THREADS: '1' } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('loss 2.2879\ngnplus: same outputs after loading: true\n');
      expect(readme).toContain('It prints `loss 2.2879` and `gnplus: same outputs after loading: true`.');
      expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The built `normlab` executable, run as a user runs it (node dist/bin.js …) on tiny synthetic
 * data. `npm test` builds the package first (turbo: test depends on build).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
const TINY = ['--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '40', '--width', '0.25', '--groups', '4', '--batch-size', '16'];

function normlab(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, env: { ...process.env, NORMLAB_DEBUG: '', NORMLAB_BACKEND: '', ...env } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

const dir = () => mkdtempSync(join(tmpdir(), 'normlab-cli-'));

function expectUserError(r: { code: number; stdout: string; stderr: string }, message: RegExp) {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(/^normlab: error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

describe.concurrent('normlab CLI', { timeout: 120_000 }, () => {
  it('has --help for the program and for each command', async () => {
    const top = await normlab(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/train/);
    expect(top.stdout).toMatch(/eval/);
    expect(top.stdout).toMatch(/bench/);
    expect((await normlab(['bench', '--help'])).stdout).toMatch(/--suite <names>/);
    for (const cmd of ['train', 'eval']) {
      const r = await normlab([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--dataset <name>/);
      expect(r.stdout).toMatch(/--json/);
    }
    expect((await normlab(['train', '--help'])).stdout).toMatch(/--batch-size <n>/);
  });

  const errors: Array<[string[], RegExp]> = [
    [['train', '--norm', 'xx'], /--norm must be one of bn, gn, ln, in, gnplus, hybrid, bgn, none, got "xx"/],
    [['train', '--model', 'alexnet'], /--model must be one of mlp, cnn, .*got "alexnet"/],
    [['train', '--bogus'], /unknown option '--bogus'/],
    [['train', '--batch-size', '0'], /--batch-size must be a positive integer, got "0"/],
    [['train', '--lr', 'fast'], /--lr must be a number > 0, got "fast"/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['train', '--dataset', 'fashion-mnist', '--data-dir', '/nonexistent/fm'], /fashion-mnist|Fashion-MNIST/],
    [['train', ...TINY, '--gpu-mode', 'webgl2'], /--gpu-mode needs --backend gpu/],
    [['train', ...TINY, '--model', 'cnn', '--channels'], /unknown option '--channels'/],
    [['train', ...TINY, '--norm', 'gn', '--groups', '3'], /not divisible by groups 3/],
    [['eval', '--checkpoint', '/nonexistent/model.safetensors'], /\/nonexistent\/model.safetensors: cannot read the checkpoint \(ENOENT\)/],
    [['eval'], /eval needs --checkpoint FILE/],
    [['bench', '--backend', 'tpu'], /--backend must be wasm, cpu, gpu, got 'tpu'/],
    [['train', ...TINY, '--threads', '0'], /--threads must be a positive integer, got "0"/],
  ];
  for (const [args, message] of errors) {
    it(`${args.join(' ')}: one line on stderr, exit code 2`, async () => {
      expectUserError(await normlab(args), message);
    });
  }

  it('a corrupt checkpoint is a one-line error', async () => {
    const d = dir();
    const f = join(d, 'model.safetensors');
    writeFileSync(f, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123, 34]));
    expectUserError(await normlab(['eval', '--checkpoint', f]), /header length 200 exceeds the 2 bytes after the length field/);
  });

  it('--threads sets the cpu kernels\' threads, and the run is the same bit for bit on 1 and 2', async () => {
    const one = await normlab(['train', ...TINY, '--norm', 'gnplus', '--threads', '1', '--json', '--quiet']);
    const two = await normlab(['train', ...TINY, '--norm', 'gnplus', '--threads', '2', '--json', '--quiet']);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    const [a, b] = [JSON.parse(one.stdout), JSON.parse(two.stdout)];
    expect([a.threads, b.threads]).toEqual([1, 2]);
    for (const key of ['trainLoss', 'testLoss', 'testAccuracy']) expect(b[key], key).toBe(a[key]);
  });

  it('train --json prints one summary; --out gets the checkpoint, metrics and summary; eval agrees', async () => {
    const d = join(dir(), 'run');
    const r = await normlab(['train', ...TINY, '--norm', 'gn', '--out', d, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const s = JSON.parse(lines[0]!);
    for (const key of ['dataset', 'model', 'norm', 'groups', 'batchSize', 'epochs', 'seed', 'backend', 'trainLoss', 'testLoss', 'testAccuracy', 'seconds', 'imagesPerSecond', 'checkpoint']) {
      expect(s, key).toHaveProperty(key);
    }
    expect(s).toMatchObject({ dataset: 'synthetic', model: 'cnn', norm: 'gn', groups: 4, batchSize: 16, epochs: 1, seed: 0, backend: 'wasm', checkpoint: join(d, 'model.safetensors') });
    expect(s.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(s.testAccuracy).toBeLessThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'))).toEqual(s);
    expect(readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBe(4 + 1);

    const ev = await normlab(['eval', '--checkpoint', join(d, 'model.safetensors'), '--test-limit', '40', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e).toMatchObject({ dataset: 'synthetic', model: 'cnn', norm: 'gn', examples: 40 });
    expect(e.testAccuracy).toBe(s.testAccuracy);
    expect(e.testLoss).toBeCloseTo(s.testLoss, 12);

    // A finished run is never overwritten without --force.
    expectUserError(await normlab(['train', ...TINY, '--norm', 'gn', '--out', d, '--quiet']), /holds a finished run .*--force/);
    const again = await normlab(['train', ...TINY, '--norm', 'gn', '--out', d, '--quiet', '--force', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).testAccuracy).toBe(s.testAccuracy);
  });

  it('--resume continues a stopped run to the same end as an uninterrupted one', async () => {
    const full = join(dir(), 'full');
    const part = join(dir(), 'part');
    const args = ['train', ...TINY, '--norm', 'bn', '--epochs', '2', '--quiet', '--json'];
    const a = await normlab([...args, '--out', full]);
    expect(a.code, a.stderr).toBe(0);
    const stopped = await normlab([...args, '--out', part, '--max-steps', '6']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ completed: false, steps: 6 });
    expectUserError(await normlab([...args, '--out', part]), /holds a finished run|unfinished run .*--resume/);
    // The checkpoint's flags are the defaults of a resume.
    const resumed = await normlab(['train', '--out', part, '--resume', '--quiet', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(resumed.stdout);
    expect(rb).toMatchObject({ completed: true, steps: 8, testAccuracy: ra.testAccuracy, testLoss: ra.testLoss, trainLoss: ra.trainLoss });
    expect(readFileSync(join(part, 'metrics.jsonl'), 'utf8')).toBe(readFileSync(join(full, 'metrics.jsonl'), 'utf8'));
    expect(existsSync(join(part, 'summary.json'))).toBe(true);
  });

  it('plain progress lines go to stderr when it is not a TTY, nothing with --quiet', async () => {
    const r = await normlab(['train', ...TINY]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/step 4\/4 epoch 1\/1 loss \d+\.\d+ acc \d+\.\d% \d+ img\/s ETA/);
    expect(r.stderr).toMatch(/epoch 1\/1: train loss/);
    expect(r.stdout).toMatch(/cnn bn on synthetic: test accuracy \d+\.\d+%/);
    const q = await normlab(['train', ...TINY, '--quiet']);
    expect(q.stderr).toBe('');
    expect(q.stdout).toBe('');
  });

  it('trains on wasm by default, on cpu with --backend cpu or NORMLAB_BACKEND=cpu', async () => {
    const byFlag = await normlab(['train', ...TINY, '--epochs', '1', '--backend', 'cpu', '--json']);
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(JSON.parse(byFlag.stdout).backend).toBe('cpu');
    const byEnv = await normlab(['train', ...TINY, '--epochs', '1', '--json'], { NORMLAB_BACKEND: 'cpu' });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(JSON.parse(byEnv.stdout).backend).toBe('cpu');
    const wasm = await normlab(['train', ...TINY, '--epochs', '1', '--backend', 'wasm', '--json']);
    expect(wasm.code, wasm.stderr).toBe(0);
    expect(JSON.parse(wasm.stdout).backend).toBe('wasm');
    // Same seed, same backend, same threads: the same run, bit for bit; the backends agree closely.
    const again = await normlab(['train', ...TINY, '--epochs', '1', '--backend', 'wasm', '--json']);
    expect(JSON.parse(again.stdout).trainLoss).toBe(JSON.parse(wasm.stdout).trainLoss);
    expect(Math.abs(JSON.parse(wasm.stdout).trainLoss - JSON.parse(byFlag.stdout).trainLoss)).toBeLessThan(1e-3);
  });

  it('--backend gpu trains, warns once per fallback reason, and says nothing with --quiet', async () => {
    const loud = await normlab(['train', ...TINY, '--backend', 'gpu', '--gpu-mode', 'cpu', '--json']);
    expect(loud.code, loud.stderr).toBe(0);
    expect(JSON.parse(loud.stdout).backend).toBe('gpu');
    expect(loud.stderr).toMatch(/normlab gpu backend: 'relu' runs on cpu: no kernel for this op/);
    expect(loud.stderr.match(/'relu' runs on cpu/g)).toHaveLength(1);
    const quiet = await normlab(['train', ...TINY, '--backend', 'gpu', '--gpu-mode', 'cpu', '--quiet']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});

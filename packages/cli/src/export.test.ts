/**
 * `normlab export` and `normlab eval --onnx`, run as a user runs them (node dist/bin.js …) on tiny
 * synthetic data: the exported model in onnxruntime scores as the checkpoint does in normlab.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
const TINY = ['--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '40', '--width', '0.25', '--groups', '4', '--batch-size', '16'];

/** The suite runs on cpu (vitest.shared.ts); the CLI is run with its default backend, as a user runs it. */
const CLEAN_ENV = { NORMLAB_DEBUG: '', NORMLAB_BACKEND: '' };

function normlab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, env: { ...process.env, ...CLEAN_ENV } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

function expectUserError(r: { code: number; stdout: string; stderr: string }, message: RegExp) {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(/^normlab: error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stdout).toBe('');
}

async function trained(norm: string): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'normlab-export-')), norm);
  const r = await normlab(['train', ...TINY, '--norm', norm, '--out', out, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  return join(out, 'model.safetensors');
}

/** `eval --checkpoint` on 40 images, and `eval --onnx` of its export one image at a time: both JSON summaries. */
async function evalBoth(ckpt: string, onnx: string): Promise<{ checkpoint: Record<string, unknown> & { testLoss: number }; onnx: Record<string, unknown> & { testLoss: number } }> {
  const a = await normlab(['eval', '--checkpoint', ckpt, '--test-limit', '40', '--json']);
  expect(a.code, a.stderr).toBe(0);
  // Eval with fixed statistics is per sample: onnxruntime one image at a time scores as normlab on the batch of 40.
  const b = await normlab(['eval', '--onnx', onnx, '--test-limit', '40', '--batch-size', '1', '--json']);
  expect(b.code, b.stderr).toBe(0);
  return { checkpoint: JSON.parse(a.stdout), onnx: JSON.parse(b.stdout) };
}

// One test at a time: each runs several processes, and the machine may be a busy 2-core one.
describe('normlab export / eval --onnx', { timeout: 120_000 }, () => {
  for (const norm of ['bn', 'hybrid']) {
    it(`${norm}: eval --onnx reports the accuracy and loss of eval --checkpoint, at batch 1 too`, async () => {
      const ckpt = await trained(norm);
      const onnx = join(dirname(ckpt), 'model.onnx');
      const ex = await normlab(['export', '--checkpoint', ckpt, '--onnx', onnx, '--json']);
      expect(ex.code, ex.stderr).toBe(0);
      expect(JSON.parse(ex.stdout)).toMatchObject({ onnx, dataset: 'synthetic', model: 'cnn', norm, opset: 21, inputShape: [1, 28, 28] });
      expect(JSON.parse(ex.stdout).groupNormOp).toBe(norm === 'hybrid' ? 'GroupNormalization' : null);
      // The standard GroupNormalization, written for the hybrid layers: one line naming the way out.
      if (norm === 'hybrid') expect(ex.stderr).toMatch(/^normlab: the model's hybrid layers are written as ONNX GroupNormalization, .*NaN.*--group-norm-op LayerNormalization[^\n]*\n$/);
      else expect(ex.stderr).toBe('');
      const { checkpoint: c, onnx: o } = await evalBoth(ckpt, onnx);
      expect(o).toMatchObject({ onnx, dataset: 'synthetic', model: 'cnn', norm, groups: 4, examples: 40, testAccuracy: c.testAccuracy });
      expect(o.backend).toMatch(/^onnxruntime 1\.30\./);
      expect(Math.abs(o.testLoss - c.testLoss)).toBeLessThan(1e-5);
      if (norm === 'bn') {
        const text = await normlab(['eval', '--onnx', onnx, '--test-limit', '40']);
        expect(text.stdout).toMatch(/^cnn bn on synthetic: test accuracy \d+\.\d\d% \(loss \d+\.\d{4}\) on 40 images in /);
      }
    });
  }

  it('gn: --group-norm-op LayerNormalization writes a file that eval --onnx scores as the checkpoint; no warning then, none with --quiet', async () => {
    const ckpt = await trained('gn');
    const onnx = join(dirname(ckpt), 'composed.onnx');
    const ex = await normlab(['export', '--checkpoint', ckpt, '--onnx', onnx, '--group-norm-op', 'LayerNormalization']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stderr).toBe('');
    expect(ex.stdout).toMatch(/^cnn gn \(synthetic\) exported to .*composed\.onnx: opset 21, input \(batch, 1, 28, 28\), gn as LayerNormalization, \d+ KiB\n$/);
    const quiet = await normlab(['export', '--checkpoint', ckpt, '--onnx', join(dirname(ckpt), 'standard.onnx'), '--quiet']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout + quiet.stderr).toBe('');
    const { checkpoint: c, onnx: o } = await evalBoth(ckpt, onnx);
    expect(o).toMatchObject({ onnx, norm: 'gn', examples: 40, testAccuracy: c.testAccuracy });
    expect(Math.abs(o.testLoss - c.testLoss)).toBeLessThan(1e-5);
  });

  it('refuses GN+ with the reason and the way out, writing nothing', async () => {
    const ckpt = await trained('gnplus');
    const onnx = join(dirname(ckpt), 'model.onnx');
    expectUserError(await normlab(['export', '--checkpoint', ckpt, '--onnx', onnx]), /GNPlus \(GN\+\), which has no fixed-statistics form.*Use HybridNorm \(--norm hybrid\)/);
    expect(existsSync(onnx)).toBe(false);
  });

  it('bad usage is one line and exit code 2', async () => {
    const d = mkdtempSync(join(tmpdir(), 'normlab-export-'));
    const junk = join(d, 'junk.onnx');
    writeFileSync(junk, 'not a model');
    expectUserError(await normlab(['export', '--onnx', join(d, 'x.onnx')]), /export needs --checkpoint FILE/);
    expectUserError(await normlab(['export', '--checkpoint', join(d, 'missing.safetensors')]), /export needs --onnx FILE/);
    expectUserError(
      await normlab(['export', '--checkpoint', join(d, 'missing.safetensors'), '--onnx', join(d, 'x.onnx'), '--group-norm-op', 'GroupNorm']),
      /--group-norm-op must be one of GroupNormalization, LayerNormalization, got "GroupNorm"/,
    );
    expectUserError(await normlab(['eval', '--onnx', join(d, 'missing.onnx')]), /missing.onnx: cannot read the ONNX file \(ENOENT\)/);
    expectUserError(await normlab(['eval', '--onnx', junk]), /junk.onnx is not an ONNX model/);
    expectUserError(await normlab(['eval', '--onnx', junk, '--checkpoint', junk]), /give --checkpoint or --onnx, not both/);
    expectUserError(await normlab(['eval', '--onnx', junk, '--backend', 'gpu']), /--backend and --gpu-mode apply to --checkpoint/);
    const help = await normlab(['export', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--checkpoint <file>[\s\S]*--onnx <file>[\s\S]*--group-norm-op <op>[\s\S]*\(default:\s+"GroupNormalization"\)/);
  });
});

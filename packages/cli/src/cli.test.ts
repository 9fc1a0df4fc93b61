/**
 * The `normlab` command. The flows a user runs — train, eval, resume, reproduce in shards, bench,
 * the Node check — go through the built executable (node dist/bin.js …) on tiny synthetic data,
 * one process at a time: on a busy 2-core machine, concurrent training processes only slow each
 * other down towards their limit. The many cases that end in a user error or print help before
 * any real work run in this process through `runCli`, what dist/bin.js runs, without the 0.6 s
 * of CPU a fresh Node spends loading the CLI. `npm test` builds the package first (turbo: test
 * depends on build).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { reproductionPlan, shardOf } from '@normlab/analysis';
import { buildModel, loadSafetensors, saveCheckpoint, saveSafetensors } from '@normlab/models';
import { tensor } from '@normlab/tensor';
import { CHILD_TIMEOUT_MS } from '../../../vitest.shared.js';
import { BACKEND_NAMES, importBackendPackage } from './common.js';
import { SUPPORTED_NODE } from './node-version.js';
import { createProgram, runCli } from './program.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
/** Run records of a smoke reproduction (the analysis package's test fixture). */
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'analysis', 'src', 'test-utils', 'fixtures', 'smoke-results.jsonl');
const TINY = ['--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '40', '--width', '0.25', '--groups', '4', '--batch-size', '16'];
/** What the tests set in the environment: nothing of the caller's that changes what normlab does. */
// NORMLAB_BACKEND: the suite itself runs on cpu (vitest.shared.ts); the CLI is tested with its default.
const CLEAN_ENV = { NORMLAB_DEBUG: '', NORMLAB_BACKEND: '', SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '' };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built executable in a child process, killed after CHILD_TIMEOUT_MS (then code 143 or 1). */
function normlab(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: CHILD_TIMEOUT_MS, env: { ...process.env, ...CLEAN_ENV, ...env } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** The same command line in this process: `runCli` with stdout and stderr captured. */
async function inProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') =>
    vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      out[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    });
  const spies = [capture('stdout'), capture('stderr')];
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries({ ...CLEAN_ENV, ...env })) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    const code = await runCli(args);
    return { code, ...out };
  } finally {
    for (const spy of spies) spy.mockRestore();
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const dir = () => mkdtempSync(join(tmpdir(), 'normlab-cli-'));

function expectUserError(r: Run, message: RegExp) {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(/^normlab: error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

/** A subcommand's --help text, as `normlab <name> --help` prints it (built under CLEAN_ENV, as `inProcess` runs). */
function helpOf(name: string): string {
  const saved = process.env.NORMLAB_BACKEND;
  process.env.NORMLAB_BACKEND = CLEAN_ENV.NORMLAB_BACKEND;
  try {
    const cmd = createProgram().program.commands.find((c) => c.name() === name);
    expect(cmd, name).toBeDefined();
    return cmd!.helpInformation();
  } finally {
    if (saved === undefined) delete process.env.NORMLAB_BACKEND;
    else process.env.NORMLAB_BACKEND = saved;
  }
}

describe('normlab: help and user errors, in this process', () => {
  it('has --help for the program and for each command', async () => {
    const top = await inProcess(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/train/);
    expect(top.stdout).toMatch(/eval/);
    expect(top.stdout).toMatch(/bench/);
    expect(helpOf('bench')).toMatch(/--suite <names>/);
    expect(helpOf('bench')).toMatch(/--write-docs/);
    for (const cmd of ['train', 'eval']) {
      expect(helpOf(cmd)).toMatch(/--dataset <name>/);
      expect(helpOf(cmd)).toMatch(/--json/);
    }
    expect(helpOf('train')).toMatch(/--batch-size <n>/);
    const train = await inProcess(['train', '--help']);
    expect(train.code).toBe(0);
    expect(train.stdout).toBe(helpOf('train'));
  });

  it('eval --help lists only the flags eval uses; --gpu-mode offers only the modes Node can run', () => {
    const ev = helpOf('eval');
    expect(ev).toMatch(/--test-limit <n>/);
    expect(ev).not.toMatch(/--train-limit/);
    for (const help of [ev, helpOf('train')].map((h) => h.replace(/\s+/g, ' '))) {
      expect(help).toMatch(/--gpu-mode <mode> gpu\.js mode with --backend gpu: gpu, headlessgl, webasm, cpu/);
      expect(help).not.toMatch(/webgl|webgpu/);
    }
  });

  it('every command that takes --backend offers the same backends, from one table', () => {
    // The default is wasm where WebAssembly SIMD runs (every Node this CLI supports).
    const backends = new RegExp(`--backend <name> (?:compute|normlab) backend: ${BACKEND_NAMES.join(', ')} \\(default: "wasm"\\)`);
    for (const cmd of ['train', 'eval', 'reproduce', 'bench']) expect(helpOf(cmd).replace(/\s+/g, ' '), cmd).toMatch(backends);
  });

  const errors: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
    [['train', '--norm', 'xx'], /--norm must be one of bn, gn, ln, in, gnplus, hybrid, bgn, none, got "xx"/],
    [['train', '--model', 'alexnet'], /--model must be one of mlp, cnn, .*got "alexnet"/],
    [['train', '--bogus'], /unknown option '--bogus'/],
    [['train', '--batch-size', '0'], /--batch-size must be a positive integer, got "0"/],
    [['train', '--lr', 'fast'], /--lr must be a number > 0, got "fast"/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['train', '--dataset', 'fashion-mnist', '--data-dir', '/nonexistent/fm'], /fashion-mnist|Fashion-MNIST/],
    [['train', ...TINY, '--gpu-mode', 'webasm'], /--gpu-mode needs --backend gpu/],
    [['train', ...TINY, '--backend', 'gpu', '--gpu-mode', 'webgl2'], /--gpu-mode must be one of gpu, headlessgl, webasm, cpu, got "webgl2"/],
    [['eval', '--checkpoint', 'model.safetensors', '--train-limit', '5'], /unknown option '--train-limit'/],
    [['train', '--dataset', 'mnist', '--data-dir', '/nonexistent/mnist'], /MNIST train files not found: no \/nonexistent\/mnist\/train-images-idx3-ubyte and \/nonexistent\/mnist\/train-labels-idx1-ubyte/],
    [['train', ...TINY, '--model', 'cnn', '--channels'], /unknown option '--channels'/],
    [['train', ...TINY, '--norm', 'gn', '--groups', '3'], /not divisible by groups 3/],
    [['eval', '--checkpoint', '/nonexistent/model.safetensors'], /\/nonexistent\/model.safetensors: cannot read the checkpoint \(ENOENT\)/],
    [['eval'], /eval needs --checkpoint FILE/],
    [['bench', '--backend', 'tpu'], new RegExp(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "tpu"`)],
    [['reproduce', '--backend', 'tpu'], new RegExp(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "tpu"`)],
    [['reproduce', '--backend', 'gpu', '--gpu-mode', 'webgl'], /--gpu-mode must be one of gpu, headlessgl, webasm, cpu, got "webgl"/],
    [['train', ...TINY, '--threads', '0'], /--threads must be a positive integer, got "0"/],
    [['reproduce', '--plan', '--shard', '3/3'], /--shard: shard 3 is not in 0\.\.2/],
    [['reproduce', '--plan', '--shard', '1/0'], /--shard must be I\/N \(I from 0 to N-1, or auto\) with N >= 1, got "1\/0"/],
    [['reproduce', '--plan', '--shard', 'auto/2'], /--shard: shard 2 \(SLURM_ARRAY_TASK_ID; give the job array --array=0-1\) is not in 0\.\.1/, { SLURM_ARRAY_TASK_ID: '2' }],
    [['reproduce', '--plan', '--shard', 'auto/4'], /--shard auto\/N takes the shard from SLURM_ARRAY_TASK_ID \(a Slurm job array\) or JOB_COMPLETION_INDEX \(a Kubernetes Indexed Job\); neither is set/],
    [['reproduce', '--profile', 'smoke', '--out', join(tmpdir(), 'normlab-never-created'), '--shard', '0/2', '--force'], /force with a shard would remove the records of the other shards/],
    // A folder cannot say whether it holds MNIST or Fashion-MNIST: their files have the same names.
    [['reproduce', '--plan', '--data-dir', '/some/idx/files'], /--data-dir needs --dataset \(one of mnist, fashion-mnist, cifar10\) to say what the folder holds: MNIST and Fashion-MNIST files have the same names/],
    [['reproduce', '--profile', 'smoke', '--data-dir', '/some/idx/files'], /--data-dir needs --dataset/],
    // A selection the profile cannot satisfy names what it has.
    [['reproduce', '--profile', 'smoke', '--plan', '--norms', 'bn,bgn'], /^normlab: error: selectRuns: norms: the smoke profile on synthetic has no bgn runs; it has bn, gn, gnplus:gn-first, hybrid, none$/],
    [['reproduce', '--profile', 'smoke', '--plan', '--batch-sizes', '8,16'], /batchSizes: the sweep of the smoke profile on synthetic has no batch size 16; it has 8, 32$/],
    [['reproduce', '--profile', 'smoke', '--plan', '--seeds', '0-2'], /seeds: the smoke profile on synthetic has no runs of seed 2; its seeds are 0,1$/],
    [['reproduce', '--profile', 'smoke', '--plan', '--roles', 'sweep,tuning'], /--roles takes sweep, stability, sensitivity, landscape, window, got "tuning"/],
    [['reproduce', '--profile', 'smoke', '--plan', '--seeds', '3-1'], /--seeds must be a comma-separated list of integers >= 0 or ranges LO-HI, got "3-1"/],
    [['reproduce', '--profile', 'smoke', '--plan', '--batch-sizes', '8,'], /--batch-sizes must be a comma-separated list without empty items, got "8,"/],
    [['reproduce', '--profile', 'smoke', '--plan', '--epochs', '0'], /--epochs must be a positive integer, got "0"/],
  ];
  for (const [args, message, env] of errors) {
    it(`${args.join(' ')}: one line on stderr, exit code 2`, async () => {
      expectUserError(await inProcess(args, env), message);
    });
  }

  it('bad records, bad paths: one-line errors naming the file and what is wrong, never an internal error', async () => {
    const d = dir();
    const metricsRun = join(d, 'run');
    mkdirSync(metricsRun);
    writeFileSync(join(metricsRun, 'metrics.jsonl'), 'null\n');
    const shape = join(d, 'shape.jsonl');
    writeFileSync(shape, '{"id":"x","spec":{},"steps":{},"final":{}}\n');
    const empty = join(d, 'empty.jsonl');
    writeFileSync(empty, '');
    const file = join(d, 'afile');
    writeFileSync(file, '');
    mkdirSync(file + '-folder');
    const one = join(d, 'one.jsonl');
    writeFileSync(one, readFileSync(FIXTURE, 'utf8').split('\n')[0] + '\n');
    const cases: Array<[string[], RegExp]> = [
      [['analyze', '--run', metricsRun], /readRunMetrics: .*run\/metrics\.jsonl:1: the value must be an object, got null; expected a metrics line of normlab train/],
      [['analyze', '--results', shape], /readResults: .*shape\.jsonl:1: spec\.dataset: Invalid option: .*expected a normlab run record/],
      [['analyze', '--results', join(d, 'missing.jsonl')], /missing\.jsonl does not exist/],
      [['analyze', '--results', empty], /empty\.jsonl holds no run records/],
      [['analyze', '--results', file + '-folder'], /-folder has no runs\/, plan\.json or results\.jsonl; expected the output folder of normlab reproduce/],
      [['reproduce', '--profile', 'smoke', '--out', join(d, 'x'.repeat(300)), '--quiet'], /cannot create the folder .*x{300} \(ENAMETOOLONG: a name in the path is too long\)/],
      [['reproduce', '--profile', 'smoke', '--out', join(file, 'sub'), '--quiet'], /cannot create the folder .*afile\/sub \(ENOTDIR: a part of the path is a file, not a folder\)/],
      [['analyze', '--results', one, '--out', file], /cannot create the folder .*afile\/figures \(ENOTDIR/],
      [['train', ...TINY, '--out', join(file, 'sub'), '--quiet'], /train --out: cannot create the folder .*afile\/sub \(ENOTDIR: a part of the path is a file, not a folder\)/],
    ];
    for (const [args, message] of cases) expectUserError(await inProcess(args), message);
  });

  it('reproduce --plan prints the run list as JSON and trains nothing; --shard prints a share', async () => {
    const out = join(dir(), 'never');
    const all = await inProcess(['reproduce', '--profile', 'smoke', '--plan', '--out', out]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe('');
    expect(existsSync(out)).toBe(false);
    const plan = JSON.parse(all.stdout) as { profile: string; dataset: string; periods: number; runs: Array<{ id: string; spec: { norm: string }; roles: string[] }> };
    expect(plan).toMatchObject({ profile: 'smoke', dataset: 'synthetic', periods: 2 });
    expect(plan.runs.length).toBe(45);
    expect(new Set(plan.runs.map((r) => r.id)).size).toBe(45);
    for (const r of plan.runs) expect(r.roles.length).toBeGreaterThan(0);
    // A Slurm array task's id (--array=0-2), a Kubernetes Indexed Job's completion index.
    const shares = [
      await inProcess(['reproduce', '--profile', 'smoke', '--plan', '--shard', 'auto/3'], { SLURM_ARRAY_TASK_ID: '1' }),
      await inProcess(['reproduce', '--profile', 'smoke', '--plan', '--shard', 'auto/3'], { JOB_COMPLETION_INDEX: '1' }),
      await inProcess(['reproduce', '--profile', 'smoke', '--plan', '--shard', '1/3']),
    ];
    for (const r of shares) {
      expect(r.code, r.stderr).toBe(0);
      const share = JSON.parse(r.stdout) as typeof plan & { shard: unknown };
      expect(share.shard).toEqual({ index: 1, count: 3 });
      expect(share.runs.map((x) => x.id)).toEqual(shardOf(reproductionPlan({ profile: 'smoke' }).plan.runs, { index: 1, count: 3 }).map((x) => x.id));
    }
  });

  it('reproduce --plan with a selection prints the selected runs and the selection; its shards split the batch sizes evenly', async () => {
    const select = ['--roles', 'sweep', '--norms', 'bn,gn,gnplus:gn-first,hybrid', '--batch-sizes', '2,8,32,128', '--seeds', '0-4', '--epochs', '3'];
    const args = ['reproduce', '--profile', 'standard', '--dataset', 'fashion-mnist', '--data-dir', '/some/fashion-mnist/files', '--plan', ...select];
    const all = await inProcess(args);
    expect(all.code, all.stderr).toBe(0);
    type Plan = { selection: unknown; runs: Array<{ id: string; spec: { norm: string; order?: string; batchSize: number; seed: number; epochs: number }; roles: string[] }> };
    const plan = JSON.parse(all.stdout) as Plan;
    expect(plan.selection).toEqual({ roles: ['sweep'], norms: ['bn', 'gn', 'gnplus:gn-first', 'hybrid'], batchSizes: [2, 8, 32, 128], seeds: [0, 1, 2, 3, 4], epochs: 3 });
    expect(plan.runs.length).toBe(80);
    for (const r of plan.runs) {
      expect(r.roles).toEqual(['sweep']);
      expect(r.spec.epochs).toBe(3);
      expect(r.spec.order ?? 'gn-first').toBe('gn-first');
    }
    const shares = [];
    for (const i of [0, 1]) {
      const r = await inProcess([...args, '--shard', `${i}/2`]);
      expect(r.code, r.stderr).toBe(0);
      shares.push((JSON.parse(r.stdout) as Plan).runs);
    }
    expect(shares.flat().map((r) => r.id).sort()).toEqual(plan.runs.map((r) => r.id).sort());
    for (const share of shares) for (const b of [2, 8, 32, 128]) expect(share.filter((r) => r.spec.batchSize === b).length).toBe(10);
  });

  it('reproduce a selection in two shards, then analyze --results: the report states the scale', async () => {
    const out = join(dir(), 'selected');
    const args = ['reproduce', '--profile', 'smoke', '--roles', 'sweep', '--norms', 'bn,gn', '--batch-sizes', '32', '--out', out, '--json'];
    for (const i of [0, 1]) {
      const r = await inProcess([...args, '--shard', `${i}/2`]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ selection: { roles: ['sweep'], norms: ['bn', 'gn'], batchSizes: [32] }, shard: { index: i, count: 2 }, planned: 2, ran: 1 });
    }
    const merged = await inProcess(['analyze', '--results', out, '--json']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(JSON.parse(merged.stdout)).toMatchObject({ runs: 2, complete: true });
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('What was run: a selection of the smoke profile on synthetic, `--roles sweep --norms bn,gn --batch-sizes 32`.');
    expect(md).toContain('| runs | 2 of 2 planned (sweep 2) |');
    expect(md).toContain('| backend | wasm |');
    expect(md).toContain('Verdict: **insufficient data**. Insufficient data: no stability runs in this selection.');
  });

  it('reproduce without --dataset says which dataset it chose and why; with --dataset it says nothing', async () => {
    const guessed = await inProcess(['reproduce', '--profile', 'quick', '--plan']);
    expect(guessed.code, guessed.stderr).toBe(0);
    const dataset = (JSON.parse(guessed.stdout) as { dataset: string }).dataset;
    expect(guessed.stderr).toBe(
      dataset === 'fashion-mnist'
        ? 'normlab reproduce: no --dataset: using fashion-mnist, whose files are in /usr/share/datasets/fashion-mnist (--dataset mnist for MNIST)\n'
        : "normlab reproduce: no --dataset: using mnist (fashion-mnist's files are not in /usr/share/datasets/fashion-mnist)\n",
    );
    const given = await inProcess(['reproduce', '--profile', 'quick', '--plan', '--dataset', 'mnist', '--data-dir', '/some/mnist/files']);
    expect(given.code, given.stderr).toBe(0);
    expect(given.stderr).toBe('');
    expect(JSON.parse(given.stdout)).toMatchObject({ profile: 'quick', dataset: 'mnist' });
  });

  it('a corrupt checkpoint is a one-line error', async () => {
    const d = dir();
    const f = join(d, 'model.safetensors');
    writeFileSync(f, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123, 34]));
    expectUserError(await inProcess(['eval', '--checkpoint', f]), /header length 200 exceeds the 2 bytes after the length field/);
  });

  it('eval, train --resume and analyze --run refuse a config whose weights are not in the file, before building it', async () => {
    // The file: only metadata, a model config whose weights would take 1.7 GB.
    const d = dir();
    const f = join(d, 'model.safetensors');
    saveSafetensors(f, {}, { model_config: JSON.stringify({ name: 'mlp', hidden: [20000, 20000], imageSize: 28 }) });
    const fits = /weights do not fit the model \(the model has 16 tensors of 416080012 values, the file 0 of 0\): missing keys: fc.weight/;
    expectUserError(await inProcess(['eval', '--checkpoint', f]), fits);
    expectUserError(await inProcess(['train', '--out', d, '--resume']), fits);
    writeFileSync(join(d, 'metrics.jsonl'), '{"step":1,"epoch":0,"loss":2.3,"accuracy":0.1,"gradNorm":1,"lr":0.1}\n');
    expectUserError(await inProcess(['analyze', '--run', d, '--quiet']), fits);
    // Absurd sizes are refused by the config's schema, naming the field.
    saveSafetensors(f, {}, { model_config: JSON.stringify({ name: 'cnn', inChannels: 1000000 }) });
    expectUserError(await inProcess(['eval', '--checkpoint', f]), /metadata model_config.inChannels must be <= 65536, got 1000000/);
  });

  it('eval refuses a checkpoint with a tensor named __proto__ that the model does not have', async () => {
    const f = join(dir(), 'model.safetensors');
    saveCheckpoint(f, { model: buildModel({ name: 'cnn', width: 0.125, channels: [8] }), extra: { cli: { dataset: 'synthetic' } } });
    const { tensors, metadata } = loadSafetensors(f);
    tensors['__proto__'] = tensor([1, 2]);
    saveSafetensors(f, tensors, metadata);
    expectUserError(await inProcess(['eval', '--checkpoint', f, '--test-limit', '8']), /weights do not fit the model .*unexpected keys: __proto__/);
  });

  it('train --resume refuses a checkpoint whose extra.history is [null] with one line, exit 2', async () => {
    const d = dir();
    const model = buildModel({ name: 'cnn', norm: 'gn', groups: 4, width: 0.25, inChannels: 1, numClasses: 10, imageSize: 28, seed: 0 });
    saveCheckpoint(join(d, 'model.safetensors'), { model, step: 2, extra: { cli: { dataset: 'synthetic', norm: 'gn', groups: 4, width: 0.25 }, history: [null] } });
    expectUserError(await inProcess(['train', '--out', d, '--resume', '--quiet']), /model.safetensors: metadata extra.history\[0\] must be an object, got null/);
    // So is a step that is not decimal digits.
    const { tensors, metadata } = loadSafetensors(join(d, 'model.safetensors'));
    saveSafetensors(join(d, 'model.safetensors'), tensors, { ...metadata, extra: JSON.stringify({ cli: { dataset: 'synthetic' } }), step: '1e2' });
    expectUserError(await inProcess(['train', '--out', d, '--resume', '--quiet']), /metadata step must be a non-negative integer in decimal digits, got "1e2"/);
  });

  it('a backend whose package is missing is one line saying how to install it', async () => {
    // As in an install of @normlab/cli without the optional @normlab/gpu (the consumer check
    // does that for real): the package name is the only difference.
    await expect(importBackendPackage('gpu', '@normlab/not-installed')).rejects.toThrow(
      '--backend gpu needs @normlab/not-installed, which is not installed: run `npm install @normlab/not-installed` where @normlab/cli is installed (add -g for a global install)',
    );
  });
});

// One process at a time from here: a training run is CPU-bound, and on a busy 2-core machine
// concurrent ones only push each other towards their limit.
describe('normlab: the built executable', () => {
  it('a folder under /proc is a one-line error, not a hang (Node\'s recursive mkdir retries for ever there)', async () => {
    if (!existsSync('/proc/self')) return;
    expectUserError(await normlab(['train', ...TINY, '--out', '/proc/normlab-out', '--quiet']), /^normlab: error: train --out: cannot create the folder \/proc\/normlab-out \(ENOENT: no such file or folder\)$/);
    expectUserError(await normlab(['reproduce', '--profile', 'smoke', '--out', '/proc/normlab-out/sub', '--quiet']), /cannot create the folder \/proc\/normlab-out\/sub \(ENOENT/);
  });

  it('three shards run at once into one folder; the merge has the records and tables of one process', async () => {
    const d = dir();
    const shared = join(d, 'shared');
    const single = join(d, 'single');
    // The first run of each of 3 shards is one of the plan's first 3 runs: the single process runs those.
    const args = ['reproduce', '--profile', 'smoke', '--max-runs', '1', '--json'];
    const shards = await Promise.all([0, 1, 2].map((i) => normlab([...args, '--shard', `${i}/3`, '--out', shared])));
    for (const [i, r] of shards.entries()) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ shard: { index: i, count: 3 }, planned: 45, ran: 1, complete: false, report: null });
    }
    expect(existsSync(join(shared, 'report.md'))).toBe(false);
    // The one process, and the merge: here, as the shards' processes are what the test is about.
    const one = await inProcess(['reproduce', '--profile', 'smoke', '--max-runs', '3', '--json', '--out', single]);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ planned: 45, runs: 3, missing: 42, complete: false });

    const merged = await inProcess(['analyze', '--results', shared, '--json']);
    expect(merged.code, merged.stderr).toBe(0);
    const m = JSON.parse(merged.stdout) as { runs: number; missing: string[]; complete: boolean };
    expect(m).toMatchObject({ runs: 3, complete: false });
    expect(m.missing.length).toBe(42);
    expect(readFileSync(join(shared, 'report.md'), 'utf8')).toContain(`**Partial**: 42 planned runs have no record yet: ${m.missing[0]}, `);
    const names = readdirSync(join(single, 'runs')).sort();
    expect(readdirSync(join(shared, 'runs')).sort()).toEqual(names);
    expect(names.length).toBe(3);
    // Bit for bit the same training results per run.
    for (const n of names) expect(readFileSync(join(shared, 'runs', n), 'utf8')).toBe(readFileSync(join(single, 'runs', n), 'utf8'));
    const [a, b] = [single, shared].map((o) => JSON.parse(readFileSync(join(o, 'results.json'), 'utf8')) as { tables: unknown; findings: unknown });
    expect(b!.tables).toEqual(a!.tables);
    expect(b!.findings).toEqual(a!.findings);
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

  it('train shows its progress on stderr (plain lines: it is not a TTY) and its result on stdout', async () => {
    const loud = await normlab(['train', ...TINY]);
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/step 4\/4 epoch 1\/1 loss \d+\.\d+ acc \d+\.\d% \d+ img\/s ETA/);
    expect(loud.stderr).toMatch(/epoch 1\/1: train loss/);
    expect(loud.stdout).toMatch(/cnn bn on synthetic: test accuracy \d+\.\d+%/);
  });

  it('train --json --quiet prints one summary and nothing else; --out gets checkpoint, metrics and summary; eval agrees', async () => {
    const d = join(dir(), 'run');
    const r = await normlab(['train', ...TINY, '--norm', 'gn', '--out', d, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const s = JSON.parse(lines[0]!);
    for (const key of ['dataset', 'model', 'norm', 'groups', 'batchSize', 'epochs', 'seed', 'backend', 'trainLoss', 'testLoss', 'testAccuracy', 'seconds', 'imagesPerSecond', 'skippedStatisticsUpdates', 'checkpoint']) {
      expect(s, key).toHaveProperty(key);
    }
    expect(s).toMatchObject({ dataset: 'synthetic', model: 'cnn', norm: 'gn', groups: 4, batchSize: 16, epochs: 1, seed: 0, backend: 'wasm', skippedStatisticsUpdates: 0, checkpoint: join(d, 'model.safetensors') });
    expect(s.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(s.testAccuracy).toBeLessThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'))).toEqual(s);
    expect(readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBe(4 + 1);

    const ckpt = join(d, 'model.safetensors');
    const ev = await normlab(['eval', '--checkpoint', ckpt, '--test-limit', '40', '--batch-size', '10']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stderr).toMatch(/^eval batch 1\/4 10 images \d+ img\/s ETA /m);
    expect(ev.stderr).toMatch(/^eval batch 4\/4 40 images \d+ img\/s ETA /m);
    expect(ev.stdout).toMatch(/test accuracy \d+\.\d+% .* on 40 images/);
    const evJson = await normlab(['eval', '--checkpoint', ckpt, '--test-limit', '40', '--json', '--quiet']);
    expect(evJson.code, evJson.stderr).toBe(0);
    expect(evJson.stderr).toBe('');
    const e = JSON.parse(evJson.stdout);
    expect(e).toMatchObject({ dataset: 'synthetic', model: 'cnn', norm: 'gn', examples: 40 });
    expect(e.testAccuracy).toBe(s.testAccuracy);
    expect(e.testLoss).toBeCloseTo(s.testLoss, 12);

    // A finished run is never overwritten without --force.
    expectUserError(await inProcess(['train', ...TINY, '--norm', 'gn', '--out', d, '--quiet']), /holds a finished run .*--force/);
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

  it('--data-dir holds MNIST: train reads its IDX files, eval reads them again from the checkpoint', async () => {
    const data = dir();
    const idx = (dims: number[], bytes: Uint8Array) => {
      const header = Buffer.alloc(4 + 4 * dims.length);
      header.writeUInt32BE(0x0800 + dims.length, 0);
      dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
      return Buffer.concat([header, bytes]);
    };
    const images = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => (i * 7) % 256);
    const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
    writeFileSync(join(data, 'train-images-idx3-ubyte'), idx([32, 28, 28], images(32)));
    writeFileSync(join(data, 'train-labels-idx1-ubyte'), idx([32], labels(32)));
    writeFileSync(join(data, 't10k-images-idx3-ubyte'), idx([12, 28, 28], images(12)));
    writeFileSync(join(data, 't10k-labels-idx1-ubyte'), idx([12], labels(12)));
    const out = join(dir(), 'run');
    const r = await normlab(['train', '--dataset', 'mnist', '--data-dir', data, '--model', 'mlp', '--norm', 'none', '--batch-size', '16', '--out', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dataset: 'mnist', steps: 2 });
    const ev = await normlab(['eval', '--checkpoint', join(out, 'model.safetensors'), '--json', '--quiet']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ dataset: 'mnist', examples: 12 });
  });

  it('the executable refuses a Node without worker threads in one line; every package states the same engines', async () => {
    const bin = join(dirname(BIN), '..', 'bin', 'normlab.js');
    const asNode = (version: string) =>
      new Promise<Run>((resolve) => {
        const preload = `data:text/javascript,Object.defineProperty(process.versions, 'node', { value: '${version}' })`;
        execFile(process.execPath, ['--import', preload, bin, '--version'], { timeout: CHILD_TIMEOUT_MS }, (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    for (const old of ['20.15.1', '21.7.3', '22.2.0', '18.20.4']) {
      expectUserError(await asNode(old), new RegExp(`^normlab: error: normlab needs Node \\^20\\.16\\.0 \\|\\| >=22\\.3\\.0 \\(its worker threads need process\\.getBuiltinModule\\); this is Node ${old.replace(/\./g, '\\.')}$`));
    }
    for (const ok of ['20.16.0', '22.3.0']) {
      const r = await asNode(ok);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('0.1.0');
    }
    const packages = join(dirname(BIN), '..', '..');
    for (const name of readdirSync(packages)) {
      const pkg = JSON.parse(readFileSync(join(packages, name, 'package.json'), 'utf8')) as { engines?: { node?: string } };
      expect(pkg.engines?.node, name).toBe(SUPPORTED_NODE);
    }
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
    const quiet = await normlab(['train', ...TINY, '--backend', 'gpu', '--gpu-mode', 'cpu', '--max-steps', '1', '--quiet']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it("the norm layers' warnings (a skipped statistics update) go to stderr, and nowhere with --quiet", async () => {
    // An absurd learning rate: the second batch's statistics overflow float32, then the loss is NaN.
    const args = ['train', ...TINY, '--lr', '1e20', '--max-steps', '3'];
    const loud = await normlab(args);
    expect(loud.code, loud.stderr).toBe(2);
    expect(loud.stderr).toMatch(/^normlab norm-layers: BatchNorm2d: a training batch's statistics are (beyond float32's range|not finite)/m);
    expect(loud.stderr).toMatch(/^normlab: error: train: training diverged: the loss is NaN at step 2/m);
    expectUserError(await normlab([...args, '--quiet']), /^normlab: error: train: training diverged: the loss is NaN at step 2/);
  });
});

// Alone, after the rest: one benchmark suite against its tfjs peers is the heaviest run here.
describe('normlab bench', () => {
  it('bench prints its tables and leaves the checkout as it was (files change only with --write-docs)', async () => {
    const repo = join(dirname(BIN), '..', '..', '..');
    const results = join(repo, 'benchmarks', 'results');
    const snapshot = () => [readFileSync(join(repo, 'docs', 'benchmarks.md'), 'utf8'), ...readdirSync(results).sort().map((f) => f + readFileSync(join(results, f), 'utf8'))];
    const before = snapshot();
    const r = await normlab(['bench', '--suite', 'matmul', '--reps', '1', '--no-torch']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^## matmul$/m);
    expect(r.stdout).toMatch(/^\| matmul 512×512×512 \| \*\*normlab \(wasm\)\*\* \| [\d.]+ \| 1 \|/m);
    expect(r.stderr).not.toMatch(/wrote/);
    expect(snapshot()).toEqual(before);
  });
});

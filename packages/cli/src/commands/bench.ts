/**
 * `normlab bench`: the kernel, layer and training-step benchmarks against their peers (tfjs-cpu,
 * tfjs-wasm, PyTorch). The suites live in the repository's private `benchmarks/` workspace,
 * because the peers are development dependencies that a user of the packages should not have to
 * install; this command finds that workspace and runs it with the flags given here. It prints the
 * results; only `--write-docs` changes files in the checkout.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Command } from 'commander';
import { BACKEND_NAMES, type BackendName, defaultBackend, oneOf } from '../common.js';
import { CliError } from '../errors.js';

/** The built runner of the `normlab-benchmarks` workspace, or undefined outside the repository. */
export function findBenchRunner(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('normlab-benchmarks/package.json');
    const runner = path.join(path.dirname(pkg), 'dist', 'run.js');
    return existsSync(runner) ? runner : undefined;
  } catch {
    return undefined;
  }
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('kernel, layer and training-step benchmarks against tfjs and PyTorch (from the repository)')
    .option('--backend <name>', `normlab backend: ${BACKEND_NAMES.join(', ')}`, oneOf('--backend', BACKEND_NAMES), defaultBackend())
    .option('--suite <names>', 'comma-separated suites (matmul, conv2d, norm, train-step, gpu); default all')
    .option('--reps <n>', 'timed calls per case')
    .option('--no-torch', 'skip the PyTorch peer')
    .option('--write-docs', 'also write benchmarks/results/*.json and regenerate docs/benchmarks.md (default: print the tables only)')
    .action(async (flags: { backend: BackendName; suite?: string; reps?: string; torch: boolean; writeDocs?: boolean }) => {
      const runner = findBenchRunner();
      if (!runner) {
        throw new CliError(
          'normlab bench runs the benchmarks of the normlab repository: clone it, run `npm ci` there (it builds benchmarks/), then `npx normlab bench`',
        );
      }
      const args = ['--backend', flags.backend];
      if (flags.suite) args.push('--suite', flags.suite);
      if (flags.reps) args.push('--reps', flags.reps);
      if (!flags.torch) args.push('--no-torch');
      if (flags.writeDocs) args.push('--write-docs');
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [runner, ...args], { stdio: 'inherit', cwd: path.resolve(path.dirname(runner), '..') });
        child.on('error', reject);
        child.on('exit', (c) => resolve(c ?? 1));
      });
      if (code !== 0) throw new CliError(`the benchmark runner exited with code ${code}`);
    });
}

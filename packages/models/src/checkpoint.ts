/**
 * Training checkpoints in the safetensors format. Tensors: the model's state dict under its own
 * keys (so `safetensors.torch.load_file` gives a PyTorch-style state dict) and the optimizer's
 * per-parameter buffers under `optimizer.<param index>.<name>`. Metadata (strings): the model
 * config as JSON (so the model can be rebuilt), the optimizer's groups and counters, the
 * schedule, the epoch and step, and whatever the caller adds (training options).
 */
import type { Module, OptimizerState, ScheduleState, StateDict } from '@normlab/nn';
import { Tensor } from '@normlab/tensor';
import { CheckpointError } from './errors.js';
import { buildModel } from './registry.js';
import type { ClassifierModel, ModelConfig } from './models/common.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'normlab-checkpoint';
export const CHECKPOINT_VERSION = '1';
const OPT_PREFIX = 'optimizer.';

export interface SaveCheckpointOptions {
  model: Module;
  /** Saved so a resumed run continues exactly. */
  optimizer?: { stateDict(): OptimizerState } | null;
  /** A name for the optimizer (checked on resume). */
  optimizerName?: string;
  scheduler?: { stateDict(): ScheduleState } | null;
  /** Completed optimizer steps. */
  step?: number;
  /** Completed epochs. */
  epoch?: number;
  /** Anything JSON-serializable (training options, results). */
  extra?: Record<string, unknown>;
}

export interface Checkpoint {
  path: string;
  /** The model config, or null for a model built outside `buildModel`. */
  config: ModelConfig | null;
  modelState: StateDict;
  optimizer: OptimizerState | null;
  optimizerName: string | null;
  scheduler: ScheduleState | null;
  step: number;
  epoch: number;
  extra: Record<string, unknown>;
}

function modelConfigOf(model: Module): ModelConfig | null {
  const c = (model as unknown as Partial<ClassifierModel>).config;
  return c && typeof c === 'object' && typeof c.name === 'string' ? c : null;
}

/** Write a checkpoint atomically (temporary file, then rename). */
export function saveCheckpoint(path: string, options: SaveCheckpointOptions): void {
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(options.model.stateDict())) {
    if (k.startsWith(OPT_PREFIX)) throw new CheckpointError(path, `model state key '${k}' clashes with the optimizer prefix '${OPT_PREFIX}'`);
    tensors[k] = t;
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: String(options.step ?? 0),
    epoch: String(options.epoch ?? 0),
  };
  const config = modelConfigOf(options.model);
  if (config) metadata.model_config = JSON.stringify(config);
  if (options.optimizer) {
    const st = options.optimizer.stateDict();
    const numbers: Record<string, Record<string, number>> = {};
    for (const [idx, entries] of Object.entries(st.state)) {
      for (const [name, v] of Object.entries(entries)) {
        if (v instanceof Tensor) tensors[`${OPT_PREFIX}${idx}.${name}`] = v;
        else (numbers[idx] ??= {})[name] = v;
      }
    }
    metadata.optimizer = JSON.stringify({ name: options.optimizerName ?? null, paramGroups: st.paramGroups, numbers });
  }
  if (options.scheduler) metadata.scheduler = JSON.stringify(options.scheduler.stateDict());
  if (options.extra) metadata.extra = JSON.stringify(options.extra);
  // Counts PyTorch keeps as int64 (`num_batches_tracked`) are written as I64, PyTorch's dtype.
  saveSafetensors(path, tensors, metadata, { int64: options.model.int64Keys() });
}

function parseJson<T>(path: string, key: string, text: string | undefined): T | null {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CheckpointError(path, `metadata '${key}' is not valid JSON (${(e as Error).message})`);
  }
}

function parseCount(path: string, key: string, text: string | undefined): number {
  const v = Number(text ?? '0');
  if (!Number.isSafeInteger(v) || v < 0) throw new CheckpointError(path, `metadata '${key}' must be a non-negative integer, got ${JSON.stringify(text)}`);
  return v;
}

/** Read and check a checkpoint written by `saveCheckpoint` (or any F32/F64/I64 safetensors file). */
export function loadCheckpoint(path: string): Checkpoint {
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== undefined && metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(path, `metadata format is ${JSON.stringify(metadata.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)}`);
  }
  if (metadata.version !== undefined && metadata.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(path, `checkpoint version ${JSON.stringify(metadata.version)} is not supported (this normlab reads version ${CHECKPOINT_VERSION})`);
  }
  const modelState: StateDict = {};
  const optTensors: Array<[number, string, Tensor]> = [];
  for (const [k, t] of Object.entries(tensors)) {
    if (!k.startsWith(OPT_PREFIX)) {
      modelState[k] = t;
      continue;
    }
    const rest = k.slice(OPT_PREFIX.length);
    const dot = rest.indexOf('.');
    const idx = Number(rest.slice(0, dot));
    if (dot <= 0 || !Number.isSafeInteger(idx) || idx < 0) throw new CheckpointError(path, `optimizer tensor '${k}' is not named optimizer.<index>.<name>`);
    optTensors.push([idx, rest.slice(dot + 1), t]);
  }
  const config = parseJson<ModelConfig>(path, 'model_config', metadata.model_config);
  if (config !== null && (typeof config !== 'object' || typeof config.name !== 'string')) {
    throw new CheckpointError(path, `metadata 'model_config' must be an object with a name, got ${metadata.model_config}`);
  }
  let optimizer: OptimizerState | null = null;
  let optimizerName: string | null = null;
  const opt = parseJson<{ name: string | null; paramGroups: OptimizerState['paramGroups']; numbers: Record<string, Record<string, number>> }>(
    path,
    'optimizer',
    metadata.optimizer,
  );
  if (opt) {
    if (typeof opt !== 'object' || !Array.isArray(opt.paramGroups)) throw new CheckpointError(path, `metadata 'optimizer' has no paramGroups`);
    const state: OptimizerState['state'] = {};
    for (const [idx, name, t] of optTensors) (state[idx] ??= {})[name] = t;
    for (const [idx, entries] of Object.entries(opt.numbers ?? {})) Object.assign((state[Number(idx)] ??= {}), entries);
    optimizer = { state, paramGroups: opt.paramGroups };
    optimizerName = opt.name ?? null;
  } else if (optTensors.length) {
    throw new CheckpointError(path, `optimizer tensors present but metadata 'optimizer' is missing`);
  }
  return {
    path,
    config,
    modelState,
    optimizer,
    optimizerName,
    scheduler: parseJson<ScheduleState>(path, 'scheduler', metadata.scheduler),
    step: parseCount(path, 'step', metadata.step),
    epoch: parseCount(path, 'epoch', metadata.epoch),
    extra: parseJson<Record<string, unknown>>(path, 'extra', metadata.extra) ?? {},
  };
}

/** Rebuild the model a checkpoint was saved from and load its weights and buffers. */
export function loadModel(checkpoint: string | Checkpoint): ClassifierModel {
  const ckpt = typeof checkpoint === 'string' ? loadCheckpoint(checkpoint) : checkpoint;
  if (!ckpt.config) throw new CheckpointError(ckpt.path, `has no model config in its metadata, so the model cannot be rebuilt; build it and use loadStateDict`);
  let model: ClassifierModel;
  try {
    model = buildModel(ckpt.config);
  } catch (e) {
    throw new CheckpointError(ckpt.path, `its model config cannot be built: ${(e as Error).message}`);
  }
  try {
    model.loadStateDict(ckpt.modelState);
  } catch (e) {
    throw new CheckpointError(ckpt.path, `weights do not fit the model: ${(e as Error).message}`);
  }
  return model;
}

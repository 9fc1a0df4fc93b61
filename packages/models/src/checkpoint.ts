/**
 * Training checkpoints in the safetensors format. Tensors: the model's state dict under its own
 * keys (so `safetensors.torch.load_file` gives a PyTorch-style state dict) and the optimizer's
 * per-parameter buffers under `optimizer.<param index>.<name>`. Metadata (strings): the model
 * config as JSON (so the model can be rebuilt), the optimizer's groups and counters, the
 * schedule, the epoch and step, and whatever the caller adds (training options).
 *
 * Reading checks everything before anything is built: the file (safetensors.ts), every metadata
 * field against its declared schema (metadata.ts), and the model tensors against the state dict
 * the config describes, found by a shape-only build, so a tiny file cannot make us build a huge
 * model only to find its weights missing.
 */
import type { Module, OptimizerState, ScheduleState, StateDict } from '@normlab/nn';
import { Tensor, fmtShape, shapesEqual } from '@normlab/tensor';
import { CheckpointError, TrainingError } from './errors.js';
import { type CheckpointExtra, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, parseDecimal, readCheckpointMetadata } from './metadata.js';
import type { ClassifierModel, ModelConfig } from './models/common.js';
import { buildModel, modelStateShapes } from './registry.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { nullRecord, protoKeyPath } from './validate.js';

export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION };
const OPT_PREFIX = 'optimizer.';

/** What `saveCheckpoint` writes. */
export interface SaveCheckpointOptions {
  /** The model whose state dict (parameters and buffers) is saved, with its config when it has one. */
  model: Module;
  /** Saved so a resumed run continues exactly. */
  optimizer?: {
    /** The optimizer's serializable state. */
    stateDict(): OptimizerState;
  } | null;
  /** A name for the optimizer (checked on resume). */
  optimizerName?: string;
  /** The lr schedule, saved so a resumed run continues it. */
  scheduler?: {
    /** The schedule's serializable state. */
    stateDict(): ScheduleState;
  } | null;
  /** Completed optimizer steps. */
  step?: number;
  /** Completed epochs. */
  epoch?: number;
  /** Anything JSON-serializable (training options, results); no key may be named `__proto__`. */
  extra?: Record<string, unknown>;
}

/** A checkpoint read back by `loadCheckpoint`, its metadata checked. */
export interface Checkpoint {
  /** The file it was read from. */
  path: string;
  /** The model config, or null for a model built outside `buildModel`. */
  config: ModelConfig | null;
  /** The model's tensors by state-dict name (a null-prototype record). */
  modelState: StateDict;
  /** The optimizer's state, or null when none was saved. */
  optimizer: OptimizerState | null;
  /** The optimizer's name as saved, or null. */
  optimizerName: string | null;
  /** The lr schedule's state, or null when none was saved. */
  scheduler: ScheduleState | null;
  /** Completed optimizer steps (0 when not recorded). */
  step: number;
  /** Completed epochs (0 when not recorded). */
  epoch: number;
  /** The caller's `extra`, its training-loop and `normlab train` keys checked (see `CheckpointExtra`). */
  extra: CheckpointExtra;
}

function modelConfigOf(model: Module): ModelConfig | null {
  const c = (model as unknown as Partial<ClassifierModel>).config;
  return c && typeof c === 'object' && typeof c.name === 'string' ? c : null;
}

function checkCount(path: string, key: string, v: number | undefined): string {
  const n = v ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw new CheckpointError(path, `${key} must be a non-negative integer, got ${String(v)}`);
  return String(n);
}

/** Write a checkpoint atomically (temporary file, then rename). */
export function saveCheckpoint(path: string, options: SaveCheckpointOptions): void {
  const tensors = nullRecord<Tensor>();
  for (const [k, t] of Object.entries(options.model.stateDict())) {
    if (k.startsWith(OPT_PREFIX)) throw new CheckpointError(path, `model state key '${k}' clashes with the optimizer prefix '${OPT_PREFIX}'`);
    tensors[k] = t;
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: checkCount(path, 'step', options.step),
    epoch: checkCount(path, 'epoch', options.epoch),
  };
  const config = modelConfigOf(options.model);
  if (config) metadata.model_config = JSON.stringify(config);
  if (options.optimizer) {
    const st = options.optimizer.stateDict();
    const numbers = nullRecord<Record<string, number>>();
    for (const [idx, entries] of Object.entries(st.state)) {
      for (const [name, v] of Object.entries(entries)) {
        if (v instanceof Tensor) tensors[`${OPT_PREFIX}${idx}.${name}`] = v;
        else (numbers[idx] ??= nullRecord<number>())[name] = v;
      }
    }
    metadata.optimizer = JSON.stringify({ name: options.optimizerName ?? null, paramGroups: st.paramGroups, numbers });
  }
  if (options.scheduler) metadata.scheduler = JSON.stringify(options.scheduler.stateDict());
  if (options.extra) {
    // Refused here as on reading, so a checkpoint we write can always be read back.
    const proto = protoKeyPath(options.extra, 'extra');
    if (proto !== null) throw new CheckpointError(path, `${proto}: a key named __proto__ cannot be saved`);
    metadata.extra = JSON.stringify(options.extra);
  }
  // Counts PyTorch keeps as int64 (`num_batches_tracked`) are written as I64, PyTorch's dtype.
  saveSafetensors(path, tensors, metadata, { int64: options.model.int64Keys() });
}

/** At most this many names are listed in a "missing keys" message. */
const LISTED = 10;

function listKeys(keys: string[]): string {
  return keys.length <= LISTED ? keys.join(', ') : `${keys.slice(0, LISTED).join(', ')} … (${keys.length - LISTED} more)`;
}

type ModelPlan = ReturnType<typeof modelStateShapes>;

/** The state-dict shapes of the checkpoint's own model config; a config that cannot be built is the file's error. */
function planOfCheckpoint(path: string, config: ModelConfig): ModelPlan {
  try {
    return modelStateShapes(config);
  } catch (e) {
    throw new CheckpointError(path, `its model config cannot be built: ${(e as Error).message}`);
  }
}

/**
 * Throw a `CheckpointError` unless `state` holds exactly the tensors of `plan` (a shape-only
 * build's state dict): the same names and shapes, so the same parameter count.
 */
function checkStateFits(path: string, plan: ModelPlan, state: StateDict): void {
  const names = Object.keys(state);
  const missing = [...plan.shapes.keys()].filter((k) => !Object.hasOwn(state, k));
  const unexpected = names.filter((k) => !plan.shapes.has(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing keys: ${listKeys(missing)}`);
  if (unexpected.length) problems.push(`unexpected keys: ${listKeys(unexpected)}`);
  const misshapen = names.filter((k) => plan.shapes.has(k) && !shapesEqual(state[k]!.shape, plan.shapes.get(k)!));
  for (const k of misshapen.slice(0, LISTED)) problems.push(`'${k}' has shape ${fmtShape(state[k]!.shape)} in the file but ${fmtShape(plan.shapes.get(k)!)} in the model`);
  if (misshapen.length > LISTED) problems.push(`${misshapen.length - LISTED} more tensors of the wrong shape`);
  if (problems.length) {
    const size = (shapes: Iterable<readonly number[]>) => [...shapes].reduce((a, s) => a + s.reduce((p, d) => p * d, 1), 0);
    const counts = `the model has ${plan.shapes.size} tensors of ${size(plan.shapes.values())} values, the file ${names.length} of ${size(names.map((k) => state[k]!.shape))}`;
    throw new CheckpointError(path, `weights do not fit the model (${counts}): ${problems.join('; ')}`);
  }
}

/** Read and check a checkpoint written by `saveCheckpoint` (or any F32/F64/I64 safetensors file). */
export function loadCheckpoint(path: string): Checkpoint {
  const { tensors, metadata } = loadSafetensors(path);
  const meta = readCheckpointMetadata(path, metadata);
  const modelState: StateDict = nullRecord<Tensor>();
  const optTensors: Array<[number, string, Tensor]> = [];
  for (const [k, t] of Object.entries(tensors)) {
    if (!k.startsWith(OPT_PREFIX)) {
      modelState[k] = t;
      continue;
    }
    const rest = k.slice(OPT_PREFIX.length);
    const dot = rest.indexOf('.');
    const idx = dot > 0 ? parseDecimal(rest.slice(0, dot)) : null;
    if (idx === null || dot === rest.length - 1) throw new CheckpointError(path, `optimizer tensor '${k}' is not named optimizer.<index in decimal digits>.<name>`);
    optTensors.push([idx, rest.slice(dot + 1), t]);
  }
  if (meta.config) checkStateFits(path, planOfCheckpoint(path, meta.config), modelState);
  let optimizer: OptimizerState | null = null;
  if (meta.optimizer) {
    const state: OptimizerState['state'] = nullRecord<Record<string, Tensor | number>>();
    for (const [idx, name, t] of optTensors) (state[idx] ??= nullRecord())[name] = t;
    for (const [idx, entries] of Object.entries(meta.optimizer.numbers)) {
      const into = (state[parseDecimal(idx)!] ??= nullRecord());
      for (const [name, v] of Object.entries(entries)) {
        if (Object.hasOwn(into, name)) throw new CheckpointError(path, `optimizer state '${name}' of parameter ${idx} is both a tensor and a number`);
        into[name] = v;
      }
    }
    optimizer = { state, paramGroups: meta.optimizer.paramGroups };
  } else if (optTensors.length) {
    throw new CheckpointError(path, `optimizer tensors present but metadata 'optimizer' is missing`);
  }
  return {
    path,
    config: meta.config,
    modelState,
    optimizer,
    optimizerName: meta.optimizer?.name ?? null,
    scheduler: meta.scheduler,
    step: meta.step,
    epoch: meta.epoch,
    extra: meta.extra,
  };
}

function describeConfigDiff(a: ModelConfig, b: ModelConfig): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const diffs = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return diffs.map((k) => `${k}: checkpoint ${JSON.stringify(a[k])}, model ${JSON.stringify(b[k])}`).join('; ');
}

/**
 * A `TrainingError` naming the differences unless a model whose resolved config is `resolved` is
 * the checkpoint's model (always true for a checkpoint without a config). `train` uses it on the
 * model it was given.
 */
export function checkSameModel(ckpt: Checkpoint, resolved: ModelConfig): void {
  if (ckpt.config && JSON.stringify(resolved) !== JSON.stringify(ckpt.config)) {
    throw new TrainingError('train', `cannot resume from ${ckpt.path}: the model differs (${describeConfigDiff(ckpt.config, resolved)})`);
  }
}

/**
 * Check, before building it, that the model `config` describes can continue from `ckpt`: the
 * same model as the checkpoint's (`checkSameModel`) holding exactly the checkpoint's model
 * tensors (names and shapes; a `CheckpointError` otherwise). Found by a shape-only build, so
 * nothing is allocated; a config that cannot be built throws `buildModel`'s `ModelError`.
 */
export function checkResume(ckpt: Checkpoint, config: ModelConfig): void {
  const plan = modelStateShapes(config);
  checkSameModel(ckpt, plan.config);
  checkStateFits(ckpt.path, plan, ckpt.modelState);
}

/** Rebuild the model a checkpoint was saved from and load its weights and buffers. */
export function loadModel(checkpoint: string | Checkpoint): ClassifierModel {
  const ckpt = typeof checkpoint === 'string' ? loadCheckpoint(checkpoint) : checkpoint;
  if (!ckpt.config) throw new CheckpointError(ckpt.path, `has no model config in its metadata, so the model cannot be rebuilt; build it and use loadStateDict`);
  // Checked again for a Checkpoint assembled by hand: still nothing is built before it fits.
  checkStateFits(ckpt.path, planOfCheckpoint(ckpt.path, ckpt.config), ckpt.modelState);
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

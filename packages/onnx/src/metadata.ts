/**
 * What an exported file carries besides the graph, in the model's `metadata_props` (string keys
 * and values, JSON where structured), so that `normlab eval --onnx` evaluates it exactly as the
 * checkpoint it came from: the model's config, one example's shape, the dataset it was trained
 * on and the per-channel standardization of its inputs.
 */
import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import type { ModelConfig } from '@normlab/models';
import { ModelProtoSchema } from 'onnx-buf';
import { OnnxRuntimeError } from './errors.js';

/** The `metadata_props` keys normlab writes into an exported model; the values are JSON except the dataset's name. */
export const METADATA_KEYS = {
  /** The model's resolved `ModelConfig`. */
  config: 'normlab.config',
  /** One example's shape without the batch axis, e.g. `[1,28,28]`. */
  inputShape: 'normlab.input_shape',
  /** The dataset's name as plain text, e.g. `mnist`. */
  dataset: 'normlab.dataset',
  /** `{"mean":[…],"std":[…]}`, the per-channel input standardization. */
  normalization: 'normlab.normalization',
} as const;

/** What normlab records in an exported model's metadata; only `inputShape` is always present. */
export interface NormlabOnnxMetadata {
  /** One example's shape (without the batch axis). */
  inputShape: number[];
  /** The model's resolved config (`buildModel(config)` rebuilds the architecture). */
  config?: ModelConfig;
  /** The dataset the model was trained on. */
  dataset?: string;
  /** Per-channel mean and std (of images in [0, 1]) the inputs are standardized with. */
  normalization?: {
    /** Per-channel mean, one entry per input channel. */
    mean: number[];
    /** Per-channel standard deviation, one entry per input channel. */
    std: number[];
  };
}

/** The metadata as `metadata_props` entries. */
export function metadataProps(m: NormlabOnnxMetadata): Record<string, string> {
  return {
    ...(m.config ? { [METADATA_KEYS.config]: JSON.stringify(m.config) } : {}),
    [METADATA_KEYS.inputShape]: JSON.stringify(m.inputShape),
    ...(m.dataset !== undefined ? { [METADATA_KEYS.dataset]: m.dataset } : {}),
    ...(m.normalization ? { [METADATA_KEYS.normalization]: JSON.stringify(m.normalization) } : {}),
  };
}

/** A file's bytes; `OnnxRuntimeError` naming the file and the reason (ENOENT, …) when unreadable. */
export function readOnnxFile(op: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new OnnxRuntimeError(op, `${path}: cannot read the ONNX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function parseJson(file: string, key: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new OnnxRuntimeError('readOnnxMetadata', `${file}: metadata ${key} is not JSON: ${JSON.stringify(value.slice(0, 80))}`);
  }
}

/**
 * The normlab metadata of an ONNX model (bytes, or a path to read). Throws `OnnxRuntimeError`
 * for a file that is not an ONNX model or was not written by normlab (no `normlab.input_shape`).
 */
export function readOnnxMetadata(model: Uint8Array | string): NormlabOnnxMetadata {
  const file = typeof model === 'string' ? model : 'the ONNX model';
  const bytes = typeof model === 'string' ? readOnnxFile('readOnnxMetadata', model) : model;
  let props: Map<string, string>;
  try {
    props = new Map(fromBinary(ModelProtoSchema, bytes).metadataProps.map((p) => [p.key, p.value]));
  } catch (e) {
    throw new OnnxRuntimeError('readOnnxMetadata', `${file} is not an ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
  const shape = props.get(METADATA_KEYS.inputShape);
  if (shape === undefined) throw new OnnxRuntimeError('readOnnxMetadata', `${file} has no ${METADATA_KEYS.inputShape} metadata: it was not exported by normlab`);
  const inputShape = parseJson(file, METADATA_KEYS.inputShape, shape);
  if (!Array.isArray(inputShape) || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new OnnxRuntimeError('readOnnxMetadata', `${file}: ${METADATA_KEYS.inputShape} must be a list of positive integers, got ${shape}`);
  }
  const out: NormlabOnnxMetadata = { inputShape: inputShape as number[] };
  const config = props.get(METADATA_KEYS.config);
  if (config !== undefined) out.config = parseJson(file, METADATA_KEYS.config, config) as ModelConfig;
  const dataset = props.get(METADATA_KEYS.dataset);
  if (dataset !== undefined) out.dataset = dataset;
  const norm = props.get(METADATA_KEYS.normalization);
  if (norm !== undefined) {
    const n = parseJson(file, METADATA_KEYS.normalization, norm) as { mean?: unknown; std?: unknown };
    const isNums = (a: unknown): a is number[] => Array.isArray(a) && a.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!isNums(n?.mean) || !isNums(n?.std) || n.mean.length !== n.std.length) {
      throw new OnnxRuntimeError('readOnnxMetadata', `${file}: ${METADATA_KEYS.normalization} must be {mean: number[], std: number[]} of one length, got ${norm}`);
    }
    out.normalization = { mean: n.mean, std: n.std };
  }
  return out;
}

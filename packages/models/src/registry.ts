/**
 * `buildModel(config)`: a model from a plain JSON config `{name, ...options}`, the form a
 * checkpoint stores, so any saved model can be rebuilt. Names: `mlp`, `cnn`, `vgg11`,
 * `resnet<6n+2>` (CIFAR-style: resnet8, resnet14, resnet20, resnet32, …), and `resnet18`,
 * `resnet50` (the ImageNet designs adapted to small images; resnet50 is *not* the 6n+2 net).
 * Each name has a declared zod schema of its options (`modelConfigProblems` checks a config
 * against it), and `modelStateShapes(config)` lists the state dict a config builds without
 * allocating it.
 */
import { ModelError } from './errors.js';
import { COMMON_SCHEMA, type ClassifierModel, type ModelConfig, type ModelSchema, shapeOnly } from './models/common.js';
import { CNN_SCHEMA, cnn } from './models/cnn.js';
import { MLP_SCHEMA, mlp } from './models/mlp.js';
import { resnet, resnet18, resnet50 } from './models/resnet.js';
import { VGG_SCHEMA, vgg11 } from './models/vgg.js';
import { describeIssues, show } from './validate.js';

/** The names `buildModel` knows (any `resnet<6n+2>` is accepted too). */
export const MODEL_NAMES = ['mlp', 'cnn', 'vgg11', 'resnet8', 'resnet14', 'resnet20', 'resnet18', 'resnet50'] as const;
/** A model `buildModel` knows by name. */
export type ModelName = (typeof MODEL_NAMES)[number];

interface ModelEntry {
  schema: ModelSchema;
  build(options: Record<string, unknown>): ClassifierModel;
}

/** How to check and build the model called `name`, or null for an unknown name. */
function modelEntry(name: string): ModelEntry | null {
  switch (name) {
    case 'mlp':
      return { schema: MLP_SCHEMA, build: mlp };
    case 'cnn':
      return { schema: CNN_SCHEMA, build: cnn };
    case 'vgg11':
      return { schema: VGG_SCHEMA, build: vgg11 };
    case 'resnet18':
      return { schema: COMMON_SCHEMA, build: resnet18 };
    case 'resnet50':
      return { schema: COMMON_SCHEMA, build: resnet50 };
  }
  const m = /^resnet(\d+)$/.exec(name);
  if (m && (Number(m[1]) - 2) % 6 === 0 && Number(m[1]) >= 8) return { schema: COMMON_SCHEMA, build: (o) => resnet(Number(m[1]), o) };
  return null;
}

function unknownModel(name: unknown): string {
  return `unknown model ${JSON.stringify(name)}, expected one of ${MODEL_NAMES.join(', ')} (or resnet<6n+2>)`;
}

/**
 * The model `config` describes (`config.name` and its options), initialized from `config.seed`:
 * the same config gives the same weights. Throws `ModelError` for an unknown name or bad options.
 */
export function buildModel(config: ModelConfig): ClassifierModel {
  if (config === null || typeof config !== 'object' || typeof config.name !== 'string') {
    throw new ModelError('buildModel', `config must be an object with a string 'name', got ${JSON.stringify(config)}`);
  }
  const { name, ...options } = config;
  const entry = modelEntry(name);
  if (!entry) throw new ModelError('buildModel', unknownModel(name));
  return entry.build(options);
}

/**
 * What is wrong with `config` as a model config, one line naming each field (`prefix.hidden[0]
 * must be …`), or null when it fits its model's declared schema. Checks the form only: whether
 * the layers fit together (groups dividing channels) is found by building.
 */
export function modelConfigProblems(config: unknown, prefix = ''): string | null {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return `${prefix || 'the config'} must be an object, got ${show(config)}`;
  const name = (config as { name?: unknown }).name;
  if (typeof name !== 'string') return `${prefix ? `${prefix}.` : ''}name must be a string, got ${show(name)}`;
  const entry = modelEntry(name);
  if (!entry) return `${prefix ? `${prefix}.` : ''}name: ${unknownModel(name)}`;
  const r = entry.schema.safeParse(config);
  return r.success ? null : describeIssues(r.error, config, { prefix, keyNoun: 'option' });
}

/**
 * The resolved config and the state-dict names and shapes of the model `config` builds, found by
 * a shape-only build: the layers get their names and shapes but no storage, so this costs a few
 * small objects per layer however wide the model (a checkpoint's tensors are checked against it
 * before the real model is built). Throws the `ModelError` that `buildModel` would.
 */
export function modelStateShapes(config: ModelConfig): {
  /** The resolved config, defaults filled in. */
  config: ModelConfig;
  /** Each state-dict key's shape. */
  shapes: Map<string, readonly number[]>;
} {
  const model = shapeOnly(() => buildModel(config));
  return { config: model.config, shapes: new Map(Object.entries(model.stateDict()).map(([k, t]) => [k, t.shape])) };
}

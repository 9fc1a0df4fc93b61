/**
 * `buildModel(config)`: a model from a plain JSON config `{name, ...options}`, the form a
 * checkpoint stores, so any saved model can be rebuilt. Names: `mlp`, `cnn`, `vgg11`,
 * `resnet<6n+2>` (CIFAR-style: resnet8, resnet14, resnet20, resnet32, …), and `resnet18`,
 * `resnet50` (the ImageNet designs adapted to small images; resnet50 is *not* the 6n+2 net).
 */
import { ModelError } from './errors.js';
import { type ClassifierModel, type ModelConfig } from './models/common.js';
import { cnn } from './models/cnn.js';
import { mlp } from './models/mlp.js';
import { resnet, resnet18, resnet50 } from './models/resnet.js';
import { vgg11 } from './models/vgg.js';

/** The names `buildModel` knows (any `resnet<6n+2>` is accepted too). */
export const MODEL_NAMES = ['mlp', 'cnn', 'vgg11', 'resnet8', 'resnet14', 'resnet20', 'resnet18', 'resnet50'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export function buildModel(config: ModelConfig): ClassifierModel {
  if (config === null || typeof config !== 'object' || typeof config.name !== 'string') {
    throw new ModelError('buildModel', `config must be an object with a string 'name', got ${JSON.stringify(config)}`);
  }
  const { name, ...options } = config;
  switch (name) {
    case 'mlp':
      return mlp(options);
    case 'cnn':
      return cnn(options);
    case 'vgg11':
      return vgg11(options);
    case 'resnet18':
      return resnet18(options);
    case 'resnet50':
      return resnet50(options);
  }
  const m = /^resnet(\d+)$/.exec(name);
  if (m && (Number(m[1]) - 2) % 6 === 0 && Number(m[1]) >= 8) return resnet(Number(m[1]), options);
  throw new ModelError('buildModel', `unknown model ${JSON.stringify(name)}, expected one of ${MODEL_NAMES.join(', ')} (or resnet<6n+2>)`);
}

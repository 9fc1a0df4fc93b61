/** A multilayer perceptron with a norm after each hidden linear layer. */
import { F, type Variable } from '@normlab/autograd';
import { type Linear, Module, ReLU } from '@normlab/nn';
import { z } from 'zod';
import { ClassifierModel, LayerFactory, MAX_LAYERS, type ModelConfig, type ModelOptions, layerSize, modelSchema, resolveCommon } from './common.js';

export interface MlpOptions extends ModelOptions {
  /** Hidden layer sizes before the width multiplier (default [256, 128]). */
  hidden?: number[];
}

export const MLP_SCHEMA = modelSchema({ hidden: z.array(layerSize).max(MAX_LAYERS).optional() });

/**
 * Applies a 2-D norm layer to (N, C) features as (N, C, 1, 1), so every `createNorm` kind works
 * on an MLP (bn is then BatchNorm1d; gn groups features).
 */
class FeatureNorm extends Module {
  constructor(readonly norm: Module) {
    super();
  }
  forward(x: Variable): Variable {
    const [n, c] = x.shape as [number, number];
    return F.reshape(this.norm.forward(F.reshape(x, [n, c, 1, 1])), [n, c]);
  }
}

class HiddenLayer extends Module {
  constructor(
    readonly linear: Linear,
    readonly norm: FeatureNorm,
    readonly act: ReLU,
  ) {
    super();
  }
  forward(x: Variable): Variable {
    return this.act.forward(this.norm.forward(this.linear.forward(x)));
  }
}

/** A multilayer perceptron on flattened images: linear, norm, ReLU per hidden layer, then the classifier. */
export class Mlp extends ClassifierModel {
  private readonly hiddenLayers: HiddenLayer[] = [];
  /** The classifier. */
  readonly fc: Linear;

  /** Builds the mlp (input `inChannels`·`imageSize`², default 28); throws `ModelError` for bad options. */
  constructor(options: MlpOptions = {}) {
    const common = resolveCommon('mlp', options as Record<string, unknown>, MLP_SCHEMA);
    // The one model whose parameters depend on the input size.
    const imageSize = common.imageSize ?? 28;
    const hidden = options.hidden ?? [256, 128];
    const config: ModelConfig = { name: 'mlp', ...common, imageSize, hidden: [...hidden] };
    super(config);
    const f = new LayerFactory('mlp', common);
    let inF = common.inChannels * imageSize * imageSize;
    hidden.forEach((h, i) => {
      const outF = f.ch(h);
      const linear = f.linear(inF, outF);
      const layer = new HiddenLayer(linear, new FeatureNorm(f.norm(outF)), new ReLU());
      this.registerModule(`hidden${i}`, layer);
      this.hiddenLayers.push(layer);
      inF = outF;
    });
    this.fc = f.linear(inF, common.numClasses);
  }

  classifier(): Linear {
    return this.fc;
  }

  forward(x: Variable): Variable {
    let y = F.flatten(x, 1);
    for (const layer of this.hiddenLayers) y = layer.forward(y);
    return this.fc.forward(y);
  }
}

/** `new Mlp(options)`. */
export function mlp(options: MlpOptions = {}): Mlp {
  return new Mlp(options);
}

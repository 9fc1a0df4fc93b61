/**
 * A small all-convolutional network for 28×28 inputs: 3×3 conv-norm-ReLU blocks, the first with
 * stride 1 and the others with stride 2, then global average pooling and one linear layer.
 *
 * Default: blocks of 32, 64, 128, 256 channels and a 2×2 max-pool after the first block. The
 * plain three-block form (`channels: [32, 64, 128], pool: false`) sees only 9×9 pixels before
 * the global pool; in PyTorch it reached 96.3% (GN) and 96.9% (BN) on MNIST after one epoch at
 * batch 32, short of the 98% we want from one epoch. The pool and the fourth block widen the
 * receptive field to 32 pixels (98.9% with GN in the same setting) at half the multiply-adds.
 */
import { F, type Variable } from '@normlab/autograd';
import { type Conv2d, type Linear, Module } from '@normlab/nn';
import { z } from 'zod';
import { ClassifierModel, LayerFactory, MAX_LAYERS, type ModelConfig, type ModelOptions, layerSize, modelSchema, resolveCommon } from './common.js';

export interface CnnOptions extends ModelOptions {
  /** Output channels of each block before the width multiplier (default [32, 64, 128, 256]). */
  channels?: number[];
  /** 2×2 max-pool after the first block (default true). */
  pool?: boolean;
}

/** The cnn's block widths when `channels` is not given. */
export const CNN_DEFAULT_CHANNELS: readonly number[] = [32, 64, 128, 256];

export const CNN_SCHEMA = modelSchema({ channels: z.array(layerSize).min(1).max(MAX_LAYERS).optional(), pool: z.boolean().optional() });

class ConvBlock extends Module {
  constructor(
    readonly conv: Conv2d,
    readonly norm: Module,
    readonly distortion: Module | null,
  ) {
    super();
  }
  forward(x: Variable): Variable {
    let y = this.norm.forward(this.conv.forward(x));
    if (this.distortion) y = this.distortion.forward(y);
    return F.relu(y);
  }
}

/** A plain conv net: conv-norm-ReLU blocks, global average pool, the classifier. */
export class Cnn extends ClassifierModel {
  private readonly blocks: ConvBlock[] = [];
  /** Whether a 2×2 max-pool follows the first block (skipped where the feature map is smaller than 2×2). */
  readonly pool: boolean;
  /** The classifier. */
  readonly fc: Linear;

  /** Builds the cnn; throws `ModelError` for bad options. */
  constructor(options: CnnOptions = {}) {
    const common = resolveCommon('cnn', options as Record<string, unknown>, CNN_SCHEMA);
    const channels = options.channels ?? [...CNN_DEFAULT_CHANNELS];
    const pool = options.pool ?? true;
    const config: ModelConfig = { name: 'cnn', ...common, channels: [...channels], pool };
    super(config);
    this.pool = pool;
    const f = new LayerFactory('cnn', common);
    let inC = common.inChannels;
    channels.forEach((c, i) => {
      const outC = f.ch(c);
      const block = new ConvBlock(f.conv(inC, outC, 3, { stride: i === 0 ? 1 : 2 }), f.norm(outC), f.distortion(outC));
      this.registerModule(`block${i + 1}`, block);
      this.blocks.push(block);
      inC = outC;
    });
    this.fc = f.linear(inC, common.numClasses);
  }

  classifier(): Linear {
    return this.fc;
  }

  forward(x: Variable): Variable {
    let y = x;
    this.blocks.forEach((b, i) => {
      y = b.forward(y);
      if (i === 0 && this.pool && y.shape[2]! >= 2 && y.shape[3]! >= 2) y = F.maxPool2d(y, { kernelSize: 2, stride: 2 });
    });
    return this.fc.forward(F.flatten(F.globalAvgPool2d(y), 1));
  }
}

/** `new Cnn(options)`. */
export function cnn(options: CnnOptions = {}): Cnn {
  return new Cnn(options);
}

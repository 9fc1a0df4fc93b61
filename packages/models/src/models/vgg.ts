/**
 * VGG-11, the network of the paper's analysis: five conv-norm-ReLU stages (64, 128, 256×2,
 * 512×2, 512×2 channels) each ending in a 2×2 max-pool, then global average pooling and one
 * linear classifier, as VGG for CIFAR-10 is usually adapted. Options: Dropout after each stage
 * (the authors' regularization study used 0.3) and a distortion module after each norm.
 * A pool whose input is smaller than 2×2 is skipped, so 28×28 inputs work too.
 */
import { F, type Variable } from '@normlab/autograd';
import { type Conv2d, Dropout, type Linear, Module } from '@normlab/nn';
import { z } from 'zod';
import { ClassifierModel, LayerFactory, type ModelConfig, type ModelOptions, modelSchema, resolveCommon } from './common.js';

export interface VggOptions extends ModelOptions {
  /** Dropout probability after each stage (0: none, the default). */
  dropout?: number;
}

export const VGG_SCHEMA = modelSchema({ dropout: z.number().min(0).lt(1).optional() });

const VGG11_STAGES = [[64], [128], [256, 256], [512, 512], [512, 512]];

class VggStage extends Module {
  private readonly convs: Conv2d[] = [];
  private readonly norms: Module[] = [];
  private readonly distortions: Array<Module | null> = [];
  private readonly dropout: Dropout | null;

  constructor(f: LayerFactory, inC: number, channels: number[], dropout: number, dropoutSeed: number) {
    super();
    channels.forEach((c, i) => {
      const outC = f.ch(c);
      const conv = f.conv(inC, outC, 3);
      const norm = f.norm(outC);
      const dist = f.distortion(outC);
      this.registerModule(`conv${i}`, conv);
      this.registerModule(`norm${i}`, norm);
      if (dist) this.registerModule(`distortion${i}`, dist);
      this.convs.push(conv);
      this.norms.push(norm);
      this.distortions.push(dist);
      inC = outC;
    });
    this.dropout = dropout > 0 ? new Dropout(dropout, { seed: dropoutSeed }) : null;
  }

  forward(x: Variable): Variable {
    let y = x;
    for (let i = 0; i < this.convs.length; i++) {
      y = this.norms[i]!.forward(this.convs[i]!.forward(y));
      const d = this.distortions[i];
      if (d) y = d.forward(y);
      y = F.relu(y);
    }
    if (y.shape[2]! >= 2 && y.shape[3]! >= 2) y = F.maxPool2d(y, { kernelSize: 2, stride: 2 });
    return this.dropout ? this.dropout.forward(y) : y;
  }
}

/** VGG-11 for small images: five conv-norm-ReLU stages with max-pools, the classifier. */
export class Vgg11 extends ClassifierModel {
  private readonly stages: VggStage[] = [];
  /** The classifier. */
  readonly fc: Linear;

  /** Builds VGG-11; throws `ModelError` for bad options. */
  constructor(options: VggOptions = {}) {
    const common = resolveCommon('vgg11', options as Record<string, unknown>, VGG_SCHEMA);
    const dropout = options.dropout ?? 0;
    const config: ModelConfig = { name: 'vgg11', ...common, dropout };
    super(config);
    const f = new LayerFactory('vgg11', common);
    let inC = common.inChannels;
    VGG11_STAGES.forEach((channels, s) => {
      const stage = new VggStage(f, inC, channels, dropout, common.seed * 1000 + 500 + s);
      this.registerModule(`stage${s + 1}`, stage);
      this.stages.push(stage);
      inC = f.ch(channels[channels.length - 1]!);
    });
    this.fc = f.linear(inC, common.numClasses);
  }

  classifier(): Linear {
    return this.fc;
  }

  forward(x: Variable): Variable {
    let y = x;
    for (const s of this.stages) y = s.forward(y);
    return this.fc.forward(F.flatten(F.globalAvgPool2d(y), 1));
  }
}

/** `new Vgg11(options)`. */
export function vgg11(options: VggOptions = {}): Vgg11 {
  return new Vgg11(options);
}

/**
 * ResNets. `resnet(depth)`: the CIFAR-style network of He et al. 2016 (§4.2), depth 6n + 2
 * (`resnet8`, `resnet14`, `resnet20`, …): a 3×3 stem of 16 channels, three stages of n basic
 * blocks with 16, 32, 64 channels (stride 2 entering the last two), global average pooling,
 * linear. `resnet18` / `resnet50`: the ImageNet networks adapted to small images as the paper
 * (and most CIFAR code) uses them: a 3×3 stride-1 stem and no max-pool, then stages of basic
 * (18) or bottleneck (50) blocks with 64–512 base channels. Shortcuts that change shape are a
 * 1×1 conv and a norm (option B); the stride sits on the 3×3 conv (ResNet v1.5).
 */
import { F, type Variable } from '@normlab/autograd';
import { type Conv2d, type Linear, Module } from '@normlab/nn';
import { ModelError } from '../errors.js';
import { COMMON_SCHEMA, ClassifierModel, LayerFactory, type ModelConfig, type ModelOptions, resolveCommon, zeroNormWeight } from './common.js';

/** The resnets take the common model options only. */
export type ResNetOptions = ModelOptions;

/** The deepest CIFAR-style ResNet `resnet(depth)` builds (He et al. 2016 trained 1202 layers). */
export const MAX_RESNET_DEPTH = 1202;

class Shortcut extends Module {
  constructor(
    readonly conv: Conv2d,
    readonly norm: Module,
  ) {
    super();
  }
  forward(x: Variable): Variable {
    return this.norm.forward(this.conv.forward(x));
  }
}

/** One conv → norm (→ distortion) unit; the ReLU is applied by the block. */
function convNorm(y: Variable, conv: Conv2d, norm: Module, distortion: Module | null): Variable {
  const z = norm.forward(conv.forward(y));
  return distortion ? distortion.forward(z) : z;
}

abstract class ResidualBlock extends Module {
  abstract readonly outChannels: number;
}

class BasicBlock extends ResidualBlock {
  readonly conv1: Conv2d;
  readonly norm1: Module;
  readonly distortion1: Module | null;
  readonly conv2: Conv2d;
  readonly norm2: Module;
  readonly distortion2: Module | null;
  readonly shortcut: Shortcut | null;
  readonly outChannels: number;

  constructor(f: LayerFactory, inC: number, planes: number, stride: number) {
    super();
    this.outChannels = planes;
    this.conv1 = f.conv(inC, planes, 3, { stride });
    this.norm1 = f.norm(planes);
    this.distortion1 = f.distortion(planes);
    this.conv2 = f.conv(planes, planes, 3);
    this.norm2 = f.norm(planes);
    this.distortion2 = f.distortion(planes);
    this.shortcut = stride !== 1 || inC !== planes ? new Shortcut(f.conv(inC, planes, 1, { stride, padding: 0 }), f.norm(planes)) : null;
    if (f.common.zeroInitResidual) zeroNormWeight(this.norm2);
  }

  forward(x: Variable): Variable {
    const y = F.relu(convNorm(x, this.conv1, this.norm1, this.distortion1));
    const z = convNorm(y, this.conv2, this.norm2, this.distortion2);
    return F.relu(F.add(z, this.shortcut ? this.shortcut.forward(x) : x));
  }
}

class Bottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly norm1: Module;
  readonly distortion1: Module | null;
  readonly conv2: Conv2d;
  readonly norm2: Module;
  readonly distortion2: Module | null;
  readonly conv3: Conv2d;
  readonly norm3: Module;
  readonly distortion3: Module | null;
  readonly shortcut: Shortcut | null;
  readonly outChannels: number;

  constructor(f: LayerFactory, inC: number, planes: number, stride: number) {
    super();
    const out = planes * Bottleneck.expansion;
    this.outChannels = out;
    this.conv1 = f.conv(inC, planes, 1, { padding: 0 });
    this.norm1 = f.norm(planes);
    this.distortion1 = f.distortion(planes);
    this.conv2 = f.conv(planes, planes, 3, { stride });
    this.norm2 = f.norm(planes);
    this.distortion2 = f.distortion(planes);
    this.conv3 = f.conv(planes, out, 1, { padding: 0 });
    this.norm3 = f.norm(out);
    this.distortion3 = f.distortion(out);
    this.shortcut = stride !== 1 || inC !== out ? new Shortcut(f.conv(inC, out, 1, { stride, padding: 0 }), f.norm(out)) : null;
    if (f.common.zeroInitResidual) zeroNormWeight(this.norm3);
  }

  forward(x: Variable): Variable {
    const y1 = F.relu(convNorm(x, this.conv1, this.norm1, this.distortion1));
    const y2 = F.relu(convNorm(y1, this.conv2, this.norm2, this.distortion2));
    const z = convNorm(y2, this.conv3, this.norm3, this.distortion3);
    return F.relu(F.add(z, this.shortcut ? this.shortcut.forward(x) : x));
  }
}

class Stage extends Module {
  private readonly blocks: ResidualBlock[] = [];
  readonly outChannels: number;

  constructor(f: LayerFactory, block: 'basic' | 'bottleneck', inC: number, planes: number, count: number, stride: number) {
    super();
    for (let i = 0; i < count; i++) {
      const b = block === 'basic' ? new BasicBlock(f, inC, planes, i === 0 ? stride : 1) : new Bottleneck(f, inC, planes, i === 0 ? stride : 1);
      this.registerModule(String(i), b);
      this.blocks.push(b);
      inC = b.outChannels;
    }
    this.outChannels = inC;
  }

  forward(x: Variable): Variable {
    let y = x;
    for (const b of this.blocks) y = b.forward(y);
    return y;
  }
}

interface Layout {
  block: 'basic' | 'bottleneck';
  stem: number;
  planes: number[];
  counts: number[];
}

/** The shared body: stem conv-norm-ReLU, stages, global average pool, linear. */
export class ResNet extends ClassifierModel {
  /** The stem conv. */
  readonly conv1: Conv2d;
  /** The stem's norm layer. */
  readonly norm1: Module;
  /** The stem's distortion module, or null when none is configured. */
  readonly distortion1: Module | null;
  private readonly stages: Stage[] = [];
  /** The classifier. */
  readonly fc: Linear;

  /** Use `resnet(depth)`, `resnet18` or `resnet50`; this builds from a named block layout. */
  constructor(name: string, layout: Layout, common: ReturnType<typeof resolveCommon>, extra: Record<string, unknown> = {}) {
    super({ name, ...common, ...extra } as ModelConfig);
    const f = new LayerFactory(name, common);
    const stem = f.ch(layout.stem);
    this.conv1 = f.conv(common.inChannels, stem, 3);
    this.norm1 = f.norm(stem);
    this.distortion1 = f.distortion(stem);
    let inC = stem;
    layout.planes.forEach((p, s) => {
      const stage = new Stage(f, layout.block, inC, f.ch(p), layout.counts[s]!, s === 0 ? 1 : 2);
      this.registerModule(`layer${s + 1}`, stage);
      this.stages.push(stage);
      inC = stage.outChannels;
    });
    this.fc = f.linear(inC, common.numClasses);
  }

  classifier(): Linear {
    return this.fc;
  }

  forward(x: Variable): Variable {
    let y = F.relu(convNorm(x, this.conv1, this.norm1, this.distortion1));
    for (const s of this.stages) y = s.forward(y);
    return this.fc.forward(F.flatten(F.globalAvgPool2d(y), 1));
  }
}

/** The CIFAR-style ResNet of depth 6n + 2. */
export function resnet(depth: number, options: ResNetOptions = {}): ResNet {
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0 || depth > MAX_RESNET_DEPTH) {
    throw new ModelError('resnet', `CIFAR-style depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, …) and at most ${MAX_RESNET_DEPTH}, got ${String(depth)}`);
  }
  const n = (depth - 2) / 6;
  const common = resolveCommon(`resnet${depth}`, options as Record<string, unknown>, COMMON_SCHEMA);
  return new ResNet(`resnet${depth}`, { block: 'basic', stem: 16, planes: [16, 32, 64], counts: [n, n, n] }, common);
}

/** `resnet(8, options)`. */
export const resnet8 = (options: ResNetOptions = {}): ResNet => resnet(8, options);
/** `resnet(14, options)`. */
export const resnet14 = (options: ResNetOptions = {}): ResNet => resnet(14, options);
/** `resnet(20, options)`. */
export const resnet20 = (options: ResNetOptions = {}): ResNet => resnet(20, options);

/** ResNet-18 adapted to small images (3×3 stride-1 stem, no max-pool). */
export function resnet18(options: ResNetOptions = {}): ResNet {
  const common = resolveCommon('resnet18', options as Record<string, unknown>, COMMON_SCHEMA);
  return new ResNet('resnet18', { block: 'basic', stem: 64, planes: [64, 128, 256, 512], counts: [2, 2, 2, 2] }, common);
}

/** ResNet-50 adapted to small images (3×3 stride-1 stem, no max-pool), bottleneck blocks. */
export function resnet50(options: ResNetOptions = {}): ResNet {
  const common = resolveCommon('resnet50', options as Record<string, unknown>, COMMON_SCHEMA);
  return new ResNet('resnet50', { block: 'bottleneck', stem: 64, planes: [64, 128, 256, 512], counts: [3, 4, 6, 3] }, common);
}

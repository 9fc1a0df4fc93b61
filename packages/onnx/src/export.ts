/**
 * `exportOnnx(model, options)`: a normlab model in eval mode as an ONNX model with a dynamic
 * batch axis.
 *
 * The export traces: it runs the model once in eval mode on a random example batch and reads the
 * autograd graph of that run, where every op records its inputs and arguments (`Variable.op`,
 * `parents`, `attrs`). Two kinds of nodes are translated:
 *
 * - the normalization layers, intercepted at the module level during the trace (their forward is
 *   one fused op whose meaning depends on the layer's state): see `norms.ts`;
 * - the ops between modules and inside the plain layers (conv2d, linear, relu, add, pooling,
 *   reshape/flatten, …), one ONNX node each.
 *
 * Whatever does not depend on the input is folded into an initializer with the value it had in
 * the trace: parameters, the standardized weight of a weight-standardized conv, a reshaped γ.
 * Dropout and the distortion modules are the identity in eval and leave no node. What the export
 * cannot express with a fixed graph is refused with an `OnnxExportError` that says why: GN+ (no
 * fixed statistics), an op that mixes the batch axis, an op it has no translation for.
 *
 * The example's spatial size is fixed in the graph (the models' forward may branch on it, e.g. a
 * pool skipped below 2×2); the batch axis is symbolic (`batch`).
 */
import { createRequire } from 'node:module';
import { Variable, isGradEnabled } from '@normlab/autograd';
import type { ModelConfig } from '@normlab/models';
import { writeFileAtomic } from '@normlab/models';
import { Module } from '@normlab/nn';
import { isNormLayer } from '@normlab/norm-layers';
import { type Shape, fmtShape, randn } from '@normlab/tensor';
import { OnnxExportError } from './errors.js';
import { type NormlabOnnxMetadata, metadataProps } from './metadata.js';
import { GROUP_NORM_OPS, type GroupNormOp, emitNorm, exportRefusal } from './norms.js';
import { type Attr, GraphBuilder, encodeModel, valueInfo } from './proto.js';

/** The name of the graph's one input, (batch, …inputShape) float32. */
export const INPUT_NAME = 'input';
/** The name of the graph's one output, the logits (batch, classes) float32. */
export const OUTPUT_NAME = 'output';
/** The symbolic name of the batch axis of the input and the output. */
export const BATCH_DIM = 'batch';
/** The batch size the model is traced with (any size > 1 works: it is only checked to stay axis 0). */
const TRACE_BATCH = 2;

const PACKAGE_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Options of `exportOnnx`. */
export interface OnnxExportOptions {
  /**
   * One example's shape, without the batch axis: (C, H, W) for images. Default: from the
   * model's config, `[inChannels, imageSize, imageSize]`.
   */
  inputShape?: readonly number[];
  /** The dataset the model was trained on, recorded in the metadata (`normlab.dataset`). */
  dataset?: string;
  /** The per-channel standardization its inputs need, in [0, 1] units (`normlab.normalization`). */
  normalization?: {
    /** Per-channel mean, one entry per input channel. */
    mean: readonly number[];
    /** Per-channel standard deviation, one entry per input channel (> 0). */
    std: readonly number[];
  };
  /** Seed of the random example batch the model is traced with (its values do not matter). */
  seed?: number;
  /**
   * The op GroupNorm and HybridNorm are written with (`GROUP_NORM_OPS`). `'GroupNormalization'`
   * (default): the standard op, one node. `'LayerNormalization'`: Reshape (N, G, C/G·H·W) →
   * LayerNormalization over the last axis → Reshape back → Mul, Add per channel, the same
   * function in ops onnxruntime computes accurately; onnxruntime 1.30's GroupNormalization loses
   * the variance (NaN at mean/std = 10⁴) when a group's mean is large against its spread.
   */
  groupNorm?: GroupNormOp;
}

/** The ops between modules that have an ONNX translation. */
export const SUPPORTED_OPS = [
  'add', 'sub', 'mul', 'div', 'neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'clamp',
  'maximum', 'minimum', 'reshape', 'flatten', 'squeeze', 'unsqueeze', 'linear', 'conv2d', 'maxPool2d',
  'avgPool2d', 'globalAvgPool2d', 'concat', 'softmax', 'logSoftmax',
] as const;

const ELEMENTWISE: Record<string, string> = {
  add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', maximum: 'Max', minimum: 'Min',
};
const UNARY: Record<string, string> = {
  neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', abs: 'Abs', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh',
};

/** A norm layer's call recorded during the trace: its output stands for the layer. */
interface NormCall {
  module: Module;
  path: string;
  input: Variable;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [(v as number[])[0]!, (v as number[])[1]!];
}

function positiveShape(shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new OnnxExportError(`inputShape must be a non-empty array of positive integers (one example's shape, e.g. [1, 28, 28]), got ${JSON.stringify(shape)}`);
  }
  return [...shape];
}

/** One example's shape from the options or the model's config. */
function resolveInputShape(model: Module, options: OnnxExportOptions): number[] {
  if (options.inputShape !== undefined) return positiveShape(options.inputShape);
  const config = (model as { config?: ModelConfig }).config;
  if (config?.inChannels !== undefined && config.imageSize !== undefined) return [config.inChannels, config.imageSize, config.imageSize];
  throw new OnnxExportError(
    `give inputShape (one example's shape, e.g. [1, 28, 28]): the model's config does not record ${config ? 'its imageSize' : 'an input shape'}`,
  );
}

/** Every reason the model cannot be exported, checked before tracing. */
function checkExportable(model: Module): void {
  for (const [path, m] of model.namedModules()) {
    const refusal = exportRefusal(m, path);
    if (refusal) throw new OnnxExportError(refusal);
  }
  for (const [name, p] of model.namedParameters()) {
    if (p.dtype !== 'float32') throw new OnnxExportError(`parameter ${name} is ${p.dtype}: the export writes float32 models`);
  }
}

/**
 * Run the model in eval mode on `input`, with each normalization layer's output replaced by a
 * fresh leaf standing for the layer. Restores every module's mode and forward afterwards.
 */
function trace(model: Module, input: Variable): { output: unknown; calls: Map<Variable, NormCall> } {
  const calls = new Map<Variable, NormCall>();
  const modes = model.modules().map((m) => [m, m.training] as const);
  const patched: Module[] = [];
  try {
    model.eval();
    for (const [path, m] of model.namedModules()) {
      if (!isNormLayer(m) || Object.prototype.hasOwnProperty.call(m, 'forward')) continue;
      const forward = m.forward.bind(m);
      m.forward = (x: Variable): Variable => {
        const y = forward(x) as Variable;
        const leaf = new Variable(y.data, { requiresGrad: true });
        calls.set(leaf, { module: m, path, input: x });
        return leaf;
      };
      patched.push(m);
    }
    return { output: model.forward(input), calls };
  } finally {
    for (const m of patched) delete (m as { forward?: unknown }).forward;
    for (const [m, training] of modes) m.training = training;
  }
}

/** The graph's nodes reachable from `output`, inputs before the nodes that use them. */
function postOrder(output: Variable, calls: Map<Variable, NormCall>): Variable[] {
  const inputsOf = (v: Variable): readonly Variable[] => {
    const call = calls.get(v);
    return call ? [call.input] : v.parents;
  };
  const order: Variable[] = [];
  const seen = new Set<Variable>([output]);
  const stack: Array<[Variable, number]> = [[output, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const ins = inputsOf(top[0]);
    if (top[1] < ins.length) {
      const p = ins[top[1]++]!;
      if (!seen.has(p)) {
        seen.add(p);
        stack.push([p, 0]);
      }
    } else {
      stack.pop();
      order.push(top[0]);
    }
  }
  return order;
}

/** Translates the traced graph node by node. */
class Translator {
  readonly g = new GraphBuilder();
  private readonly names = new Map<Variable, string>();
  private readonly dependsOnInput = new Map<Variable, boolean>();
  private readonly paramNames: Map<Variable, string>;
  private constants = 0;

  constructor(
    model: Module,
    private readonly input: Variable,
    private readonly calls: Map<Variable, NormCall>,
    private readonly groupNormOp: GroupNormOp,
  ) {
    this.paramNames = new Map(model.namedParameters().map(([name, p]) => [p as Variable, name]));
    this.names.set(input, this.g.name(INPUT_NAME));
    this.g.name(OUTPUT_NAME); // reserved for the graph's output
  }

  run(output: Variable): string {
    for (const v of postOrder(output, this.calls)) {
      const call = this.calls.get(v);
      const deps = v === this.input || (call ? this.dependsOnInput.get(call.input)! : v.parents.some((p) => this.dependsOnInput.get(p)));
      this.dependsOnInput.set(v, deps);
      if (!deps || v === this.input) continue;
      const name = call ? emitNorm(this.g, call.module, call.path, this.nameOf(call.input), call.input.shape, this.groupNormOp) : this.emitOp(v);
      this.names.set(v, name);
    }
    if (!this.dependsOnInput.get(output)) throw new OnnxExportError("the model's output does not depend on its input");
    return this.nameOf(output);
  }

  /** The value's name; a value that does not depend on the input becomes an initializer. */
  private nameOf(v: Variable): string {
    const known = this.names.get(v);
    if (known !== undefined) return known;
    const param = this.paramNames.get(v);
    const name = this.g.float(param ?? `const_${++this.constants}`, v.shape, v.data.contiguous().data);
    this.names.set(v, name);
    return name;
  }

  /** A scalar float32 initializer (a number operand). */
  private scalar(value: number): string {
    return this.g.float(`const_${++this.constants}`, [], [value]);
  }

  /** Input names of an elementwise op: Variables, and the number operand recorded as `a` or `b`. */
  private operands(v: Variable): string[] {
    const attrs = v.attrs as { a?: number; b?: number };
    for (const p of v.parents) {
      if (this.dependsOnInput.get(p) || p.data.rank < v.data.rank || p.shape[0] === 1) continue;
      throw new OnnxExportError(
        `${v.op}: a constant of shape ${fmtShape(p.shape)} meets the batch axis of a value of shape ${fmtShape(v.shape)}; ` +
          'the export needs constants that broadcast over the batch (size 1 or no batch axis)',
      );
    }
    const vars = v.parents.map((p) => this.nameOf(p));
    if (attrs.a !== undefined) return [this.scalar(attrs.a), ...vars];
    if (attrs.b !== undefined) return [...vars, this.scalar(attrs.b)];
    return vars;
  }

  /** An axis of `v`'s input that must not be the batch axis (0); normalized. */
  private nonBatchAxis(v: Variable, axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (a === 0) throw new OnnxExportError(`${v.op} along the batch axis cannot be exported: the batch axis is dynamic and each sample independent`);
    return a;
  }

  private emitOp(v: Variable): string {
    const op = v.op;
    const hint = op;
    const x = v.parents[0]!;
    if (op in ELEMENTWISE) return this.g.node(ELEMENTWISE[op]!, this.operands(v), {}, hint);
    if (op in UNARY) return this.g.node(UNARY[op]!, [this.nameOf(x)], {}, hint);
    switch (op) {
      case 'clamp': {
        const { min, max } = v.attrs as { min?: number; max?: number };
        const inputs = [this.nameOf(x), min === undefined ? '' : this.scalar(min)];
        if (max !== undefined) inputs.push(this.scalar(max));
        return this.g.node('Clip', inputs, {}, hint);
      }
      case 'reshape':
      case 'flatten':
      case 'squeeze':
      case 'unsqueeze': {
        // Row-major reshapes that keep dim 0 move values within each sample only; 0 in the target copies the batch size.
        if (x.data.rank === 0 || v.data.rank === 0 || x.shape[0] !== v.shape[0]) {
          throw new OnnxExportError(`${op} from ${fmtShape(x.shape)} to ${fmtShape(v.shape)} changes the batch axis (dim 0); the export keeps each sample on its own`);
        }
        return this.g.node('Reshape', [this.nameOf(x), this.g.int64(`${hint}.shape`, [0, ...v.shape.slice(1)])], {}, hint);
      }
      case 'linear': {
        const [, w, b] = v.parents as [Variable, Variable, Variable?];
        if (x.data.rank === 2) {
          const inputs = [this.nameOf(x), this.nameOf(w), ...(b ? [this.nameOf(b)] : [])];
          return this.g.node('Gemm', inputs, { transB: { i: 1 } }, hint);
        }
        const wt = this.g.node('Transpose', [this.nameOf(w)], { perm: { ints: [1, 0] } }, `${hint}.weight_t`);
        const y = this.g.node('MatMul', [this.nameOf(x), wt], {}, `${hint}.matmul`);
        return b ? this.g.node('Add', [y, this.nameOf(b)], {}, hint) : y;
      }
      case 'conv2d': {
        const [, w, b] = v.parents as [Variable, Variable, Variable?];
        const o = v.attrs as { stride?: unknown; padding?: unknown; dilation?: unknown; groups?: number };
        const [ph, pw] = pair(o.padding, 0);
        const attrs: Record<string, Attr> = {
          kernel_shape: { ints: w.shape.slice(2) },
          strides: { ints: pair(o.stride, 1) },
          pads: { ints: [ph, pw, ph, pw] },
          dilations: { ints: pair(o.dilation, 1) },
          group: { i: o.groups ?? 1 },
        };
        return this.g.node('Conv', [this.nameOf(x), this.nameOf(w), ...(b ? [this.nameOf(b)] : [])], attrs, hint);
      }
      case 'maxPool2d':
      case 'avgPool2d': {
        const o = v.attrs as { kernelSize: unknown; stride?: unknown; padding?: unknown; countIncludePad?: boolean };
        const kernel = pair(o.kernelSize, 1);
        const stride = o.stride === undefined ? kernel : pair(o.stride, 1);
        const [ph, pw] = pair(o.padding, 0);
        const attrs: Record<string, Attr> = { kernel_shape: { ints: kernel }, strides: { ints: stride }, pads: { ints: [ph, pw, ph, pw] } };
        if (op === 'avgPool2d') attrs.count_include_pad = { i: o.countIncludePad === false ? 0 : 1 };
        return this.g.node(op === 'maxPool2d' ? 'MaxPool' : 'AveragePool', [this.nameOf(x)], attrs, hint);
      }
      case 'globalAvgPool2d':
        if (x.data.rank !== 4) throw new OnnxExportError(`globalAvgPool2d of a rank-${x.data.rank} value cannot be exported (expected (N, C, H, W))`);
        return this.g.node('GlobalAveragePool', [this.nameOf(x)], {}, hint);
      case 'concat': {
        for (const p of v.parents) {
          if (!this.dependsOnInput.get(p)) throw new OnnxExportError(`concat of a constant of shape ${fmtShape(p.shape)} would fix the batch size`);
        }
        const axis = this.nonBatchAxis(v, (v.attrs as { axis: number }).axis, v.data.rank);
        return this.g.node('Concat', v.parents.map((p) => this.nameOf(p)), { axis: { i: axis } }, hint);
      }
      case 'softmax':
      case 'logSoftmax': {
        const axis = this.nonBatchAxis(v, (v.attrs as { axis: number }).axis, x.data.rank);
        return this.g.node(op === 'softmax' ? 'Softmax' : 'LogSoftmax', [this.nameOf(x)], { axis: { i: axis } }, hint);
      }
      case 'dropout':
        throw new OnnxExportError('dropout in training mode (F.dropout with training: true) is random and has no ONNX inference form');
      default:
        throw new OnnxExportError(`op '${op}' has no ONNX translation (the export supports norm layers and ${SUPPORTED_OPS.join(', ')})`);
    }
  }
}

/**
 * The ONNX model (serialized `ModelProto`, opset 21) of `model` in eval mode: input `input`
 * (batch, ...inputShape) float32, output `output`, batch axis dynamic. The model's modes are
 * left as they were.
 */
export function exportOnnx(model: Module, options: OnnxExportOptions = {}): Uint8Array {
  if (!(model instanceof Module)) throw new OnnxExportError(`model must be a Module, got ${model === null ? 'null' : typeof model}`);
  if (!isGradEnabled()) throw new OnnxExportError('the export traces the autograd graph: call it outside noGrad()');
  const inputShape = resolveInputShape(model, options);
  const groupNormOp = options.groupNorm ?? 'GroupNormalization';
  if (!GROUP_NORM_OPS.includes(groupNormOp)) {
    throw new OnnxExportError(`groupNorm must be one of ${GROUP_NORM_OPS.join(', ')}, got ${JSON.stringify(options.groupNorm)}`);
  }
  checkExportable(model);
  const input = new Variable(randn([TRACE_BATCH, ...inputShape], { seed: options.seed ?? 0 }), { requiresGrad: true });
  const { output, calls } = trace(model, input);
  if (!(output instanceof Variable)) throw new OnnxExportError(`the model's forward must return one Variable, got ${output === null ? 'null' : typeof output}`);
  if (output.shape[0] !== TRACE_BATCH) {
    throw new OnnxExportError(`the output's first axis must be the batch axis: a batch of ${TRACE_BATCH} gave an output of shape ${fmtShape(output.shape)}`);
  }
  const t = new Translator(model, input, calls, groupNormOp);
  // The graph's output is named OUTPUT_NAME whichever node produced it.
  t.g.node('Identity', [t.run(output)], {}, OUTPUT_NAME, { exact: true });
  const config = (model as { config?: ModelConfig }).config;
  const metadata: NormlabOnnxMetadata = {
    inputShape,
    ...(config ? { config } : {}),
    ...(options.dataset !== undefined ? { dataset: options.dataset } : {}),
    ...(options.normalization ? { normalization: { mean: [...options.normalization.mean], std: [...options.normalization.std] } } : {}),
  };
  return encodeModel(t.g, {
    graphName: config?.name ?? model.constructor.name,
    inputs: [valueInfo(INPUT_NAME, [BATCH_DIM, ...inputShape])],
    outputs: [valueInfo(OUTPUT_NAME, [BATCH_DIM, ...(output.shape as Shape).slice(1)])],
    metadata: metadataProps(metadata),
    docString:
      `${config?.name ?? model.constructor.name} exported by normlab in eval mode. Input: float32 (batch, ${inputShape.join(', ')})` +
      (metadata.normalization ? ', images in [0, 1] standardized per channel with normlab.normalization' : '') +
      `; output: (batch, ${(output.shape as Shape).slice(1).join(', ')}).`,
    producerVersion: PACKAGE_VERSION,
  });
}

/** `exportOnnx` written to `path` (atomically: a crash leaves the old file or none). */
export function saveOnnx(path: string, model: Module, options: OnnxExportOptions = {}): void {
  writeFileAtomic(path, exportOnnx(model, options));
}

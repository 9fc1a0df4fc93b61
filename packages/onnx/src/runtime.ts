/**
 * Running an ONNX model in onnxruntime (`onnxruntime-node`, CPU). The runtime is an optional
 * peer dependency: it is loaded on first use, and its absence is one clear error saying how to
 * install it. Exporting never needs it.
 */
import { F, Variable, noGrad } from '@normlab/autograd';
import type { Evaluation } from '@normlab/models';
import { Tensor, fmtShape } from '@normlab/tensor';
import { OnnxRuntimeError } from './errors.js';
import { readOnnxFile } from './metadata.js';

/** The parts of onnxruntime's API used here (typed locally: the package is optional). */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions: { node?: string; common?: string } };
}

const RUNTIME = 'onnxruntime-node';
let runtime: Promise<OrtModule> | null = null;

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** Import the runtime package `specifier`; `OnnxRuntimeError` with the install command when absent. */
export async function importRuntime(specifier: string): Promise<OrtModule> {
  try {
    // A specifier in a variable: TypeScript and bundlers leave the optional import alone.
    const mod = (await import(specifier)) as OrtModule & { default?: OrtModule };
    return mod.InferenceSession ? mod : mod.default!;
  } catch (e) {
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && firstLine(e).includes(specifier);
    throw new OnnxRuntimeError(
      'onnxruntime',
      missing
        ? `${specifier} is not installed; running ONNX models needs it: npm install ${specifier}@^1.30 (exporting does not)`
        : `${specifier} could not be loaded: ${firstLine(e)}`,
    );
  }
}

/** onnxruntime-node, imported once (`importRuntime`). */
export function loadOnnxRuntime(): Promise<OrtModule> {
  runtime ??= importRuntime(RUNTIME);
  runtime.catch(() => {
    runtime = null; // let a later call try again (after an install)
  });
  return runtime;
}

/** Options of `OnnxModel.load`. */
export interface OnnxModelOptions {
  /** onnxruntime's intra-op threads (default: its own choice, the physical cores). */
  threads?: number;
}

/** An ONNX model with one input and one float32 output, in an onnxruntime CPU session. */
export class OnnxModel {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    /** What the model was loaded from (a path, or "the ONNX model"), for messages. */
    readonly source: string,
  ) {}

  /** Load a model from bytes or a file path; `OnnxRuntimeError` if onnxruntime refuses it. */
  static async load(model: Uint8Array | string, options: OnnxModelOptions = {}): Promise<OnnxModel> {
    const source = typeof model === 'string' ? model : 'the ONNX model';
    const bytes = typeof model === 'string' ? readOnnxFile('onnxruntime', model) : model;
    const ort = await loadOnnxRuntime();
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        logSeverityLevel: 3,
        ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
      });
    } catch (e) {
      throw new OnnxRuntimeError('onnxruntime', `${source}: onnxruntime cannot load it: ${firstLine(e)}`);
    }
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      await session.release();
      throw new OnnxRuntimeError('onnxruntime', `${source}: expected one input and one output, got ${session.inputNames.length} and ${session.outputNames.length}`);
    }
    return new OnnxModel(ort, session, source);
  }

  /** onnxruntime's version. */
  get runtimeVersion(): string {
    return this.ort.env.versions.node ?? this.ort.env.versions.common ?? 'unknown';
  }

  /** The model's output for a float32 batch `x`. */
  async run(x: Tensor): Promise<Tensor> {
    if (!(x instanceof Tensor) || x.dtype !== 'float32') {
      throw new OnnxRuntimeError('onnxruntime', `input must be a float32 Tensor, got ${x instanceof Tensor ? x.dtype : typeof x}`);
    }
    const feed = new this.ort.Tensor('float32', x.contiguous().data as Float32Array, x.shape); // contiguous: offset 0, exactly x.size values
    let out: OrtTensor;
    try {
      out = (await this.session.run({ [this.session.inputNames[0]!]: feed }))[this.session.outputNames[0]!]!;
    } catch (e) {
      throw new OnnxRuntimeError('onnxruntime', `${this.source}: running a batch of shape ${fmtShape(x.shape)} failed: ${firstLine(e)}`);
    }
    if (out.type !== 'float32') throw new OnnxRuntimeError('onnxruntime', `${this.source}: expected a float32 output, got ${out.type}`);
    return new Tensor(Float32Array.from(out.data as Float32Array), out.dims.map(Number));
  }

  /** Free the session. */
  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Test loss (mean cross-entropy) and accuracy of a classifier over `batches`, as
 * `@normlab/models`' `evaluate` computes them for a normlab model.
 */
export async function evaluateOnnx(
  model: OnnxModel,
  batches: Iterable<{ images: Tensor; labels: Int32Array }>,
): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for (const batch of batches) {
    const logits = await model.run(batch.images);
    if (logits.rank !== 2 || logits.shape[0] !== batch.labels.length) {
      throw new OnnxRuntimeError('evaluateOnnx', `${model.source}: expected logits (${batch.labels.length}, classes), got ${fmtShape(logits.shape)}`);
    }
    lossSum += noGrad(() => F.crossEntropy(new Variable(logits), batch.labels, { reduction: 'sum' }).item());
    const [rows, classes] = logits.shape as [number, number];
    const d = logits.data;
    for (let i = 0; i < rows; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (d[i * classes + k]! > d[i * classes + best]!) best = k;
      if (best === batch.labels[i]) correct++;
    }
    n += rows;
  }
  if (n === 0) throw new OnnxRuntimeError('evaluateOnnx', 'the batches held no examples');
  return { loss: lossSum / n, accuracy: correct / n, n };
}

/** Errors of `@normlab/onnx`: each names what could not be exported, read or run, and why. */
import { TensorError } from '@normlab/tensor';

/** A model (or a layer, an op, an option) that cannot be written as an ONNX graph. */
export class OnnxExportError extends TensorError {
  /** The error's `op` is `exportOnnx`; `message` names what cannot be exported and why. */
  constructor(message: string) {
    super('exportOnnx', message);
    this.name = 'OnnxExportError';
  }
}

/** An ONNX file that cannot be read, or a runtime that is missing or refuses the model. */
export class OnnxRuntimeError extends TensorError {
  /** `op` names the function that failed (`loadOnnx`, `OnnxModel.run`, …); the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'OnnxRuntimeError';
  }
}

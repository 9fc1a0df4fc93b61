import { TensorError } from '@normlab/tensor';

/**
 * A bad argument or input to a normalization layer. `op` is the layer's name (`GroupNorm`,
 * `BatchNorm2d`, …) and the message gives what was expected and what was got.
 */
export class NormLayerError extends TensorError {
  /** `op` names the layer or function that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'NormLayerError';
  }
}

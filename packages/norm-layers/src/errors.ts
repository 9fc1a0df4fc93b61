import { TensorError } from '@normlab/tensor';

/**
 * A bad argument or input to a normalization layer. `op` is the layer's name (`GroupNorm`,
 * `BatchNorm2d`, …) and the message gives what was expected and what was got.
 */
export class NormLayerError extends TensorError {
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'NormLayerError';
  }
}

/**
 * Errors thrown by tensor operations. Every message names the op, what it expected and what it
 * got, e.g. `add: shapes [2,3] and [4] cannot be broadcast`.
 */
export class TensorError extends Error {
  /** The op that raised the error, e.g. `matmul`. */
  readonly op: string;
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'TensorError';
    this.op = op;
  }
}

/** A shape that does not fit the op (mismatch, broadcast failure, wrong rank). */
export class ShapeError extends TensorError {
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'ShapeError';
  }
}

/** A dtype the op does not accept, or two operands whose dtypes differ. */
export class DTypeError extends TensorError {
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'DTypeError';
  }
}

/** An axis out of range or repeated. */
export class AxisError extends TensorError {
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'AxisError';
  }
}

/** Format a shape as `[2,3,4]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Errors of `@normlab/models`: each names the model, loop or file and the offending value. */
import { TensorError } from '@normlab/tensor';

/** A model config or option that cannot build a model (unknown name, bad width, bad groups). */
export class ModelError extends TensorError {
  /** `op` names the model or function (`resnet`, `buildModel`); the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'ModelError';
  }
}

/** Training could not go on: a non-finite loss, bad options, a resume that does not fit. */
export class TrainingError extends TensorError {
  /** `op` names the function that failed (`train`, `MetricsWriter`); the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'TrainingError';
  }
}

/** A checkpoint file that is missing, truncated, corrupt or of the wrong format. */
export class CheckpointError extends TensorError {
  /** The file the error is about. */
  readonly path: string;
  /** The message reads `checkpoint: path: message`. */
  constructor(path: string, message: string) {
    super('checkpoint', `${path}: ${message}`);
    this.name = 'CheckpointError';
    this.path = path;
  }
}

/**
 * A file or folder that cannot be created, written or read, or a file read back whose contents
 * are not what normlab wrote (a metrics line of the wrong shape). Names the function, the file
 * (and line) and why.
 */
export class FileError extends TensorError {
  /** The file or folder the error is about. */
  readonly path: string;
  /** `op` names the function that failed; `path` the file; the message reads `op: message`. */
  constructor(op: string, path: string, message: string) {
    super(op, message);
    this.name = 'FileError';
    this.path = path;
  }
}

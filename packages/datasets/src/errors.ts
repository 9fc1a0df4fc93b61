import { TensorError } from '@normlab/tensor';

/**
 * A dataset file that is missing, corrupt, truncated or of the wrong kind, or a dataset/loader
 * argument that does not fit. The message names the operation, the file (when there is one) and
 * what is wrong, e.g. `readIdx: /data/x.idx: header claims 60000×28×28 uint8 = 47040000 data bytes,
 * file has 1000`.
 */
export class DatasetError extends TensorError {
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;
  /** `op` names the operation; with `file`, the message reads `op: file: message`. */
  constructor(op: string, message: string, file?: string) {
    super(op, file === undefined ? message : `${file}: ${message}`);
    this.name = 'DatasetError';
    this.file = file;
  }
}

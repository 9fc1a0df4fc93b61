import { TensorError } from '@normlab/tensor';

/**
 * Bad input to an analysis function, the runner or the report: names the function, what it
 * expected and what it got (`lossBand: runs have lengths 10 and 12; expected equal lengths`).
 */
export class AnalysisError extends TensorError {
  /** `op`: the function that rejected its input; `message`: what was wrong and what was expected. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'AnalysisError';
  }
}

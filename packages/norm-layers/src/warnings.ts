/**
 * Where this package's warnings go. Today there is one kind: a training batch whose statistics
 * were not folded into a layer's running statistics (`docs/norm-layers.md`, "Running statistics
 * under non-finite and huge inputs"). Each reason is warned once, so a 10-hour run that meets a
 * bad batch every few minutes logs one line; the layers count every occurrence
 * (`skippedStatisticsUpdates`).
 */
import { NormLayerError } from './errors.js';

let warn: (message: string) => void = (m) => console.warn(m);
const warned = new Set<string>();

/**
 * Replace the warning sink (`undefined` restores `console.warn`), as `@normlab/gpu`'s
 * `setWarningHandler`: a training loop or CLI routes the line to its log, a test captures it.
 * A new handler starts afresh: each reason is warned once more, to it.
 */
export function setWarningHandler(handler: ((message: string) => void) | undefined): void {
  if (handler !== undefined && typeof handler !== 'function') {
    throw new NormLayerError('setWarningHandler', `handler must be a function or undefined, got ${handler === null ? 'null' : typeof handler}`);
  }
  warn = handler ?? ((m) => console.warn(m));
  warned.clear();
}

/** Send `message` unless a warning with the same `reason` was sent to the current handler. */
export function warnOnce(reason: string, message: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  warn(`normlab norm-layers: ${message}`);
}

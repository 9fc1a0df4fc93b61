/**
 * normlab's warnings: one channel that every package writes to (the cpu kernels' threads here, a
 * backend's fallbacks to cpu, a norm layer's skipped running-statistics update) and that an
 * application points where it wants with one call — a CLI to its progress output or nowhere
 * (`--quiet`), a test to an array. The default is `console.warn`.
 *
 * Things that can happen on every step are warned once per reason (`warnOnce`), so a 10-hour run
 * that meets a bad batch every few minutes logs one line; what was skipped or changed is counted
 * or recorded where it happened (`skippedStatisticsUpdates`, `fallbackLog()`).
 */
import { TensorError } from './errors.js';

/** Receives each warning message (without a trailing newline). */
export type WarningHandler = (message: string) => void;

const consoleWarn: WarningHandler = (message) => console.warn(message);
let handler: WarningHandler = consoleWarn;
const warned = new Set<string>();

/**
 * Send every later warning of every normlab package to `fn` (`undefined` restores `console.warn`).
 * A new handler starts afresh: each reason `warnOnce` has seen is warned once more, to it.
 */
export function setWarningHandler(fn: WarningHandler | undefined): void {
  if (fn !== undefined && typeof fn !== 'function') {
    throw new TensorError('setWarningHandler', `handler must be a function or undefined, got ${fn === null ? 'null' : typeof fn}`);
  }
  handler = fn ?? consoleWarn;
  warned.clear();
}

/** Send `message` to the warning handler. */
export function warn(message: string): void {
  handler(message);
}

/** Send `message` unless a warning with the same `reason` was sent to the current handler. */
export function warnOnce(reason: string, message: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  handler(message);
}

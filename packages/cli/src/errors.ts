/**
 * Error handling of the `normlab` command: a user error (a bad flag, an unknown norm or model, a
 * missing dataset, a corrupt checkpoint) is one line on stderr and exit code 2, never a stack
 * trace; anything else is an internal error, one line and exit code 1 (the stack with
 * NORMLAB_DEBUG=1).
 */
import { CommanderError } from 'commander';
import { TensorError } from '@normlab/tensor';

/** A problem with what the user asked for. */
export class CliError extends Error {
  /** `message` says what was wrong, as the user should read it after `normlab: error: `. */
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

const USER_FS_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EEXIST', 'EPERM', 'ENOSPC', 'EROFS']);

/**
 * A failed file-system call on a path: the paths normlab touches are the user's (--out, --run,
 * --results, --data-dir), so whatever the code (ENAMETOOLONG, ELOOP, EXDEV, …) it is their error.
 */
function isPathError(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | null;
  return typeof err?.code === 'string' && typeof err.syscall === 'string' && typeof err.path === 'string';
}

/** Whether `e` is the user's doing (exit 2) rather than a bug (exit 1). */
export function isUserError(e: unknown): boolean {
  if (e instanceof CliError || e instanceof CommanderError || e instanceof TensorError) return true;
  // Errors of other packages that derive from TensorError in a different copy, by name.
  if (e instanceof Error && /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError' && e.name !== 'RangeError' && e.name !== 'ReferenceError' && e.name !== 'SyntaxError') {
    return 'op' in e;
  }
  if (isPathError(e)) return true;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && USER_FS_CODES.has(code);
}

/** The message on one line: `normlab: error: …`. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** How the CLI reports `e`: a user error or an internal one (a bug), on one line. */
export function formatError(e: unknown): {
  /** `normlab: error: …` for a user error, `normlab: internal error: …` otherwise. */
  line: string;
  /** 2 for a user error, 1 for an internal one. */
  exitCode: number;
} {
  const msg = e instanceof Error ? e.message : String(e);
  if (isUserError(e)) return { line: `normlab: error: ${oneLine(msg.replace(/^error:\s*/, ''))}`, exitCode: 2 };
  return { line: `normlab: internal error: ${oneLine(msg)} (run with NORMLAB_DEBUG=1 for the stack trace)`, exitCode: 1 };
}

/**
 * The files and folders normlab writes — checkpoints, metrics, summaries, run records, reports,
 * benchmark results — and the JSON-lines files it reads back. One implementation of each, here in
 * the lowest package that writes files; `@normlab/analysis`, the CLI and the benchmarks use it.
 *
 * - Folders are created by `ensureDir`, which walks up the path itself: Node's
 *   `mkdirSync(dir, {recursive: true})` retries for ever where mkdir fails with ENOENT under a
 *   parent that exists (/proc, some FUSE mounts).
 * - Whole files are written by `writeFileAtomic`: to a temporary sibling named after the writer
 *   (`<file>.<pid>.<host>.normlab.tmp`), fsync'ed, renamed over the target, then the folder
 *   fsync'ed. A reader sees the old file or the new one, never part of one; a crash leaves at most
 *   a temporary file, which the next write into the folder removes (`removeStaleTemps`).
 * - JSON-lines files are read as bytes (`readJsonl`): lines are found by their newline bytes and
 *   each is decoded on its own with a fatal UTF-8 decoder, so an invalid byte is an error naming
 *   its line (decoding the whole file first would turn it into U+FFFD, or shift every offset after
 *   it). A partial last line (a crash mid-append) is dropped and reported.
 *
 * Every failure is a `FileError` naming the function, the file (and line) and why.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileError } from './errors.js';

/** Why a file-system call failed, short: `ENAMETOOLONG: a name in the path is too long`. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or folder',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'it is a folder',
    ENAMETOOLONG: 'a name in the path is too long',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EEXIST: 'a file of that name exists',
    ELOOP: 'too many symbolic links in the path',
  };
  return code ? `${code}${Object.hasOwn(words, code) ? `: ${words[code]}` : ''}` : (e as Error).message;
}

/**
 * Create `dir` and its parents (nothing to do when it exists); a failure is a `FileError` naming
 * the folder and why. Not Node's `recursive: true`, which retries for ever under /proc.
 */
export function ensureDir(dir: string, op = 'ensureDir'): void {
  try {
    makeDirs(path.resolve(dir));
  } catch (e) {
    throw new FileError(op, dir, `cannot create the folder ${dir} (${fsReason(e)})`);
  }
}

function makeDirs(dir: string): void {
  try {
    fs.mkdirSync(dir);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.statSync(dir).isDirectory()) return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    makeDirs(parent);
  }
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    // Another process (a shard) made it meanwhile.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(dir).isDirectory()) throw e;
  }
}

/** This machine in temporary file names: other hosts writing to a shared folder are told apart. */
const HOST = os.hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
const TEMP_NAME = /^.+\.(\d+)\.([A-Za-z0-9-]+)\.normlab\.tmp$/;
/** A temporary file this old is stale whoever wrote it (a write takes milliseconds). */
const STALE_TEMP_MS = 24 * 3600 * 1000;

/** Where `writeFileAtomic` writes before renaming: the writer's pid and host are in the name. */
export function tempPath(file: string, pid = process.pid, host = HOST): string {
  return `${file}.${pid}.${host}.normlab.tmp`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporary files in `dir` that no writer will rename any more: those of a process of
 * this host that is gone (a crash between write and rename), and any older than a day (another
 * host's crash). Returns the names removed.
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const full = path.join(dir, name);
    let stale = m[2] === HOST && pid !== process.pid && !processAlive(pid);
    try {
      stale ||= Date.now() - fs.statSync(full).mtimeMs > STALE_TEMP_MS;
      if (stale) {
        fs.unlinkSync(full);
        removed.push(name);
      }
    } catch {
      // Renamed or removed by its writer or another cleaner meanwhile.
    }
  }
  return removed;
}

/** fsync a folder, so a rename in it survives a crash; skipped where the platform cannot (Windows). */
function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF', 'ENOTSUP'].includes(code ?? '')) throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write a whole file atomically and durably (see the file comment), creating its folder first.
 * Failures are `FileError`s naming `op` and the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, op = 'writeFileAtomic'): void {
  const dir = path.dirname(file);
  ensureDir(dir, op);
  removeStaleTemps(dir);
  const tmp = tempPath(file);
  try {
    writeSynced(tmp, data);
    fs.renameSync(tmp, file);
    syncDir(dir);
  } catch (e) {
    removeQuietly(tmp);
    throw new FileError(op, file, `cannot write ${file} (${fsReason(e)})`);
  }
}

/**
 * Publish a whole file under a name that must not exist yet, atomically and durably: the first of
 * several processes to call this for `file` creates it (a hard link makes it appear whole or not at
 * all, and fails if it is there); the others leave it as it is. Returns whether this call created
 * it. On a file system without hard links (some network and FUSE ones) it renames instead, which
 * can replace a file another process published at the same moment.
 */
export function publishFileOnce(file: string, data: string | Uint8Array, op = 'publishFileOnce'): boolean {
  const dir = path.dirname(file);
  ensureDir(dir, op);
  removeStaleTemps(dir);
  const staged = tempPath(file);
  let created = false;
  try {
    writeSynced(staged, data);
    try {
      fs.linkSync(staged, file);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' && !fs.existsSync(file)) {
        fs.renameSync(staged, file);
        created = true;
      }
    }
    syncDir(dir);
  } catch (e) {
    throw new FileError(op, file, `cannot write ${file} (${fsReason(e)})`);
  } finally {
    removeQuietly(staged);
  }
  return created;
}

/** Create `file` with `data` and fsync it. */
function writeSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // Never created (the error was about the path itself).
  }
}

const NEWLINE = 0x0a;
const CHUNK_BYTES = 1 << 20;
/**
 * The longest line `readJsonl` reads back: far above any line normlab writes (a run record of the
 * full profile is tens of MB) and below the longest string V8 can hold (about 512 Mi characters).
 */
export const MAX_LINE_BYTES = 256 * 2 ** 20;

/** One complete line of a JSON-lines file. */
export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** The parsed JSON. */
  value: unknown;
}

/** What `readJsonl` returns. */
export interface ReadJsonlResult {
  /** Every complete line, in file order. */
  lines: JsonlLine[];
  /** A trailing partial line that was dropped (a crash mid-write), if any. */
  droppedTail: boolean;
  /** Bytes up to and including the last newline: the file without its partial last line. */
  completeBytes: number;
}

/** Options of `readJsonl`. */
export interface ReadJsonlOptions {
  /** The function named in errors (default `readJsonl`). */
  op?: string;
  /** What the file should be, for errors (default `a file of JSON lines`). */
  expected?: string;
  /** The longest line accepted, in bytes (default `MAX_LINE_BYTES`, 256 MiB); longer is a `FileError`. */
  maxLineBytes?: number;
}

/** Why a file could not be opened or read. */
function fileError(op: string, file: string, e: unknown, expected: string): FileError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FileError(op, file, `${file} does not exist; expected ${expected}`);
  if (code === 'EISDIR') return new FileError(op, file, `${file} is a folder; expected ${expected}`);
  return new FileError(op, file, `cannot read ${file} (${code ?? (e as Error).message}); expected ${expected}`);
}

/**
 * Read a JSON-lines file, one JSON value per line (blank lines skipped). A complete line that is
 * not valid UTF-8 or JSON is a `FileError` naming file:line; a partial last line (no newline: a
 * crash mid-write) is dropped and reported through `droppedTail`. Reads in chunks, so the file may
 * be larger than memory allows as one string; a line over `maxLineBytes` is an error.
 */
export function readJsonl(file: string, options: ReadJsonlOptions = {}): ReadJsonlResult {
  const op = options.op ?? 'readJsonl';
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const expected = options.expected ?? 'a file of JSON lines';
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (e) {
    throw fileError(op, file, e, expected);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const lines: JsonlLine[] = [];
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 1;
  let lineStart = 0;
  let offset = 0;
  const finishLine = (bytes: Buffer) => {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new FileError(op, file, `${file}:${lineNo} is not valid UTF-8; expected one JSON record per line`);
    }
    if (text.trim()) {
      try {
        lines.push({ line: lineNo, offset: lineStart, value: JSON.parse(text) });
      } catch (e) {
        throw new FileError(op, file, `${file}:${lineNo} is not valid JSON (${(e as Error).message}); expected one JSON record per line`);
      }
    }
  };
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, chunk, 0, CHUNK_BYTES, offset);
      } catch (e) {
        throw fileError(op, file, e, expected);
      }
      if (n === 0) break;
      let pos = 0;
      while (pos < n) {
        const nl = chunk.indexOf(NEWLINE, pos);
        const end = nl < 0 || nl >= n ? n : nl;
        if (pendingBytes + (end - pos) > maxLineBytes) {
          throw new FileError(op, file, `${file}:${lineNo} is longer than ${maxLineBytes} bytes; expected one JSON record per line`);
        }
        if (end === n) {
          // The line goes on in the next chunk (or the file ends mid-line).
          pending.push(Buffer.from(chunk.subarray(pos, n)));
          pendingBytes += n - pos;
          break;
        }
        finishLine(pending.length ? Buffer.concat([...pending, chunk.subarray(pos, end)]) : chunk.subarray(pos, end));
        pending = [];
        pendingBytes = 0;
        lineNo++;
        lineStart = offset + end + 1;
        pos = end + 1;
      }
      offset += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { lines, droppedTail: pendingBytes > 0, completeBytes: lineStart };
}

/**
 * One JSON document from a file, as bytes: fatal UTF-8, at most `MAX_LINE_BYTES` (checked before
 * reading), `FileError`s naming the file.
 */
export function readJsonFile(file: string, options: Omit<ReadJsonlOptions, 'maxLineBytes'> = {}): unknown {
  const op = options.op ?? 'readJsonFile';
  const expected = options.expected ?? 'a JSON file';
  let bytes: Buffer;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.size > MAX_LINE_BYTES) throw new FileError(op, file, `${file} is ${st.size} bytes, more than ${MAX_LINE_BYTES}; expected ${expected}`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw fileError(op, file, e, expected);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FileError(op, file, `${file} is not valid UTF-8; expected ${expected}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(op, file, `${file} is not valid JSON (${(e as Error).message}); expected ${expected}`);
  }
}

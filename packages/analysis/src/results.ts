/**
 * results.jsonl: one finished run per line. A record is appended with a single write of one whole
 * line and then fsync'ed, so a crash leaves at most one partial last line; reading drops such a
 * line (and the next append first cuts it off), so an interrupted reproduction resumes cleanly.
 *
 * Files are handled as bytes: lines are found by their newline bytes and each is decoded on its
 * own with a fatal UTF-8 decoder, so an invalid byte is an error naming its line and never shifts
 * the offset where the next append goes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AnalysisError } from './errors.js';
import type { RunRecord } from './types.js';

const NEWLINE = 0x0a;
const CHUNK_BYTES = 1 << 20;
/**
 * The longest line read back: far above any record normlab writes (a run of the full profile is
 * tens of MB) and below the longest string V8 can hold (about 512 Mi characters).
 */
export const MAX_LINE_BYTES = 256 * 2 ** 20;

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export interface ReadJsonlResult {
  lines: JsonlLine[];
  /** Byte length of the complete lines: where the next append goes. */
  validBytes: number;
  /** A trailing partial line that was dropped (a crash mid-write), if any. */
  droppedTail: boolean;
}

export interface ReadJsonlOptions {
  /** The function named in errors (default `readJsonl`). */
  op?: string;
  maxLineBytes?: number;
}

/** Why a file could not be opened or read, as the `AnalysisError` the caller throws. */
function fileError(op: string, file: string, e: unknown, expected: string): AnalysisError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new AnalysisError(op, `${file} does not exist; expected ${expected}`);
  if (code === 'EISDIR') return new AnalysisError(op, `${file} is a folder; expected ${expected}`);
  return new AnalysisError(op, `cannot read ${file} (${code ?? (e as Error).message}); expected ${expected}`);
}

/**
 * Read a JSON-lines file, one JSON value per line (blank lines skipped). A complete line that is
 * not valid UTF-8 or JSON is an error naming file:line; a partial last line (no newline: a crash
 * mid-write) is dropped and reported through `droppedTail`. Reads in chunks, so the file may be
 * larger than memory allows as one string; a line over `maxLineBytes` is an error.
 */
export function readJsonl(file: string, options: ReadJsonlOptions = {}): ReadJsonlResult {
  const op = options.op ?? 'readJsonl';
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const expected = 'a file of JSON lines';
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
  let offset = 0;
  let validBytes = 0;
  const finishLine = (bytes: Buffer) => {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new AnalysisError(op, `${file}:${lineNo} is not valid UTF-8; expected one JSON record per line`);
    }
    if (text.trim()) {
      try {
        lines.push({ line: lineNo, value: JSON.parse(text) });
      } catch (e) {
        throw new AnalysisError(op, `${file}:${lineNo} is not valid JSON (${(e as Error).message}); expected one JSON record per line`);
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
          throw new AnalysisError(op, `${file}:${lineNo} is longer than ${maxLineBytes} bytes; expected one JSON record per line`);
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
        validBytes = offset + end + 1;
        lineNo++;
        pos = end + 1;
      }
      offset += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { lines, validBytes, droppedTail: pendingBytes > 0 };
}

export function readResults(file: string): RunRecord[] {
  const records = readJsonl(file, { op: 'readResults' }).lines.map((l) => l.value as RunRecord);
  for (const [i, r] of records.entries()) {
    if (!r || typeof r.id !== 'string' || !r.spec || !r.steps || !r.final) {
      throw new AnalysisError('readResults', `${file}: record ${i + 1} lacks id/spec/steps/final; expected a normlab run record`);
    }
  }
  return records;
}

/** Append one record as one line, atomically with respect to crashes (see the file comment). */
export function appendJsonl(file: string, record: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const validBytes = completeLinesBytes(file);
  if (validBytes !== null) fs.truncateSync(file, validBytes);
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, JSON.stringify(record) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where the file's complete lines end when it ends mid-line (a crash cut its last write short),
 * null when it ends with a newline (or is empty or missing). Only the last byte is read unless
 * the file ends mid-line; then every complete line is checked, so an append never follows a
 * corrupt line.
 */
function completeLinesBytes(file: string): number | null {
  if (!fs.existsSync(file)) return null;
  const size = fs.statSync(file).size;
  if (size === 0) return null;
  const fd = fs.openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] === NEWLINE) return null;
  } finally {
    fs.closeSync(fd);
  }
  return readJsonl(file, { op: 'appendJsonl' }).validBytes;
}

/** Write a whole file atomically: to a temporary sibling, then rename over the target. */
export function writeFileAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

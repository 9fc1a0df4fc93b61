/**
 * results.jsonl: one finished run per line. A record is appended with a single write of one whole
 * line and then fsync'ed, so a crash leaves at most one partial last line; reading drops such a
 * line (and the next append first cuts it off), so an interrupted reproduction resumes cleanly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AnalysisError } from './errors.js';
import type { RunRecord } from './types.js';

export interface ReadResult<T> {
  records: T[];
  /** Byte length of the complete lines: where the next append goes. */
  validBytes: number;
  /** A trailing partial line that was dropped (a crash mid-write), if any. */
  droppedTail: boolean;
}

/** Read a JSON-lines file; a missing file is empty. A corrupt line other than the last is an error. */
export function readJsonl<T>(file: string): ReadResult<T> {
  if (!fs.existsSync(file)) return { records: [], validBytes: 0, droppedTail: false };
  const buf = fs.readFileSync(file);
  const text = buf.toString('utf8');
  const records: T[] = [];
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    lineNo++;
    if (nl < 0) {
      // No newline: the write was cut short. Everything before it is intact.
      return { records, validBytes: Buffer.byteLength(text.slice(0, pos)), droppedTail: true };
    }
    const line = text.slice(pos, nl);
    if (line.trim()) {
      try {
        records.push(JSON.parse(line) as T);
      } catch (e) {
        throw new AnalysisError('readResults', `${file}:${lineNo} is not valid JSON (${(e as Error).message}); expected one record per line`);
      }
    }
    pos = nl + 1;
  }
  return { records, validBytes: buf.length, droppedTail: false };
}

export function readResults(file: string): RunRecord[] {
  const { records } = readJsonl<RunRecord>(file);
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
  const { validBytes, droppedTail } = readTailState(file);
  if (droppedTail) fs.truncateSync(file, validBytes);
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, JSON.stringify(record) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether the file ends mid-line, and where its last complete line ends, reading only its tail. */
function readTailState(file: string): { validBytes: number; droppedTail: boolean } {
  if (!fs.existsSync(file)) return { validBytes: 0, droppedTail: false };
  const size = fs.statSync(file).size;
  if (size === 0) return { validBytes: 0, droppedTail: false };
  const fd = fs.openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return { validBytes: size, droppedTail: false };
  } finally {
    fs.closeSync(fd);
  }
  const { validBytes } = readJsonl(file);
  return { validBytes, droppedTail: true };
}

/** Write a whole file atomically: to a temporary sibling, then rename over the target. */
export function writeFileAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

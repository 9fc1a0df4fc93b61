/**
 * The records of a reproduction and how they are written and read back.
 *
 * An output folder holds one file per finished run, `runs/<id>.json` (the run record, one JSON
 * line), and its wall time in `timings/<id>.json`. Each is written whole to a temporary name,
 * fsync'ed and renamed (`writeFileAtomic`), so any number of processes — shards on one machine
 * or many sharing the folder — write into it without ever sharing a file, and a crash leaves
 * either the record or nothing. `plan.json` is the plan they run. Older output folders have one
 * `results.jsonl` (one record per line) and `timings.jsonl`: they are read as well, never written.
 *
 * JSON-lines files are handled as bytes: lines are found by their newline bytes and each is
 * decoded on its own with a fatal UTF-8 decoder, so an invalid byte is an error naming its line
 * (decoding the whole file first would shift every offset after it). A partial last line (a crash
 * while an older normlab appended to results.jsonl) is dropped.
 * Every record read back is checked against its declared schema (`types.ts`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { z } from 'zod';
import { AnalysisError } from './errors.js';
import { canonicalJson, runId } from './spec.js';
import { PlanSchema, RunRecordSchema, RunTimingSchema, type Plan, type RunRecord, type RunTiming } from './types.js';

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
  /** A trailing partial line that was dropped (a crash mid-write), if any. */
  droppedTail: boolean;
}

export interface ReadJsonlOptions {
  /** The function named in errors (default `readJsonl`). */
  op?: string;
  /** What the file should be, for errors (default `a file of JSON lines`). */
  expected?: string;
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
  let offset = 0;
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
        lineNo++;
        pos = end + 1;
      }
      offset += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { lines, droppedTail: pendingBytes > 0 };
}

/**
 * `value` checked against its declared schema: the parsed value, or an `AnalysisError` naming
 * where it was read (`file:line`), the first problems by field path, and what was expected.
 */
export function parseRecord<S extends z.ZodType>(schema: S, value: unknown, where: string, op: string, expected: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const limit = 3;
  const issues = r.error.issues;
  const parts = issues.slice(0, limit).map((i) => (i.path.length ? `${fieldPath(i.path)}: ${i.message}` : i.message));
  const more = issues.length > limit ? `; and ${issues.length - limit} more` : '';
  throw new AnalysisError(op, `${where}: ${parts.join('; ')}${more}; expected ${expected}`);
}

/** `spec.distortion.magnitude`, `steps.loss[3]`. */
function fieldPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}

/** A run record read back from `where`: its declared shape, and an id that is its spec's. */
export function parseRunRecord(value: unknown, where: string, op: string): RunRecord {
  const record = parseRecord(RunRecordSchema, value, where, op, 'a normlab run record');
  const id = runId(record.spec);
  if (record.id !== id) throw new AnalysisError(op, `${where}: id ${JSON.stringify(record.id)} is not the id of its spec (${id}); expected an unedited normlab run record`);
  return record;
}

/** The run records of a results file (`results.jsonl`: one per line; a partial last line is dropped). */
export function readResults(file: string): RunRecord[] {
  const { lines } = readJsonl(file, { op: 'readResults', expected: 'the results.jsonl of normlab reproduce' });
  return lines.map((l) => parseRunRecord(l.value, `${file}:${l.line}`, 'readResults'));
}

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
 * Create `dir` (and its parents); a failure is an `AnalysisError` naming the folder and why.
 * Node's own `recursive: true` retries for ever where mkdir fails with ENOENT under a parent that
 * exists (/proc, some FUSE mounts), so the parents are walked here, once each.
 */
export function ensureDir(dir: string, op: string): void {
  try {
    makeDirs(path.resolve(dir));
  } catch (e) {
    throw new AnalysisError(op, `cannot create the folder ${dir} (${fsReason(e)})`);
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
 * Write a whole file atomically and durably: to a temporary sibling (`tempPath`), fsync'ed, renamed
 * over the target, then the folder fsync'ed. A reader sees the old file or the new one, never
 * part of one; a crash leaves at most a temporary file, which the next write into the folder
 * removes (`removeStaleTemps`). Failures are `AnalysisError`s naming the file.
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
    throw new AnalysisError(op, `cannot write ${file} (${fsReason(e)})`);
  }
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

/** Where a reproduction keeps what (see the file comment). */
export const OUTPUT_FILES = {
  runs: 'runs',
  timings: 'timings',
  plan: 'plan.json',
  legacyResults: 'results.jsonl',
  legacyTimings: 'timings.jsonl',
} as const;

export function runRecordPath(outDir: string, id: string): string {
  return path.join(outDir, OUTPUT_FILES.runs, `${id}.json`);
}

function runTimingPath(outDir: string, id: string): string {
  return path.join(outDir, OUTPUT_FILES.timings, `${id}.json`);
}

/**
 * Record a finished run: `runs/<id>.json`, atomically (the same bytes as its results.jsonl line
 * was). What is written is checked as it will be read back, so a record an executor got wrong
 * fails here, not in the merge.
 */
export function writeRunRecord(outDir: string, record: RunRecord): void {
  const text = JSON.stringify(record) + '\n';
  parseRunRecord(JSON.parse(text), `the record of run ${record.id}`, 'writeRunRecord');
  writeFileAtomic(runRecordPath(outDir, record.id), text, 'writeRunRecord');
}

export function writeRunTiming(outDir: string, timing: RunTiming): void {
  writeFileAtomic(runTimingPath(outDir, timing.id), JSON.stringify(timing) + '\n', 'writeRunTiming');
}

/** One JSON document from a file, as bytes: fatal UTF-8, typed errors naming the file. */
export function readJsonFile(file: string, op: string, expected: string): unknown {
  let bytes: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_LINE_BYTES) throw new AnalysisError(op, `${file} is ${size} bytes, more than ${MAX_LINE_BYTES}; expected ${expected}`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof AnalysisError) throw e;
    throw fileError(op, file, e, expected);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AnalysisError(op, `${file} is not valid UTF-8; expected ${expected}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AnalysisError(op, `${file} is not valid JSON (${(e as Error).message}); expected ${expected}`);
  }
}

/** The `.json` files of a folder of one-per-run files, by run id (a missing folder has none). */
function perRunFiles(dir: string, op: string): Map<string, string> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw fileError(op, dir, e, 'a folder of run files');
  }
  return new Map(names.filter((n) => n.endsWith('.json')).sort().map((n) => [n.slice(0, -'.json'.length), path.join(dir, n)]));
}

/** Whether `outDir` is a reproduction's output folder: it has runs, a plan, or an older results.jsonl. */
export function isOutputFolder(outDir: string): boolean {
  return [OUTPUT_FILES.runs, OUTPUT_FILES.plan, OUTPUT_FILES.legacyResults].some((f) => fs.existsSync(path.join(outDir, f)));
}

/** The ids of the runs recorded in `outDir` (runs/, and an older results.jsonl), without reading the records. */
export function recordedRunIds(outDir: string): Set<string> {
  const ids = new Set(perRunFiles(path.join(outDir, OUTPUT_FILES.runs), 'recordedRunIds').keys());
  const legacy = path.join(outDir, OUTPUT_FILES.legacyResults);
  if (fs.existsSync(legacy)) for (const r of readResults(legacy)) ids.add(r.id);
  return ids;
}

/**
 * The run records of `outDir` by id (only those of `ids` when given): an older results.jsonl
 * first, then runs/<id>.json, which wins where both have a run. Each is checked against its
 * schema, and a file under runs/ must hold the record its name says.
 */
export function readRunRecords(outDir: string, ids?: Iterable<string>): Map<string, RunRecord> {
  const op = 'readRunRecords';
  const wanted = ids ? new Set(ids) : null;
  const out = new Map<string, RunRecord>();
  const legacy = path.join(outDir, OUTPUT_FILES.legacyResults);
  if (fs.existsSync(legacy)) for (const r of readResults(legacy)) if (!wanted || wanted.has(r.id)) out.set(r.id, r);
  for (const [id, file] of perRunFiles(path.join(outDir, OUTPUT_FILES.runs), op)) {
    if (wanted && !wanted.has(id)) continue;
    const record = parseRunRecord(readJsonFile(file, op, 'a normlab run record'), file, op);
    if (record.id !== id) throw new AnalysisError(op, `${file} holds the record of run ${record.id}; expected the record of ${id}`);
    out.set(id, record);
  }
  return out;
}

/** The wall times of the runs recorded in `outDir` by id (timings/, and an older timings.jsonl). */
export function readRunTimings(outDir: string): Map<string, RunTiming> {
  const op = 'readRunTimings';
  const out = new Map<string, RunTiming>();
  const legacy = path.join(outDir, OUTPUT_FILES.legacyTimings);
  if (fs.existsSync(legacy)) {
    for (const { line, value } of readJsonl(legacy, { op }).lines) {
      const t = parseRecord(RunTimingSchema, value, `${legacy}:${line}`, op, 'a normlab run timing');
      out.set(t.id, t);
    }
  }
  for (const [id, file] of perRunFiles(path.join(outDir, OUTPUT_FILES.timings), op)) {
    const t = parseRecord(RunTimingSchema, readJsonFile(file, op, 'a normlab run timing'), file, op, 'a normlab run timing');
    if (t.id !== id) throw new AnalysisError(op, `${file} holds the timing of run ${t.id}; expected the timing of ${id}`);
    out.set(id, t);
  }
  return out;
}

/** The plan in `outDir`, or null when it has none (an output folder of an older normlab). */
export function readPlan(outDir: string): Plan | null {
  const file = path.join(outDir, OUTPUT_FILES.plan);
  if (!fs.existsSync(file)) return null;
  return parseRecord(PlanSchema, readJsonFile(file, 'readPlan', 'the plan.json of normlab reproduce'), file, 'readPlan', 'the plan.json of normlab reproduce');
}

/** plan.json's bytes: the same plan always gives the same file. */
export function planText(plan: Plan): string {
  return JSON.stringify(plan, null, 1) + '\n';
}

/**
 * Write the plan into `outDir`. With `shared` (a shard: other processes may be writing the same
 * folder) the first to start publishes it — a hard link makes the file appear whole or not at
 * all, and fails if it is there — and every later one checks it runs the same plan, since the
 * shards are dealt from it. Without, the plan replaces the one there.
 */
export function publishPlan(outDir: string, plan: Plan, shared: boolean): void {
  const file = path.join(outDir, OUTPUT_FILES.plan);
  const text = planText(plan);
  if (!shared) {
    writeFileAtomic(file, text, 'reproduce');
    return;
  }
  ensureDir(outDir, 'reproduce');
  removeStaleTemps(outDir);
  const staged = tempPath(file);
  try {
    writeSynced(staged, text);
    try {
      fs.linkSync(staged, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' && !fs.existsSync(file)) {
        // No hard links on this file system (some network and FUSE ones): rename instead.
        fs.renameSync(staged, file);
      }
    }
    syncDir(outDir);
  } catch (e) {
    throw new AnalysisError('reproduce', `cannot write ${file} (${fsReason(e)})`);
  } finally {
    removeQuietly(staged);
  }
  const there = readPlan(outDir)!;
  // Compared as canonical JSON: a plan read back has its keys in schema order.
  if (canonicalJson(there) !== canonicalJson(plan)) {
    const mine = new Set(plan.runs.map((r) => r.id));
    const theirs = new Set(there.runs.map((r) => r.id));
    const differ = there.runs.filter((r) => !mine.has(r.id)).length + plan.runs.filter((r) => !theirs.has(r.id)).length;
    throw new AnalysisError(
      'reproduce',
      `${file} holds another plan (profile ${there.profile} on ${there.dataset}, ${there.runs.length} runs; this one: ${plan.profile} on ${plan.dataset}, ${plan.runs.length} runs, ${differ} differing); ` +
        'start every shard with the same profile, dataset and flags, or remove the file if it is left from an earlier reproduction',
    );
  }
}

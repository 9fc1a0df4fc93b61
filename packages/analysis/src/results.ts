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
 * Files are written and read by `@normlab/models` (`writeFileAtomic`, `readJsonl`: bytes, fatal
 * UTF-8 per line, a partial last line dropped). Every record read back is checked against its
 * declared schema (`types.ts`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError, fsReason, publishFileOnce, readJsonFile, readJsonl, writeFileAtomic } from '@normlab/models';
import type { z } from 'zod';
import { AnalysisError } from './errors.js';
import { selectionFlags } from './selection.js';
import { canonicalJson, runId } from './spec.js';
import { PlanSchema, RunRecordSchema, RunTimingSchema, type Plan, type RunRecord, type RunTiming } from './types.js';

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

/** Where a reproduction keeps what (see the file comment). */
export const OUTPUT_FILES = {
  /** Folder of run records, `runs/<id>.json`. */
  runs: 'runs',
  /** Folder of run timings, `timings/<id>.json`. */
  timings: 'timings',
  /** The plan the output folder runs. */
  plan: 'plan.json',
  /** Run records of older output folders, one per line (read, never written). */
  legacyResults: 'results.jsonl',
  /** Run timings of older output folders, one per line (read, never written). */
  legacyTimings: 'timings.jsonl',
} as const;

/** Where the record of run `id` lives in the output folder `outDir`: `runs/<id>.json`. */
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

/** Record a finished run's timing: `timings/<id>.json`, atomically. */
export function writeRunTiming(outDir: string, timing: RunTiming): void {
  writeFileAtomic(runTimingPath(outDir, timing.id), JSON.stringify(timing) + '\n', 'writeRunTiming');
}

/** The `.json` files of a folder of one-per-run files, by run id (a missing folder has none). */
function perRunFiles(dir: string, op: string): Map<string, string> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new FileError(op, dir, `cannot read the folder ${dir} (${fsReason(e)}); expected a folder of run files`);
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
    const record = parseRunRecord(readJsonFile(file, { op, expected: 'a normlab run record' }), file, op);
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
    const t = parseRecord(RunTimingSchema, readJsonFile(file, { op, expected: 'a normlab run timing' }), file, op, 'a normlab run timing');
    if (t.id !== id) throw new AnalysisError(op, `${file} holds the timing of run ${t.id}; expected the timing of ${id}`);
    out.set(id, t);
  }
  return out;
}

/** The plan in `outDir`, or null when it has none (an output folder of an older normlab). */
export function readPlan(outDir: string): Plan | null {
  const file = path.join(outDir, OUTPUT_FILES.plan);
  if (!fs.existsSync(file)) return null;
  return parseRecord(PlanSchema, readJsonFile(file, { op: 'readPlan', expected: 'the plan.json of normlab reproduce' }), file, 'readPlan', 'the plan.json of normlab reproduce');
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
  publishFileOnce(file, text, 'reproduce');
  const there = readPlan(outDir)!;
  // Compared as canonical JSON: a plan read back has its keys in schema order.
  if (canonicalJson(there) !== canonicalJson(plan)) {
    const mine = new Set(plan.runs.map((r) => r.id));
    const theirs = new Set(there.runs.map((r) => r.id));
    const differ = there.runs.filter((r) => !mine.has(r.id)).length + plan.runs.filter((r) => !theirs.has(r.id)).length;
    const what = (p: Plan) => `${p.profile} on ${p.dataset}${p.selection ? ` (selection ${selectionFlags(p.selection)})` : ''}, ${p.runs.length} runs`;
    throw new AnalysisError(
      'reproduce',
      `${file} holds another plan (profile ${what(there)}; this one: ${what(plan)}, ${differ} differing); ` +
        'start every shard with the same profile, dataset and flags, or remove the file if it is left from an earlier reproduction',
    );
  }
}

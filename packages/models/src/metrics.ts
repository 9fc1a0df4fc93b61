/**
 * `metrics.jsonl` of a training run: one JSON line per optimizer step and one per evaluation.
 * Each line type is declared once, as a zod schema; the writer is typed by it and readers
 * (`normlab analyze`) check what they read against it. Objects are strict: an unknown key is an
 * error, never dropped or copied onto a prototype.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { FileError, TrainingError } from './errors.js';
import { readJsonl } from './files.js';
import { describeIssues } from './validate.js';

/** JSON has no NaN or Infinity: a diverged value is written as null. */
const finiteOrNull = z.number().nullable();

/** One optimizer step (`step` counts from 1). */
export const StepMetricsLineSchema = z.strictObject({
  /** Optimizer steps done, this one included (from 1). */  step: z.number().int().min(1),
  /** The epoch (from 0) the step belongs to. */
  epoch: z.number().int().min(0),
  /** Mean cross-entropy of the batch; null when it was not finite. */  loss: finiteOrNull,
  /** Fraction of the batch classified correctly, in [0, 1]. */  accuracy: z.number().min(0).max(1),
  /** L2 norm of all gradients before clipping; null when not finite. */  gradNorm: finiteOrNull,
  /** The learning rate the step used. */  lr: z.number().min(0),
});
/** A step line of `metrics.jsonl`. */
export type StepMetricsLine = z.infer<typeof StepMetricsLineSchema>;

/** The evaluation after an epoch (`epoch` counts from 1: epochs completed). */
export const EvalMetricsLineSchema = z.strictObject({
  /** Marks an evaluation line. */  type: z.literal('eval'),
  /** Completed epochs (from 1). */  epoch: z.number().int().min(1),
  /** Optimizer steps done at the evaluation. */  step: z.number().int().min(0),
  /** Mean training loss over the epoch's steps (null: not finite). */  trainLoss: finiteOrNull,
  /** Training accuracy over the epoch's steps, in [0, 1]. */  trainAccuracy: finiteOrNull,
  /** null without a test loader. */
  testLoss: finiteOrNull,
  /** Test-set accuracy in [0, 1]; null without a test loader. */  testAccuracy: finiteOrNull,
});
/** An evaluation line of `metrics.jsonl`. */
export type EvalMetricsLine = z.infer<typeof EvalMetricsLineSchema>;

/** One line of `metrics.jsonl`: a step or an evaluation (`type: 'eval'`). */
export type MetricsLine = StepMetricsLine | EvalMetricsLine;

/** The schema a parsed line is checked against: eval lines say so (`type: 'eval'`), step lines have no type. */
export function metricsLineSchema(line: unknown): typeof StepMetricsLineSchema | typeof EvalMetricsLineSchema {
  return line !== null && typeof line === 'object' && (line as { type?: unknown }).type !== undefined ? EvalMetricsLineSchema : StepMetricsLineSchema;
}

/** One line of a metrics file read back. */
export interface MetricsFileLine {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line in the file. */
  offset: number;
  /** The parsed, checked line. */
  value: MetricsLine;
}

/** What `readMetrics` returns. */
export interface MetricsFile {
  /** Every complete line, in file order. */
  lines: MetricsFileLine[];
  /** A partial last line (a crash mid-append) was dropped. */
  droppedTail: boolean;
  /** Bytes up to and including the last complete line. */
  completeBytes: number;
}

/**
 * Read a `metrics.jsonl` back, as bytes (`readJsonl`): every complete line must be a valid step or
 * eval line (its schema), and the steps must never go down; anything else is a `FileError` naming
 * file:line. Only a partial last line — what a crash mid-append leaves — is dropped.
 */
export function readMetrics(file: string, op = 'readMetrics'): MetricsFile {
  const expected = 'a metrics line of normlab train';
  const read = readJsonl(file, { op, expected: 'the metrics.jsonl of a normlab train run' });
  const lines: MetricsFileLine[] = [];
  let lastStep = 0;
  for (const { line, offset, value } of read.lines) {
    const where = `${file}:${line}`;
    const parsed = metricsLineSchema(value).safeParse(value);
    if (!parsed.success) throw new FileError(op, file, `${where}: ${describeIssues(parsed.error, value)}; expected ${expected}`);
    const step = parsed.data.step;
    if (step < lastStep) throw new FileError(op, file, `${where}: step ${step} after step ${lastStep}; expected the lines of one run, in order`);
    lastStep = step;
    lines.push({ line, offset, value: parsed.data });
  }
  return { lines, droppedTail: read.droppedTail, completeBytes: read.completeBytes };
}

/** A number for a metrics line: non-finite values become null. */
export function metricValue(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

/**
 * Appends metric lines to a file. `sync()` puts what was written on disk: `train` calls it before
 * each checkpoint, so a checkpoint never claims steps whose lines a crash could still lose (a
 * resumed run's metrics then equal an uninterrupted run's), and when it closes.
 */
export class MetricsWriter {
  private fd: number | null;

  /** Opens `path` for appending (created if missing). */
  constructor(
    /** The metrics file. */
    readonly path: string,
  ) {
    this.fd = openSync(path, 'a');
  }

  /** Append one line (a `TrainingError` once closed). */
  write(line: MetricsLine): void {
    if (this.fd === null) throw new TrainingError('MetricsWriter', `${this.path} is closed`);
    const bytes = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
  }

  /** Flush the lines written so far to disk (fsync). */
  sync(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  /** Flush and close; later calls do nothing. */
  close(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

/**
 * metrics.jsonl as `train` writes it: every line passes its declared schema, and the lines of the
 * steps a checkpoint holds are fsync'ed before the checkpoint is renamed into place.
 */
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DataLoader, normalize, syntheticImages, toFloat } from '@normlab/datasets';

/** What the training loop did to its files, in order (fds resolved to the paths they were opened for). */
const events: string[] = [];
const fdPaths = new Map<number, string>();
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const name = (p: unknown) => String(p).split('/').pop()!;
  const mocked = {
    ...fs,
    openSync: (p: realFs.PathLike, ...rest: unknown[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(p, ...rest);
      fdPaths.set(fd, name(p));
      return fd;
    },
    writeSync: (fd: number, ...rest: unknown[]) => {
      if (fdPaths.get(fd) === 'metrics.jsonl') events.push('write metrics');
      return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    fsyncSync: (fd: number) => {
      if (fdPaths.get(fd) === 'metrics.jsonl') events.push('fsync metrics');
      return fs.fsyncSync(fd);
    },
    renameSync: (from: realFs.PathLike, to: realFs.PathLike) => {
      events.push(`rename to ${name(to)}`);
      return fs.renameSync(from, to);
    },
  };
  return { ...mocked, default: mocked };
});

const { EvalMetricsLineSchema, StepMetricsLineSchema, buildModel, metricsLineSchema, train } = await import('./index.js');

describe('metrics.jsonl', () => {
  it('every line train writes passes its schema; a checkpoint never gets ahead of the fsync-ed lines', () => {
    const out = realFs.mkdtempSync(join(tmpdir(), 'normlab-metrics-'));
    const ds = syntheticImages({ n: 32, height: 12, width: 12, seed: 0 });
    const tf = () => [toFloat(), normalize([0.5], [0.25])];
    train({
      model: buildModel({ name: 'cnn', channels: [4, 4, 8], norm: 'gn', groups: 2, seed: 0 }),
      trainLoader: new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 0, dropLast: true, transforms: tf() }),
      testLoader: new DataLoader(ds, { batchSize: 16, transforms: tf() }),
      epochs: 2,
      lr: 0.05,
      metricsPath: join(out, 'metrics.jsonl'),
      checkpointPath: join(out, 'model.safetensors'),
    });
    const lines = realFs.readFileSync(join(out, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines.length).toBe(2 * 4 + 2);
    for (const line of lines) expect(metricsLineSchema(line).safeParse(line).success, JSON.stringify(line)).toBe(true);
    expect(lines.filter((l) => EvalMetricsLineSchema.safeParse(l).success).length).toBe(2);
    expect(lines.filter((l) => StepMetricsLineSchema.safeParse(l).success).length).toBe(8);

    const renames = events.flatMap((e, i) => (e === 'rename to model.safetensors' ? [i] : []));
    expect(renames.length).toBe(2);
    for (const at of renames) {
      const before = events.slice(0, at);
      expect(before.lastIndexOf('fsync metrics'), events.join(', ')).toBeGreaterThan(before.lastIndexOf('write metrics'));
    }
    expect(events[events.length - 1]).toBe('fsync metrics');
    realFs.rmSync(out, { recursive: true, force: true });
  });

  it('rejects what train never writes: null, unknown keys, a string loss', () => {
    expect(metricsLineSchema(null).safeParse(null).success).toBe(false);
    const step = { step: 1, epoch: 0, loss: 2.3, accuracy: 0.1, gradNorm: 1, lr: 0.1 };
    expect(StepMetricsLineSchema.safeParse(step).success).toBe(true);
    expect(StepMetricsLineSchema.safeParse({ ...step, loss: null }).success).toBe(true);
    expect(StepMetricsLineSchema.safeParse({ ...step, loss: '2.3' }).success).toBe(false);
    expect(StepMetricsLineSchema.safeParse(JSON.parse('{"step":1,"epoch":0,"loss":1,"accuracy":0,"gradNorm":1,"lr":0.1,"__proto__":{"x":1}}')).success).toBe(false);
  });
});

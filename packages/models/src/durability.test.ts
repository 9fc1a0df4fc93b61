/**
 * What makes `writeFileAtomic` durable, in the order it must happen: the data fsync'ed before the
 * rename (else a crash can leave an empty file under the real name), the folder fsync'ed after
 * it (else the rename itself can be lost).
 */
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const events: string[] = [];
const fdNames = new Map<number, string>();
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const name = (p: unknown) => (String(p).endsWith('.tmp') ? 'tmp' : String(p).split('/').pop()!);
  const mocked = {
    ...fs,
    openSync: (p: realFs.PathLike, ...rest: unknown[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(p, ...rest);
      fdNames.set(fd, name(p));
      return fd;
    },
    writeSync: (fd: number, ...rest: unknown[]) => {
      events.push(`write ${fdNames.get(fd)}`);
      return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    fsyncSync: (fd: number) => {
      events.push(`fsync ${fdNames.get(fd)}`);
      return fs.fsyncSync(fd);
    },
    renameSync: (from: realFs.PathLike, to: realFs.PathLike) => {
      events.push(`rename ${name(from)} to ${name(to)}`);
      return fs.renameSync(from, to);
    },
  };
  return { ...mocked, default: mocked };
});

const { writeFileAtomic } = await import('./files.js');

describe('writeFileAtomic', () => {
  it('fsyncs the data before the rename and the folder after it', () => {
    const dir = realFs.mkdtempSync(join(tmpdir(), 'normlab-durable-'));
    writeFileAtomic(join(dir, 'report.md'), 'hello\n');
    expect(events).toEqual(['write tmp', 'fsync tmp', 'rename tmp to report.md', `fsync ${dir.split('/').pop()}`]);
    expect(realFs.readFileSync(join(dir, 'report.md'), 'utf8')).toBe('hello\n');
    realFs.rmSync(dir, { recursive: true, force: true });
  });
});

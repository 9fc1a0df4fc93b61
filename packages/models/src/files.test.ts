/**
 * The files normlab writes and reads back (files.ts): JSON lines handled as bytes (an invalid byte
 * never shifts where the next append goes), typed errors that name file:line, atomic writes that
 * clean up after a crash, folders created without Node's recursive mkdir.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileError } from './errors.js';
import { ensureDir, readJsonl, tempPath, writeFileAtomic } from './files.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-files-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('JSON lines as bytes', () => {
  it('names a line with an invalid byte that is not the last, and does not shift the lines after it', () => {
    const f = path.join(tmp, 'invalid-byte.jsonl');
    // {"id":"a\xff","v":1}\n{"id":"b","v"   (a crash cut the second line short)
    fs.writeFileSync(f, Buffer.from('7b226964223a2261ff222c2276223a317d0a7b226964223a2262222c227622', 'hex'));
    expect(() => readJsonl(f)).toThrow(FileError);
    expect(() => readJsonl(f, { op: 'readResults' })).toThrow(/readResults: .*invalid-byte\.jsonl:1 is not valid UTF-8/);
  });

  it('finds lines by their newline bytes after multi-byte characters, and drops a partial last line', () => {
    const f = path.join(tmp, 'multibyte.jsonl');
    fs.writeFileSync(f, '{"id":"σ-ü-€-𝄞"}\n{"id":"c"}\n{"id":"b","v"');
    const r = readJsonl(f);
    expect(r.lines).toEqual([
      { line: 1, offset: 0, value: { id: 'σ-ü-€-𝄞' } },
      { line: 2, offset: Buffer.byteLength('{"id":"σ-ü-€-𝄞"}\n'), value: { id: 'c' } },
    ]);
    expect(r.droppedTail).toBe(true);
    expect(r.completeBytes).toBe(Buffer.byteLength('{"id":"σ-ü-€-𝄞"}\n{"id":"c"}\n'));
  });

  it('drops an invalid partial last line (a crash mid-write) and names an invalid complete one', () => {
    const f = path.join(tmp, 'tail.jsonl');
    fs.writeFileSync(f, Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xe2, 0x82])]));
    expect(readJsonl(f)).toEqual({ lines: [{ line: 1, offset: 0, value: { a: 1 } }], droppedTail: true, completeBytes: 8 });
    fs.writeFileSync(f, Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}\n')]));
    expect(() => readJsonl(f)).toThrow(/tail\.jsonl:2 is not valid UTF-8/);
  });

  it('reads lines across its read chunks (multi-byte characters split between them) and refuses a line over the limit', () => {
    const f = path.join(tmp, 'long.jsonl');
    const long = '€'.repeat(700_000); // 2.1 MB in UTF-8: spans the 1 MiB read chunks, a character split at each boundary
    fs.writeFileSync(f, `{"a":"${long}"}\n{"b":1}\n`);
    const r = readJsonl(f);
    expect(r.lines.map((l) => l.line)).toEqual([1, 2]);
    expect(r.lines[1]!.offset).toBe(Buffer.byteLength(`{"a":"${long}"}\n`));
    expect((r.lines[0]!.value as { a: string }).a).toBe(long);
    expect(r.droppedTail).toBe(false);
    expect(() => readJsonl(f, { maxLineBytes: 1_000_000 })).toThrow(/long\.jsonl:1 is longer than 1000000 bytes/);
  });
});

describe('writeFileAtomic', () => {
  it('removes the temporary files a crash between write and rename left behind, and only those', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'stale-'));
    const file = path.join(dir, 'report.md');
    // pid_max is at most 2^22 on Linux: this process cannot exist.
    const dead = tempPath(file, 2 ** 30);
    const otherHostFresh = tempPath(path.join(dir, 'results.json'), 1, 'otherhost');
    const otherHostOld = tempPath(path.join(dir, 'results.json'), 2, 'otherhost');
    const live = tempPath(path.join(dir, 'other.md'), process.ppid);
    for (const f of [dead, otherHostFresh, otherHostOld, live]) fs.writeFileSync(f, 'half');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    fs.utimesSync(otherHostOld, twoDaysAgo, twoDaysAgo);
    fs.writeFileSync(path.join(dir, 'notes.tmp'), 'the user\'s');

    writeFileAtomic(file, 'new\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
    expect(fs.readdirSync(dir).sort()).toEqual(['notes.tmp', path.basename(live), path.basename(otherHostFresh), 'report.md'].sort());
  });

  it('names the file and why when it cannot write', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'fail-'));
    fs.writeFileSync(path.join(dir, 'afile'), '');
    expect(() => writeFileAtomic(path.join(dir, 'afile', 'report.md'), 'x', 'writeReport')).toThrow(/writeReport: cannot create the folder .*afile \(EEXIST: a file of that name exists\)/);
    expect(() => writeFileAtomic(path.join(dir, 'x'.repeat(300)), 'x')).toThrow(/cannot write .*x{300} \(ENAMETOOLONG: a name in the path is too long\)/);
    fs.mkdirSync(path.join(dir, 'folder'));
    expect(() => writeFileAtomic(path.join(dir, 'folder'), 'x')).toThrow(/cannot write .*folder \(EISDIR: it is a folder\)/);
    expect(fs.readdirSync(dir).sort()).toEqual(['afile', 'folder']);
  });
});

describe('ensureDir', () => {
  it.runIf(fs.existsSync('/proc/self'))('fails instead of retrying for ever where mkdir says ENOENT under a parent that exists (/proc)', () => {
    expect(() => ensureDir('/proc/normlab-cannot-be/here', 'reproduce')).toThrow(/reproduce: cannot create the folder \/proc\/normlab-cannot-be\/here \(ENOENT: no such file or folder\)/);
  });

  it('creates missing parents and accepts a folder that exists', () => {
    const d = path.join(tmp, 'a', 'b', 'c');
    ensureDir(d, 'x');
    ensureDir(d, 'x');
    expect(fs.statSync(d).isDirectory()).toBe(true);
  });
});

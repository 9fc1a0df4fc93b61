/**
 * Reading and writing the run records: JSON lines handled as bytes (an invalid byte never shifts
 * where the next append goes), typed errors that name file:line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunMetrics } from './analyze-run.js';
import { AnalysisError } from './errors.js';
import { ensureDir, readJsonl, readResults, tempPath, writeFileAtomic } from './results.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-results-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('JSON lines as bytes', () => {
  it('names a line with an invalid byte that is not the last, and does not shift the lines after it', () => {
    const f = path.join(tmp, 'invalid-byte.jsonl');
    // {"id":"a\xff","v":1}\n{"id":"b","v"   (a crash cut the second line short)
    fs.writeFileSync(f, Buffer.from('7b226964223a2261ff222c2276223a317d0a7b226964223a2262222c227622', 'hex'));
    expect(() => readJsonl(f)).toThrow(AnalysisError);
    expect(() => readJsonl(f)).toThrow(/invalid-byte\.jsonl:1 is not valid UTF-8/);
    expect(() => readResults(f)).toThrow(/readResults: .*invalid-byte\.jsonl:1 is not valid UTF-8/);
  });

  it('finds lines by their newline bytes after multi-byte characters, and drops a partial last line', () => {
    const f = path.join(tmp, 'multibyte.jsonl');
    fs.writeFileSync(f, '{"id":"σ-ü-€-𝄞"}\n{"id":"c"}\n{"id":"b","v"');
    const r = readJsonl(f);
    expect(r.lines).toEqual([
      { line: 1, value: { id: 'σ-ü-€-𝄞' } },
      { line: 2, value: { id: 'c' } },
    ]);
    expect(r.droppedTail).toBe(true);
  });

  it('drops an invalid partial last line (a crash mid-write) and names an invalid complete one', () => {
    const f = path.join(tmp, 'tail.jsonl');
    fs.writeFileSync(f, Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xe2, 0x82])]));
    expect(readJsonl(f)).toEqual({ lines: [{ line: 1, value: { a: 1 } }], droppedTail: true });
    fs.writeFileSync(f, Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}\n')]));
    expect(() => readJsonl(f)).toThrow(/tail\.jsonl:2 is not valid UTF-8/);
  });

  it('reads lines across its read chunks (multi-byte characters split between them) and refuses a line over the limit', () => {
    const f = path.join(tmp, 'long.jsonl');
    const long = '€'.repeat(700_000); // 2.1 MB in UTF-8: spans the 1 MiB read chunks, a character split at each boundary
    fs.writeFileSync(f, `{"a":"${long}"}\n{"b":1}\n`);
    const r = readJsonl(f);
    expect(r.lines.map((l) => l.line)).toEqual([1, 2]);
    expect((r.lines[0]!.value as { a: string }).a).toBe(long);
    expect(r.droppedTail).toBe(false);
    expect(() => readJsonl(f, { maxLineBytes: 1_000_000 })).toThrow(/long\.jsonl:1 is longer than 1000000 bytes/);
  });
});

describe('records read back are checked against their declared schema', () => {
  const fixture = fileURLToPath(new URL('./test-utils/fixtures/smoke-results.jsonl', import.meta.url));
  const good = () => JSON.parse(fs.readFileSync(fixture, 'utf8').split('\n')[0]!) as Record<string, unknown>;

  it('names the file:line and the field path of a record of the wrong shape', () => {
    const f = path.join(tmp, 'shape.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(good())}\n{"id":"x","spec":{},"steps":{},"final":{}}\n`);
    expect(() => readResults(f)).toThrow(AnalysisError);
    expect(() => readResults(f)).toThrow(/readResults: .*shape\.jsonl:2: spec\.dataset: .*expected a normlab run record/);
    const bad = good();
    (bad.steps as { loss: unknown[] }).loss[3] = 'nan';
    fs.writeFileSync(f, `${JSON.stringify(bad)}\n`);
    expect(() => readResults(f)).toThrow(/shape\.jsonl:1: steps\.loss\[3\]: Invalid input: expected number, received string/);
  });

  it('reports __proto__ and constructor keys instead of dropping them or touching a prototype', () => {
    const f = path.join(tmp, 'proto.jsonl');
    const line = JSON.stringify(good()).replace(/^\{/, '{"__proto__":{"polluted":true},"constructor":{"x":1},');
    fs.writeFileSync(f, line + '\n');
    expect(() => readResults(f)).toThrow(/proto\.jsonl:1: Unrecognized keys: "__proto__", "constructor"/);
    const spec = JSON.stringify(good()).replace('"spec":{', '"spec":{"__proto__":{"batchSize":1},');
    fs.writeFileSync(f, spec + '\n');
    expect(() => readResults(f)).toThrow(/proto\.jsonl:1: spec: Unrecognized key: "__proto__"/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a record whose id is not its spec\'s', () => {
    const f = path.join(tmp, 'edited.jsonl');
    const r = good();
    (r.spec as { seed: number }).seed = 7;
    fs.writeFileSync(f, JSON.stringify(r) + '\n');
    expect(() => readResults(f)).toThrow(/edited\.jsonl:1: id "cnn-bn-b16-lr0\.002-s0-[0-9a-f]{8}" is not the id of its spec \(cnn-bn-b16-lr0\.002-s7-[0-9a-f]{8}\)/);
  });

  it('reads null back as NaN where JSON had to write a non-finite measurement as null', () => {
    const f = path.join(tmp, 'diverged.jsonl');
    const r = good();
    (r.final as { testLoss: number }).testLoss = Number.NaN;
    fs.writeFileSync(f, JSON.stringify(r) + '\n');
    expect(fs.readFileSync(f, 'utf8')).toContain('"testLoss":null');
    expect(readResults(f)[0]!.final.testLoss).toBeNaN();
  });

  it('names a missing file, a folder, and a metrics line that is not an object', () => {
    expect(() => readResults(path.join(tmp, 'nope.jsonl'))).toThrow(/nope\.jsonl does not exist; expected the results\.jsonl of normlab reproduce/);
    expect(() => readResults(tmp)).toThrow(/is a folder; expected the results\.jsonl of normlab reproduce/);
    const m = path.join(tmp, 'metrics.jsonl');
    fs.writeFileSync(m, '{"step":1,"epoch":0,"loss":2.3,"accuracy":0.1,"gradNorm":1,"lr":0.1}\nnull\n');
    expect(() => readRunMetrics(m)).toThrow(AnalysisError);
    expect(() => readRunMetrics(m)).toThrow(/readRunMetrics: .*metrics\.jsonl:2: Invalid input: expected object, received null; expected a metrics line of normlab train/);
    fs.writeFileSync(m, '{"step":1,"epoch":0,"loss":2.3,"accuracy":0.1,"gradNorm":1,"lr":0.1}\n{"type":"eval","epoch":1,"step":1,"trainLoss":1,"trainAccuracy":0.5,"testLoss":"x","testAccuracy":0.5}\n');
    expect(() => readRunMetrics(m)).toThrow(/metrics\.jsonl:2: testLoss: Invalid input: expected number, received string/);
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

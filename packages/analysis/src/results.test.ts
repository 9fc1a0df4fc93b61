/**
 * Reading and writing the run records: JSON lines handled as bytes (an invalid byte never shifts
 * where the next append goes), typed errors that name file:line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisError } from './errors.js';
import { appendJsonl, readJsonl } from './results.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-results-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('JSON lines as bytes', () => {
  it('refuses to append after an invalid byte in a line that is not the last, and leaves the file as it was', () => {
    const f = path.join(tmp, 'invalid-byte.jsonl');
    // {"id":"a\xff","v":1}\n{"id":"b","v"   (a crash cut the second line short)
    const bytes = Buffer.from('7b226964223a2261ff222c2276223a317d0a7b226964223a2262222c227622', 'hex');
    fs.writeFileSync(f, bytes);
    expect(() => appendJsonl(f, { id: 'c', v: 3 })).toThrow(AnalysisError);
    expect(() => appendJsonl(f, { id: 'c', v: 3 })).toThrow(/invalid-byte\.jsonl:1 is not valid UTF-8/);
    expect(fs.readFileSync(f)).toEqual(bytes);
    expect(() => readJsonl(f)).toThrow(/invalid-byte\.jsonl:1 is not valid UTF-8/);
  });

  it('cuts a partial last line at its byte offset when multi-byte characters come before it', () => {
    const f = path.join(tmp, 'multibyte.jsonl');
    fs.writeFileSync(f, '{"id":"σ-ü-€-𝄞"}\n{"id":"b","v"');
    appendJsonl(f, { id: 'c' });
    expect(fs.readFileSync(f, 'utf8')).toBe('{"id":"σ-ü-€-𝄞"}\n{"id":"c"}\n');
    const r = readJsonl(f);
    expect(r.lines.map((l) => l.value)).toEqual([{ id: 'σ-ü-€-𝄞' }, { id: 'c' }]);
    expect(r.lines.map((l) => l.line)).toEqual([1, 2]);
    expect(r.validBytes).toBe(fs.statSync(f).size);
  });

  it('drops an invalid partial last line (a crash mid-write) and names an invalid complete one', () => {
    const f = path.join(tmp, 'tail.jsonl');
    fs.writeFileSync(f, Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xe2, 0x82])]));
    expect(readJsonl(f)).toMatchObject({ lines: [{ line: 1, value: { a: 1 } }], validBytes: 8, droppedTail: true });
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
    expect(r.validBytes).toBe(fs.statSync(f).size);
    expect(() => readJsonl(f, { maxLineBytes: 1_000_000 })).toThrow(/long\.jsonl:1 is longer than 1000000 bytes/);
  });
});

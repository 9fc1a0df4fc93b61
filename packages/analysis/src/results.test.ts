/**
 * Reading the run records back: each checked against its declared schema, typed errors that name
 * file:line and the field. (The JSON-lines reading itself is tested in @normlab/models.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileError } from '@normlab/models';
import { readRunMetrics } from './analyze-run.js';
import { AnalysisError } from './errors.js';
import { readResults } from './results.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-results-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
    expect(() => readRunMetrics(m)).toThrow(FileError);
    expect(() => readRunMetrics(m)).toThrow(/readRunMetrics: .*metrics\.jsonl:2: the value must be an object, got null; expected a metrics line of normlab train/);
    fs.writeFileSync(m, '{"step":1,"epoch":0,"loss":2.3,"accuracy":0.1,"gradNorm":1,"lr":0.1}\n{"type":"eval","epoch":1,"step":1,"trainLoss":1,"trainAccuracy":0.5,"testLoss":"x","testAccuracy":0.5}\n');
    expect(() => readRunMetrics(m)).toThrow(/metrics\.jsonl:2: testLoss must be a number, got "x"/);
  });
});

/**
 * The runner with a deterministic stand-in for training: resume, --force, per-run records,
 * shards into one folder merged into the report one process writes, older output folders.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getProfile, planRuns } from './profiles.js';
import { tempPath } from '@normlab/models';
import { readRunRecords } from './results.js';
import { mergeReproduction, reproduce, reproductionPlan, shardOf } from './runner.js';
import { DEFAULT_TRAITS, fakeExecutor } from './test-utils/fake.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-runner-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const quiet = { figures: false, progress: false } as const;

/** Every file under `dir/sub`, name → bytes. */
function files(dir: string, sub: string): Map<string, string> {
  const d = path.join(dir, sub);
  return new Map(fs.readdirSync(d).sort().map((n) => [n, fs.readFileSync(path.join(d, n), 'utf8')]));
}

describe('runner', () => {
  it('resumes: a second call skips finished runs; force starts over; records are reproducible', async () => {
    const out = path.join(tmp, 'resume');
    const calls: string[] = [];
    const exec = fakeExecutor(DEFAULT_TRAITS, calls);
    const total = planRuns(getProfile('smoke')).length;
    const first = await reproduce({ profile: 'smoke', outDir: out, executor: exec, maxRuns: 5, ...quiet });
    expect(first.ran.length).toBe(5);
    expect(first.complete).toBe(false);
    expect(first.missing.length).toBe(total - 5);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(new RegExp(`\\*\\*Partial\\*\\*: ${total - 5} planned runs have no record yet: ${first.missing[0]}, `));
    // A crash between writing a record and renaming it into place leaves a temporary file: the next run removes it.
    const stale = tempPath(path.join(out, 'runs', `${first.missing[0]}.json`), 2 ** 30);
    fs.writeFileSync(stale, '{"id":"half');
    const second = await reproduce({ profile: 'smoke', outDir: out, executor: exec, ...quiet });
    expect(fs.existsSync(stale)).toBe(false);
    expect(second.skipped.length).toBe(5);
    expect(second.ran.length).toBe(total - 5);
    expect(second.complete).toBe(true);
    expect(second.missing).toEqual([]);
    expect(new Set(calls).size).toBe(total);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).not.toContain('Partial');
    const runs1 = files(out, 'runs');
    expect([...runs1.keys()]).toEqual(second.plan.runs.map((r) => `${r.id}.json`).sort());
    expect(files(out, 'timings').size).toBe(total);
    const third = await reproduce({ profile: 'smoke', outDir: out, executor: exec, ...quiet });
    expect(third.ran.length).toBe(0);
    const forced = await reproduce({ profile: 'smoke', outDir: out, executor: exec, force: true, ...quiet });
    expect(forced.ran.length).toBe(total);
    expect(files(out, 'runs')).toEqual(runs1);
  });

  it('deals the plan: shards partition it, each in plan order, their first runs the plan\'s first N', () => {
    const { plan } = reproductionPlan({ profile: 'smoke' });
    const ids = plan.runs.map((r) => r.id);
    const shards = [0, 1, 2].map((index) => shardOf(plan.runs, { index, count: 3 }).map((r) => r.id));
    expect(shards.flat().sort()).toEqual([...ids].sort());
    for (const s of shards) expect(s).toEqual(ids.filter((id) => s.includes(id)));
    expect(shards.map((s) => s[0])).toEqual(ids.slice(0, 3));
    expect(() => shardOf(plan.runs, { index: 3, count: 3 })).toThrow(/expected a shard index in 0\.\.count-1/);
  });

  it('three shards into one folder give the records and report of one process; only the last writes a report', async () => {
    const single = path.join(tmp, 'single');
    const one = await reproduce({ profile: 'smoke', outDir: single, executor: fakeExecutor(), ...quiet });
    expect(one.complete).toBe(true);

    const shared = path.join(tmp, 'shared');
    const results = [];
    for (const index of [0, 1, 2]) {
      const r = await reproduce({ profile: 'smoke', outDir: shared, executor: fakeExecutor(), shard: { index, count: 3 }, ...quiet });
      results.push(r);
      if (index < 2) {
        expect(r.report).toBeNull();
        expect(r.complete).toBe(false);
        expect(fs.existsSync(path.join(shared, 'report.md'))).toBe(false);
      }
    }
    expect(results.map((r) => r.ran.length).reduce((a, b) => a + b)).toBe(one.plan.runs.length);
    const last = results[2]!;
    expect(last.complete).toBe(true);
    expect(last.report!.tables).toEqual(one.report!.tables);
    expect(last.report!.findings).toEqual(one.report!.findings);
    expect(files(shared, 'runs')).toEqual(files(single, 'runs'));
    expect(fs.readFileSync(path.join(shared, 'plan.json'), 'utf8')).toBe(fs.readFileSync(path.join(single, 'plan.json'), 'utf8'));

    // The merge on its own (normlab analyze --results DIR) writes the same report.
    const merged = await mergeReproduction(shared, { reportDir: path.join(tmp, 'merged'), figures: false });
    expect(merged.complete).toBe(true);
    expect(merged.report!.tables).toEqual(one.report!.tables);
    expect(merged.records).toEqual(one.records);
  });

  it('a shard refuses force, and a folder that holds another plan', async () => {
    const out = path.join(tmp, 'mismatch');
    await reproduce({ profile: 'smoke', outDir: out, executor: fakeExecutor(), shard: { index: 0, count: 4 }, maxRuns: 1, ...quiet });
    await expect(reproduce({ profile: 'smoke', outDir: out, executor: fakeExecutor(), shard: { index: 1, count: 4 }, windowAblation: false, ...quiet })).rejects.toThrow(
      /plan\.json holds another plan \(profile smoke on synthetic, 45 runs; this one: smoke on synthetic, 40 runs, 5 differing\); start every shard with the same profile/,
    );
    await expect(reproduce({ profile: 'smoke', outDir: out, executor: fakeExecutor(), shard: { index: 1, count: 4 }, force: true, ...quiet })).rejects.toThrow(/force with a shard would remove the records of the other shards/);
  });

  it('reads the results.jsonl and timings.jsonl of an older output folder, and runs only what they lack', async () => {
    const out = path.join(tmp, 'legacy');
    fs.mkdirSync(out);
    const exec = fakeExecutor();
    const plan = planRuns(getProfile('smoke'));
    const old = plan.slice(0, 4).map((p) => exec(p, { onStep: () => {} }));
    // As an older normlab appended them, a crash having cut the last line short.
    fs.writeFileSync(path.join(out, 'results.jsonl'), old.map((r) => JSON.stringify(r) + '\n').join('') + '{"id":"cnn-');
    fs.writeFileSync(path.join(out, 'timings.jsonl'), old.map((r) => JSON.stringify({ id: r.id, wallSeconds: 1, stepsPerSecond: 12 }) + '\n').join(''));
    const calls: string[] = [];
    const res = await reproduce({ profile: 'smoke', outDir: out, executor: fakeExecutor(DEFAULT_TRAITS, calls), ...quiet });
    expect(res.skipped).toEqual(old.map((r) => r.id));
    expect(calls.length).toBe(plan.length - 4);
    expect(res.complete).toBe(true);
    expect(res.records.map((r) => r.id)).toEqual(plan.map((p) => p.id));
    expect(res.records.slice(0, 4)).toEqual(old.map((r, i) => ({ ...r, roles: plan[i]!.roles })));
    // No plan.json (an older folder): the merge reports every record there.
    fs.rmSync(path.join(out, 'plan.json'));
    const merged = await mergeReproduction(out, { reportDir: path.join(out, 'again'), figures: false });
    expect(merged.records.length).toBe(plan.length);
    expect(merged.plan).toBeNull();
  });

  it('refuses to record what could not be read back', async () => {
    const out = path.join(tmp, 'bad-executor');
    const exec = fakeExecutor();
    const broken = (run: Parameters<typeof exec>[0], ctx: Parameters<typeof exec>[1]) => {
      const r = exec(run, ctx);
      r.steps.loss[2] = Number.NaN;
      return r;
    };
    await expect(reproduce({ profile: 'smoke', outDir: out, executor: broken, maxRuns: 1, ...quiet })).rejects.toThrow(/writeRunRecord: the record of run cnn-bn-b16-lr0\.002-s0-[0-9a-f]{8}: steps\.loss\[2\]: Invalid input: expected number, received null/);
    expect(fs.existsSync(path.join(out, 'runs'))).toBe(false);
  });

  it('refuses a run file that holds another run\'s record', async () => {
    const out = path.join(tmp, 'renamed');
    const res = await reproduce({ profile: 'smoke', outDir: out, executor: fakeExecutor(), maxRuns: 2, ...quiet });
    const [a, b] = res.ran;
    fs.renameSync(path.join(out, 'runs', `${a}.json`), path.join(out, 'runs', `${b}.json`));
    fs.renameSync(path.join(out, 'runs', `${b}.json`), path.join(out, 'runs', `${res.plan.runs[5]!.id}.json`));
    expect(() => readRunRecords(out)).toThrow(new RegExp(`runs/${res.plan.runs[5]!.id}\\.json holds the record of run ${a}; expected the record of ${res.plan.runs[5]!.id}`));
  });
});

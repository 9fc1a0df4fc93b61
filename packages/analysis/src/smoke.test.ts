/**
 * A reproduction end to end with real training (synthetic 12×12 images, a small CNN): every
 * role, the report, resume, and that a rerun of a run reproduces its record exactly. The plan is
 * the smoke profile cut to a few runs of each role, each a few steps long (23 runs: the test took
 * 4.5-6 s of CPU here, against 16-18 s with the whole profile's 45): what is tested is the
 * machinery, and the CLI tests run whole smoke runs too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeRun } from './execute.js';
import { readRunRecords, runRecordPath } from './results.js';
import { reproduce } from './runner.js';
import { getProfile, planRuns, type Profile } from './profiles.js';
import { runId } from './spec.js';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-smoke-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

const smoke = getProfile('smoke');
const small = { trainLimit: 64, testLimit: 32 };
const BN_GN = [{ norm: 'bn' as const }, { norm: 'gn' as const }];
/** Every role and figure of the smoke profile, with GN+ for the batch-dependent eval, in 23 short runs. */
const profile: Profile = {
  ...smoke,
  sweep: { ...smoke.sweep, ...small, norms: BN_GN },
  analysis: {
    ...smoke.analysis,
    ...small,
    norms: [...BN_GN, { norm: 'gnplus', order: 'gn-first' }],
    sensitivitySeeds: [0],
    distortions: smoke.analysis.distortions.slice(0, 1),
    regularizers: smoke.analysis.regularizers.filter((r) => r.kind === 'dropout'),
  },
  landscape: { ...smoke.landscape, ...small, norms: BN_GN },
};

describe('reproduce --profile smoke', () => {
  it('trains every planned run, writes the report, resumes, and reruns bit for bit', async () => {
    const plan = planRuns(profile);
    expect(new Set(plan.flatMap((p) => p.roles))).toEqual(new Set(planRuns(smoke).flatMap((p) => p.roles)));
    const res = await reproduce({ profile, outDir: out, progress: false });
    expect(res.complete).toBe(true);
    expect(res.ran.length).toBe(plan.length);
    const byId = readRunRecords(out);
    const records = plan.map((p) => byId.get(p.id)!);
    expect([...byId.keys()].sort()).toEqual(plan.map((p) => p.id).sort());
    for (const r of records) {
      expect(r.status).toBe('ok');
      expect(r.steps.loss.length).toBe(r.spec.epochs * Math.floor(r.spec.trainLimit / r.spec.batchSize));
      expect(r.final.testAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.final.testAccuracy).toBeLessThanOrEqual(1);
      if (r.spec.probes) {
        expect(r.landscape!.gradChange.length).toBe(r.steps.loss.length - 1);
        expect(r.landscape!.santurkar.length).toBeGreaterThan(0);
        for (const p of r.landscape!.santurkar) {
          expect(p.betaSmoothness).toBeGreaterThan(0);
          expect(p.lossVariation).toBeGreaterThanOrEqual(0);
        }
      }
    }
    // Training learns something on the synthetic set (10 classes: chance is 10%).
    const best = Math.max(...records.map((r) => r.final.testAccuracy));
    expect(best).toBeGreaterThan(0.3);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Findings');
    expect(md).toMatch(/Verdict: \*\*(supported|partly supported|mixed|contradicted|not distinguishable at this scale)\*\*/);
    expect(md).toContain('| profile | smoke |');
    expect(md).toMatch(/## Window ablation[\s\S]*\| GN \| 1 \|/);
    expect(fs.readdirSync(path.join(out, 'figures')).length).toBeGreaterThanOrEqual(8);

    const again = await reproduce({ profile, outDir: out, progress: false, figures: false });
    expect(again.ran).toEqual([]);
    expect(again.skipped.length).toBe(plan.length);

    // The landscape probes restore what they touch: the same run without probes trains identically.
    const probed = plan.find((p) => p.spec.probes)!;
    const { probes: _p, ...unprobedSpec } = probed.spec;
    const plain = await executeRun({ id: runId(unprobedSpec), spec: unprobedSpec, roles: ['stability'] }, { onStep: () => {} });
    expect(plain.steps).toEqual(records.find((r) => r.id === probed.id)!.steps);

    // A probed landscape run, a distorted run, a dropout run and a window run, rerun: the same bytes as recorded.
    const picks = [plan.find((p) => p.spec.probes), plan.find((p) => p.spec.distortion), plan.find((p) => p.spec.regularizer?.kind === 'dropout'), plan.find((p) => p.spec.window)];
    for (const p of picks) {
      const rec = await executeRun(p!, { onStep: () => {} });
      expect(JSON.stringify(rec) + '\n').toBe(fs.readFileSync(runRecordPath(out, p!.id), 'utf8'));
    }
  });
});

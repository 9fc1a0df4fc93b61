/**
 * The smoke profile end to end with real training (synthetic 12×12 images, a small CNN): every
 * role, the report, resume, and that a rerun of a run reproduces its record exactly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeRun } from './execute.js';
import { readResults } from './results.js';
import { reproduce } from './runner.js';
import { getProfile, planRuns } from './profiles.js';
import { runId } from './spec.js';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-smoke-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('reproduce --profile smoke', () => {
  it('trains every planned run, writes the report, resumes, and reruns bit for bit', async () => {
    const plan = planRuns(getProfile('smoke'));
    const res = await reproduce({ profile: 'smoke', outDir: out, progress: false });
    expect(res.complete).toBe(true);
    expect(res.ran.length).toBe(plan.length);
    const records = readResults(path.join(out, 'results.jsonl'));
    expect(records.map((r) => r.id)).toEqual(plan.map((p) => p.id));
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

    const again = await reproduce({ profile: 'smoke', outDir: out, progress: false, figures: false });
    expect(again.ran).toEqual([]);
    expect(again.skipped.length).toBe(plan.length);

    // The landscape probes restore what they touch: the same run without probes trains identically.
    const probed = plan.find((p) => p.spec.probes)!;
    const { probes: _p, ...unprobedSpec } = probed.spec;
    const plain = await executeRun({ id: runId(unprobedSpec), spec: unprobedSpec, roles: ['stability'] }, { onStep: () => {} });
    expect(plain.steps).toEqual(records.find((r) => r.id === probed.id)!.steps);

    // A probed landscape run, a distorted run, a dropout run and a window run, rerun: identical records.
    const picks = [plan.find((p) => p.spec.probes), plan.find((p) => p.spec.distortion), plan.find((p) => p.spec.regularizer?.kind === 'dropout'), plan.find((p) => p.spec.window)];
    for (const p of picks) {
      const rec = await executeRun(p!, { onStep: () => {} });
      expect(JSON.stringify(rec)).toBe(JSON.stringify(records.find((r) => r.id === p!.id)));
    }
  }, 120_000);
});

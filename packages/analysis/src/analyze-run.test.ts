import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataLoader, channelStats, loadDataset, normalize, toFloat } from '@normlab/datasets';
import { buildModel, train } from '@normlab/models';
import { analyzeRunDir, readRunMetrics } from './analyze-run.js';
import { AnalysisError } from './errors.js';
import { lossStdAroundMovingAverage } from './stability.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-analyze-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('analyzeRunDir', () => {
  it('analyzes the output folder of a training run: stability, landscape probe, noise, eval batch', async () => {
    const dir = path.join(tmp, 'run');
    fs.mkdirSync(dir);
    const ds = loadDataset('synthetic', { split: 'train', n: 256 });
    const stats = channelStats(ds);
    const model = buildModel({ name: 'cnn', norm: 'gnplus', groups: 2, width: 0.125, inChannels: 1, numClasses: 10, seed: 0 });
    train({
      model,
      trainLoader: new DataLoader(ds, { batchSize: 16, shuffle: true, dropLast: true, transforms: [toFloat(), normalize(stats.mean, stats.std)] }),
      epochs: 1,
      optimizer: 'adam',
      lr: 2e-3,
      metricsPath: path.join(dir, 'metrics.jsonl'),
      checkpointPath: path.join(dir, 'model.safetensors'),
      checkpointExtra: { cli: { dataset: 'synthetic', batchSize: 16 } },
    });
    const res = await analyzeRunDir(dir, { testLimit: 100, probeBatches: 2 });
    const metrics = readRunMetrics(path.join(dir, 'metrics.jsonl'));
    expect(metrics.steps.length).toBe(16);
    expect(res.stability.lossStd).toBeCloseTo(lossStdAroundMovingAverage(metrics.steps.map((s) => s.loss)), 12);
    const t = res.trained!;
    expect(t.lr).toBe(2e-3);
    expect(t.santurkar.length).toBe(2);
    for (const p of t.santurkar) {
      expect(p.betaSmoothness).toBeGreaterThan(0);
      expect(Number.isFinite(p.loss)).toBe(true);
    }
    expect(t.cleanAccuracy).toBeGreaterThan(0.1); // above chance after 16 steps
    expect(t.noise.map((n) => n.sigma)).toEqual([0.1, 0.2, 0.3]);
    expect(t.evalBatch.map((e) => e.batchSize)).toEqual([100, 10, 2]);
    const md = fs.readFileSync(path.join(dir, 'analysis', 'report.md'), 'utf8');
    expect(md).toContain("## Landscape at the final weights (Santurkar et al.'s protocol)");
    expect(res.figures).toEqual(['loss', 'grad-norm', 'noise']);
  }, 60_000);
  it('names what is missing', async () => {
    await expect(analyzeRunDir(path.join(tmp, 'nope'))).rejects.toThrow(AnalysisError);
    fs.mkdirSync(path.join(tmp, 'empty'));
    await expect(analyzeRunDir(path.join(tmp, 'empty'))).rejects.toThrow(/metrics.jsonl does not exist/);
  });
});

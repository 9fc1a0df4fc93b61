/**
 * Every model × norm round-trips: normlab in eval mode and onnxruntime give the same outputs on
 * the same inputs (batch 1 and an odd batch), for a freshly initialized model and one trained
 * for a few steps (running statistics, weights and blends moved away from their initial
 * values); GN, HybridNorm and LN once more with `groupNorm: 'LayerNormalization'` (LN's graph
 * does not change). NORMLAB_ONNX_REPORT=1 prints the measured table (the README's).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { F, Variable, noGrad } from '@normlab/autograd';
import { type ClassifierModel, type ModelConfig, buildModel } from '@normlab/models';
import { SGD } from '@normlab/nn';
import type { NormKind } from '@normlab/norm-layers';
import { randn } from '@normlab/tensor';
import { type OnnxExportOptions, exportOnnx } from './export.js';
import { GROUP_NORM_OPS } from './norms.js';
import { OnnxModel } from './runtime.js';
import { ROUNDTRIP_TOLERANCE, compareWithOnnx } from './test-utils/compare.js';

/** Small widths and inputs (the deepest feature maps 2×2, so instance norm can train): the matrix must run in seconds. */
const MODELS: Array<{ config: ModelConfig; channels: number; size: number }> = [
  { config: { name: 'mlp', hidden: [32, 16] }, channels: 1, size: 8 },
  { config: { name: 'cnn', width: 0.125 }, channels: 1, size: 28 },
  { config: { name: 'vgg11', width: 0.0625, dropout: 0.3 }, channels: 3, size: 32 },
  { config: { name: 'resnet8', width: 0.5 }, channels: 3, size: 8 },
  { config: { name: 'resnet18', width: 0.0625 }, channels: 3, size: 16 },
  { config: { name: 'resnet50', width: 0.0625 }, channels: 3, size: 16 },
];
const NORMS: NormKind[] = ['bn', 'gn', 'ln', 'in', 'bgn', 'hybrid', 'none'];
/** The norms exported once more with the GroupNorm family as the LayerNormalization composition. */
const COMPOSED: NormKind[] = ['gn', 'ln', 'hybrid'];

/** Two SGD steps in training mode: running statistics (momentum 0.5), weights and ρ all move. */
function trainBriefly(model: ClassifierModel, channels: number, size: number): void {
  const opt = new SGD(model.parameters(), { lr: 0.02, momentum: 0.9 });
  model.train();
  for (let step = 0; step < 2; step++) {
    const x = new Variable(randn([6, channels, size, size], { seed: 100 + step, mean: 0.3, std: 1.5 }));
    const labels = Int32Array.from({ length: 6 }, (_, i) => (i * 7 + step) % 10);
    opt.zeroGrad();
    F.crossEntropy(model.forward(x), labels).backward();
    opt.step();
  }
}

const measured: string[] = [];
afterAll(() => {
  if (process.env.NORMLAB_ONNX_REPORT) console.log(['| model | norm | fresh: max abs diff (max abs output) | trained |', '| --- | --- | --- | --- |', ...measured].join('\n'));
});

describe('onnx round trip: normlab (eval) and onnxruntime agree', () => {
  for (const { config, channels, size } of MODELS) {
    for (const norm of NORMS) {
      // Instance norm of (N, C, 1, 1) features has one value per statistic (training refuses it).
      if (config.name === 'mlp' && norm === 'in') continue;
      const variants: Array<{ label: string; options: OnnxExportOptions }> = [{ label: norm, options: {} }];
      if (COMPOSED.includes(norm)) variants.push({ label: `${norm} (LayerNormalization)`, options: { groupNorm: 'LayerNormalization' } });
      for (const { label, options } of variants) {
        it(`${config.name} with ${label}, fresh and briefly trained, batches 1 and 3`, async () => {
          const cells: string[] = [];
          for (const trained of [false, true]) {
            const model = buildModel({ ...config, norm, groups: 4, inChannels: channels, imageSize: size, numClasses: 10, seed: 7, normOptions: { momentum: 0.5 } });
            if (trained) trainBriefly(model, channels, size);
            const r = await compareWithOnnx(model, [channels, size, size], [1, 3], options);
            expect(r.maxAbsDiff, `${config.name} ${label} ${trained ? 'trained' : 'fresh'}`).toBeLessThanOrEqual(ROUNDTRIP_TOLERANCE * Math.max(1, r.maxAbsOutput));
            cells.push(`${r.maxAbsDiff.toExponential(1)} (${r.maxAbsOutput.toPrecision(2)})`);
          }
          measured.push(`| ${config.name} | ${label} | ${cells[0]} | ${cells[1]} |`);
        });
      }
    }
  }

  it('the export does not change the model: running statistics and mode stay as they were', async () => {
    const model = buildModel({ name: 'resnet8', norm: 'hybrid', width: 0.5, groups: 4, inChannels: 3, imageSize: 8 });
    trainBriefly(model, 3, 8);
    const before = model.stateDict();
    exportOnnx(model);
    const after = model.stateDict();
    expect(model.training).toBe(true);
    for (const [k, t] of Object.entries(before)) expect(Array.from(after[k]!.toTypedArray()), k).toEqual(Array.from(t.toTypedArray()));
  });

  it('runs the exported graph at batch sizes it was not traced with, including batch 1, with either GroupNorm op', async () => {
    const model = buildModel({ name: 'cnn', norm: 'hybrid', width: 0.25, groups: 4, imageSize: 12 });
    for (const groupNorm of GROUP_NORM_OPS) {
      const onnx = await OnnxModel.load(exportOnnx(model, { groupNorm }));
      try {
        model.eval();
        for (const n of [1, 2, 3, 16]) {
          const x = randn([n, 1, 12, 12], { seed: n });
          const out = await onnx.run(x);
          expect(out.shape).toEqual([n, 10]);
          // Each sample on its own: the first sample's logits do not depend on the rest of the batch.
          const alone = noGrad(() => model.forward(new Variable(x.slice([[0, 1]]).contiguous()))).data;
          for (let k = 0; k < 10; k++) expect(Math.abs(out.data[k]! - alone.data[k]!), groupNorm).toBeLessThanOrEqual(ROUNDTRIP_TOLERANCE);
        }
      } finally {
        await onnx.close();
      }
    }
  });
});

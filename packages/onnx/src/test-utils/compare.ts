/** Runs a model in normlab (eval mode) and its export in onnxruntime on the same inputs. */
import { Variable, noGrad } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { randn } from '@normlab/tensor';
import { type OnnxExportOptions, exportOnnx } from '../export.js';
import { OnnxModel } from '../runtime.js';

/**
 * The round-trip bound, relative to the outputs' scale: |normlab − onnxruntime| ≤ this ·
 * max(1, max |output|). Both compute in float32, but normlab's norm statistics accumulate in
 * float64 while onnxruntime's InstanceNormalization subtracts a float32 mean (and its
 * GroupNormalization takes E[x²] − E[x]² in float32); deep networks carry the differences
 * forward. The largest measured is 9e-5 (instance norm in resnet50): see the README's table.
 */
export const ROUNDTRIP_TOLERANCE = 5e-4;

export async function compareWithOnnx(
  model: Module,
  inputShape: readonly number[],
  batchSizes: readonly number[],
  exportOptions: OnnxExportOptions = {},
): Promise<{ maxAbsDiff: number; maxAbsOutput: number }> {
  const bytes = exportOnnx(model, { ...exportOptions, inputShape });
  const onnx = await OnnxModel.load(bytes); // session creation: onnxruntime's checker accepts the file
  const wasTraining = model.training;
  let maxAbsDiff = 0;
  let maxAbsOutput = 0;
  try {
    model.eval();
    for (const n of batchSizes) {
      const x = randn([n, ...inputShape], { seed: 1000 + n, mean: 0.2, std: 1.2 });
      const ref = noGrad(() => model.forward(new Variable(x))).data.contiguous().data;
      const out = await onnx.run(x);
      if (out.size !== ref.length) throw new Error(`onnxruntime gave ${out.size} values, normlab ${ref.length}`);
      for (let i = 0; i < ref.length; i++) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ref[i]! - out.data[i]!));
        maxAbsOutput = Math.max(maxAbsOutput, Math.abs(ref[i]!));
      }
    }
  } finally {
    model.train(wasTraining);
    await onnx.close();
  }
  return { maxAbsDiff, maxAbsOutput };
}

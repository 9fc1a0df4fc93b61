/**
 * `normlab eval --checkpoint FILE`: rebuild the model a checkpoint was saved from and report its
 * test loss and accuracy. The dataset defaults to the one the checkpoint was trained on.
 * `normlab eval --onnx FILE`: the same for a file of `normlab export`, run in onnxruntime, with
 * the dataset and the input standardization its metadata records.
 */
import { Command } from 'commander';
import { evaluate, loadCheckpoint, loadModel } from '@normlab/models';
import { getNumThreads } from '@normlab/tensor';
import { type CommonFlags, addCommonOptions, datasetStats, defaultBackend, loadSplit, makeTransforms, positiveInt, testLoader, useBackend } from '../common.js';
import { CliError } from '../errors.js';
import { Progress, formatDuration } from '../progress.js';

/** The parsed flags of `normlab eval`. */
export interface EvalFlags extends Omit<CommonFlags, 'dataset'> {
  /** `--checkpoint`: a model.safetensors written by `normlab train`. */
  checkpoint?: string;
  /** `--onnx`: an ONNX file written by `normlab export`, run in onnxruntime (instead of `checkpoint`). */
  onnx?: string;
  /** `--dataset`: default the checkpoint's (or the ONNX metadata's), else mnist. */
  dataset?: string;
  /** `--batch-size`: evaluation batch size. */
  batchSize: number;
}

/** The `normlab eval` subcommand. */
export function evalCommand(): Command {
  const cmd = new Command('eval').description("evaluate a checkpoint (or an exported ONNX file) on a dataset's test split");
  cmd.option('--checkpoint <file>', 'a model.safetensors written by normlab train');
  cmd.option('--onnx <file>', 'an ONNX file written by normlab export, run in onnxruntime (instead of --checkpoint)');
  // Evaluation reads no training images: no --train-limit.
  addCommonOptions(cmd, { trainLimit: false });
  return cmd.option('--batch-size <n>', 'evaluation batch size (gnplus uses the statistics of the evaluated batch)', positiveInt('--batch-size'), 500).action(async (flags: EvalFlags) => {
    await runEval(flags);
  });
}

/** Run `normlab eval` with parsed flags: test-set loss and accuracy of a checkpoint or an ONNX file. */
export async function runEval(flags: EvalFlags): Promise<void> {
  if (flags.onnx !== undefined) return runEvalOnnx(flags);
  const t0 = performance.now();
  if (!flags.checkpoint) throw new CliError('eval needs --checkpoint FILE or --onnx FILE');
  const ckpt = loadCheckpoint(flags.checkpoint);
  const saved = ckpt.extra.cli ?? {};
  const dataset = flags.dataset ?? saved.dataset ?? 'mnist';
  const common: CommonFlags = { ...flags, dataset, ...(flags.dataDir ?? saved.dataDir ? { dataDir: flags.dataDir ?? saved.dataDir } : {}) };
  const backend = await useBackend(flags.backend, flags.gpuMode, { threads: flags.threads });
  const model = loadModel(ckpt);
  const testSet = loadSplit(common, 'test');
  const inChannels = model.config.inChannels;
  if (inChannels !== undefined && inChannels !== testSet.channels) {
    throw new CliError(`the checkpoint's model takes ${inChannels}-channel images, ${dataset} has ${testSet.channels}`);
  }
  // The standardization the model was trained with: the train split's statistics (fixed constants for the real sets).
  const stats = dataset === 'synthetic' ? datasetStats(dataset, loadSplit(common, 'train')) : datasetStats(dataset, testSet);
  const progress = new Progress(Boolean(flags.quiet));
  const result = evaluate(model, testLoader(testSet, flags.batchSize, flags.testLimit, makeTransforms(stats)), {
    onBatch: (done, batches, examples) => progress.evalStep(done, batches, examples),
  });
  progress.finish();
  const seconds = (performance.now() - t0) / 1000;
  const summary = {
    checkpoint: flags.checkpoint,
    dataset,
    model: model.config.name,
    norm: model.config.norm ?? null,
    groups: model.config.groups ?? null,
    backend,
    threads: getNumThreads(),
    examples: result.n,
    testLoss: result.loss,
    testAccuracy: result.accuracy,
    seconds,
  };
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!flags.quiet) {
    process.stdout.write(`${summary.model} ${summary.norm} on ${dataset}: test accuracy ${(100 * result.accuracy).toFixed(2)}% (loss ${result.loss.toFixed(4)}) on ${result.n} images in ${formatDuration(seconds)}\n`);
  }
}

/** `eval --onnx FILE`: the exported model in onnxruntime, on the dataset its metadata names. */
async function runEvalOnnx(flags: EvalFlags): Promise<void> {
  const t0 = performance.now();
  const file = flags.onnx!;
  if (flags.checkpoint) throw new CliError('give --checkpoint or --onnx, not both');
  // --backend always has a value (its default: wasm where it runs, else cpu); only one asked for is refused.
  if (flags.backend !== defaultBackend() || flags.gpuMode) throw new CliError('--backend and --gpu-mode apply to --checkpoint; --onnx runs in onnxruntime');
  // Loaded on use: its protobuf code costs every other command ~0.15 s of start-up.
  const { OnnxModel, evaluateOnnx, readOnnxMetadata } = await import('@normlab/onnx');
  const meta = readOnnxMetadata(file);
  const dataset = flags.dataset ?? meta.dataset ?? 'mnist';
  const common: CommonFlags = { ...flags, dataset };
  const testSet = loadSplit(common, 'test');
  const want = meta.inputShape.join('×');
  const have = [testSet.channels, testSet.height, testSet.width].join('×');
  if (want !== have) throw new CliError(`${file} takes ${want} images, ${dataset} has ${have}`);
  // The standardization recorded by the export, on the dataset it was recorded for; on another
  // dataset, that dataset's (as eval --checkpoint does).
  const recorded = dataset === meta.dataset ? meta.normalization : undefined;
  const stats = recorded ?? datasetStats(dataset, dataset === 'synthetic' ? loadSplit(common, 'train') : testSet);
  const model = await OnnxModel.load(file, flags.threads !== undefined ? { threads: flags.threads } : {});
  let result: { loss: number; accuracy: number; n: number };
  try {
    result = await evaluateOnnx(model, testLoader(testSet, flags.batchSize, flags.testLimit, makeTransforms(stats)).iterate(0));
  } finally {
    await model.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = {
    onnx: file,
    dataset,
    model: meta.config?.name ?? null,
    norm: meta.config?.norm ?? null,
    groups: meta.config?.groups ?? null,
    backend: `onnxruntime ${model.runtimeVersion}`,
    threads: flags.threads ?? null,
    examples: result.n,
    testLoss: result.loss,
    testAccuracy: result.accuracy,
    seconds,
  };
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!flags.quiet) {
    process.stdout.write(`${summary.model ?? file} ${summary.norm} on ${dataset}: test accuracy ${(100 * result.accuracy).toFixed(2)}% (loss ${result.loss.toFixed(4)}) on ${result.n} images in ${formatDuration(seconds)}\n`);
  }
}

/**
 * `normlab eval --checkpoint FILE`: rebuild the model a checkpoint was saved from and report its
 * test loss and accuracy. The dataset defaults to the one the checkpoint was trained on.
 */
import { Command } from 'commander';
import { evaluate, loadCheckpoint, loadModel } from '@normlab/models';
import { getNumThreads } from '@normlab/tensor';
import { type CommonFlags, addCommonOptions, datasetStats, loadSplit, makeTransforms, positiveInt, testLoader, useBackend } from '../common.js';
import { CliError } from '../errors.js';
import { Progress, formatDuration } from '../progress.js';

export interface EvalFlags extends Omit<CommonFlags, 'dataset'> {
  checkpoint?: string;
  dataset?: string;
  batchSize: number;
}

export function evalCommand(): Command {
  const cmd = new Command('eval').description("evaluate a checkpoint on a dataset's test split");
  cmd.option('--checkpoint <file>', 'a model.safetensors written by normlab train');
  // Evaluation reads no training images: no --train-limit.
  addCommonOptions(cmd, { trainLimit: false });
  return cmd.option('--batch-size <n>', 'evaluation batch size (gnplus uses the statistics of the evaluated batch)', positiveInt('--batch-size'), 500).action(async (flags: EvalFlags) => {
    await runEval(flags);
  });
}

export async function runEval(flags: EvalFlags): Promise<void> {
  const t0 = performance.now();
  if (!flags.checkpoint) throw new CliError('eval needs --checkpoint FILE');
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

/**
 * `normlab export --checkpoint FILE --onnx OUT.onnx`: the checkpoint's model in eval mode as an
 * ONNX file (dynamic batch axis), with what `normlab eval --onnx` needs to evaluate it in its
 * metadata: the model's config, the dataset it was trained on and the input standardization.
 * `--group-norm-op` chooses the ops GroupNorm and HybridNorm are written with; with the default,
 * the standard GroupNormalization, a model that has them gets a one-line warning about
 * onnxruntime's kernel for it.
 */
import { statSync } from 'node:fs';
import { Command } from 'commander';
import { loadCheckpoint, loadModel } from '@normlab/models';
import { DATASET_NAMES } from '@normlab/datasets';
import type { GroupNormOp } from '@normlab/onnx';
import { warn } from '@normlab/tensor';
import { type CommonFlags, datasetStats, loadSplit, oneOf } from '../common.js';
import { CliError } from '../errors.js';

export interface ExportFlags {
  checkpoint?: string;
  onnx?: string;
  dataset?: string;
  dataDir?: string;
  groupNormOp: string;
  json?: boolean;
  quiet?: boolean;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a checkpoint to ONNX (eval mode: fixed statistics, any batch size); gnplus has no such form')
    .option('--checkpoint <file>', 'a model.safetensors written by normlab train')
    .option('--onnx <file>', 'the ONNX file to write')
    .option('--dataset <name>', `the dataset whose standardization the metadata records (default: the checkpoint's): ${DATASET_NAMES.join(', ')}`, oneOf('--dataset', DATASET_NAMES))
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST or CIFAR-10 files (default: the system location)')
    .option(
      '--group-norm-op <op>',
      'the ONNX op gn and hybrid layers are written with: GroupNormalization (the standard op) or LayerNormalization ' +
        '(Reshape, LayerNormalization, Reshape, Mul, Add: the same function, accurate in onnxruntime, whose GroupNormalization can return NaN)',
      'GroupNormalization',
    )
    .option('--json', 'print one JSON summary object on stdout')
    .option('--quiet', 'print nothing but errors (and the --json summary)')
    .action(async (flags: ExportFlags) => {
      await runExport(flags);
    });
}

export async function runExport(flags: ExportFlags): Promise<void> {
  if (!flags.checkpoint) throw new CliError('export needs --checkpoint FILE');
  if (!flags.onnx) throw new CliError('export needs --onnx FILE (the file to write)');
  // Loaded on use: its protobuf code costs every other command ~0.15 s of start-up.
  const { GROUP_NORM_OPS, ONNX_OPSET, isGroupNormFamily, readOnnxMetadata, saveOnnx } = await import('@normlab/onnx');
  const groupNorm = flags.groupNormOp as GroupNormOp;
  if (!GROUP_NORM_OPS.includes(groupNorm)) {
    throw new CliError(`--group-norm-op must be one of ${GROUP_NORM_OPS.join(', ')}, got ${JSON.stringify(flags.groupNormOp)}`);
  }
  const ckpt = loadCheckpoint(flags.checkpoint);
  const saved = (ckpt.extra as { cli?: { dataset?: string; dataDir?: string } }).cli ?? {};
  const dataset = flags.dataset ?? saved.dataset ?? 'mnist';
  const dataDir = flags.dataDir ?? saved.dataDir;
  const common = { dataset, ...(dataDir ? { dataDir } : {}) } as CommonFlags;
  const model = loadModel(ckpt);
  // The standardization training used, as eval computes it: the train split's statistics for the
  // synthetic set, fixed constants for the real sets.
  const split = loadSplit(common, dataset === 'synthetic' ? 'train' : 'test');
  const normalization = datasetStats(dataset, split);
  const { inChannels, imageSize } = model.config;
  if (inChannels !== undefined && inChannels !== split.channels) {
    throw new CliError(`the checkpoint's model takes ${inChannels}-channel images, ${dataset} has ${split.channels}`);
  }
  const inputShape = [split.channels, imageSize ?? split.height, imageSize ?? split.width];
  saveOnnx(flags.onnx, model, { inputShape, dataset, normalization, groupNorm });
  const hasGroupNorm = model.modules().some(isGroupNormFamily);
  if (hasGroupNorm && groupNorm === 'GroupNormalization') {
    warn(
      `normlab: the model's ${model.config.norm} layers are written as ONNX GroupNormalization, which onnxruntime 1.30's CPU kernel ` +
        "computes wrongly (NaN) when a group's mean is large against its spread; --group-norm-op LayerNormalization writes them in ops it computes accurately",
    );
  }
  const summary = {
    checkpoint: flags.checkpoint,
    onnx: flags.onnx,
    dataset,
    model: model.config.name,
    norm: model.config.norm ?? null,
    opset: ONNX_OPSET,
    groupNormOp: hasGroupNorm ? groupNorm : null,
    inputShape: readOnnxMetadata(flags.onnx).inputShape,
    bytes: statSync(flags.onnx).size,
  };
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!flags.quiet) {
    process.stdout.write(
      `${summary.model} ${summary.norm} (${dataset}) exported to ${flags.onnx}: opset ${ONNX_OPSET}, input (batch, ${inputShape.join(', ')}), ` +
        `${hasGroupNorm ? `${summary.norm} as ${groupNorm}, ` : ''}${(summary.bytes / 1024).toFixed(0)} KiB\n`,
    );
  }
}

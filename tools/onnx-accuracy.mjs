#!/usr/bin/env node
/**
 * Does an exported model score in onnxruntime what its checkpoint scores in normlab? For each
 * model × norm: `normlab train` (a short run), `normlab export`, then `normlab eval --checkpoint`
 * and `normlab eval --onnx` on the same test images, as a user runs them (node
 * packages/cli/dist/bin.js …). GN and HybridNorm are exported both ways (`--group-norm-op`).
 * Run after `npm run build`:
 *
 *   node tools/onnx-accuracy.mjs --dataset fashion-mnist --data-dir DIR [--out DIR] [--models a,b] [--norms a,b] [--json FILE]
 *
 * Prints a Markdown table on stdout (the one in docs/onnx-accuracy.md) and one line per run on
 * stderr; `--json FILE` also writes every summary. Rerun with the same `--out` to continue: finished
 * training runs there, and the pairs already measured, are reused. The training budget per model (`SETUP`) keeps
 * the whole matrix near an hour on a 2-core machine; the deep models are evaluated on fewer test
 * images. Exits 1 when any accuracy differs.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'cli', 'dist', 'bin.js');

/** Training images and test images per model: enough steps to learn, little enough to run the matrix in about an hour. */
const SETUP = {
  mlp: { trainLimit: 10000, testLimit: 10000 },
  cnn: { trainLimit: 10000, testLimit: 10000 },
  vgg11: { trainLimit: 4000, testLimit: 10000 },
  resnet8: { trainLimit: 4000, testLimit: 10000 },
  resnet14: { trainLimit: 4000, testLimit: 10000 },
  resnet20: { trainLimit: 4000, testLimit: 10000 },
  resnet18: { trainLimit: 2000, testLimit: 2000 },
  // At lr 0.1 its 94 steps leave it near chance (22% with GN); at 0.02 it reaches 40%.
  resnet50: { trainLimit: 3000, testLimit: 1000, lr: 0.02 },
};
const DEFAULT_LR = 0.1;
const NORMS = ['bn', 'gn', 'ln', 'in', 'bgn', 'hybrid', 'none'];
/** The norms written as ONNX GroupNormalization by default, exported once more as the LayerNormalization composition. */
const GROUP_NORM_FAMILY = ['gn', 'hybrid'];

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { dataset: { type: 'string', default: 'mnist' }, 'data-dir': { type: 'string' }, out: { type: 'string' }, models: { type: 'string' }, norms: { type: 'string' }, json: { type: 'string' } },
  });
  const list = (flag, given, known) => {
    if (given === undefined) return known;
    const items = given.split(',');
    for (const item of items) if (!known.includes(item)) throw new Error(`--${flag}: unknown "${item}" (known: ${known.join(', ')})`);
    return items;
  };
  return {
    dataset: values.dataset,
    dataDir: values['data-dir'],
    out: values.out,
    json: values.json,
    models: list('models', values.models, Object.keys(SETUP)),
    norms: list('norms', values.norms, NORMS),
  };
}

/** One normlab command; its JSON summary (every command here runs with --json). */
function normlab(args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args, '--json', '--quiet'], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`normlab ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const opts = parse(process.argv.slice(2));
const root = opts.out ?? mkdtempSync(join(tmpdir(), 'normlab-onnx-accuracy-'));
mkdirSync(root, { recursive: true });
const data = ['--dataset', opts.dataset, ...(opts.dataDir ? ['--data-dir', opts.dataDir] : [])];
const rows = [];
const skipped = [];
let differing = 0;

/** The two ways a run of the matrix cannot train, which the table reports instead of failing; null for any other error. */
function untrainable(message) {
  // Instance norm refuses 1×1 feature maps (vgg11's and the ImageNet ResNets' last stage at 28×28), as PyTorch does.
  if (/expected more than 1 spatial element/.test(message)) return 'instance norm over 1×1 feature maps';
  // A deep network without normalization can diverge at the matrix's learning rates.
  if (/training diverged/.test(message)) return 'diverged';
  return null;
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

function finished(dir) {
  return readJson(join(dir, 'summary.json'))?.completed === true;
}

function report(row) {
  rows.push(row);
  if (!row.sameAccuracy) differing++;
  const { model, norm, groupNormOp: op, checkpoint, onnx } = row;
  process.stderr.write(`${model} ${norm}${op ? ` (${op})` : ''}: checkpoint ${(100 * checkpoint.testAccuracy).toFixed(2)}%, onnx ${(100 * onnx.testAccuracy).toFixed(2)}%, |Δloss| ${row.lossDiff.toExponential(1)}${row.sameAccuracy ? '' : '  ACCURACY DIFFERS'}\n`);
}
for (const model of opts.models) {
  for (const norm of opts.norms) {
    // Instance norm of the mlp's (N, C, 1, 1) features has one value per statistic: training refuses it.
    if (model === 'mlp' && norm === 'in') continue;
    const { trainLimit, testLimit, lr = DEFAULT_LR } = SETUP[model];
    // The folder names the training budget, so a run with another budget is never reused for it.
    const dir = join(root, `${model}-${norm}-${trainLimit}-lr${lr}`);
    // A finished training run in --out is reused: rerunning the script continues where it stopped.
    const checkpoint = join(dir, 'model.safetensors');
    if (!finished(dir)) {
      try {
        await normlab(['train', ...data, '--model', model, '--norm', norm, '--width', '0.25', '--groups', '4', '--train-limit', String(trainLimit), '--lr', String(lr), '--test-limit', '1', '--out', dir, '--force']);
      } catch (err) {
        const why = untrainable(err.message);
        if (why === null) throw err;
        skipped.push(`${model} ${norm} (${why})`);
        process.stderr.write(`${model} ${norm}: not trained: ${why}\n`);
        continue;
      }
    }
    // The rows of a pair already measured in --out (after its training run finished) are reused.
    const cache = join(dir, 'onnx-accuracy.json');
    const cached = readJson(cache);
    if (cached !== null && cached.testLimit === testLimit) {
      for (const row of cached.rows) report(row);
      continue;
    }
    const pairRows = [];
    const limit = ['--test-limit', String(testLimit)];
    const ckptEval = await normlab(['eval', '--checkpoint', checkpoint, ...limit]);
    const ops = GROUP_NORM_FAMILY.includes(norm) ? ['GroupNormalization', 'LayerNormalization'] : [null];
    for (const op of ops) {
      const onnx = join(dir, op === 'LayerNormalization' ? 'model-composed.onnx' : 'model.onnx');
      await normlab(['export', '--checkpoint', checkpoint, '--onnx', onnx, ...(op ? ['--group-norm-op', op] : [])]);
      // The file records its dataset's name, not where its files were: the folder is given again.
      const onnxEval = await normlab(['eval', '--onnx', onnx, ...(opts.dataDir ? ['--data-dir', opts.dataDir] : []), ...limit]);
      const same = onnxEval.testAccuracy === ckptEval.testAccuracy && onnxEval.examples === ckptEval.examples;
      const row = { model, norm, groupNormOp: op, trainImages: trainLimit, lr, examples: ckptEval.examples, checkpoint: ckptEval, onnx: onnxEval, sameAccuracy: same, lossDiff: Math.abs(onnxEval.testLoss - ckptEval.testLoss) };
      pairRows.push(row);
      report(row);
    }
    writeFileSync(cache, JSON.stringify({ testLimit, rows: pairRows }) + '\n');
  }
}

const pct = (x) => `${(100 * x).toFixed(2)}%`;
const lines = [
  '| model | norm | train images (lr) | test images | eval --checkpoint | eval --onnx | \\|Δ loss\\| |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.model} | ${r.norm}${r.groupNormOp === 'LayerNormalization' ? ' (LayerNormalization)' : ''} | ${r.trainImages} (${r.lr}) | ${r.examples} | ${pct(r.checkpoint.testAccuracy)} | ${pct(r.onnx.testAccuracy)}${r.sameAccuracy ? '' : ' ✗'} | ${r.lossDiff.toExponential(1)} |`),
];
if (skipped.length > 0) lines.push('', `Not trained: ${skipped.join('; ')}.`);
process.stdout.write(lines.join('\n') + '\n');
if (opts.json) writeFileSync(opts.json, JSON.stringify({ dataset: opts.dataset, rows, skipped }, null, 1) + '\n');
process.stderr.write(`${rows.length} exports, ${differing} with a different accuracy; runs in ${root}\n`);
process.exitCode = differing > 0 ? 1 : 0;

/**
 * `normlab reproduce --profile smoke|quick|standard|full [--dataset …] [--out reports/NAME]`: runs the
 * paper's experiments (`@normlab/analysis`), resuming from `results.jsonl` unless `--force`, and
 * writes `report.md`, `results.json` and `figures/*.svg` under `--out`.
 */
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { PROFILE_NAMES, VERDICTS, reproduce } from '@normlab/analysis';
import { THREADS_HELP, positiveInt, useBackend } from '../common.js';

const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
type Dataset = (typeof DATASETS)[number];

/** Fashion-MNIST is used when its files are where the datasets package looks (or in --data-dir). */
function fashionAvailable(dataDir: string | undefined): boolean {
  const dirs = [dataDir, process.env.NORMLAB_DATA_DIR, '/usr/share/datasets/fashion-mnist'].filter((d): d is string => Boolean(d));
  return dirs.some((d) => fs.existsSync(`${d}/train-images-idx3-ubyte.gz`) || fs.existsSync(`${d}/train-images-idx3-ubyte`));
}

export interface ReproduceFlags {
  profile: (typeof PROFILE_NAMES)[number];
  dataset?: Dataset;
  dataDir?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  maxRuns?: number;
  backend?: 'cpu' | 'gpu';
  gpuMode?: string;
  threads?: number;
  /** Window ablation on/off; undefined: as the profile has it (quick off, smoke and full on). */
  windowAblation?: boolean;
}

export async function runReproduce(flags: ReproduceFlags): Promise<void> {
  const profile = flags.profile;
  const backend = await useBackend(flags.backend ?? 'cpu', flags.gpuMode, { quiet: flags.quiet, threads: flags.threads });
  // The issue's default for quick and standard: MNIST, or Fashion-MNIST when its files are found.
  let dataset = flags.dataset;
  if (!dataset && (profile === 'quick' || profile === 'standard') && fashionAvailable(flags.dataDir)) dataset = 'fashion-mnist';
  const outDir = flags.out ?? `reports/${profile}`;
  const log = flags.quiet || flags.json || process.stderr.isTTY ? undefined : (line: string) => process.stderr.write(line + '\n');
  const res = await reproduce({
    profile,
    outDir,
    ...(dataset ? { dataset } : {}),
    ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.maxRuns ? { maxRuns: flags.maxRuns } : {}),
    ...(flags.windowAblation === undefined ? {} : { windowAblation: flags.windowAblation }),
    backend,
    progress: !flags.quiet && Boolean(process.stderr.isTTY),
    ...(log ? { log } : {}),
  });
  const summary = {
    profile: res.profile.name,
    dataset: res.profile.dataset,
    outDir,
    runs: res.records.length,
    ran: res.ran.length,
    skipped: res.skipped.length,
    complete: res.complete,
    wallSeconds: res.wallSeconds,
    findings: res.report?.findings.map((f) => ({ id: f.id, claim: f.claim, verdict: f.verdict })) ?? [],
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else if (!flags.quiet) {
    process.stdout.write(`${res.complete ? 'Finished' : 'Stopped'}: ${res.records.length} runs (${res.ran.length} new, ${res.skipped.length} resumed) in ${(res.wallSeconds / 60).toFixed(1)} min\n`);
    const width = Math.max(...VERDICTS.map((v) => v.length));
    for (const f of summary.findings) process.stdout.write(`  ${f.verdict.padEnd(width)} ${f.claim}\n`);
    process.stdout.write(`Report: ${outDir}/report.md\n`);
  }
}

export function reproduceCommand(): Command {
  return new Command('reproduce')
    .description("run the paper's experiments (stability, sensitivity, landscape, batch-size sweep, window ablation) and write a report")
    .addOption(new Option('--profile <name>', 'smoke (<1 min), quick (~15 min on 2 cores), standard (whole datasets, batch 2…128, 5 seeds: about 6 days on 2 cores), full (the paper grid)').choices([...PROFILE_NAMES]).default('quick'))
    .addOption(new Option('--dataset <name>', 'dataset (quick, standard: mnist, or fashion-mnist when its files are found)').choices([...DATASETS]))
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST or CIFAR-10 files')
    .option('--out <dir>', 'report folder (default reports/PROFILE)')
    .option('--force', 'start over instead of resuming from results.jsonl')
    .option('--window-ablation', 'also run the window ablation: normalization live in one period of training only (on in smoke and full)')
    .option('--no-window-ablation', 'skip the window ablation where the profile has it on')
    .option('--max-runs <n>', 'stop after this many new runs (the report covers what is done)', positiveInt('--max-runs'))
    .addOption(new Option('--backend <name>', 'compute backend').choices(['cpu', 'gpu']).default('cpu'))
    .option('--gpu-mode <mode>', 'gpu.js mode with --backend gpu')
    .option('--threads <n>', THREADS_HELP, positiveInt('--threads'))
    .option('--json', 'print one JSON summary on stdout')
    .option('--quiet', 'no progress output')
    .action(async (opts: ReproduceFlags) => {
      await runReproduce(opts);
    });
}

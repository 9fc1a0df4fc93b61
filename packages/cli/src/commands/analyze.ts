/**
 * `normlab analyze --run runs/NAME`: stability, landscape (Santurkar et al.'s probe at the final
 * weights) and sensitivity (test-time pixel noise; eval batch size for GNPlus) of one trained run,
 * written as `report.md`, `analysis.json` and `figures/*.svg` under `--out` (default RUN/analysis).
 * With `--results reports/NAME` it merges a reproduction's records — written by any number of
 * shards — into its report instead (or reads an older `results.jsonl` file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { analyzeRunDir, mergeReproduction, readResults, writeReport } from '@normlab/analysis';
import { DATA_DIR_HELP, numberList, positiveInt } from '../common.js';
import { CliError } from '../errors.js';

export interface AnalyzeFlags {
  run?: string;
  results?: string;
  out?: string;
  dataset?: string;
  dataDir?: string;
  noise?: number[];
  probeBatches?: number;
  testLimit?: number;
  periods?: number;
  json?: boolean;
  quiet?: boolean;
}

export async function runAnalyze(flags: AnalyzeFlags): Promise<void> {
  if (!flags.run === !flags.results) throw new CliError('analyze: give exactly one of --run DIR or --results DIR|FILE');
  if (flags.results) {
    await analyzeResults(flags.results, flags);
    return;
  }
  const runDir = flags.run!;
  const res = await analyzeRunDir(runDir, {
    ...(flags.out ? { outDir: flags.out } : {}),
    ...(flags.dataset ? { dataset: flags.dataset } : {}),
    ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
    ...(flags.noise ? { noise: flags.noise } : {}),
    ...(flags.probeBatches ? { probeBatches: flags.probeBatches } : {}),
    ...(flags.testLimit ? { testLimit: flags.testLimit } : {}),
  });
  const outDir = flags.out ?? path.join(runDir, 'analysis');
  if (flags.json) {
    process.stdout.write(JSON.stringify({ outDir, stability: res.stability, trained: res.trained }) + '\n');
  } else if (!flags.quiet) {
    const s = res.stability;
    process.stdout.write(`loss std around MA(50) ${s.lossStd.toPrecision(3)}, ${s.spikes} spikes, grad-norm variance ${s.gradNormVar.toPrecision(3)}\n`);
    if (res.trained) {
      for (const n of res.trained.noise) process.stdout.write(`test accuracy at pixel noise σ=${n.sigma}: ${(100 * n.testAccuracy).toFixed(2)}% (clean ${(100 * res.trained.cleanAccuracy).toFixed(2)}%)\n`);
    }
    process.stdout.write(`Report: ${path.join(outDir, 'report.md')}\n`);
  }
}

/** Rewrite a reproduction's report: from its output folder (merging every shard's records), or from a results.jsonl file. */
async function analyzeResults(results: string, flags: AnalyzeFlags): Promise<void> {
  const isFolder = fs.existsSync(results) && fs.statSync(results).isDirectory();
  const outDir = flags.out ?? (isFolder ? results : path.dirname(results));
  let summary: { outDir: string; runs: number; missing: string[]; complete: boolean; findings: Array<{ id: string; verdict: string }> };
  if (isFolder) {
    const merged = await mergeReproduction(results, { reportDir: outDir, ...(flags.periods ? { periods: flags.periods } : {}) });
    if (!merged.report) throw new CliError(`${results} holds no run records yet${merged.plan ? ` (its plan has ${merged.plan.runs.length} runs)` : ''}; expected the output folder of normlab reproduce`);
    summary = { outDir, runs: merged.records.length, missing: merged.missing, complete: merged.complete, findings: merged.report.findings.map((f) => ({ id: f.id, verdict: f.verdict })) };
  } else {
    const records = readResults(results);
    if (records.length === 0) throw new CliError(`${results} holds no run records; expected the results.jsonl of normlab reproduce`);
    const rep = await writeReport(records, outDir, { ...(flags.periods ? { periods: flags.periods } : {}) });
    summary = { outDir, runs: records.length, missing: [], complete: true, findings: rep.findings.map((f) => ({ id: f.id, verdict: f.verdict })) };
  }
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!flags.quiet) {
    if (summary.missing.length) process.stdout.write(`Partial: ${summary.missing.length} runs of the plan have no record yet (listed in the report)\n`);
    process.stdout.write(`Report: ${path.join(outDir, 'report.md')}\n`);
  }
}

export function analyzeCommand(): Command {
  return new Command('analyze')
    .description('landscape, sensitivity and stability of one trained run (or regenerate a reproduction report)')
    .option('--run <dir>', 'output folder of normlab train (model.safetensors, metrics.jsonl)')
    .option('--results <path>', "a reproduction's output folder (every shard's records, merged) or an older results.jsonl: rewrite its report")
    .option('--out <dir>', 'where to write the report (default RUN/analysis, or the results folder)')
    .option('--dataset <name>', 'dataset when the checkpoint does not record it')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--noise <list>', 'test-time pixel noise levels', numberList('--noise'))
    .option('--probe-batches <n>', 'training batches for the landscape probe', positiveInt('--probe-batches'))
    .option('--test-limit <n>', 'test examples evaluated', positiveInt('--test-limit'))
    .option('--periods <k>', 'periods for a results report', positiveInt('--periods'))
    .option('--json', 'print one JSON summary on stdout')
    .option('--quiet', 'no output but errors')
    .action(async (opts: AnalyzeFlags) => {
      await runAnalyze(opts);
    });
}

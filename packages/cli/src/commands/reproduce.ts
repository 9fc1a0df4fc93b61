/**
 * `normlab reproduce --profile smoke|quick|standard|full [--dataset …] [--out reports/NAME]`: runs the
 * paper's experiments (`@normlab/analysis`), one record per run under `--out`/runs (resuming
 * unless `--force`), and writes `report.md`, `results.json` and `figures/*.svg` there.
 * `--plan` prints the run list; `--shard I/N` runs one share of it, for job arrays and many
 * processes writing one shared folder (docs/distributed.md). `--roles`, `--norms`,
 * `--batch-sizes`, `--seeds` and `--epochs` run a selection of the profile's plan (`selectRuns`),
 * which plan.json records and the report states.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PROFILE_NAMES, RunRoleSchema, VERDICTS, getProfile, reproduce, reproductionPlan, shardOf, type RunRole, type Selection, type Shard } from '@normlab/analysis';
import { FASHION_MNIST_DEFAULT_DIR } from '@normlab/datasets';
import { type BackendName, DATA_DIR_HELP, addBackendOptions, defaultBackend, positiveInt, useBackend } from '../common.js';
import { CliError } from '../errors.js';

const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
type Dataset = (typeof DATASETS)[number];

/**
 * The dataset when --dataset is not given: the profile's own (smoke synthetic, full cifar10), except
 * that a profile on MNIST (quick) uses Fashion-MNIST when its files are where the datasets package
 * looks for them by default; `why` says which and why, for the user. A --data-dir folder cannot
 * tell: MNIST and Fashion-MNIST files have the same names, so --data-dir needs --dataset.
 */
function defaultDataset(profile: string, dataDir: string | undefined): { dataset?: Dataset; why?: string } {
  if (dataDir !== undefined) {
    throw new CliError(`--data-dir needs --dataset (one of ${DATASETS.filter((d) => d !== 'synthetic').join(', ')}) to say what the folder holds: MNIST and Fashion-MNIST files have the same names`);
  }
  if (getProfile(profile).dataset !== 'mnist') return {};
  const dir = FASHION_MNIST_DEFAULT_DIR;
  const found = ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte'].some((f) => fs.existsSync(path.join(dir, f)));
  return found
    ? { dataset: 'fashion-mnist', why: `no --dataset: using fashion-mnist, whose files are in ${dir} (--dataset mnist for MNIST)` }
    : { dataset: 'mnist', why: `no --dataset: using mnist (fashion-mnist's files are not in ${dir})` };
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
  backend?: BackendName;
  gpuMode?: string;
  threads?: number;
  /** Window ablation on/off; undefined: as the profile has it (quick off, smoke and full on). */
  windowAblation?: boolean;
  /** Print the plan (the share with `shard`) as JSON and stop. */
  plan?: boolean;
  shard?: Shard;
  /** The selection of the plan (`Selection`), one flag per filter. */
  roles?: RunRole[];
  norms?: string[];
  batchSizes?: number[];
  seeds?: number[];
  epochs?: number;
}

/** A comma-separated list of `parse`d items: `--roles sweep,stability`, `--norms bn,gnplus:bn-first`. */
function listOf<T>(flag: string, parse: (item: string) => T[]) {
  return (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw new InvalidArgumentError(`${flag} must be a comma-separated list without empty items, got ${JSON.stringify(value)}`);
    return items.flatMap(parse);
  };
}

const ROLES = RunRoleSchema.options;
const parseRoles = listOf<RunRole>('--roles', (s) => {
  if (!(ROLES as readonly string[]).includes(s)) throw new InvalidArgumentError(`--roles takes ${ROLES.join(', ')}, got ${JSON.stringify(s)}`);
  return [s as RunRole];
});

/** `2,8,32` (--batch-sizes) or, with ranges, `0-4` and `0-2,7` (--seeds): integers >= min. */
function intList(flag: string, min: number, ranges: boolean) {
  return listOf<number>(flag, (s) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || (!ranges && m[2] !== undefined) || !Number.isSafeInteger(hi) || lo < min || hi < lo) {
      throw new InvalidArgumentError(`${flag} must be a comma-separated list of integers >= ${min}${ranges ? ' or ranges LO-HI' : ''}, got ${JSON.stringify(s)}`);
    }
    // A profile has a handful of seeds: a range of millions is a typo, not a list to build.
    if (hi - lo >= 10000) throw new InvalidArgumentError(`${flag}: the range ${s} has more than 10000 values`);
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  });
}

/** The selection the flags ask for; undefined without any. */
export function selectionOf(flags: Pick<ReproduceFlags, 'roles' | 'norms' | 'batchSizes' | 'seeds' | 'epochs'>): Selection | undefined {
  const s: Selection = {
    ...(flags.roles ? { roles: flags.roles } : {}),
    ...(flags.norms ? { norms: flags.norms } : {}),
    ...(flags.batchSizes ? { batchSizes: flags.batchSizes } : {}),
    ...(flags.seeds ? { seeds: flags.seeds } : {}),
    ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
  };
  return Object.keys(s).length ? s : undefined;
}

/**
 * `--shard I/N`: share I (from 0) of N. `auto/N` takes I from a Slurm job array
 * (SLURM_ARRAY_TASK_ID as it is: the array is --array=0-(N-1), and a failed task resubmitted on
 * its own with --array=5 is shard 5 again) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, from 0).
 */
export function parseShard(value: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^\s*(\d+|auto)\s*\/\s*(\d+)\s*$/.exec(value);
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError(`--shard must be I/N (I from 0 to N-1, or auto) with N >= 1, got ${JSON.stringify(value)}`);
  let index: number;
  let from = '';
  if (m[1] === 'auto') {
    const int = (name: string) => {
      const v = env[name];
      if (v === undefined || v === '') return undefined;
      if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`--shard auto: ${name} must be an integer >= 0, got ${JSON.stringify(v)}`);
      return Number(v);
    };
    const slurm = int('SLURM_ARRAY_TASK_ID');
    const k8s = int('JOB_COMPLETION_INDEX');
    if (slurm !== undefined) {
      index = slurm;
      from = ` (SLURM_ARRAY_TASK_ID; give the job array --array=0-${count - 1})`;
    } else if (k8s !== undefined) {
      index = k8s;
      from = ` (JOB_COMPLETION_INDEX; give the Indexed Job completions: ${count})`;
    } else {
      throw new InvalidArgumentError('--shard auto/N takes the shard from SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); neither is set');
    }
  } else {
    index = Number(m[1]);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new InvalidArgumentError(`--shard: shard ${index}${from} is not in 0..${count - 1}`);
  return { index, count };
}

export async function runReproduce(flags: ReproduceFlags): Promise<void> {
  const profile = flags.profile;
  let dataset = flags.dataset;
  if (!dataset) {
    const guess = defaultDataset(profile, flags.dataDir);
    dataset = guess.dataset;
    if (guess.why && !flags.quiet && !flags.json) process.stderr.write(`normlab reproduce: ${guess.why}\n`);
  }
  const selection = selectionOf(flags);
  const planOptions = { profile, ...(dataset ? { dataset } : {}), ...(flags.windowAblation === undefined ? {} : { windowAblation: flags.windowAblation }), ...(selection ? { selection } : {}) };
  if (flags.plan) {
    const { plan } = reproductionPlan(planOptions);
    // As plan.json has it; a shard's share says which shard it is.
    const shown = flags.shard ? { ...plan, shard: flags.shard, runs: shardOf(plan.runs, flags.shard) } : plan;
    process.stdout.write(JSON.stringify(shown, null, 1) + '\n');
    return;
  }
  const backend = await useBackend(flags.backend ?? defaultBackend(), flags.gpuMode, { threads: flags.threads });
  const outDir = flags.out ?? `reports/${profile}`;
  const log = flags.quiet || flags.json || process.stderr.isTTY ? undefined : (line: string) => process.stderr.write(line + '\n');
  const res = await reproduce({
    ...planOptions,
    outDir,
    ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.maxRuns ? { maxRuns: flags.maxRuns } : {}),
    ...(flags.shard ? { shard: flags.shard } : {}),
    backend,
    progress: !flags.quiet && Boolean(process.stderr.isTTY),
    ...(log ? { log } : {}),
  });
  const planned = res.plan.runs.length;
  const recorded = planned - res.missing.length;
  const summary = {
    profile: res.profile.name,
    dataset: res.profile.dataset,
    ...(res.plan.selection ? { selection: res.plan.selection } : {}),
    outDir,
    ...(flags.shard ? { shard: flags.shard } : {}),
    planned,
    runs: recorded,
    ran: res.ran.length,
    skipped: res.skipped.length,
    missing: res.missing.length,
    complete: res.complete,
    wallSeconds: res.wallSeconds,
    report: res.report ? `${outDir}/report.md` : null,
    findings: res.report?.findings.map((f) => ({ id: f.id, claim: f.claim, verdict: f.verdict })) ?? [],
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else if (!flags.quiet) {
    const minutes = `${(res.wallSeconds / 60).toFixed(1)} min`;
    if (flags.shard && !res.report) {
      process.stdout.write(`Shard ${flags.shard.index}/${flags.shard.count}: ${res.ran.length} runs trained, ${res.skipped.length} found recorded, in ${minutes}; ${recorded} of ${planned} runs of the plan are recorded in ${outDir}\n`);
      process.stdout.write(`When every shard has finished: normlab analyze --results ${outDir}\n`);
      return;
    }
    const head = res.complete ? `Finished: ${recorded} runs` : `Stopped: ${recorded} of ${planned} runs`;
    process.stdout.write(`${head} (${res.ran.length} new, ${res.skipped.length} resumed) in ${minutes}\n`);
    const width = Math.max(...VERDICTS.map((v) => v.length));
    for (const f of summary.findings) process.stdout.write(`  ${f.verdict.padEnd(width)} ${f.claim}\n`);
    process.stdout.write(`Report${res.complete ? '' : ' (partial)'}: ${outDir}/report.md\n`);
  }
}

export function reproduceCommand(): Command {
  const cmd = new Command('reproduce')
    .description("run the paper's experiments (stability, sensitivity, landscape, batch-size sweep, window ablation) and write a report")
    .addOption(new Option('--profile <name>', 'smoke (<1 min), quick (~15 min on 2 cores), standard (whole datasets, batch 2…128, 5 seeds: about 6 days on 2 cores), full (the paper grid)').choices([...PROFILE_NAMES]).default('quick'))
    .addOption(new Option('--dataset <name>', `dataset (quick, standard: mnist, or fashion-mnist when its files are in ${FASHION_MNIST_DEFAULT_DIR}; needed with --data-dir)`).choices([...DATASETS]))
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--out <dir>', 'report folder (default reports/PROFILE)')
    .option('--force', 'start over: remove the records in --out instead of resuming from them')
    .option('--plan', 'print the run list (JSON: profile, periods, runs with id, spec and roles) and exit without training')
    .option('--shard <I/N>', 'run share I (from 0) of N of the plan; auto/N takes I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; the report is written once every run is recorded', (v: string) => parseShard(v))
    .option('--window-ablation', 'also run the window ablation: normalization live in one period of training only (on in smoke and full)')
    .option('--no-window-ablation', 'skip the window ablation where the profile has it on')
    .option('--max-runs <n>', 'stop after this many new runs (the report covers what is done; with --shard, of the share)', positiveInt('--max-runs'))
    .option('--roles <list>', `run only the plan's runs of these roles (${ROLES.join(', ')}); the selection is recorded in plan.json and stated in the report`, parseRoles)
    .option('--norms <list>', 'run only the runs of these norms (bn, gn, gnplus:gn-first, gnplus:bn-first, gnplus:parallel, hybrid, bgn, none, …; gnplus is gnplus:gn-first)', listOf('--norms', (s) => [s]))
    .option('--batch-sizes <list>', "run only the sweep's runs at these batch sizes (the other roles keep their one batch size)", intList('--batch-sizes', 1, false))
    .option('--seeds <list>', 'run only the runs of these seeds: 0-4, or 0,1,2', intList('--seeds', 0, true))
    .option('--epochs <n>', "train every run for n epochs instead of the profile's: other runs than the profile's (other specs and run ids)", positiveInt('--epochs'));
  return addBackendOptions(cmd)
    .option('--json', 'print one JSON summary on stdout')
    .option('--quiet', 'no progress output')
    .action(async (opts: ReproduceFlags) => {
      await runReproduce(opts);
    });
}

/**
 * The experiment runner behind `normlab reproduce`: expands a profile into a plan of runs, skips
 * the ones already recorded in the output folder (resume), runs the rest in plan order, records
 * each run when it finishes (`runs/<id>.json`, atomically), and writes the report. `--force`
 * starts over. Wall times go to `timings/`, apart from the records, so the same profile and seeds
 * give byte-identical records.
 *
 * A plan can be a selection of the profile's (`selection`: roles, norms, sweep batch sizes,
 * seeds, an epochs override; `selectRuns`), recorded in plan.json and stated in the report.
 *
 * A plan can be split into shards run by separate processes or machines into one shared output
 * folder (`shard: {index, count}`, dealt by estimated cost: `shardOf`). No two processes write
 * the same file, so they never clobber each other; `mergeReproduction` (or a rerun without a
 * shard) reads every record and writes the report a single process would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDir } from '@normlab/models';
import { AnalysisError } from './errors.js';
import { getProfile, plannedSteps, withWindowAblation, type PlannedRun, type Profile } from './profiles.js';
import { ProgressBar } from './progress.js';
import { writeReport, type Report, type Scale } from './report.js';
import {
  OUTPUT_FILES,
  isOutputFolder,
  publishPlan,
  readPlan,
  readRunRecords,
  readRunTimings,
  recordedRunIds,
  runRecordPath,
  writeRunRecord,
  writeRunTiming,
} from './results.js';
import { selectRuns } from './selection.js';
import { RunRoleSchema, type DatasetName, type Environment, type Plan, type RunRecord, type RunSpec, type RunTiming, type Selection } from './types.js';

/** Per-step callback an executor calls so the progress bar can move within a run. */
export interface ExecuteContext {
  /** Call after each training step: steps done in this run so far, of `totalSteps` planned. */
  onStep(step: number, totalSteps: number): void;
  /** Where the datasets are read from (default: the datasets' own lookup). */
  dataDir?: string;
}

/** Trains one planned run and returns its record. `execute.ts` holds the real one. */
export type Executor = (run: PlannedRun, ctx: ExecuteContext) => Promise<RunRecord> | RunRecord;

/** One share of a plan: shard `index` (from 0) of `count`. */
export interface Shard {
  /** This shard, 0..count − 1. */
  index: number;
  /** How many shards the plan is dealt to, ≥ 1. */
  count: number;
}

/** What `reproduce` runs, and where. */
export interface ReproduceOptions {
  /** The profile: its name (`PROFILE_NAMES`) or the profile itself. */
  profile: string | Profile;
  /** The output folder: records, timings, plan and report go there (runs already recorded there are skipped). */
  outDir: string;
  /** Run the profile on this dataset instead of its own. */
  dataset?: DatasetName;
  /** Where the datasets are read from (default: the datasets' own lookup). */
  dataDir?: string;
  /** Remove the folder's records first (not with `shard`: the other shards' records would go too). */
  force?: boolean;
  /** Run only this share of the plan; the report is written only once every run of the plan is recorded. */
  shard?: Shard;
  /** Draw the progress bar (default: when stderr is a TTY). */
  progress?: boolean;
  /** One line per finished run (default: nothing). */
  log?: (line: string) => void;
  /** Trains a run (default: `executeRun`); tests pass a fake. */
  executor?: Executor;
  /** Stop after this many new runs (for tests of resume); the report is still written. */
  maxRuns?: number;
  /** Skip rendering the SVG figures. */
  figures?: boolean;
  /** The compute backend the runs use, recorded in their timings (default `cpu`). */
  backend?: string;
  /** Switch the profile's window ablation on or off (default: as the profile has it; quick off, smoke and full on). */
  windowAblation?: boolean;
  /** Run a selection of the profile's plan (`selectRuns`); absent: all of it. */
  selection?: Selection;
}

/** What `reproduce` did and what the output folder holds afterwards. */
export interface ReproduceResult {
  /** The profile as run (window ablation switched as asked). */
  profile: Profile;
  /** The plan the folder runs. */
  plan: Plan;
  /** The plan's runs recorded in the folder (by any process), in plan order, with this plan's roles; empty for a shard of an incomplete plan. */
  records: RunRecord[];
  /** Runs this call trained. */
  ran: string[];
  /** Runs of this call's share found recorded (before it started, or by another process meanwhile). */
  skipped: string[];
  /** Runs of the plan not recorded yet. */
  missing: string[];
  /** Wall-clock seconds this call spent training its runs. */
  wallSeconds: number;
  /** The report, when one was written (always without a shard; with one, once the plan is complete). */
  report: Report | null;
  /** Whether every run of the plan is recorded. */
  complete: boolean;
}

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The machine writing the report, and what the plan's recorded runs took. */
export function environment(plan: Pick<Plan, 'profile' | 'dataset'>, wallSeconds: number, startedAt: string, runs: number, backend = 'cpu'): Environment {
  const cpus = os.cpus();
  return {
    normlabVersion: version(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    backend,
    profile: plan.profile,
    dataset: plan.dataset,
    wallSeconds,
    startedAt,
    runs,
  };
}

/** What `reproductionPlan` returns. */
export interface PlannedReproduction {
  /** The profile, its window ablation switched as asked. */
  profile: Profile;
  /** Its plan: all of it, or the selection asked for. */
  plan: Plan;
}

/** The profile (with the window ablation switched as asked) and its plan: all of it, or the selection asked for (which the plan records). */
export function reproductionPlan(options: Pick<ReproduceOptions, 'profile' | 'dataset' | 'windowAblation' | 'selection'>): PlannedReproduction {
  const named = typeof options.profile === 'string' ? getProfile(options.profile, options.dataset) : options.profile;
  const profile = options.windowAblation === undefined ? named : withWindowAblation(named, options.windowAblation);
  const { selection, runs } = selectRuns(profile, options.selection);
  return { profile, plan: { profile: profile.name, dataset: profile.dataset, ...(selection ? { selection } : {}), periods: profile.periods, runs } };
}

/**
 * Fixed work of a training step, in images' worth, for `runCostEstimate`: a step's time grows
 * as (batch size + this). Fitted to CPU time per step on the default (wasm) backend, 1 thread,
 * the standard profile's half-width CNN on Fashion-MNIST (`estimateProfileCost`, 12 steps in 2
 * rounds, the mean over BN, GN, GNPlus and HybridNorm: 5.6 ms at batch 2, 13.5 at 8, 37.8 at 32,
 * 153 at 128): about 3.4 ms per step plus 1.15 ms per image. The pure-TypeScript backend's
 * measurements in the analysis README fit about 5.
 */
export const STEP_OVERHEAD_IMAGES = 3;

/**
 * A run's cost relative to other runs of its plan, for dealing shards: training steps × (batch
 * size + `STEP_OVERHEAD_IMAGES`), an integer (so sums are exact on every machine). It leaves out
 * what varies less between runs of one plan — norm, evaluations, landscape probes (about 2%) —
 * and is no time estimate (`estimateProfileCost` measures one).
 */
export function runCostEstimate(spec: RunSpec): number {
  return plannedSteps(spec) * (spec.batchSize + STEP_OVERHEAD_IMAGES);
}

/**
 * The runs of one shard, in plan order. The plan is dealt as if `count` workers took its runs in
 * order, each taking the next run when it has the least work by `runCostEstimate` (the lowest
 * index on a tie): the shards get about equal work — a batch-2 run costs several batch-128 runs,
 * so dealing by position alone could give one shard the small batches and another the large —
 * and, as the work goes, the runs done at any time are about the plan's first runs. With equal
 * costs this is round-robin (runs index, index + count, …). A pure function of the plan and the
 * shard count, so every shard deals the same.
 */
export function shardOf(runs: readonly PlannedRun[], shard: Shard): PlannedRun[] {
  checkShard(shard);
  const load = new Array<number>(shard.count).fill(0);
  return runs.filter((run) => {
    let to = 0;
    for (let i = 1; i < load.length; i++) if (load[i]! < load[to]!) to = i;
    load[to] += runCostEstimate(run.spec);
    return to === shard.index;
  });
}

function checkShard(shard: Shard): void {
  const { index, count } = shard ?? ({} as Shard);
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new AnalysisError('shard', `expected a shard index in 0..count-1 and a count >= 1, got ${JSON.stringify(shard)}`);
  }
}

/** Planned steps for the ETA: the dataset's training split at its usual size (`TRAIN_EXAMPLES`), at least one. */
const stepsOf = (p: PlannedRun) => Math.max(1, plannedSteps(p.spec));

/**
 * Run a profile's plan (or this shard's share of it) into `outDir`, skipping the runs recorded
 * there, and write the report once the plan is complete.
 */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const { profile, plan } = reproductionPlan(options);
  const { outDir, shard } = options;
  if (shard) checkShard(shard);
  const share = shard ? shardOf(plan.runs, shard) : plan.runs;
  if (options.force && shard) throw new AnalysisError('reproduce', `force with a shard would remove the records of the other shards in ${outDir}; clear the folder once before starting the shards`);
  ensureDir(outDir, 'reproduce');
  if (options.force) {
    for (const f of [OUTPUT_FILES.runs, OUTPUT_FILES.timings, OUTPUT_FILES.legacyResults, OUTPUT_FILES.legacyTimings]) fs.rmSync(path.join(outDir, f), { recursive: true, force: true });
  }
  publishPlan(outDir, plan, Boolean(shard));
  const executor = options.executor ?? (await import('./execute.js')).executeRun;
  const done = recordedRunIds(outDir);
  const todo = share.filter((p) => !done.has(p.id));
  const skipped = share.filter((p) => done.has(p.id)).map((p) => p.id);
  const t0 = performance.now();
  const bar = new ProgressBar(process.stderr, options.progress ?? Boolean(process.stderr.isTTY));
  let stepsTotal = todo.reduce((s, p) => s + stepsOf(p), 0);
  let stepsDone = 0;
  const ran: string[] = [];
  const limit = options.maxRuns ?? Infinity;
  const progress = (label: string, steps: number) => ({ runsDone: skipped.length + ran.length, runsTotal: share.length, current: label, stepsDone: steps, stepsTotal, elapsedSeconds: (performance.now() - t0) / 1000 });
  for (const run of todo) {
    if (ran.length >= limit) break;
    // Another process (a second reproduce into the same folder) may have recorded it meanwhile.
    if (fs.existsSync(runRecordPath(outDir, run.id))) {
      skipped.push(run.id);
      stepsTotal -= stepsOf(run);
      continue;
    }
    const label = `${run.id} (${run.roles.join(', ')})`;
    const startedAt = new Date().toISOString();
    const runStart = performance.now();
    const cpuStart = process.cpuUsage();
    const ctx: ExecuteContext = {
      onStep: (step) => bar.update(progress(label, stepsDone + step)),
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    };
    bar.update(progress(label, stepsDone), true);
    const record = await executor(run, ctx);
    if (record.id !== run.id) throw new AnalysisError('reproduce', `executor returned record ${record.id} for run ${run.id}`);
    const wall = (performance.now() - runStart) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    // The real step count replaces the planned one, so the ETA tracks reality.
    stepsTotal += record.steps.loss.length - stepsOf(run);
    stepsDone += record.steps.loss.length;
    writeRunRecord(outDir, record);
    writeRunTiming(outDir, {
      id: run.id,
      wallSeconds: wall,
      stepsPerSecond: record.steps.loss.length / Math.max(wall, 1e-9),
      startedAt,
      backend: options.backend ?? 'cpu',
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    });
    ran.push(run.id);
    options.log?.(`${skipped.length + ran.length}/${share.length} ${run.id}: test acc ${(100 * record.final.testAccuracy).toFixed(2)}% in ${wall.toFixed(1)}s`);
  }
  bar.done();
  const wallSeconds = (performance.now() - t0) / 1000;
  const recorded = recordedRunIds(outDir);
  const missing = plan.runs.filter((p) => !recorded.has(p.id)).map((p) => p.id);
  // A shard's report would claim what the other shards have not done yet: only a complete plan gets one.
  if (shard && missing.length) return { profile, plan, records: [], ran, skipped, missing, wallSeconds, report: null, complete: false };
  const merged = await mergeReproduction(outDir, { plan, ...(options.figures === undefined ? {} : { figures: options.figures }), ...(options.backend ? { backend: options.backend } : {}) });
  return { profile, plan, records: merged.records, ran, skipped, missing: merged.missing, wallSeconds, report: merged.report, complete: merged.complete };
}

/** How `mergeReproduction` reads an output folder and where it writes the report. */
export interface MergeOptions {
  /** Where to write the report (default: the output folder itself). */
  reportDir?: string;
  /** The plan (default: the folder's plan.json; without one, every record in the folder). */
  plan?: Plan;
  /** Periods for the landscape (default: the plan's, else 3). */
  periods?: number;
  /** Skip rendering the SVG figures when false. */
  figures?: boolean;
  /** Backend named in the environment when the timings do not say (default cpu). */
  backend?: string;
}

/** What an output folder holds, and the report made from it. */
export interface MergeResult {
  /** The plan merged (the folder's, or the one passed); null for an older folder without one. */
  plan: Plan | null;
  /** The plan's runs recorded in the folder, in plan order (without a plan: every record). */
  records: RunRecord[];
  /** Ids of the plan's runs not recorded yet. */
  missing: string[];
  /** Whether every run of the plan is recorded. */
  complete: boolean;
  /** The report written; null when the folder has no records. */
  report: Report | null;
}

/**
 * Read every record of a reproduction's output folder — whichever process or machine wrote it —
 * and write the report: the plan's runs in plan order with the plan's roles, so it is the report
 * one process running the whole plan writes. A plan with runs not recorded yet gets a partial
 * report that names them. The environment is the merging machine's, with the sum of the runs'
 * wall times and the start of the earliest.
 */
export async function mergeReproduction(outDir: string, options: MergeOptions = {}): Promise<MergeResult> {
  if (!fs.existsSync(outDir) || !fs.statSync(outDir).isDirectory()) throw new AnalysisError('mergeReproduction', `${outDir} is not a folder; expected the output folder of normlab reproduce`);
  const plan = options.plan ?? readPlan(outDir);
  let records: RunRecord[];
  let missing: string[] = [];
  if (plan) {
    const byId = readRunRecords(outDir, plan.runs.map((p) => p.id));
    records = plan.runs.flatMap((p) => {
      const r = byId.get(p.id);
      // Roles as this plan assigns them: a run recorded before (say) the window ablation was switched on serves it too.
      return r ? [{ ...r, roles: p.roles }] : [];
    });
    missing = plan.runs.filter((p) => !byId.has(p.id)).map((p) => p.id);
  } else {
    if (!isOutputFolder(outDir)) throw new AnalysisError('mergeReproduction', `${outDir} has no runs/, plan.json or results.jsonl; expected the output folder of normlab reproduce`);
    records = [...readRunRecords(outDir).values()];
  }
  if (records.length === 0) return { plan, records, missing, complete: false, report: null };
  const total = plan ? plan.runs.length : records.length;
  const timings = readRunTimings(outDir);
  const report = await writeReport(records, options.reportDir ?? outDir, {
    periods: options.periods ?? plan?.periods ?? 3,
    // An older folder without a plan does not say which profile it ran.
    ...(plan ? { environment: mergedEnvironment(timings, plan, records, options.backend), scale: scaleOf(plan, records, timings) } : {}),
    ...(options.figures === undefined ? {} : { figures: options.figures }),
    ...(missing.length ? { title: `normlab reproduction — ${plan!.profile} profile${plan!.selection ? ' (a selection)' : ''}, ${plan!.dataset} (partial: ${records.length} of ${total} runs)`, missing } : {}),
  });
  return { plan, records, missing, complete: missing.length === 0, report };
}

/** The environment of a merged report: this machine, the runs' summed wall time, the earliest start, their backends. */
function mergedEnvironment(timings: ReadonlyMap<string, RunTiming>, plan: Plan, records: readonly RunRecord[], backend = 'cpu'): Environment {
  const mine = records.map((r) => timings.get(r.id)).filter((t): t is RunTiming => t !== undefined);
  const starts = mine.map((t) => t.startedAt).filter((s): s is string => s !== undefined).sort();
  const backends = [...new Set(mine.map((t) => t.backend).filter((b): b is string => b !== undefined))];
  return environment(plan, mine.reduce((s, t) => s + t.wallSeconds, 0), starts[0] ?? new Date().toISOString(), records.length, backends.length ? backends.join(', ') : backend);
}

/** What the plan's recorded runs are and took (the report's "Scale" section). */
export function scaleOf(plan: Plan, records: readonly RunRecord[], timings: ReadonlyMap<string, RunTiming>): Scale {
  const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);
  const timed = records.map((r) => timings.get(r.id)).filter((t): t is RunTiming => t !== undefined);
  const withCpu = timed.filter((t) => t.cpuSeconds !== undefined);
  const spans = timed.flatMap((t) => (t.startedAt ? [{ start: Date.parse(t.startedAt), end: Date.parse(t.startedAt) + 1000 * t.wallSeconds }] : []));
  return {
    profile: plan.profile,
    dataset: plan.dataset,
    selection: plan.selection ?? null,
    planned: plan.runs.length,
    recorded: records.length,
    byRole: RunRoleSchema.options.map((role) => ({ role, runs: records.filter((r) => r.roles.includes(role)).length })).filter((r) => r.runs > 0),
    seeds: sorted(records.map((r) => r.spec.seed)),
    epochs: sorted(records.map((r) => r.spec.epochs)),
    steps: records.reduce((n, r) => n + r.steps.loss.length, 0),
    timed: timed.length,
    cpuTimed: withCpu.length,
    cpuSeconds: withCpu.reduce((s, t) => s + t.cpuSeconds!, 0),
    wallSeconds: timed.reduce((s, t) => s + t.wallSeconds, 0),
    elapsedSeconds: spans.length ? (Math.max(...spans.map((x) => x.end)) - Math.min(...spans.map((x) => x.start))) / 1000 : null,
    backends: [...new Set(timed.map((t) => t.backend).filter((b): b is string => b !== undefined))],
  };
}

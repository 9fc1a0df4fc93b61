/**
 * The experiment runner behind `normlab reproduce`: expands a profile into runs, skips the ones
 * already in `results.jsonl` (resume), runs the rest in plan order, appends each record when its
 * run finishes, and writes the report. `--force` starts over. Wall times go to `timings.jsonl`,
 * apart from the results, so the same profile and seeds give a byte-identical results file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AnalysisError } from './errors.js';
import { getProfile, planRuns, withWindowAblation, type PlannedRun, type Profile } from './profiles.js';
import { ProgressBar } from './progress.js';
import { writeReport, type Report } from './report.js';
import { appendJsonl, ensureDir, readJsonl, readResults } from './results.js';
import type { DatasetName, Environment, RunRecord, RunTiming } from './types.js';

/** Per-step callback an executor calls so the progress bar can move within a run. */
export interface ExecuteContext {
  onStep(step: number, totalSteps: number): void;
  dataDir?: string;
}

/** Trains one planned run and returns its record. `execute.ts` holds the real one. */
export type Executor = (run: PlannedRun, ctx: ExecuteContext) => Promise<RunRecord> | RunRecord;

export interface ReproduceOptions {
  profile: string | Profile;
  outDir: string;
  dataset?: DatasetName;
  dataDir?: string;
  force?: boolean;
  /** Draw the progress bar (default: when stderr is a TTY). */
  progress?: boolean;
  /** One line per finished run (default: nothing). */
  log?: (line: string) => void;
  executor?: Executor;
  /** Stop after this many new runs (for tests of resume); the report is still written. */
  maxRuns?: number;
  /** Skip rendering the SVG figures. */
  figures?: boolean;
  backend?: string;
  /** Switch the profile's window ablation on or off (default: as the profile has it; quick off, smoke and full on). */
  windowAblation?: boolean;
}

export interface ReproduceResult {
  profile: Profile;
  records: RunRecord[];
  ran: string[];
  skipped: string[];
  wallSeconds: number;
  report: Report | null;
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

export function environment(profile: Profile, wallSeconds: number, startedAt: string, runs: number, backend = 'cpu'): Environment {
  const cpus = os.cpus();
  return {
    normlabVersion: version(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    backend,
    profile: profile.name,
    dataset: profile.dataset,
    wallSeconds,
    startedAt,
    runs,
  };
}

export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const named = typeof options.profile === 'string' ? getProfile(options.profile, options.dataset) : options.profile;
  const profile = options.windowAblation === undefined ? named : withWindowAblation(named, options.windowAblation);
  const outDir = options.outDir;
  const resultsFile = path.join(outDir, 'results.jsonl');
  const timingsFile = path.join(outDir, 'timings.jsonl');
  ensureDir(outDir, 'reproduce');
  if (options.force) {
    for (const f of [resultsFile, timingsFile]) fs.rmSync(f, { force: true });
  }
  const executor = options.executor ?? (await import('./execute.js')).executeRun;
  const plan = planRuns(profile);
  const existing = fs.existsSync(resultsFile) ? readResults(resultsFile) : [];
  const byId = new Map(existing.map((r) => [r.id, r]));
  const planIds = new Set(plan.map((p) => p.id));
  const todo = plan.filter((p) => !byId.has(p.id));
  const skipped = plan.filter((p) => byId.has(p.id)).map((p) => p.id);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const bar = new ProgressBar(process.stderr, options.progress ?? Boolean(process.stderr.isTTY));
  const stepsOf = (p: PlannedRun) => p.spec.epochs * Math.max(1, Math.floor(p.spec.trainLimit / p.spec.batchSize));
  // Planned steps use the train limit; a dataset smaller than it makes the ETA pessimistic, never optimistic.
  let stepsTotal = todo.reduce((s, p) => s + stepsOf(p), 0);
  let stepsDone = 0;
  const ran: string[] = [];
  const limit = options.maxRuns ?? Infinity;
  for (const run of todo) {
    if (ran.length >= limit) break;
    const label = `${run.id} (${run.roles.join(', ')})`;
    const runStart = performance.now();
    const ctx: ExecuteContext = {
      onStep: (step) => {
        bar.update({ runsDone: skipped.length + ran.length, runsTotal: plan.length, current: label, stepsDone: stepsDone + step, stepsTotal, elapsedSeconds: (performance.now() - t0) / 1000 });
      },
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    };
    bar.update({ runsDone: skipped.length + ran.length, runsTotal: plan.length, current: label, stepsDone, stepsTotal, elapsedSeconds: (performance.now() - t0) / 1000 }, true);
    const record = await executor(run, ctx);
    if (record.id !== run.id) throw new AnalysisError('reproduce', `executor returned record ${record.id} for run ${run.id}`);
    const wall = (performance.now() - runStart) / 1000;
    // The real step count replaces the planned one, so the ETA tracks reality.
    stepsTotal += record.steps.loss.length - stepsOf(run);
    stepsDone += record.steps.loss.length;
    appendJsonl(resultsFile, record);
    const timing: RunTiming = { id: run.id, wallSeconds: wall, stepsPerSecond: record.steps.loss.length / Math.max(wall, 1e-9) };
    appendJsonl(timingsFile, timing);
    byId.set(record.id, record);
    ran.push(run.id);
    options.log?.(`${skipped.length + ran.length}/${plan.length} ${run.id}: test acc ${(100 * record.final.testAccuracy).toFixed(2)}% in ${wall.toFixed(1)}s`);
  }
  bar.done();
  const wallSeconds = (performance.now() - t0) / 1000;
  // Only this plan's runs, in plan order: a results file shared with another profile is not mixed in.
  // Roles as this plan assigns them: a run recorded before (say) the window ablation was switched on serves it too.
  const records = plan.flatMap((p) => {
    const r = byId.get(p.id);
    return r ? [{ ...r, roles: p.roles }] : [];
  });
  const complete = records.length === plan.length;
  const timings = (fs.existsSync(timingsFile) ? readJsonl(timingsFile).lines.map((l) => l.value as RunTiming) : []).filter((t) => planIds.has(t.id));
  const totalWall = timings.reduce((s, t) => s + t.wallSeconds, 0);
  let report: Report | null = null;
  if (records.length) {
    report = await writeReport(records, outDir, {
      periods: profile.periods,
      environment: environment(profile, totalWall, startedAt, records.length, options.backend),
      ...(options.figures === undefined ? {} : { figures: options.figures }),
      ...(complete ? {} : { title: `normlab reproduction — ${profile.name} profile, ${profile.dataset} (partial: ${records.length} of ${plan.length} runs)` }),
    });
  }
  return { profile, records, ran, skipped, wallSeconds, report, complete };
}

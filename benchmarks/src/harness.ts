/**
 * The benchmark harness: warm-up plus timed repetitions of each runner, median times, GFLOP/s and
 * speed ratios of the subject (normlab) against every peer measured in the same run — ratios, not
 * absolute times, are what survive a noisy shared machine. Results go to
 * `benchmarks/results/<suite>.json` and to this suite's own section of `docs/benchmarks.md`, so
 * suites (kernels, norm layers, training step) can be re-run and regenerated independently.
 *
 * A suite is a module `src/suites/<name>.ts` whose default export is a `Suite`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@normlab/models';
import { getNumThreads, setBackend } from '@normlab/tensor';
import { type TimingOptions, median, timeRunner } from './timing.js';

export { DEFAULT_TIMING, median, timeRunner, type TimingOptions } from './timing.js';

/** The benchmarks workspace root (this file is in src/ or dist/). */
export const BENCH_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(BENCH_ROOT, '..');
export const RESULTS_DIR = path.join(BENCH_ROOT, 'results');
export const DOCS_FILE = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
export const PYTHON = '/usr/bin/python3';

export interface SuiteContext {
  /** normlab's backend for this run. */
  backend: 'wasm' | 'cpu' | 'gpu';
  timing: TimingOptions;
  /** Whether to run the PyTorch peer (when python3 + torch are there). */
  torch: boolean;
  /** Intra-op threads for the multi-threaded PyTorch rows (default: the machine's cores). */
  torchThreads: number;
  /** Arguments the runner did not consume, for the suite to read. */
  args: string[];
  log: (line: string) => void;
}

/** One implementation of a case. `run` does one complete call, synchronously or not. */
export interface Runner {
  name: string;
  /** Called once before timing (e.g. to switch the tfjs backend and build inputs); a string return means "skip: reason". */
  setup?: () => Promise<string | void> | string | void;
  /** Called once after timing (free inputs). */
  teardown?: () => void;
  run?: () => unknown;
  /** Samples measured elsewhere (e.g. by the Python peer), in ms. */
  samplesMs?: number[];
  /** Why this peer has no number (missing kernel, missing library). */
  skipped?: string;
  note?: string;
}

/**
 * `runner` (built for the run's backend) as a peer row on backend `name`: it switches the tensor
 * backend for its setup and timing and restores the run's backend afterwards. The suites add
 * `normlab (cpu)` this way, so the wasm and cpu kernels are compared in one run.
 */
export function onBackend(name: string, runner: Runner, restore: string): Runner {
  return {
    ...runner,
    name: `normlab (${name})`,
    setup: async () => {
      setBackend(name);
      return runner.setup?.();
    },
    teardown: () => {
      runner.teardown?.();
      setBackend(restore);
    },
  };
}

/** The `normlab (cpu)` peer row of a suite whose run is on another backend (none on cpu). */
export function cpuPeer(ctx: SuiteContext, make: () => Runner): Runner[] {
  return ctx.backend === 'cpu' ? [] : [onBackend('cpu', make(), ctx.backend)];
}

export interface RunnerResult {
  peer: string;
  status: 'ok' | 'skipped';
  medianMs?: number;
  minMs?: number;
  samples?: number;
  gflops?: number;
  note?: string;
}

export interface CaseResult {
  name: string;
  /** Floating-point operations of one call (multiply and add counted separately). */
  flops: number;
  description: string;
  subject: string;
  results: RunnerResult[];
  /** subject speed / peer speed (= peer median / subject median): "normlab is r× the peer". */
  ratios: Record<string, number>;
}

export interface SuiteResult {
  suite: string;
  title: string;
  description: string;
  createdAt: string;
  machine: MachineInfo;
  backend: string;
  timing: TimingOptions;
  notes: string[];
  cases: CaseResult[];
}

export interface Suite {
  name: string;
  title: string;
  description: string;
  run: (ctx: SuiteContext) => Promise<{ cases: CaseResult[]; notes: string[] }>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  /** Threads normlab's cpu kernels may use in this run (absent in results from before they could). */
  normlabThreads?: number;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    normlabThreads: getNumThreads(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** Measure the subject and every peer of one case and compute the ratios. */
type CaseSpec = { name: string; flops: number; description: string; subject: Runner; peers: Runner[] };

/** Time one runner (setup, warm-up, samples, teardown) into a result row. */
async function timeOne(ctx: SuiteContext, spec: CaseSpec, r: Runner): Promise<RunnerResult> {
  if (r.skipped !== undefined) {
    ctx.log(`  ${spec.name} · ${r.name}: skipped (${r.skipped})`);
    return { peer: r.name, status: 'skipped', note: r.skipped };
  }
  const why = r.setup ? await r.setup() : undefined;
  if (typeof why === 'string') {
    ctx.log(`  ${spec.name} · ${r.name}: skipped (${why})`);
    return { peer: r.name, status: 'skipped', note: why };
  }
  let samples: number[];
  try {
    samples = r.samplesMs ?? (await timeRunner(r.run!, ctx.timing));
  } finally {
    r.teardown?.();
  }
  const med = median(samples);
  const res: RunnerResult = {
    peer: r.name,
    status: 'ok',
    medianMs: round(med, 3),
    minMs: round(Math.min(...samples), 3),
    samples: samples.length,
    gflops: round(spec.flops / (med * 1e6), 3),
  };
  if (r.note) res.note = r.note;
  ctx.log(`  ${spec.name} · ${r.name}: ${fmtMs(med)} ms median of ${samples.length}, ${res.gflops!.toFixed(2)} GFLOP/s`);
  return res;
}

function caseResult(spec: CaseSpec, results: RunnerResult[]): CaseResult {
  const subject = results[0]!;
  const ratios: Record<string, number> = {};
  for (const r of results.slice(1)) {
    if (r.status === 'ok' && subject.status === 'ok') ratios[r.peer] = round(r.medianMs! / subject.medianMs!, 3);
  }
  return { name: spec.name, flops: spec.flops, description: spec.description, subject: subject.peer, results, ratios };
}

/**
 * Time a suite's cases, in this process: every case's subject (normlab) first, then each case's
 * peers. Timing case by case let a peer that ran before tax the next case's subject by up to
 * 40% (measured on GN+ after the tfjs-wasm GN and BN cases: 16.7 ms against 11.6 ms alone), as
 * tfjs-wasm leaves its grown WebAssembly heap behind.
 */
export async function benchCases(ctx: SuiteContext, specs: CaseSpec[]): Promise<CaseResult[]> {
  const subjects: RunnerResult[] = [];
  for (const spec of specs) subjects.push(await timeOne(ctx, spec, spec.subject));
  const cases: CaseResult[] = [];
  for (const [i, spec] of specs.entries()) {
    const results = [subjects[i]!];
    for (const r of spec.peers) results.push(await timeOne(ctx, spec, r));
    cases.push(caseResult(spec, results));
  }
  return cases;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Whether `/usr/bin/python3 -c "import torch"` works. */
export function torchAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

export interface TorchCaseSpec {
  /** Case name, echoed back. */
  name: string;
  /** An op known to `benchmarks/python/torch_bench.py`. */
  op: string;
  /** Op parameters (shapes, stride, padding...). */
  params: Record<string, unknown>;
}

export interface TorchRun {
  torchVersion: string;
  threads: number;
  samplesMs: Record<string, number[]>;
}

/**
 * Run `benchmarks/python/torch_bench.py` with these cases and `threads` intra-op threads; it
 * prints one JSON object with the raw samples per case, timed with the same protocol as here.
 */
export function runTorch(cases: TorchCaseSpec[], threads: number, timing: TimingOptions): TorchRun {
  const script = path.join(BENCH_ROOT, 'python', 'torch_bench.py');
  const spec = JSON.stringify({ cases, threads, ...timing });
  const r = spawnSync(PYTHON, [script], { input: spec, encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 });
  if (r.status !== 0) {
    throw new Error(`torch_bench.py failed (exit ${r.status ?? r.signal}): ${(r.stderr || '').trim().slice(-2000)}`);
  }
  const out = JSON.parse(r.stdout) as { torch_version: string; threads: number; samples_ms: Record<string, number[]> };
  return { torchVersion: out.torch_version, threads: out.threads, samplesMs: out.samples_ms };
}

/**
 * PyTorch peers for a suite's cases: one Python run with 1 intra-op thread (like normlab's
 * single-threaded kernels) and one with `ctx.torchThreads` (default: the machine's cores). Returns the runners per
 * case name and notes for the report; when torch is missing or fails, the runners are skipped
 * with the reason.
 */
export function torchRunners(ctx: SuiteContext, cases: TorchCaseSpec[]): { runners: Map<string, Runner[]>; notes: string[] } {
  const runners = new Map<string, Runner[]>(cases.map((c) => [c.name, []]));
  const notes: string[] = [];
  const counts = [...new Set([1, ctx.torchThreads])];
  const name = (t: number) => `PyTorch CPU (${t} thread${t === 1 ? '' : 's'})`;
  let reason: string | undefined;
  if (!ctx.torch) reason = 'disabled with --no-torch';
  else if (!torchAvailable()) reason = `${PYTHON} -c "import torch" failed`;
  for (const t of counts) {
    let run: TorchRun | undefined;
    let why = reason;
    if (!why) {
      try {
        ctx.log(`  running PyTorch with ${t} thread(s)...`);
        run = runTorch(cases, t, ctx.timing);
        if (t === counts[counts.length - 1]) {
          notes.push(`PyTorch ${run.torchVersion} (Debian python3-torch) on CPU, torch.set_num_threads(${run.threads}) for the ${t}-thread rows; timed in a child process in the same run, before the JS runners.`);
        }
      } catch (err) {
        why = (err as Error).message.split('\n')[0]!;
      }
    }
    for (const c of cases) {
      const samples = run?.samplesMs[c.name];
      runners.get(c.name)!.push(samples ? { name: name(t), samplesMs: samples } : { name: name(t), skipped: why ?? 'no samples' });
    }
  }
  return { runners, notes };
}

/**
 * A note stating whether `caseResult`'s subject reached `factor`× the speed of `peer`, from the
 * measured ratio (for targets set in the issues, e.g. "≥ 4× tfjs-backend-cpu").
 */
export function targetNote(caseResult: CaseResult | undefined, peer: string, factor: number): string | undefined {
  if (!caseResult) return undefined;
  const r = caseResult.ratios[peer];
  if (r === undefined) return `Target ${caseResult.name} ≥ ${factor}× ${peer}: not measured (peer skipped).`;
  return `Target ${caseResult.name} ≥ ${factor}× ${peer}: ${r >= factor ? 'reached' : 'NOT reached'} in this run (${r.toFixed(2)}×).`;
}

/** Read back `results/<suite>.json`, or undefined when the suite has not been run. */
export function readResults(suite: string): SuiteResult | undefined {
  const file = path.join(RESULTS_DIR, `${suite}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SuiteResult) : undefined;
}

/** Write `results/<suite>.json` (atomically, so a crash never leaves half a file). */
export function writeResults(result: SuiteResult): string {
  const file = path.join(RESULTS_DIR, `${result.suite}.json`);
  writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n', 'bench');
  return file;
}

const DOC_HEADER = `# Benchmarks

Generated by \`npm run bench -- --write-docs\` (the \`benchmarks/\` workspace); each suite below
rewrites only its own section, between its \`<!-- suite:NAME -->\` markers, and its raw numbers
are in \`benchmarks/results/NAME.json\`. Without \`--write-docs\` a run prints its tables on stdout
and writes nothing. Every suite runs in its own process, normlab and its peers in
that same run (normlab's cases first, then the peers', so no library's leftover heap taxes
another's timings), so the **ratios** (normlab's speed over the peer's) are the figures to read:
absolute times move with the load of the machine.

How to run (from the repository root, after \`npm ci\` has built the packages):

\`\`\`sh
npm run bench                                   # every suite; prints the tables, writes nothing
npm run bench -- --suite matmul                 # one suite (repeat --suite or use a comma list)
npm run bench -- --suite conv2d --reps 20       # more repetitions
npm run bench -- --backend cpu                  # normlab on the pure-TS kernels only
npm run bench -- --backend gpu                  # normlab on @normlab/gpu (falls back per op to cpu)
npm run bench -- --no-torch                     # skip PyTorch
npm run bench -- --write-docs                   # also update results/*.json and this file
\`\`\`

Flags: \`--suite NAME\`, \`--backend wasm|cpu|gpu\` (default wasm; the suites add a \`normlab (cpu)\` row beside it), \`--reps N\` (timed calls, default 10),
\`--warmup N\` (default 2) and \`--warmup-ms MS\` (default 500: warm-up calls go on until both are reached), \`--max-time MS\` (stop repeating a runner after this long once it has
3 samples, default 5000; a runner slower than that per call gets 1 or 2 samples),
\`--torch-threads N\` (default: the machine's core count), \`--no-torch\`, \`--write-docs\` (write
\`benchmarks/results/NAME.json\` and regenerate the suite's section here),
\`--docs-only\` (rebuild this file from \`benchmarks/results/*.json\` without measuring); other
arguments are passed through to the suites. Timing: warm-up calls, then timed calls; the table
shows the median, GFLOP/s = FLOPs of one call / median time, and ratio = peer median / normlab
median (above 1: normlab is faster). The machine these numbers come from is named in each section,
with its load average: it is a shared 2-core VM, so absolute times vary by ±50% between runs.

Peers: \`@tensorflow/tfjs-backend-cpu\` (pure JS), \`@tensorflow/tfjs-backend-wasm\` (XNNPACK,
SIMD, loaded from \`node_modules\`; single-threaded in Node since it has no worker pool there) and
PyTorch on CPU (Debian's \`python3-torch\`, through \`benchmarks/python/torch_bench.py\`) when
\`/usr/bin/python3 -c "import torch"\` works. normlab runs on its default backend, \`wasm\`
(WebAssembly SIMD kernels from @normlab/wasm; ops without a wasm kernel run on cpu), with a
\`normlab (cpu)\` row beside it: the pure-TypeScript kernels in the same run. Both split their
work across threads (conv2d, matmul, the norm kernels): \`NORMLAB_NUM_THREADS\` threads, by default
every core: each section names the count (\`NORMLAB_NUM_THREADS=1 npm run bench\` times one thread).

This file is regenerated: measurements that are not a suite (before/after comparisons of an
optimization, training on the gpu backend) live in [performance.md](performance.md).
`;

/** Markdown for one suite's section. */
export function suiteMarkdown(r: SuiteResult): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`## ${r.title}`, '');
  lines.push(r.description, '');
  lines.push(
    `Measured ${r.createdAt.slice(0, 16).replace('T', ' ')} UTC on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ` +
      `Node ${m.node}, ${m.platform}; load average at start ${m.loadAverage.join(' / ')}. ` +
      `normlab backend \`${r.backend}\`${m.normlabThreads !== undefined ? `, ${m.normlabThreads} thread${m.normlabThreads > 1 ? 's' : ''}` : ''}; ${r.timing.warmup} warm-up calls${r.timing.warmupMs ? ` and ≥ ${r.timing.warmupMs} ms of warm-up` : ''} + up to ${r.timing.reps} timed calls per runner.`,
    '',
  );
  lines.push('| case | implementation | median ms | samples | GFLOP/s | normlab speed-up vs this |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const c of r.cases) {
    for (const res of c.results) {
      const isSubject = res.peer === c.subject;
      const ratio = isSubject ? '—' : c.ratios[res.peer] !== undefined ? `${c.ratios[res.peer]!.toFixed(2)}×` : 'n/a';
      if (res.status === 'skipped') {
        lines.push(`| ${c.name} | ${res.peer} | n/a | 0 | n/a | n/a (${res.note}) |`);
      } else {
        const name = isSubject ? `**${res.peer}**` : res.peer;
        lines.push(`| ${c.name} | ${name} | ${fmtMs(res.medianMs!)} | ${res.samples} | ${res.gflops!.toFixed(2)} | ${ratio} |`);
      }
    }
  }
  if (r.notes.length) {
    lines.push('');
    for (const n of r.notes) lines.push(`- ${n}`);
  }
  return lines.join('\n');
}

/** Replace (or append) this suite's section of docs/benchmarks.md, keeping the others. */
export function updateDocs(r: SuiteResult, file = DOCS_FILE): void {
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // Sections are whole-line marker pairs; the header (regenerated, so it tracks the flags) only
  // mentions the markers mid-line, so it never matches.
  const sections: Array<[string, string]> = [];
  const re = /^<!-- suite:([\w-]+) -->$[\s\S]*?^<!-- \/suite:\1 -->$/gm;
  for (let m = re.exec(existing); m; m = re.exec(existing)) sections.push([m[1]!, m[0]]);
  const mine = `<!-- suite:${r.suite} -->\n${suiteMarkdown(r)}\n<!-- /suite:${r.suite} -->`;
  const at = sections.findIndex(([name]) => name === r.suite);
  if (at >= 0) sections[at] = [r.suite, mine];
  else sections.push([r.suite, mine]);
  writeFileAtomic(file, DOC_HEADER + '\n' + sections.map(([, text]) => text).join('\n\n') + '\n', 'bench');
}

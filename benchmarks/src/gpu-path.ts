/**
 * `npm run bench:gpu`: the GPU path, measured where it is meant to run. Opens headless Chromium
 * with the flags that make it render WebGL on a real GPU on Linux (ANGLE on Vulkan, else ANGLE on
 * EGL, else Chromium's default), reports which renderer it got (SwiftShader, Chromium's software
 * rasterizer, means there is no GPU, and the run says so), then in one page runs gpu.js's parity
 * cases on WebGL2 and times matmul, conv2d and GN/BN forward + backward on cpu, on wasm and on
 * gpu.js WebGL2 (benchmarks/src/gpu-path/cases.ts). In Node it does the same on headless-gl
 * where the `gl` package builds. One short run (a few minutes at most); results go to
 * benchmarks/results/gpu-path.json and to docs/performance.md, section "GPU path".
 *
 *   npm run bench:gpu [-- --flags vulkan|egl|default] [--no-docs]     (CHROMIUM=/path to override /usr/bin/chromium)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '@normlab/models';
import { setBackend } from '@normlab/tensor';
import { type BrowserContext, chromium } from 'playwright-core';
import { createServer } from 'vite';
import { type BackendRun, type PageReport, runBackend } from './gpu-path/cases.js';
import { BENCH_ROOT, REPO_ROOT, RESULTS_DIR, machineInfo } from './harness.js';

const PERFORMANCE_DOC = path.join(REPO_ROOT, 'docs', 'performance.md');
const RESULTS_FILE = path.join(RESULTS_DIR, 'gpu-path.json');
const PAGE_TIMEOUT_MS = 240_000;

/**
 * Ways to ask headless Chromium on Linux for a hardware GPU, tried in order. ANGLE on Vulkan is
 * what Chrome's team documents for NVIDIA GPUs in headless mode (the Vulkan surface disabled:
 * there is no window); ANGLE on EGL is the OpenGL route; `default` leaves the choice to Chromium.
 */
const FLAG_SETS: Record<string, string[]> = {
  vulkan: ['--use-gl=angle', '--use-angle=vulkan', '--enable-features=Vulkan', '--disable-vulkan-surface'],
  egl: ['--use-gl=angle', '--use-angle=gl-egl'],
  default: [],
};
const COMMON_FLAGS = [
  '--no-sandbox',
  '--ignore-gpu-blocklist',
  '--enable-gpu-rasterization',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Chromium's and Mesa's software rasterizers: WebGL without a GPU. */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

interface Probe {
  flags: string;
  renderer: string | null;
  gpu: boolean;
}

interface RunRecord {
  createdAt: string;
  gpu: boolean;
  flags: string;
  probes: Probe[];
  machine: ReturnType<typeof machineInfo>;
  browser: PageReport;
  headlessGl: { available: boolean; note: string; runs: BackendRun[] };
}

class UsageError extends Error {}

function parseArgs(argv: string[]): { flags: string[]; docs: boolean } {
  const opts = { flags: Object.keys(FLAG_SETS), docs: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-docs') opts.docs = false;
    else if (a === '--flags') {
      const v = argv[++i];
      if (!v || !(v in FLAG_SETS)) throw new UsageError(`--flags must be one of ${Object.keys(FLAG_SETS).join(', ')}, got ${v ?? 'nothing'}`);
      opts.flags = [v];
    } else throw new UsageError(`unknown argument ${a}`);
  }
  return opts;
}

async function launch(flags: string): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const profile = mkdtempSync(path.join(os.tmpdir(), 'normlab-gpu-path-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...COMMON_FLAGS, ...FLAG_SETS[flags]!],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Evaluated in the browser (a string: this file is compiled without the DOM's types). */
const RENDERER_SCRIPT = `(() => {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
})()`;

/** The WebGL2 renderer Chromium gets with these flags. */
async function probe(flags: string): Promise<Probe> {
  const b = await launch(flags);
  try {
    const page = b.context.pages()[0] ?? (await b.context.newPage());
    const renderer = await page.evaluate<string | null>(RENDERER_SCRIPT);
    return { flags, renderer, gpu: renderer !== null && !SOFTWARE_RENDERER.test(renderer) };
  } finally {
    await b.close();
  }
}

/** The page's run, served by vite from benchmarks/gpu-page. */
async function browserRun(flags: string): Promise<PageReport> {
  const server = await createServer({
    configFile: false,
    root: path.join(BENCH_ROOT, 'gpu-page'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, hmr: false },
    // The linked packages as built (dist/), bundled once by the dev server like any dependency.
    optimizeDeps: {
      include: ['@normlab/tensor', '@normlab/wasm', '@normlab/autograd', '@normlab/nn', '@normlab/norm-layers', '@normlab/gpu', '@normlab/gpu/parity'],
    },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  const b = await launch(flags);
  try {
    if (!url) throw new Error('the page server did not start');
    const page = b.context.pages()[0] ?? (await b.context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
      if (m.type() === 'log') console.log(`  ${m.text()}`);
    });
    await page.goto(url);
    // The page computes on its main thread; it logs its progress to the console, which arrives
    // while it is busy, and sets window.__gpuPath at the end.
    await page.waitForFunction('window.__gpuPath !== undefined', undefined, { timeout: PAGE_TIMEOUT_MS, polling: 1000 });
    const report = (await page.evaluate<PageReport>('window.__gpuPath'))!;
    if (errors.length) report.error = [report.error, ...errors].filter(Boolean).join('\n');
    return report;
  } finally {
    await b.close();
    await server.close();
  }
}

/** gpu.js on headless-gl in Node, where the optional `gl` package built. */
async function headlessGlRun(): Promise<RunRecord['headlessGl']> {
  try {
    const spec = 'gl';
    await import(spec);
  } catch (err) {
    return { available: false, note: `the \`gl\` package (gpu.js's optional headless-gl) is not installed or did not build: ${(err as Error).message.split('\n')[0]}`, runs: [] };
  }
  await import('@normlab/gpu');
  const reference = new Map<string, Float32Array>();
  const runs: BackendRun[] = [];
  const log = (line: string) => console.log(line);
  runs.push(await runBackend('cpu (Node, pure TypeScript)', () => setBackend('cpu'), reference, log));
  runs.push(await runBackend('wasm (Node, WebAssembly SIMD)', () => setBackend('wasm'), reference, log));
  runs.push(await runBackend('gpu.js headless-gl', () => setBackend('gpu', { mode: 'headlessgl' }), reference, log));
  setBackend('cpu');
  return { available: true, note: 'gpu.js mode headlessgl', runs };
}

const fmt = (ms: number | null) => (ms === null ? '—' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/** cpu vs the other backends of the same environment, one row per case. */
function table(runs: BackendRun[]): string[] {
  if (runs.length === 0) return [];
  const [cpu, ...others] = runs;
  const head = ['case', ...runs.map((r) => `${r.backend} (ms)`), ...others.map((r) => `${r.backend} vs cpu`), ...others.map((r) => `${r.backend} rel. error`)];
  const lines = [`| ${head.join(' | ')} |`, `| --- | ${head.slice(1).map(() => '---:').join(' | ')} |`];
  cpu!.cases.forEach((c, i) => {
    const row = [c.case, ...runs.map((r) => (r.cases[i]!.error ? 'failed' : fmt(r.cases[i]!.medianMs)))];
    for (const r of others) {
      const o = r.cases[i]!;
      row.push(o.medianMs && c.medianMs ? `${(c.medianMs / o.medianMs).toFixed(2)}×` : '—');
    }
    for (const r of others) {
      const o = r.cases[i]!;
      row.push(o.relativeError === null ? '—' : o.relativeError.toExponential(1));
    }
    lines.push(`| ${row.join(' | ')} |`);
  });
  for (const r of runs) for (const c of r.cases) if (c.error) lines.push('', `${r.backend}, ${c.case}: ${c.error}`);
  return lines;
}

function section(r: RunRecord): string {
  const when = r.createdAt.slice(0, 16).replace('T', ' ');
  const b = r.browser;
  const what = r.gpu ? `GPU: ${b.renderer}` : `no GPU (WebGL2 renderer: ${b.renderer ?? 'none'})`;
  const lines = [
    `<!-- gpu-path run: ${r.gpu ? 'gpu' : 'software'} -->`,
    `### ${when} UTC: ${what}`,
    '',
    r.gpu
      ? `Headless Chromium rendered WebGL2 on a GPU with the \`${r.flags}\` flags.`
      : `No flag set gave headless Chromium a GPU (${r.probes.map((p) => `\`${p.flags}\`: ${p.renderer ?? 'no WebGL2'}`).join('; ')}). ` +
        'The gpu.js column below is software rendering on the CPU, not a GPU measurement.',
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.platform}, load average ${r.machine.loadAverage.join(' ')}; ${b.userAgent}. ` +
      `WebGPU adapter: ${b.webgpuAdapter ?? 'none'}.`,
    '',
    `gpu.js parity cases on WebGL2 (mode that ran: ${b.parity.mode ?? 'none'}): ${b.parity.passed} pass, ${b.parity.failed.length} fail` +
      (b.parity.error ? `; error: ${b.parity.error}` : '') +
      (b.parity.failed.length ? ` (${b.parity.failed.join('; ')})` : '') +
      '.',
    '',
    ...table(b.runs),
    '',
    `headless-gl in Node: ${r.headlessGl.available ? 'measured' : 'not measured'}: ${r.headlessGl.note}.`,
    ...(r.headlessGl.runs.length ? ['', ...table(r.headlessGl.runs)] : []),
    ...(b.error ? ['', `Page errors: ${b.error}`] : []),
    '',
  ];
  return lines.join('\n');
}

const RUNS_START = '<!-- gpu-path runs: written by `npm run bench:gpu`; runs on a GPU are kept, of the others only the latest -->';
const RUNS_END = '<!-- gpu-path runs end -->';

/** Put the run into docs/performance.md between the markers of its "GPU path" section. */
function updateDoc(r: RunRecord): void {
  const doc = readFileSync(PERFORMANCE_DOC, 'utf8');
  const a = doc.indexOf(RUNS_START);
  const z = doc.indexOf(RUNS_END);
  if (a < 0 || z < a) throw new Error(`${PERFORMANCE_DOC} has no "GPU path" run markers (${RUNS_START} … ${RUNS_END})`);
  const blocks = doc
    .slice(a + RUNS_START.length, z)
    .split('<!-- gpu-path run: ')
    .slice(1)
    .map((s) => `<!-- gpu-path run: ${s.trim()}\n`);
  const kept = blocks.filter((blk) => blk.startsWith('<!-- gpu-path run: gpu'));
  const runs = r.gpu ? [section(r), ...kept] : [...kept, section(r)];
  writeFileAtomic(PERFORMANCE_DOC, `${doc.slice(0, a)}${RUNS_START}\n\n${runs.join('\n')}\n${doc.slice(z)}`, 'bench:gpu');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const probes: Probe[] = [];
  for (const flags of opts.flags) {
    const p = await probe(flags);
    probes.push(p);
    console.log(`flags ${flags}: WebGL2 renderer ${p.renderer ?? 'none'}${p.gpu ? '' : ' (no GPU)'}`);
    if (p.gpu) break;
  }
  const chosen = probes.find((p) => p.gpu) ?? probes[probes.length - 1]!;
  console.log(
    chosen.gpu
      ? `\nrunning on the GPU (${chosen.renderer}) with flags ${chosen.flags}`
      : '\nno GPU: headless Chromium renders WebGL2 in software here; the gpu.js numbers below are not GPU numbers',
  );
  const browser = await browserRun(chosen.flags);
  console.log('\nheadless-gl in Node:');
  const headlessGl = await headlessGlRun();
  if (!headlessGl.available) console.log(`  not measured: ${headlessGl.note}`);
  const record: RunRecord = { createdAt: new Date().toISOString(), gpu: chosen.gpu, flags: chosen.flags, probes, machine: machineInfo(), browser, headlessGl };
  writeFileAtomic(RESULTS_FILE, `${JSON.stringify(record, null, 2)}\n`, 'bench:gpu');
  console.log(`\n${section(record)}`);
  console.log(`wrote ${path.relative(process.cwd(), RESULTS_FILE)}`);
  if (opts.docs) {
    updateDoc(record);
    console.log(`updated ${path.relative(process.cwd(), PERFORMANCE_DOC)} (section "GPU path")`);
  }
  if (browser.error || browser.parity.error || browser.parity.failed.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err instanceof UsageError ? `bench:gpu: ${err.message}` : err);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});

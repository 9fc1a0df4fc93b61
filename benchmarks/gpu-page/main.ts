/**
 * The GPU path's page (benchmarks/src/gpu-path.ts serves it and reads `window.__gpuPath`): what
 * renders WebGL2 here, gpu.js's parity cases on WebGL2, then the timing cases on cpu (pure
 * TypeScript), on wasm (WebAssembly SIMD) and on gpu.js WebGL2, in this one page. A page's main
 * thread has no worker pool: cpu and wasm run in one thread.
 */
import { setBackend, setWarningHandler } from '@normlab/tensor';
import '@normlab/norm-layers';
import { backendInfo } from '@normlab/gpu';
import { initWasm } from '@normlab/wasm';
import { allCases } from '@normlab/gpu/parity';
import { type PageReport, runBackend } from '../src/gpu-path/cases.js';

/** Progress, to the page and to the console (which the runner prints while the page computes). */
const logEl = document.getElementById('log')!;
const log = (line: string) => {
  logEl.textContent += `\n${line}`;
  console.log(line);
};

function webgl2Info(): { renderer: string | null; vendor: string | null } {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return { renderer: null, vendor: null };
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  return {
    renderer: String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER)),
    vendor: String(gl.getParameter(dbg ? dbg.UNMASKED_VENDOR_WEBGL : gl.VENDOR)),
  };
}

/** A WebGPU adapter's description, for the record (gpu.js's WebGPU mode is asynchronous: normlab's ops cannot use it). */
async function webgpuAdapter(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
  const adapter = await gpu?.requestAdapter().catch(() => null);
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'an adapter with no description';
}

async function main(): Promise<PageReport> {
  const report: PageReport = {
    userAgent: navigator.userAgent,
    ...webgl2Info(),
    webgpuAdapter: await webgpuAdapter(),
    parity: { passed: 0, failed: [], mode: null, error: null },
    runs: [],
    warnings: [],
    error: null,
  };
  setWarningHandler((m) => report.warnings.push(m));
  log(`WebGL2 renderer: ${report.renderer ?? 'none'}`);
  try {
    setBackend('gpu', { mode: 'webgl2' });
    const results = allCases();
    report.parity.mode = backendInfo().mode;
    report.parity.passed = results.filter((r) => r.ok).length;
    report.parity.failed = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
  } catch (err) {
    report.parity.error = String((err as Error)?.message ?? err);
  } finally {
    setBackend('cpu');
  }
  log(`parity on ${report.parity.mode}: ${report.parity.passed} pass, ${report.parity.failed.length} fail`);
  const reference = new Map<string, Float32Array>();
  report.runs.push(await runBackend('cpu (pure TypeScript, 1 thread)', () => setBackend('cpu'), reference, log));
  // A page's main thread may not compile the kernels synchronously: compile them now. Where that
  // fails (no WebAssembly SIMD), setBackend('wasm') throws and each case records why.
  await initWasm().catch((err: Error) => log(`wasm: ${err.message}`));
  report.runs.push(await runBackend('wasm (WebAssembly SIMD, 1 thread)', () => setBackend('wasm'), reference, log));
  report.runs.push(await runBackend('gpu.js WebGL2', () => setBackend('gpu', { mode: 'webgl2' }), reference, log));
  setBackend('cpu');
  return report;
}

main()
  .catch((err) => ({ error: String(err?.stack ?? err) }) as PageReport)
  .then((report) => {
    (window as Window & { __gpuPath?: PageReport }).__gpuPath = report;
    log('done');
  });

// Runs in headless Chromium (served by run.mjs): the parity cases of @normlab/gpu/parity on each
// GPU mode the page offers (WebGL2, WebGL), and a WebGPU check when an adapter exists. The
// result lands in window.__parity for run.mjs to read.
import { setBackend, getKernel, randn, setWarningHandler } from '@normlab/tensor';
import '@normlab/norm-layers';
import { backendInfo, kernelSources } from '@normlab/gpu';
import { allCases } from '@normlab/gpu/parity';

const report = { userAgent: navigator.userAgent, modes: [], webgpu: null, warnings: [] };
setWarningHandler((m) => report.warnings.push(m));

for (const mode of ['webgl2', 'webgl']) {
  const entry = { mode, ran: null, ok: false, results: [], error: null, renderer: null };
  try {
    setBackend('gpu', { mode });
    entry.results = allCases();
    const info = backendInfo();
    entry.ran = info.mode;
    entry.kernelModes = [...new Set(info.kernels.filter((k) => k.requestedMode === mode).map((k) => k.mode))];
    entry.fallbacks = info.fallbacks;
    // normForward must have chained its kernels through textures: the statistics stayed on the
    // device between the moments and the normalize step.
    entry.pipelines = info.pipelines.filter((p) => p.mode === mode);
    entry.pipelined = entry.pipelines.some((p) => p.op === 'normForward' && p.texture);
    entry.ok =
      entry.results.every((r) => r.ok) && entry.kernelModes.length === 1 && entry.kernelModes[0] === mode && entry.pipelined;
    setBackend('cpu');
  } catch (err) {
    entry.error = String(err && err.stack ? err.stack : err);
  }
  const gl = document.createElement('canvas').getContext(mode === 'webgl2' ? 'webgl2' : 'webgl');
  const dbg = gl && gl.getExtension('WEBGL_debug_renderer_info');
  entry.renderer = gl ? (dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'no context';
  report.modes.push(entry);
}

// WebGPU: gpu.js's WebGPU kernels are asynchronous, so they cannot back the synchronous tensor
// API; run the same kernel sources directly and compare with the cpu kernels.
async function webgpuCheck() {
  if (!navigator.gpu) return { available: false, reason: 'navigator.gpu is undefined' };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { available: false, reason: 'requestAdapter() returned null' };
  const GPU = window.GPU.GPU ?? window.GPU;
  const gpu = new GPU({ mode: 'webgpu' });
  const results = [];
  const x = randn([2, 3, 6, 5], { seed: 11 });
  const w = randn([4, 3, 3, 3], { seed: 12 });
  const p = { strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 };
  const want = getKernel('conv2d', 'cpu')(x, w, null, p).data;
  const conv = gpu.createKernel(kernelSources.conv2dForwardKernel, {
    constants: { n: 2, cin: 3, h: 6, w: 5, cout: 4, cg: 3, kh: 3, kw: 3, ho: 6, wo: 5, coutG: 4, hasBias: 0, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1 },
    output: [30, 8],
  });
  const got = (await conv(x.data, w.data, new Float32Array(1))).flatMap((row) => Array.from(row));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-4 + 1e-4 * Math.abs(want[i])));
  results.push({ name: 'conv2d (webgpu)', ok: worst <= 1, worst, detail: `worst ${worst.toFixed(3)} of tolerance` });
  const mode = conv.kernel?.constructor?.mode ?? 'unknown';
  return { available: true, mode, ok: results.every((r) => r.ok) && mode === 'webgpu', results };
}

try {
  report.webgpu = await webgpuCheck();
} catch (err) {
  report.webgpu = { available: true, ok: false, error: String(err && err.stack ? err.stack : err) };
}
window.__parity = report;

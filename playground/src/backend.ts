/**
 * Which backend a training worker runs on: gpu.js on WebGL2 where a real GPU renders, else the
 * WebAssembly SIMD kernels (`wasm`), else the pure-TypeScript ones (`cpu`). Runs in the worker,
 * where the kernels run.
 */
import { setBackend } from '@normlab/tensor';
import { initWasm } from '@normlab/wasm';
import type { BackendChoice, BackendRequest } from './protocol.js';

/**
 * Renderers that are software rasterizers, not GPUs: Chromium's SwiftShader (what headless
 * Chromium with --disable-gpu, or a machine without a usable GPU, gets), Mesa's llvmpipe and
 * softpipe, Windows' Basic Render Driver. gpu.js on them is slower than the CPU kernels (wasm, cpu).
 */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

export function isSoftwareRenderer(renderer: string): boolean {
  return SOFTWARE_RENDERER.test(renderer);
}

/** The WebGL2 renderer (unmasked where the browser allows), or null without WebGL2. */
export function webgl2Renderer(): string | null {
  if (typeof OffscreenCanvas === 'undefined') return null;
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!gl) return null;
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return renderer;
}

const WASM_LABEL = 'wasm (WebAssembly SIMD kernels, one thread per run)';
const CPU_LABEL = 'cpu (pure TypeScript kernels, one thread per run)';

/**
 * Select the backend for this worker's kernels. `auto`: gpu.js WebGL2 when the renderer is a
 * GPU, else `wasm` (the WebAssembly SIMD kernels), else `cpu`; `gpu`: WebGL2 even on a software
 * renderer (to try it); `wasm`, `cpu`: those kernels. A backend that cannot start hands over to
 * the next in that order, and the choice says why.
 */
export async function chooseBackend(request: BackendRequest): Promise<BackendChoice> {
  const renderer = webgl2Renderer();
  const reasons: string[] = [];
  const choice = (backend: BackendChoice['backend'], label: string): BackendChoice => ({
    backend,
    label,
    reason: reasons.length ? reasons.join(' ') : null,
    renderer,
  });
  if (request === 'auto' || request === 'gpu') {
    let whyNot: string | null = null;
    if (!renderer) whyNot = 'this browser offers no WebGL2';
    else if (request === 'auto' && isSoftwareRenderer(renderer)) whyNot = `the WebGL2 renderer is software, not a GPU (${renderer})`;
    else {
      try {
        await import('@normlab/gpu');
        setBackend('gpu', { mode: 'webgl2' });
        const software = isSoftwareRenderer(renderer) ? ' (software: slower than the wasm and cpu kernels)' : '';
        return choice('gpu', `gpu.js WebGL2 on ${renderer}${software}`);
      } catch (err) {
        whyNot = `gpu.js WebGL2 failed: ${(err as Error).message}`;
      }
    }
    reasons.push(`Not gpu.js: ${whyNot}.`);
  } else {
    reasons.push(`${request} was chosen in the Backend menu.`);
  }
  if (request !== 'cpu') {
    try {
      // In a web worker @normlab/nn's import has compiled the kernels and this resolves at once;
      // where a synchronous compile is not allowed (a page's main thread) it compiles them.
      await initWasm();
      setBackend('wasm');
      return choice('wasm', WASM_LABEL);
    } catch (err) {
      reasons.push(`Not wasm: ${(err as Error).message}.`);
    }
  }
  setBackend('cpu');
  return choice('cpu', CPU_LABEL);
}

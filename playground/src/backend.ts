/**
 * Which backend a training worker runs on: gpu.js on WebGL2 where a real GPU renders, else the
 * fastest CPU backend. Runs in the worker, where the kernels run.
 */
import { setBackend } from '@normlab/tensor';
import type { BackendChoice, BackendRequest } from './protocol.js';

/**
 * Renderers that are software rasterizers, not GPUs: Chromium's SwiftShader (what headless
 * Chromium with --disable-gpu, or a machine without a usable GPU, gets), Mesa's llvmpipe and
 * softpipe, Windows' Basic Render Driver. gpu.js on them is slower than the cpu kernels.
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

const CPU_LABEL = 'cpu (pure TypeScript kernels, one thread per run)';

/**
 * Select the backend for this worker's kernels. `auto`: gpu.js WebGL2 when the renderer is a
 * GPU, else the best CPU backend; `gpu`: WebGL2 even on a software renderer (to try it);
 * `cpu`: the pure-TypeScript kernels.
 */
export async function chooseBackend(request: BackendRequest): Promise<BackendChoice> {
  const renderer = webgl2Renderer();
  let reason: string | null = null;
  if (request === 'cpu') {
    reason = 'the cpu backend was chosen';
  } else if (!renderer) {
    reason = 'this browser offers no WebGL2';
  } else if (request === 'auto' && isSoftwareRenderer(renderer)) {
    reason = `the WebGL2 renderer is software, not a GPU (${renderer})`;
  } else {
    try {
      await import('@normlab/gpu');
      setBackend('gpu', { mode: 'webgl2' });
      const software = isSoftwareRenderer(renderer) ? ' (software: slower than cpu)' : '';
      return { backend: 'gpu', label: `gpu.js WebGL2 on ${renderer}${software}`, reason: null, renderer };
    } catch (err) {
      reason = `gpu.js WebGL2 failed: ${(err as Error).message}`;
    }
  }
  // The fastest CPU backend. When @normlab/wasm (WebAssembly SIMD kernels) lands, it is tried
  // here first: import it, await its ready(), setBackend('wasm'), and return it; 'cpu' below
  // stays the fallback.
  setBackend('cpu');
  return { backend: 'cpu', label: CPU_LABEL, reason, renderer };
}

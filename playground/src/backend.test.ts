import { getBackend } from '@normlab/tensor';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseBackend, isSoftwareRenderer } from './backend.js';

/** When set, `initWasm()` fails as it does on an engine without WebAssembly SIMD. */
const wasmFailure = vi.hoisted(() => ({ message: null as string | null }));
vi.mock('@normlab/wasm', async (importOriginal) => {
  const wasm = await importOriginal<typeof import('@normlab/wasm')>();
  return {
    ...wasm,
    initWasm: async () => {
      if (wasmFailure.message !== null) throw new wasm.WasmBackendError(wasmFailure.message);
      return wasm.initWasm();
    },
  };
});

afterEach(() => {
  wasmFailure.message = null;
});

describe('the backend choice', () => {
  it('treats software rasterizers as no GPU', () => {
    expect(isSoftwareRenderer('ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)')).toBe(true);
    expect(isSoftwareRenderer('llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(false);
    expect(isSoftwareRenderer('ANGLE (NVIDIA Corporation, NVIDIA H200/PCIe/SSE2, OpenGL 4.5.0)')).toBe(false);
    expect(isSoftwareRenderer('Mesa Intel(R) UHD Graphics 620 (KBL GT2)')).toBe(false);
    expect(isSoftwareRenderer('Apple M2')).toBe(false);
  });

  it('runs on wasm, saying why not gpu.js, where there is no WebGL2 (Node)', async () => {
    const auto = await chooseBackend('auto');
    expect(auto).toMatchObject({ backend: 'wasm', renderer: null, reason: 'Not gpu.js: this browser offers no WebGL2.' });
    expect(auto.label).toMatch(/^wasm \(WebAssembly SIMD/);
    expect(getBackend()).toBe('wasm');
    // gpu.js asked for but not possible: the next backend in line.
    expect(await chooseBackend('gpu')).toMatchObject({ backend: 'wasm', reason: 'Not gpu.js: this browser offers no WebGL2.' });
    expect(getBackend()).toBe('wasm');
  });

  it('runs on the backend the menu asks for', async () => {
    expect(await chooseBackend('cpu')).toMatchObject({ backend: 'cpu', reason: 'cpu was chosen in the Backend menu.' });
    expect(getBackend()).toBe('cpu');
    expect(await chooseBackend('wasm')).toMatchObject({ backend: 'wasm', reason: 'wasm was chosen in the Backend menu.' });
    expect(getBackend()).toBe('wasm');
  });

  it('falls back to cpu, saying why, where the wasm kernels cannot start', async () => {
    wasmFailure.message = 'this engine has no WebAssembly SIMD';
    const auto = await chooseBackend('auto');
    expect(auto).toMatchObject({
      backend: 'cpu',
      reason: 'Not gpu.js: this browser offers no WebGL2. Not wasm: setBackend(wasm): this engine has no WebAssembly SIMD.',
    });
    expect(auto.label).toMatch(/^cpu \(pure TypeScript/);
    expect(getBackend()).toBe('cpu');
    expect(await chooseBackend('wasm')).toMatchObject({
      backend: 'cpu',
      reason: 'wasm was chosen in the Backend menu. Not wasm: setBackend(wasm): this engine has no WebAssembly SIMD.',
    });
  });
});

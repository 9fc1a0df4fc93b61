import { clearFallbackLog, conv2d, getBackend, listBackends, randn, relu, setBackend, setWarningHandler } from '@normlab/tensor';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuBackendError, backendInfo } from './index.js';

afterEach(() => {
  setBackend('cpu');
  setWarningHandler(undefined);
  clearFallbackLog();
});

describe('backend gpu', () => {
  it('registers on import and reports the mode that runs', () => {
    expect(listBackends()).toContain('gpu');
    setBackend('gpu', { mode: 'webasm' });
    expect(getBackend()).toBe('gpu');
    expect(backendInfo()).toMatchObject({ active: true, requestedMode: 'webasm', mode: 'webasm' });
  });

  it("auto mode 'gpu' resolves to a concrete gpu.js mode (webasm in Node without headless-gl)", () => {
    setBackend('gpu', { mode: 'gpu' });
    const info = backendInfo();
    expect(info.requestedMode).toBe('gpu');
    expect(['headlessgl', 'webgl2', 'webgl', 'webasm']).toContain(info.mode);
  });

  it('refuses unknown, unavailable and asynchronous modes with a typed error', () => {
    expect(() => setBackend('gpu', { mode: 'cuda' })).toThrow(GpuBackendError);
    expect(() => setBackend('gpu', { mode: 'cuda' })).toThrow(/mode must be one of gpu, webasm.*got "cuda"/);
    expect(() => setBackend('gpu', { mode: 'webgpu' })).toThrow(/asynchronous/);
    // No WebGL in Node: an explicit request must not silently become something else.
    expect(() => setBackend('gpu', { mode: 'webgl2' })).toThrow(/not available/);
    expect(getBackend()).toBe('cpu');
  });

  it('sends float64 and ops without a gpu kernel to cpu, warning once per reason', () => {
    const warnings: string[] = [];
    setWarningHandler((m) => warnings.push(m));
    setBackend('gpu', { mode: 'webasm' });
    const x64 = randn([1, 2, 5, 5], { seed: 1, dtype: 'float64' });
    const w64 = randn([3, 2, 3, 3], { seed: 2, dtype: 'float64' });
    const y = conv2d(x64, w64);
    expect(y.dtype).toBe('float64');
    conv2d(x64, w64); // same reason again: no second warning
    relu(randn([4], { seed: 3 }));
    relu(randn([4], { seed: 3 }));
    const info = backendInfo();
    expect(info.fallbacks).toContainEqual({ op: 'conv2d', reason: 'float64 tensors run on cpu (gpu.js computes in float32)' });
    expect(info.fallbacks).toContainEqual({ op: 'relu', reason: 'no kernel for this op' });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/'conv2d' runs on cpu: float64/);
  });

  it('a kernel gpu.js cannot compile falls back to cpu with the reason, and fails fast after', async () => {
    const { runGpuKernel } = await import('./runtime.js');
    setBackend('gpu', { mode: 'webasm' });
    const bad = { name: 'broken', fn: function broken() { return undefinedIdentifier; }, constants: {}, output: [4] };
    expect(() => runGpuKernel(bad, [])).toThrow(/could not compile or run 'broken'/);
    expect(() => runGpuKernel(bad, [])).toThrow(/could not compile or run 'broken'/);
  });
});

// Referenced only inside a gpu.js kernel that is expected not to compile.
declare const undefinedIdentifier: number;

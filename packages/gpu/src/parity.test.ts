import '@normlab/norm-layers'; // registers the cpu norm kernels the gpu ones are compared with
import { clearFallbackLog, setBackend, setWarningHandler } from '@normlab/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo } from './index.js';
import { blendCases, convCases, matmulCases, normCases, normForwardCases, type CaseResult } from './parity.js';

function expectAll(results: CaseResult[]): void {
  const bad = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
  expect(bad).toEqual([]);
  expect(results.length).toBeGreaterThan(0);
}

describe.each(['cpu', 'webasm'] as const)('gpu.js mode %s matches the cpu kernels', (mode) => {
  const warnings: string[] = [];
  beforeAll(() => {
    clearFallbackLog();
    setWarningHandler((m) => warnings.push(m));
    setBackend('gpu', { mode });
  });
  afterAll(() => {
    // The mode asked for is the mode that ran, for every kernel, and nothing fell back.
    const info = backendInfo();
    expect(info.mode).toBe(mode);
    const mine = info.kernels.filter((k) => k.requestedMode === mode);
    expect(mine.length).toBeGreaterThan(10);
    expect(mine.filter((k) => k.mode !== mode)).toEqual([]);
    expect(info.fallbacks).toEqual([]);
    expect(warnings).toEqual([]);
    setBackend('cpu');
    setWarningHandler(undefined);
  });

  it('conv2d forward and both backward kernels', () => expectAll(convCases()));
  it('matmul (batched, transposed, vectors)', () => expectAll(matmulCases()));
  it('normalization moments, normalize and backward (grouped and batch-axis)', () => expectAll(normCases()));
  it('GN+ / HybridNorm blend and its backward', () => expectAll(blendCases()));
  it('fused normForward (statistics stay on the device), GN and BN layouts', () => {
    expectAll(normForwardCases());
    // No device memory in these modes: the pipeline links are arrays, and recorded as such.
    expect(backendInfo().pipelines).toContainEqual({ op: 'normForward', mode, texture: false });
  });
});

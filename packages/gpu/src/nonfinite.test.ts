/**
 * The norm layers' running statistics stay finite with the gpu kernels too (the layer code is
 * shared; the statistics come from this package's kernels, computed in float32 on the device).
 */
import { Variable } from '@normlab/autograd';
import { BatchGroupNorm, BatchNorm2d, HybridNorm, InstanceNorm2d, setWarningHandler as setNormWarningHandler } from '@normlab/norm-layers';
import { Tensor, clearFallbackLog, randn, setBackend } from '@normlab/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo, setWarningHandler } from './index.js';

const LAYERS = [
  () => new BatchNorm2d(4),
  () => new BatchGroupNorm(2, 4),
  () => new InstanceNorm2d(4, { trackRunningStats: true }),
  () => new HybridNorm(2, 4),
];

function bad(kind: string): Tensor {
  const t = randn([3, 4, 3, 3], { seed: 2 });
  if (kind === '1e30') return new Tensor(Float32Array.from(t.data, (x) => x * 1e30), t.shape);
  t.data[5] = kind === 'NaN' ? Number.NaN : kind === '+Infinity' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return t;
}

const values = (m: { buffers(): Tensor[] }) => m.buffers().map((b) => Array.from(b.contiguous().data));

describe.each(['webasm', 'cpu'] as const)('gpu.js mode %s: running statistics under non-finite and huge input', (mode) => {
  const warnings: string[] = [];
  beforeAll(() => {
    clearFallbackLog();
    setWarningHandler((m) => warnings.push(m));
    setNormWarningHandler(() => {});
    setBackend('gpu', { mode });
  });
  afterAll(() => {
    expect(backendInfo().fallbacks).toEqual([]);
    expect(warnings).toEqual([]);
    setBackend('cpu');
    setWarningHandler(undefined);
    setNormWarningHandler(undefined);
  });

  it.each(['NaN', '+Infinity', '-Infinity', '1e30'])('%s: not folded in, counted; a clean batch then updates', (kind) => {
    for (const make of LAYERS) {
      const m = make();
      m.forward(new Variable(randn([3, 4, 3, 3], { seed: 1 })));
      const before = values(m);
      m.forward(new Variable(bad(kind)));
      const flat = values(m).flat();
      expect(flat.every(Number.isFinite), m.constructor.name).toBe(true);
      if (!(m instanceof HybridNorm && kind === '1e30')) {
        // (HybridNorm's batch stage sees GN's normalized output, whose statistics are finite.)
        expect(values(m), m.constructor.name).toEqual(before);
        expect(m.skippedStatisticsUpdates, m.constructor.name).toBe(1);
      }
      m.forward(new Variable(randn([3, 4, 3, 3], { seed: 3 })));
      expect(values(m), m.constructor.name).not.toEqual(before);
      expect(values(m).flat().every(Number.isFinite), m.constructor.name).toBe(true);
    }
  });
});

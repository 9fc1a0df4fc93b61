import { clearFallbackLog, fallbackLog, getBackend, randn, relu, reluBackward, setBackend, tensor } from '@normlab/tensor';
import { afterEach, describe, expect, it } from 'vitest';
import './index.js';

function onCpu<T>(fn: () => T): T {
  setBackend('cpu');
  try {
    return fn();
  } finally {
    setBackend('wasm');
  }
}

afterEach(() => setBackend('wasm'));

describe('relu and reluBackward on wasm', () => {
  it('give the cpu kernels\' values exactly, NaN and signed zeros included', () => {
    expect(getBackend()).toBe('wasm');
    clearFallbackLog();
    // 11 values: two SIMD steps and a scalar tail.
    const x = tensor([-1, 0, -0, 2, NaN, 3, -Infinity, Infinity, 1e-40, -1e-40, 5]);
    const dy = tensor([1, 2, 3, 4, 5, NaN, Infinity, 8, 9, 10, -11]);
    const y = relu(x);
    const dx = reluBackward(dy, x);
    expect(fallbackLog().filter((f) => f.op.startsWith('relu'))).toEqual([]);
    expect(Array.from(y.data)).toEqual(Array.from(onCpu(() => relu(x)).data));
    expect(Array.from(dx.data)).toEqual(Array.from(onCpu(() => reluBackward(dy, x)).data));
  });

  it('read views and keep shapes', () => {
    const x = randn([3, 4, 5], { seed: 1 }).permute(2, 0, 1);
    const dy = randn([5, 3, 4], { seed: 2 });
    expect(relu(x).shape).toEqual([5, 3, 4]);
    expect(Array.from(relu(x).data)).toEqual(Array.from(onCpu(() => relu(x)).data));
    expect(Array.from(reluBackward(dy, x).data)).toEqual(Array.from(onCpu(() => reluBackward(dy, x)).data));
  });
});

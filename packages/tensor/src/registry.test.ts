import { afterEach, describe, expect, it } from 'vitest';
import { tensor } from './creation.js';
import { ShapeError, TensorError } from './errors.js';
import { add, relu, sum } from './index.js';
import {
  clearFallbackLog, fallbackLog, getBackend, getKernel, hasKernel, listBackends, onFallback, registerBackend,
  registerKernel, runKernel, setBackend, unregisterKernel,
} from './registry.js';
import type { Tensor } from './tensor.js';

afterEach(() => {
  setBackend('cpu');
  unregisterKernel('relu', 'fake');
  unregisterKernel('add', 'fake');
  clearFallbackLog();
  onFallback(undefined);
});

describe('kernel registry', () => {
  it('cpu is registered and active by default, with the ops of this package', () => {
    expect(getBackend()).toBe('cpu');
    expect(listBackends()).toContain('cpu');
    for (const op of ['add', 'where', 'sum', 'variance', 'softmax', 'concat', 'pad', 'cast'] as const) {
      expect(hasKernel(op, 'cpu'), op).toBe(true);
    }
  });

  it('setBackend rejects unknown backends and honours init/dispose', () => {
    expect(() => setBackend('nope')).toThrow(/setBackend: unknown backend 'nope'; registered: cpu/);
    expect(() => setBackend('gpu')).toThrow(/import '@normlab\/gpu'/);
    const events: string[] = [];
    registerBackend('fake', { init: (o) => events.push(`init ${JSON.stringify(o)}`), dispose: () => events.push('dispose') });
    setBackend('fake', { mode: 'x' });
    expect(getBackend()).toBe('fake');
    setBackend('cpu');
    expect(events).toEqual(['init {"mode":"x"}', 'dispose']);
    registerBackend('refuses', { init: () => { throw new Error('no device'); } });
    expect(() => setBackend('refuses')).toThrow('no device');
    expect(getBackend()).toBe('cpu');
  });

  it('ops run the active backend kernel, and fall back to cpu (logged once) when it has none', () => {
    registerBackend('fake');
    const calls: string[] = [];
    registerKernel('relu', 'fake', (x: Tensor) => {
      calls.push('fake relu');
      return x;
    });
    const heard: string[] = [];
    onFallback((info) => heard.push(`${info.backend}:${info.op}:${info.reason}`));
    setBackend('fake');
    const x = tensor([-1, 2]);
    expect(relu(x)).toBe(x);
    expect(calls).toEqual(['fake relu']);
    expect(hasKernel('relu')).toBe(true);
    expect(hasKernel('add')).toBe(false);
    expect(add(x, x).toArray()).toEqual([-2, 4]);
    expect(add(x, 1).toArray()).toEqual([0, 3]);
    expect(fallbackLog()).toEqual([{ op: 'add', backend: 'fake', reason: 'no kernel for this op' }]);
    expect(heard).toEqual(['fake:add:no kernel for this op']);
    expect(getKernel('sum')).toBe(getKernel('sum', 'cpu'));
  });

  it('a rejected call or a crashing kernel runs on cpu; a TensorError from the kernel propagates', () => {
    let mode: 'reject' | 'crash' | 'user' = 'reject';
    registerBackend('fake', { rejects: (name) => (mode === 'reject' && name === 'add' ? 'too big' : undefined) });
    registerKernel('add', 'fake', () => {
      if (mode === 'crash') throw new Error('shader failed');
      throw new ShapeError('add', 'user error');
    });
    setBackend('fake');
    const x = tensor([1, 2]);
    expect(add(x, x).toArray()).toEqual([2, 4]);
    mode = 'crash';
    expect(add(x, x).toArray()).toEqual([2, 4]);
    expect(fallbackLog().map((f) => f.reason)).toEqual(['too big', 'kernel failed: shader failed']);
    mode = 'user';
    expect(() => add(x, x)).toThrow(/add: user error/);
    expect(sum(x).item()).toBe(3);
  });

  it('registerKernel rejects non-functions; runKernel of an unknown op throws', () => {
    expect(() => registerKernel('add', 'cpu', 5 as unknown as (a: Tensor, b: Tensor) => Tensor)).toThrow(TensorError);
    expect(() => (runKernel as (name: string) => unknown)('noSuchOp')).toThrow(/noSuchOp: no kernel registered/);
    expect(() => (getKernel as (name: string) => unknown)('noSuchOp')).toThrow(TensorError);
  });
});

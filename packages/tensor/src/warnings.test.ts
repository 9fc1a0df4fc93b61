import { afterEach, describe, expect, it } from 'vitest';
import { TensorError, setWarningHandler, warn, warnOnce } from './index.js';

afterEach(() => setWarningHandler(undefined));

describe('the warning channel', () => {
  it('sends every warning to the installed handler, each warnOnce reason once per handler', () => {
    let seen: string[] = [];
    setWarningHandler((m) => seen.push(m));
    warnOnce('test:a', 'first a');
    warnOnce('test:a', 'second a');
    warnOnce('test:b', 'b');
    warn('plain');
    warn('plain');
    expect(seen).toEqual(['first a', 'b', 'plain', 'plain']);
    seen = [];
    setWarningHandler((m) => seen.push(m));
    warnOnce('test:a', 'a again');
    expect(seen).toEqual(['a again']);
  });

  it('refuses a handler that is not a function', () => {
    expect(() => setWarningHandler('log' as never)).toThrow(TensorError);
    expect(() => setWarningHandler(null as never)).toThrow(/setWarningHandler: handler must be a function or undefined, got null/);
  });
});

/**
 * `Module` and `Parameter`, as in PyTorch. A module's parameters and child modules are found
 * among its own properties (in the order they were assigned), so `this.weight = new Parameter(…)`
 * registers `weight`; children with computed names (Sequential's `0`, `1`, …) use
 * `registerModule`. Buffers (running statistics) are registered by name with `registerBuffer`,
 * under PyTorch's names (`running_mean`), and are part of the state dict. A buffer PyTorch keeps
 * as int64 (`num_batches_tracked`) is a float64 tensor registered with `savedAs: 'int64'`, which
 * `int64Keys()` tells a serializer.
 */
import { Variable } from '@normlab/autograd';
import { ShapeError, Tensor, TensorError, fmtShape, shapesEqual } from '@normlab/tensor';
import { describe } from './util.js';

/**
 * A trainable tensor: a `Variable` that a `Module` finds among its properties and reports in
 * `parameters()`. It requires a gradient unless told otherwise.
 */
export class Parameter extends Variable {
  /** Wrap `data` (not copied); `requiresGrad` defaults to true. */
  constructor(data: Tensor, options: { requiresGrad?: boolean } = {}) {
    super(data, { requiresGrad: options.requiresGrad ?? true });
  }
}

/**
 * A state dict that does not fit the module: a missing or unexpected key (strict mode), a shape
 * mismatch, a value that is not a tensor or not an integer for an int64 buffer.
 */
export class StateDictError extends TensorError {
  /** The message reads `loadStateDict: message`. */
  constructor(message: string) {
    super('loadStateDict', message);
    this.name = 'StateDictError';
  }
}

/** Tensors by dotted name (`layer1.0.conv1.weight`, `bn.running_mean`), as PyTorch's `state_dict()`. */
export type StateDict = Record<string, Tensor>;

/** How a buffer is saved (`registerBuffer`'s options). */
export interface BufferOptions {
  /**
   * `'int64'`: an integer count (PyTorch's int64 `num_batches_tracked`). Our tensors are float32
   * or float64, so the buffer is a float64 tensor (integers are exact up to 2^53) and a serializer
   * writes it as int64 (`int64Keys()`; safetensors `I64`). Registering, setting or loading a value
   * that is not an integer within ±2^53 is an error, so the saved value is always exact.
   */
  savedAs?: 'int64';
}

/** Why `t`'s values cannot be an int64 buffer's (integers within ±2^53), or null. */
function int64ValueProblem(t: Tensor): string | null {
  const d = t.contiguous().data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isInteger(v) || Math.abs(v) > 2 ** 53) return `holds ${v} at flat index ${i}, not an integer within ±2^53`;
  }
  return null;
}

/**
 * The base of every layer and model, as PyTorch's `nn.Module`: subclasses assign parameters and
 * child modules as properties and implement `forward`; the base finds them for `parameters()`,
 * `stateDict()`, `train()`/`eval()` and the rest.
 */
export abstract class Module {
  /** True in training mode (the default), false after `eval()`. */
  training = true;
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _int64Buffers = new Set<string>();
  private readonly _extraModules = new Map<string, Module>();

  /** Compute the module's output; subclasses define the inputs (usually one `Variable`). */
  abstract forward(...inputs: any[]): any;

  /**
   * Register (or replace) a buffer: state that is saved but not trained. `null` means absent.
   * `savedAs: 'int64'` marks an integer count saved as int64 (see `BufferOptions`).
   */
  protected registerBuffer(name: string, value: Tensor | null, options: BufferOptions = {}): void {
    const op = `${this.constructor.name}.registerBuffer`;
    checkName(this, 'registerBuffer', name);
    if (value !== null && !(value instanceof Tensor)) {
      throw new TensorError(op, `buffer '${name}' must be a Tensor or null, got ${describe(value)}`);
    }
    const savedAs = options?.savedAs;
    if (savedAs !== undefined && savedAs !== 'int64') {
      throw new TensorError(op, `savedAs must be 'int64' or absent, got ${describe(savedAs)}`);
    }
    if (savedAs === 'int64' && value) checkInt64Value(op, name, value);
    this._buffers.set(name, value);
    if (savedAs === 'int64') this._int64Buffers.add(name);
    else this._int64Buffers.delete(name);
  }

  /** A registered buffer's current value. */
  getBuffer(name: string): Tensor | null {
    if (!this._buffers.has(name)) throw new TensorError(this.constructor.name, `no buffer named '${name}'`);
    return this._buffers.get(name)!;
  }

  /** Replace a registered buffer's value (same shape as the old one, when there was one). */
  setBuffer(name: string, value: Tensor): void {
    if (!this._buffers.has(name)) throw new TensorError(this.constructor.name, `no buffer named '${name}'`);
    if (!(value instanceof Tensor)) {
      throw new TensorError(`${this.constructor.name}.setBuffer`, `buffer '${name}' must be a Tensor, got ${describe(value)}`);
    }
    if (this._int64Buffers.has(name)) checkInt64Value(`${this.constructor.name}.setBuffer`, name, value);
    const old = this._buffers.get(name);
    if (old && !shapesEqual(old.shape, value.shape)) {
      throw new ShapeError(
        `${this.constructor.name}.setBuffer`,
        `buffer '${name}' has shape ${fmtShape(old.shape)}, the new value has shape ${fmtShape(value.shape)}`,
      );
    }
    this._buffers.set(name, value);
  }

  /** Register a child under an explicit name (for computed names such as `0`, `1`). */
  registerModule(name: string, module: Module): void {
    checkName(this, 'registerModule', name);
    if (!(module instanceof Module)) {
      throw new TensorError(`${this.constructor.name}.registerModule`, `'${name}' must be a Module, got ${describe(module)}`);
    }
    this._extraModules.set(name, module);
  }

  /** Direct children, named. */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([k, v]);
    }
    for (const entry of this._extraModules) out.push(entry);
    return out;
  }

  /** Direct children, in registration order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /**
   * This module and every descendant, with dotted names (`''` for this one), depth first in
   * registration order. A module reachable twice (shared, or a back-reference to an ancestor)
   * is listed once, under its first name, as PyTorch's `named_modules()`: without that, a
   * back-reference would recurse forever.
   */
  namedModules(prefix = '', seen: Set<Module> = new Set()): Array<[string, Module]> {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    }
    return out;
  }

  /** This module and every descendant (see `namedModules`). */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Own parameters (not children's), named. */
  protected ownParameters(): Array<[string, Parameter]> {
    return Object.entries(this).filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  /** Every parameter, with dotted names, each once. */
  namedParameters(): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    const seen = new Set<Parameter>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${name}` : name, p]);
      }
    }
    return out;
  }

  /** Every parameter of this module and its descendants, each once (see `namedParameters`). */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every non-null buffer, with dotted names. */
  namedBuffers(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m._buffers) {
        if (b) out.push([prefix ? `${prefix}.${name}` : name, b]);
      }
    }
    return out;
  }

  /** Every non-null buffer of this module and its descendants. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /**
   * The state-dict keys of the buffers registered with `savedAs: 'int64'`, for a serializer that
   * writes them as int64 (PyTorch's dtype for `num_batches_tracked`).
   */
  int64Keys(): string[] {
    const out: string[] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m._buffers) {
        if (b && m._int64Buffers.has(name)) out.push(prefix ? `${prefix}.${name}` : name);
      }
    }
    return out;
  }

  /** Set training mode on this module and every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Clear the gradient of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's order: each module's own parameters,
   * then its buffers, then its children's, in a null-prototype record. The tensors are the live
   * ones, not copies.
   */
  stateDict(): StateDict {
    // Null prototype: a buffer or child named `__proto__` is a key like any other.
    const out = Object.create(null) as StateDict;
    for (const [prefix, m] of this.namedModules()) {
      const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [name, p] of m.ownParameters()) out[key(name)] = p.data;
      for (const [name, b] of m._buffers) if (b) out[key(name)] = b;
    }
    return out;
  }

  /**
   * Copy values from `state` into this module's parameters and buffers. With `strict` (the
   * default) every key must match both ways; shapes must always match. Nothing is changed
   * unless every check passes. Returns the missing and unexpected keys (non-strict mode).
   */
  loadStateDict(
    state: StateDict,
    options: { strict?: boolean } = {},
  ): {
    /** This module's keys that `state` lacks. */
    missing: string[];
    /** Keys of `state` that this module does not have. */
    unexpected: string[];
  } {
    const strict = options.strict ?? true;
    const targets = new Map<string, { set: (t: Tensor) => void; shape: readonly number[]; int64: boolean }>();
    for (const [prefix, m] of this.namedModules()) {
      const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [name, p] of m.ownParameters()) {
        targets.set(key(name), { set: (t) => (p.data = t.astype(p.data.dtype).clone()), shape: p.data.shape, int64: false });
      }
      for (const [name, b] of m._buffers) {
        if (!b) continue;
        targets.set(key(name), { set: (t) => m._buffers.set(name, t.astype(b.dtype).clone()), shape: b.shape, int64: m._int64Buffers.has(name) });
      }
    }
    if (state === null || typeof state !== 'object') {
      throw new StateDictError(`state must be an object mapping names to tensors, got ${describe(state)}`);
    }
    const missing = [...targets.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(state, k));
    const unexpected = Object.keys(state).filter((k) => !targets.has(k));
    const problems: string[] = [];
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    for (const [k, t] of targets) {
      if (!Object.prototype.hasOwnProperty.call(state, k)) continue;
      const v = state[k];
      if (!(v instanceof Tensor)) {
        problems.push(`'${k}' must be a Tensor, got ${describe(v)}`);
      } else if (!shapesEqual(v.shape, t.shape)) {
        problems.push(`'${k}' has shape ${fmtShape(v.shape)} in the state dict but ${fmtShape(t.shape)} in the module`);
      } else if (t.int64) {
        const problem = int64ValueProblem(v);
        if (problem) problems.push(`'${k}' is an int64 buffer but ${problem}`);
      }
    }
    if (problems.length) throw new StateDictError(problems.join('; '));
    for (const [k, t] of targets) {
      if (Object.prototype.hasOwnProperty.call(state, k)) t.set(state[k]!);
    }
    return { missing, unexpected };
  }
}

/** An int64 buffer's value: a float64 tensor (exact integers up to 2^53) of integers. */
function checkInt64Value(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'float64') throw new TensorError(op, `int64 buffer '${name}' must be a float64 tensor (exact integers up to 2^53), got ${t.dtype}`);
  const problem = int64ValueProblem(t);
  if (problem) throw new TensorError(op, `int64 buffer '${name}' ${problem}`);
}

/** Buffer and child names become state-dict key segments, so they must be plain and unique. */
function checkName(m: Module, op: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new TensorError(`${m.constructor.name}.${op}`, `name must be a non-empty string without '.', got '${String(name)}'`);
  }
  if (Object.prototype.hasOwnProperty.call(m, name)) {
    const v = (m as unknown as Record<string, unknown>)[name];
    if (v instanceof Parameter || v instanceof Module) {
      throw new TensorError(`${m.constructor.name}.${op}`, `'${name}' is already a ${v instanceof Parameter ? 'parameter' : 'child module'} of this module`);
    }
  }
}

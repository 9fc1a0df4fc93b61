/**
 * `Module` and `Parameter`, as in PyTorch. A module's parameters and child modules are found
 * among its own properties (in the order they were assigned), so `this.weight = new Parameter(…)`
 * registers `weight`; children with computed names (Sequential's `0`, `1`, …) use
 * `registerModule`. Buffers (running statistics) are registered by name with `registerBuffer`,
 * under PyTorch's names (`running_mean`), and are part of the state dict.
 */
import { Variable } from '@normlab/autograd';
import { type Tensor, TensorError, fmtShape, shapesEqual } from '@normlab/tensor';

export class Parameter extends Variable {
  constructor(data: Tensor, options: { requiresGrad?: boolean } = {}) {
    super(data, { requiresGrad: options.requiresGrad ?? true });
  }
}

export class StateDictError extends TensorError {
  constructor(message: string) {
    super('loadStateDict', message);
    this.name = 'StateDictError';
  }
}

export type StateDict = Record<string, Tensor>;

export abstract class Module {
  /** True in training mode (the default), false after `eval()`. */
  training = true;
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _extraModules = new Map<string, Module>();

  abstract forward(...inputs: any[]): any;

  /** Register (or replace) a buffer: state that is saved but not trained. `null` means absent. */
  protected registerBuffer(name: string, value: Tensor | null): void {
    this._buffers.set(name, value);
  }

  /** A registered buffer's current value. */
  getBuffer(name: string): Tensor | null {
    if (!this._buffers.has(name)) throw new TensorError(this.constructor.name, `no buffer named '${name}'`);
    return this._buffers.get(name)!;
  }

  /** Replace a registered buffer's value (same shape). */
  setBuffer(name: string, value: Tensor): void {
    if (!this._buffers.has(name)) throw new TensorError(this.constructor.name, `no buffer named '${name}'`);
    this._buffers.set(name, value);
  }

  /** Register a child under an explicit name (for computed names such as `0`, `1`). */
  registerModule(name: string, module: Module): void {
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

  /** This module and every descendant, with dotted names (`''` for this one). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

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

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
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
   * then its buffers, then its children's. The tensors are the live ones, not copies.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
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
  loadStateDict(state: StateDict, options: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = options.strict ?? true;
    const targets = new Map<string, { set: (t: Tensor) => void; shape: readonly number[]; dtype: string }>();
    for (const [prefix, m] of this.namedModules()) {
      const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [name, p] of m.ownParameters()) {
        targets.set(key(name), { set: (t) => (p.data = t.astype(p.data.dtype).clone()), shape: p.data.shape, dtype: p.data.dtype });
      }
      for (const [name, b] of m._buffers) {
        if (b) targets.set(key(name), { set: (t) => m._buffers.set(name, t.astype(b.dtype).clone()), shape: b.shape, dtype: b.dtype });
      }
    }
    const missing = [...targets.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !targets.has(k));
    const problems: string[] = [];
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    for (const [k, t] of targets) {
      const v = state[k];
      if (v && !shapesEqual(v.shape, t.shape)) {
        problems.push(`'${k}' has shape ${fmtShape(v.shape)} in the state dict but ${fmtShape(t.shape)} in the module`);
      }
    }
    if (problems.length) throw new StateDictError(problems.join('; '));
    for (const [k, t] of targets) {
      const v = state[k];
      if (v) t.set(v);
    }
    return { missing, unexpected };
  }
}

/**
 * Optimizers with PyTorch's update rules, step for step (`torch.optim.SGD`, `torch.optim.AdamW`).
 * Parameters can be given as one list or as groups with their own options (e.g. no weight decay
 * on norm layers), as PyTorch's param groups. State is kept per parameter and can be saved and
 * restored with `stateDict()` / `loadStateDict()` so a resumed run continues exactly.
 *
 * An update reads the parameter and its gradient, computes in float64 (JS numbers) and writes a
 * new tensor of the parameter's dtype into `param.data`, so tensors captured earlier (a state
 * dict snapshot, a graph awaiting backward) are never changed under them.
 */
import { Variable } from '@normlab/autograd';
import { Tensor, TensorError, allocate, fmtShape, shapesEqual } from '@normlab/tensor';
import { checkNumber, describe } from './util.js';

/**
 * Bad optimizer options or parameters, a gradient whose shape does not match its parameter, or a
 * state dict that does not fit.
 */
export class OptimizerError extends TensorError {
  /** `op` names the optimizer (and method); the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'OptimizerError';
  }
}

/** A group's hyper-parameters (numbers and flags), plus its parameters. */
export interface ParamGroup<O> {
  /** The parameters the group updates. */
  params: Variable[];
  /** Its hyper-parameters: the optimizer's defaults with the group's overrides. */
  options: O;
}

/** Groups as given by the user: each `{params, ...overrides}`. */
export type ParamGroupSpec<O> = {
  /** The group's parameters. */
  params: Iterable<Variable>;
} & Partial<O>;

/** What an optimizer takes: the parameters (one group with the defaults), or a list of groups. */
export type ParamsArg<O> = Iterable<Variable> | Array<ParamGroupSpec<O>>;

/** Serializable optimizer state: per-parameter tensors and counters, and the groups' options. */
export interface OptimizerState {
  /** Per parameter (by index over all groups, in order): its state entries. */
  state: Record<number, Record<string, Tensor | number>>;
  /** Each group's options, and the indices of its parameters. */
  paramGroups: Array<Record<string, number | boolean | number[]>>;
}

/**
 * The base of `SGD` and `AdamW`: param groups, `step()`, `zeroGrad()`, the learning rate and a
 * state dict. A subclass supplies `validate` and `update` and keeps its state through `buffer`
 * and `counter`.
 */
export abstract class Optimizer<
  O extends {
    /** Learning rate. */
    lr: number;
  },
> {
  /** The groups with their parameters and options; a schedule changes `options.lr` here. */
  readonly paramGroups: Array<ParamGroup<O>>;
  /** Per-parameter state (momentum buffers, moments, step counts). */
  protected readonly state = new Map<Variable, Record<string, Tensor | number>>();
  /** The optimizer's name in errors (`SGD`, `AdamW`). */
  protected readonly name: string;

  /**
   * Build the groups from `params`, each group's options being `defaults` with its overrides.
   * Throws `OptimizerError` for an empty list, a parameter given twice, an unknown option or an
   * invalid value.
   */
  protected constructor(name: string, params: ParamsArg<O>, defaults: O) {
    this.name = name;
    this.validate(defaults);
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new OptimizerError(name, 'got an empty parameter list');
    const specs: Array<ParamGroupSpec<O>> =
      list[0] instanceof Variable ? [{ params: list as Variable[] } as unknown as ParamGroupSpec<O>] : (list as Array<ParamGroupSpec<O>>);
    const seen = new Set<Variable>();
    this.paramGroups = specs.map((spec, g) => {
      if (spec === null || typeof spec !== 'object' || !('params' in spec)) {
        throw new OptimizerError(name, `params must be Variables or groups {params, ...options}; element ${g} is ${describe(spec)}`);
      }
      const { params: ps, ...overrides } = spec;
      for (const key of Object.keys(overrides)) {
        if (!(key in (defaults as object))) {
          throw new OptimizerError(name, `group ${g} has unknown option '${key}' (known: ${Object.keys(defaults as object).join(', ')})`);
        }
      }
      const groupParams = [...ps];
      groupParams.forEach((p, i) => {
        if (!(p instanceof Variable)) throw new OptimizerError(name, `group ${g} parameter ${i} must be a Variable, got ${describe(p)}`);
        if (seen.has(p)) throw new OptimizerError(name, `group ${g} parameter ${i} appears more than once across the groups`);
        seen.add(p);
      });
      const options = { ...defaults, ...(overrides as unknown as Partial<O>) } as O;
      this.validate(options);
      return { params: groupParams, options };
    });
  }

  /** Check a group's options; throws `OptimizerError` naming the option. */
  protected abstract validate(options: O): void;

  /** Update one parameter (its gradient is non-null). */
  protected abstract update(p: Variable, grad: Float64Array | Float32Array, options: O): void;

  /** The learning rate of the first group; setting it sets every group's. */
  get lr(): number {
    return this.paramGroups[0]!.options.lr;
  }

  /** Set every group's learning rate (a non-negative number). */
  set lr(value: number) {
    checkNumber(this.name, 'lr', value, 0);
    for (const g of this.paramGroups) g.options.lr = value;
  }

  /** Every parameter, over all groups, in order. */
  params(): Variable[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** One update of every parameter that has a gradient (those without one are skipped, as PyTorch). */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.grad) continue;
        if (!shapesEqual(p.grad.shape, p.data.shape)) {
          throw new OptimizerError(this.name, `gradient of shape ${fmtShape(p.grad.shape)} does not match parameter of shape ${fmtShape(p.data.shape)}`);
        }
        this.update(p, p.grad.contiguous().data, group.options);
      }
    }
  }

  /** Clear every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  /** A deep copy of the state, keyed by parameter index as PyTorch's `optimizer.state_dict()`. */
  stateDict(): OptimizerState {
    const params = this.params();
    const state: OptimizerState['state'] = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) state[i] = copyEntries(s);
    });
    let k = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const out: Record<string, number | boolean | number[]> = { ...(g.options as Record<string, number | boolean>) };
      out.params = g.params.map(() => k++);
      return out;
    });
    return { state, paramGroups };
  }

  /**
   * Restore a `stateDict()`: the groups must have the same sizes and each state tensor the shape
   * of its parameter. Everything is checked before anything changes.
   */
  loadStateDict(saved: OptimizerState): void {
    const op = `${this.name}.loadStateDict`;
    if (!saved || typeof saved !== 'object' || !Array.isArray(saved.paramGroups) || typeof saved.state !== 'object' || saved.state === null) {
      throw new OptimizerError(op, `expected {state, paramGroups}, got ${describe(saved)}`);
    }
    if (saved.paramGroups.length !== this.paramGroups.length) {
      throw new OptimizerError(op, `the state has ${saved.paramGroups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    }
    const params = this.params();
    const newOptions: O[] = [];
    saved.paramGroups.forEach((sg, g) => {
      const mine = this.paramGroups[g]!;
      if (sg === null || typeof sg !== 'object') throw new OptimizerError(op, `group ${g} must be an object, got ${describe(sg)}`);
      const ids = sg.params;
      if (!Array.isArray(ids) || ids.length !== mine.params.length) {
        throw new OptimizerError(op, `group ${g} has ${Array.isArray(ids) ? ids.length : 'no'} parameters in the state, ${mine.params.length} in the optimizer`);
      }
      const options = { ...mine.options } as Record<string, unknown>;
      for (const key of Object.keys(mine.options as object)) {
        if (!Object.hasOwn(sg, key)) throw new OptimizerError(op, `group ${g} is missing option '${key}'`);
        const v = sg[key];
        options[key] = Array.isArray(v) ? [...v] : v;
      }
      this.validate(options as O);
      newOptions.push(options as O);
    });
    const newState = new Map<Variable, Record<string, Tensor | number>>();
    for (const [key, entries] of Object.entries(saved.state)) {
      // Keys are parameter indices in decimal digits: '1e1' or '' must not become 10 or 0.
      const i = /^[0-9]+$/.test(key) ? Number(key) : NaN;
      const p = Number.isSafeInteger(i) ? params[i] : undefined;
      if (!p) throw new OptimizerError(op, `state for parameter '${key}': expected an index 0..${params.length - 1} in decimal digits`);
      if (entries === null || typeof entries !== 'object') throw new OptimizerError(op, `state for parameter ${i} must be an object, got ${describe(entries)}`);
      for (const [name, v] of Object.entries(entries)) {
        if (v instanceof Tensor) {
          if (!shapesEqual(v.shape, p.data.shape)) {
            throw new OptimizerError(op, `state '${name}' of parameter ${i} has shape ${fmtShape(v.shape)}, the parameter ${fmtShape(p.data.shape)}`);
          }
        } else if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new OptimizerError(op, `state '${name}' of parameter ${i} must be a Tensor or a finite number, got ${describe(v)}`);
        }
      }
      newState.set(p, copyEntries(entries, p.data.dtype));
    }
    this.paramGroups.forEach((g, k) => (g.options = newOptions[k]!));
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }

  /** A state buffer of `p` (created zero-filled on first use), as a writable typed array. */
  protected buffer(
    p: Variable,
    name: string,
  ): {
    /** The buffer's elements, in `p`'s dtype and layout; writes go into the saved state. */
    data: Float32Array | Float64Array;
    /** True when this call created it (zero-filled). */
    fresh: boolean;
  } {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = stateEntries()));
    const t = s[name];
    if (t instanceof Tensor) return { data: t.data, fresh: false };
    const data = allocate(p.data.dtype, p.data.size);
    s[name] = new Tensor(data, p.data.shape);
    return { data, fresh: true };
  }

  /** A numeric state entry of `p` (e.g. the step count), 0 when not set yet. */
  protected counter(p: Variable, name: string): number {
    const v = this.state.get(p)?.[name];
    return typeof v === 'number' ? v : 0;
  }

  /** Set a numeric state entry of `p`; saved in the state dict. */
  protected setCounter(p: Variable, name: string, value: number): void {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = stateEntries()));
    s[name] = value;
  }
}

/** A parameter's state entries: a null-prototype record, so a loaded entry name is only ever an own key. */
function stateEntries(): Record<string, Tensor | number> {
  return Object.create(null) as Record<string, Tensor | number>;
}

function copyEntries(entries: Record<string, Tensor | number>, dtype?: Tensor['dtype']): Record<string, Tensor | number> {
  const out = stateEntries();
  for (const [k, v] of Object.entries(entries)) out[k] = v instanceof Tensor ? (dtype ? v.astype(dtype) : v).clone() : v;
  return out;
}

/** The parameter's values as a fresh array we may write (the old tensor stays untouched). */
function freshCopy(p: Variable): Float32Array | Float64Array {
  const src = p.data.contiguous().data;
  return src.slice(0, p.data.size);
}

/** Options of `SGD`, PyTorch's names and defaults (`lr` required, the rest 0/false). */
export interface SGDOptions {
  /** Learning rate (≥ 0). */
  lr: number;
  /** Momentum factor μ (default 0: plain SGD). */
  momentum: number;
  /** Dampening τ of the momentum (default 0). */
  dampening: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** L2 penalty λ added to the gradient (coupled, default 0). */
  weightDecay: number;
  /** Ascend instead of descend (PyTorch's `maximize`). */
  maximize: boolean;
}

/**
 * Stochastic gradient descent, exactly `torch.optim.SGD`:
 *   g ← ∇ + λ·p (weight decay, coupled);
 *   b ← g on the first step, else μ·b + (1 − τ)·g (momentum μ, dampening τ);
 *   g ← g + μ·b with Nesterov, else b;
 *   p ← p − lr·g.
 */
export class SGD extends Optimizer<SGDOptions> {
  /** `lr` is required; OptimizerError for an invalid option. */
  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    super('SGD', params, {
      lr: options?.lr,
      momentum: options?.momentum ?? 0,
      dampening: options?.dampening ?? 0,
      nesterov: options?.nesterov ?? false,
      weightDecay: options?.weightDecay ?? 0,
      maximize: options?.maximize ?? false,
    });
  }

  protected validate(o: SGDOptions): void {
    checkNumber('SGD', 'lr', o.lr, 0);
    checkNumber('SGD', 'momentum', o.momentum, 0);
    checkNumber('SGD', 'dampening', o.dampening);
    checkNumber('SGD', 'weightDecay', o.weightDecay, 0);
    if (typeof o.nesterov !== 'boolean') throw new OptimizerError('SGD', `nesterov must be a boolean, got ${describe(o.nesterov)}`);
    if (typeof o.maximize !== 'boolean') throw new OptimizerError('SGD', `maximize must be a boolean, got ${describe(o.maximize)}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new OptimizerError('SGD', `Nesterov momentum requires momentum > 0 and dampening 0, got momentum ${o.momentum} and dampening ${o.dampening}`);
    }
  }

  protected update(p: Variable, grad: Float32Array | Float64Array, o: SGDOptions): void {
    const w = freshCopy(p);
    const n = w.length;
    const { lr, momentum: mu, dampening, nesterov, weightDecay: wd } = o;
    const sign = o.maximize ? -1 : 1;
    if (mu === 0) {
      for (let i = 0; i < n; i++) w[i] = w[i]! - lr * (sign * grad[i]! + wd * w[i]!);
    } else {
      const { data: buf, fresh } = this.buffer(p, 'momentumBuffer');
      const keep = 1 - dampening;
      for (let i = 0; i < n; i++) {
        const g = sign * grad[i]! + wd * w[i]!;
        // PyTorch stores the buffer in the parameter's dtype; reading it back rounds the same way.
        buf[i] = fresh ? g : mu * buf[i]! + keep * g;
        const d = nesterov ? g + mu * buf[i]! : buf[i]!;
        w[i] = w[i]! - lr * d;
      }
    }
    p.data = new Tensor(w, p.data.shape);
  }
}

/** Options of `AdamW`, PyTorch's names. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates (β₁, β₂) of the first and second moment estimates, each in [0, 1) (default [0.9, 0.999]). */
  betas: [number, number];
  /** ε added to the denominator (default 1e-8). */
  eps: number;
  /** Decoupled weight decay λ: p ← p·(1 − lr·λ) each step (default 1e-2). */
  weightDecay: number;
  /** Use the maximum of all second-moment estimates (AMSGrad; default false). */
  amsgrad: boolean;
  /** Ascend instead of descend (default false). */
  maximize: boolean;
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter 2019), exactly `torch.optim.AdamW`:
 *   p ← p·(1 − lr·λ);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)   (v → max of all v with amsgrad).
 * Defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2.
 */
export class AdamW extends Optimizer<AdamWOptions> {
  /** Every option defaults as PyTorch's; OptimizerError for an invalid one. */
  constructor(params: ParamsArg<AdamWOptions>, options: Partial<AdamWOptions> = {}) {
    super('AdamW', params, {
      lr: options.lr ?? 1e-3,
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 1e-2,
      amsgrad: options.amsgrad ?? false,
      maximize: options.maximize ?? false,
    });
  }

  protected validate(o: AdamWOptions): void {
    checkNumber('AdamW', 'lr', o.lr, 0);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new OptimizerError('AdamW', `betas must be a pair, got ${describe(o.betas)}`);
    checkNumber('AdamW', 'betas[0]', o.betas[0], 0, 1);
    checkNumber('AdamW', 'betas[1]', o.betas[1], 0, 1);
    if (o.betas[0] >= 1 || o.betas[1] >= 1) throw new OptimizerError('AdamW', `betas must be in [0, 1), got [${o.betas.join(', ')}]`);
    checkNumber('AdamW', 'eps', o.eps, 0);
    checkNumber('AdamW', 'weightDecay', o.weightDecay, 0);
    if (typeof o.amsgrad !== 'boolean') throw new OptimizerError('AdamW', `amsgrad must be a boolean, got ${describe(o.amsgrad)}`);
    if (typeof o.maximize !== 'boolean') throw new OptimizerError('AdamW', `maximize must be a boolean, got ${describe(o.maximize)}`);
  }

  protected update(p: Variable, grad: Float32Array | Float64Array, o: AdamWOptions): void {
    const w = freshCopy(p);
    const n = w.length;
    const { lr, eps, weightDecay: wd } = o;
    const [b1, b2] = o.betas;
    const sign = o.maximize ? -1 : 1;
    const t = this.counter(p, 'step') + 1;
    this.setCounter(p, 'step', t);
    const m = this.buffer(p, 'expAvg').data;
    const v = this.buffer(p, 'expAvgSq').data;
    const vmax = o.amsgrad ? this.buffer(p, 'maxExpAvgSq').data : v;
    const stepSize = lr / (1 - Math.pow(b1, t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const decay = 1 - lr * wd;
    for (let i = 0; i < n; i++) {
      const g = sign * grad[i]!;
      w[i] = w[i]! * decay;
      m[i] = m[i]! + (g - m[i]!) * (1 - b1); // PyTorch's lerp form of β₁m + (1 − β₁)g
      v[i] = v[i]! * b2 + (1 - b2) * g * g;
      if (vmax !== v && v[i]! > vmax[i]!) vmax[i] = v[i]!;
      w[i] = w[i]! - (stepSize * m[i]!) / (Math.sqrt(vmax[i]!) / bc2Sqrt + eps);
    }
    p.data = new Tensor(w, p.data.shape);
  }
}

/**
 * The kernel registry. An op is defined once (in `ops/`); a backend only supplies kernels for it.
 * Every op looks its kernel up with `getKernel(name)`, which returns the active backend's kernel
 * or, when that backend has none, the `cpu` kernel. This follows TensorFlow.js's registry.
 *
 * Kernel signatures are typed through the `KernelSignatures` interface; packages that add ops
 * (norm-layers, gpu) extend it by declaration merging:
 *
 * ```ts
 * declare module '@normlab/tensor' {
 *   interface KernelSignatures { myOp: (x: Tensor) => Tensor }
 * }
 * ```
 */
import { TensorError } from './errors.js';

// eslint-disable-next-line @typescript-eslint/no-empty-interface
/**
 * The signature of every kernel, by op name. Empty here: each op module adds its entries by
 * declaration merging, and packages that add ops (`@normlab/norm-layers`) do the same.
 */
export interface KernelSignatures {}

/** The name of a registered op (a key of `KernelSignatures`). */
export type KernelName = keyof KernelSignatures & string;

/** What a backend may do when it becomes active or is left. */
export interface BackendDefinition {
  /** Called by `setBackend(name, options)`; may throw to refuse activation. */
  init?: (options: Record<string, unknown>) => void;
  /** Called when another backend becomes active. */
  dispose?: () => void;
  /**
   * Asked before a kernel of this backend runs: return a reason string to send this call to
   * `cpu` instead (e.g. a shape the backend cannot take), or `undefined` to run it here.
   */
  rejects?: (name: string, args: unknown[]) => string | undefined;
}

/** Called once per distinct reason when an op falls back to `cpu`. */
export type FallbackListener = (info: { op: string; backend: string; reason: string }) => void;

const kernels = new Map<string, Map<string, (...args: any[]) => any>>();
const backends = new Map<string, BackendDefinition>();
backends.set('cpu', {});
let active = 'cpu';
const fallbackReasons = new Map<string, string>();
let fallbackListener: FallbackListener | undefined;

/** Register `kernel` as the implementation of op `name` on `backend`. Replaces an earlier one. */
export function registerKernel<K extends KernelName>(
  name: K,
  backend: string,
  kernel: KernelSignatures[K],
): void {
  if (typeof kernel !== 'function') {
    throw new TensorError('registerKernel', `kernel for '${name}' on '${backend}' is not a function`);
  }
  let byBackend = kernels.get(name);
  if (!byBackend) {
    byBackend = new Map();
    kernels.set(name, byBackend);
  }
  byBackend.set(backend, kernel as (...args: any[]) => any);
}

/** Remove a registered kernel (used by backends that are unloaded, and by tests). */
export function unregisterKernel(name: KernelName, backend: string): void {
  kernels.get(name)?.delete(backend);
}

/** Declare a backend so that `setBackend(name)` accepts it. */
export function registerBackend(name: string, definition: BackendDefinition = {}): void {
  backends.set(name, definition);
}

/** The names of the registered backends. */
export function listBackends(): string[] {
  return [...backends.keys()];
}

/** Make `name` the active backend. Throws when it is not registered or its `init` refuses. */
export function setBackend(name: string, options: Record<string, unknown> = {}): void {
  const def = backends.get(name);
  if (!def) {
    throw new TensorError(
      'setBackend',
      `unknown backend '${name}'; registered: ${listBackends().join(', ')}` +
        (name === 'gpu' ? " (import '@normlab/gpu' to register it)" : ''),
    );
  }
  def.init?.(options);
  if (active !== name) backends.get(active)?.dispose?.();
  active = name;
}

/** The name of the active backend. */
export function getBackend(): string {
  return active;
}

/** Whether `backend` (default: the active one) has its own kernel for op `name`. */
export function hasKernel(name: KernelName, backend: string = active): boolean {
  return kernels.get(name)?.has(backend) ?? false;
}

/**
 * The kernel of op `name` for `backend` (default: the active backend), else the `cpu` kernel.
 * Throws when no kernel is registered at all.
 */
export function getKernel<K extends KernelName>(name: K, backend: string = active): KernelSignatures[K] {
  const byBackend = kernels.get(name);
  const kernel = byBackend?.get(backend) ?? byBackend?.get('cpu');
  if (!kernel) throw new TensorError(name, `no kernel registered for backend '${backend}' or 'cpu'`);
  if (backend !== 'cpu' && !byBackend?.has(backend)) noteFallback(name, backend, 'no kernel for this op');
  return kernel as KernelSignatures[K];
}

/**
 * Run op `name` on the active backend with `args`. A backend may reject a particular call (a
 * shape it cannot take) or throw while compiling: the call then runs on `cpu`, and the reason is
 * recorded once (see `fallbackLog`).
 */
export function runKernel<K extends KernelName>(
  name: K,
  ...args: KernelSignatures[K] extends (...a: infer A) => any ? A : never
): KernelSignatures[K] extends (...a: any[]) => infer R ? R : never {
  const byBackend = kernels.get(name);
  const cpu = byBackend?.get('cpu');
  const own = active === 'cpu' ? undefined : byBackend?.get(active);
  if (own) {
    const reason = backends.get(active)?.rejects?.(name, args);
    if (reason === undefined) {
      try {
        return own(...args);
      } catch (err) {
        // A user error (bad shape, bad dtype) is the same on every backend: let it through.
        if (err instanceof TensorError || !cpu) throw err;
        noteFallback(name, active, `kernel failed: ${(err as Error).message}`);
      }
    } else {
      noteFallback(name, active, reason);
    }
  } else if (active !== 'cpu' && cpu) {
    noteFallback(name, active, 'no kernel for this op');
  }
  if (!cpu) throw new TensorError(name, `no kernel registered for backend '${active}' or 'cpu'`);
  return cpu(...args);
}

function noteFallback(op: string, backend: string, reason: string): void {
  const key = `${backend}:${op}:${reason}`;
  if (fallbackReasons.has(key)) return;
  fallbackReasons.set(key, reason);
  fallbackListener?.({ op, backend, reason });
}

/** Every (backend, op, reason) for which a call ran on `cpu` instead, once each. */
export function fallbackLog(): Array<{
  /** The op that ran on `cpu`. */
  op: string;
  /** The backend that was active and did not take the call. */
  backend: string;
  /** Why: the backend's `rejects` answer, its kernel's failure, or that it has no kernel for the op. */
  reason: string;
}> {
  return [...fallbackReasons.keys()].map((key) => {
    const [backend, op] = key.split(':', 2) as [string, string];
    return { op, backend, reason: fallbackReasons.get(key)! };
  });
}

/** Forget the recorded fallbacks (tests use this). */
export function clearFallbackLog(): void {
  fallbackReasons.clear();
}

/** Be told of each new fallback reason (the gpu package warns through this). */
export function onFallback(listener: FallbackListener | undefined): void {
  fallbackListener = listener;
}

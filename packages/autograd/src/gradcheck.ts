/**
 * `gradCheck`: compare the analytic gradient (backward) with central finite differences, in
 * float64. The output is contracted with a fixed gradient `gradOutput` (random by default, so
 * that errors cannot cancel: with all ones, e.g., softmax's true gradient is zero), giving the
 * scalar L = Σ gradOutput ⊙ fn(x); then for every input element
 *   numeric = (L(x + eps·e_j) − L(x − eps·e_j)) / (2·eps)
 * is compared with the j-th entry of the backward pass's gradient.
 */
import { Rng, type Tensor, fmtShape, shapesEqual, zeros } from '@normlab/tensor';
import { AutogradError, Variable, noGrad } from './variable.js';

/** Options of `gradCheck`: the step, the tolerances and the output gradient. */
export interface GradCheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance, against |numeric| (default 1e-3). */
  rtol?: number;
  /** The output gradient (cast to float64). Default: standard normal values from a fixed seed. */
  gradOutput?: Tensor;
}

/** One input element's two gradients. */
export interface GradCheckElement {
  /** Which input (position in `inputs`). */
  input: number;
  /** Flat row-major index within that input. */
  index: number;
  /** ∂L/∂x from `backward()`. */
  analytic: number;
  /** ∂L/∂x from central differences. */
  numeric: number;
}

/** What `gradCheck` found: pass or fail, the largest errors and where the worst one is. */
export interface GradCheckResult {
  /** Every element satisfies |analytic − numeric| ≤ atol + rtol·|numeric|. */
  ok: boolean;
  /** max |analytic − numeric| over all elements. */
  maxAbsError: number;
  /** max |analytic − numeric| / |numeric| over elements with a non-zero numeric gradient. */
  maxRelError: number;
  /** The element furthest outside (or closest to the edge of) its tolerance; null without elements. */
  worst: GradCheckElement | null;
  /** How many elements were checked. */
  checked: number;
}

/**
 * Check the gradient of `fn` at `inputs`. Each input is cast to a float64 copy and wrapped in a
 * Variable with `requiresGrad`; `fn` must build its result from those variables (constants it
 * closes over must be float64 too).
 */
export function gradCheck(
  fn: (...vars: Variable[]) => Variable,
  inputs: readonly Tensor[],
  options: GradCheckOptions = {},
): GradCheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  if (typeof fn !== 'function') throw new AutogradError('gradCheck', `fn must be a function, got ${typeof fn}`);
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new AutogradError('gradCheck', 'inputs must be a non-empty array of Tensors');
  }
  for (const [name, v] of [['eps', eps], ['atol', atol], ['rtol', rtol]] as const) {
    if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v)) || (name === 'eps' && v === 0)) {
      throw new AutogradError('gradCheck', `${name} must be a finite ${name === 'eps' ? 'positive' : 'non-negative'} number, got ${v}`);
    }
  }
  // Own float64 copies: the checker perturbs them in place.
  const xs = inputs.map((t, i) => {
    if (!t || typeof (t as Tensor).astype !== 'function') throw new AutogradError('gradCheck', `inputs[${i}] must be a Tensor`);
    return t.astype('float64').clone();
  });
  const vars = xs.map((t) => new Variable(t, { requiresGrad: true }));

  const out = call(fn, vars);
  let gradOut: Tensor;
  if (options.gradOutput) {
    if (!shapesEqual(options.gradOutput.shape, out.shape)) {
      throw new AutogradError('gradCheck', `gradOutput has shape ${fmtShape(options.gradOutput.shape)} but fn's output has shape ${fmtShape(out.shape)}`);
    }
    gradOut = options.gradOutput.astype('float64').contiguous();
  } else {
    const rng = new Rng(0x9e37);
    gradOut = zeros(out.shape, { dtype: 'float64' });
    for (let i = 0; i < gradOut.data.length; i++) gradOut.data[i] = rng.normal();
  }
  const w = gradOut.data;

  // Analytic: one backward pass with gradOutput.
  if (out.requiresGrad) out.backward(gradOut);
  const analytic = vars.map((v) => (v.grad ? v.grad.astype('float64').contiguous().data : new Float64Array(v.size)));

  // Numeric: the scalar L = Σ w ⊙ fn(x), without recording the graph.
  const loss = (): number =>
    noGrad(() => {
      const y = call(fn, vars);
      if (!shapesEqual(y.shape, out.shape)) {
        throw new AutogradError('gradCheck', `fn's output changed shape from ${fmtShape(out.shape)} to ${fmtShape(y.shape)}`);
      }
      const yd = y.data.contiguous().data;
      let s = 0;
      for (let i = 0; i < yd.length; i++) s += w[i]! * yd[i]!;
      return s;
    });

  let ok = true;
  let maxAbsError = 0;
  let maxRelError = 0;
  let worst: GradCheckElement | null = null;
  let worstScore = -1;
  let checked = 0;
  xs.forEach((x, input) => {
    const d = x.data; // contiguous float64 copy: flat index = storage index
    for (let index = 0; index < d.length; index++) {
      const orig = d[index]!;
      d[index] = orig + eps;
      const plus = loss();
      d[index] = orig - eps;
      const minus = loss();
      d[index] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const a = analytic[input]![index]!;
      const err = Math.abs(a - numeric);
      const tol = atol + rtol * Math.abs(numeric);
      // NaN anywhere fails: `!(err <= tol)`.
      const bad = !(err <= tol);
      if (bad) ok = false;
      if (err > maxAbsError || Number.isNaN(err)) maxAbsError = err;
      if (numeric !== 0) {
        const rel = err / Math.abs(numeric);
        if (rel > maxRelError || Number.isNaN(rel)) maxRelError = rel;
      }
      const score = Number.isNaN(err) ? Infinity : tol > 0 ? err / tol : err > 0 ? Infinity : 0;
      if (score > worstScore) {
        worstScore = score;
        worst = { input, index, analytic: a, numeric };
      }
      checked++;
    }
  });
  return { ok, maxAbsError, maxRelError, worst, checked };
}

/** `gradCheck`, throwing an `AutogradError` with the report when it fails. Returns the result. */
export function assertGradCheck(
  fn: (...vars: Variable[]) => Variable,
  inputs: readonly Tensor[],
  options: GradCheckOptions = {},
): GradCheckResult {
  const r = gradCheck(fn, inputs, options);
  if (!r.ok) throw new AutogradError('gradCheck', formatGradCheck(r, inputs));
  return r;
}

/** A one-paragraph report: the worst element with its input, shape and values. */
export function formatGradCheck(r: GradCheckResult, inputs?: readonly Tensor[]): string {
  const head = `${r.ok ? 'passed' : 'FAILED'} on ${r.checked} elements: max abs error ${r.maxAbsError.toExponential(3)}, max rel error ${r.maxRelError.toExponential(3)}`;
  if (!r.worst) return head;
  const { input, index, analytic, numeric } = r.worst;
  const shape = inputs?.[input] ? ` (shape ${fmtShape(inputs[input]!.shape)})` : '';
  return `${head}; worst: input ${input}${shape} flat index ${index}: analytic ${analytic}, numeric ${numeric}`;
}

function call(fn: (...vars: Variable[]) => Variable, vars: Variable[]): Variable {
  const y: unknown = fn(...vars);
  if (!(y instanceof Variable)) {
    throw new AutogradError('gradCheck', `fn must return a Variable, got ${y === null ? 'null' : typeof y}`);
  }
  return y;
}

/** Gradient norms and clipping, as `torch.nn.utils.clip_grad_norm_`. */
import { Variable } from '@normlab/autograd';
import { Tensor, TensorError } from '@normlab/tensor';
import { checkNumber, describe } from './util.js';

function gradsOf(op: string, params: Iterable<Variable>): Tensor[] {
  const out: Tensor[] = [];
  let i = 0;
  for (const p of params) {
    if (!(p instanceof Variable)) throw new TensorError(op, `parameter ${i} must be a Variable, got ${describe(p)}`);
    if (p.grad) out.push(p.grad);
    i++;
  }
  return out;
}

function totalNorm(grads: Tensor[], normType: number): number {
  if (normType === Infinity) {
    let m = 0;
    for (const g of grads) {
      const d = g.contiguous().data;
      for (let i = 0; i < d.length; i++) {
        const a = Math.abs(d[i]!);
        if (a > m || a !== a) m = a; // keep NaN, so a broken gradient shows as a NaN norm
      }
    }
    return m;
  }
  let s = 0;
  for (const g of grads) {
    const d = g.contiguous().data;
    if (normType === 2) for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
    else for (let i = 0; i < d.length; i++) s += Math.pow(Math.abs(d[i]!), normType);
  }
  return Math.pow(s, 1 / normType);
}

/**
 * The norm of all gradients together, as if concatenated into one vector (default L2; `Infinity`
 * for the max norm). Parameters without a gradient are skipped; no gradients at all gives 0.
 */
export function gradNorm(params: Iterable<Variable>, normType = 2): number {
  if (normType !== Infinity) checkNumber('gradNorm', 'normType', normType, 0, Infinity, true);
  return totalNorm(gradsOf('gradNorm', params), normType);
}

/**
 * Scale every gradient by maxNorm / (norm + 1e-6) when the total norm exceeds maxNorm, as
 * PyTorch. Returns the total norm before clipping. With `errorIfNonfinite`, a NaN or infinite
 * norm throws instead of spreading into the parameters.
 */
export function clipGradNorm(
  params: Iterable<Variable>,
  maxNorm: number,
  options: { normType?: number; errorIfNonfinite?: boolean } = {},
): number {
  checkNumber('clipGradNorm', 'maxNorm', maxNorm, 0);
  const normType = options.normType ?? 2;
  if (normType !== Infinity) checkNumber('clipGradNorm', 'normType', normType, 0, Infinity, true);
  const list = [...params];
  const grads = gradsOf('clipGradNorm', list);
  const norm = totalNorm(grads, normType);
  if (options.errorIfNonfinite && !Number.isFinite(norm)) {
    throw new TensorError('clipGradNorm', `the total gradient norm (order ${normType}) is ${norm}; refusing to clip non-finite gradients`);
  }
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of list) {
      if (!p.grad) continue;
      const src = p.grad.contiguous().data;
      const out = src.slice(0, p.grad.size);
      for (let i = 0; i < out.length; i++) out[i] = out[i]! * coef;
      p.grad = new Tensor(out, p.grad.shape);
    }
  }
  return norm;
}

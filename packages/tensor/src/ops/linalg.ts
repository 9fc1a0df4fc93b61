/** Linear algebra: `matmul` with `torch.matmul` semantics (1-D, 2-D, batched with broadcasting). */
import { ShapeError, fmtShape } from '../errors.js';
import { runKernel } from '../registry.js';
import { type Tensor, checkSameDType, checkTensor } from '../tensor.js';

declare module '../registry.js' {
  interface KernelSignatures {
    /**
     * Batched matrix product. `a`: (...batch, M, K), or (...batch, K, M) with `transposeA`;
     * `b`: (...batch, K, N), or (...batch, N, K) with `transposeB`. Both have the same batch
     * shape (possibly through stride-0 broadcast views); the result is a new contiguous
     * (...batch, M, N) tensor.
     */
    matmul: (a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean) => Tensor;
  }
}

/** Options of `matmul`. */
export interface MatmulOptions {
  /** Use the transpose of `a`'s last two axes (no copy). Ignored for a 1-D `a`. */
  transposeA?: boolean;
  /** Use the transpose of `b`'s last two axes (no copy). Ignored for a 1-D `b`. */
  transposeB?: boolean;
}

/**
 * Matrix product as `torch.matmul`: two vectors give their dot product (a 0-d tensor); a 1-D
 * first operand is treated as a row (1, K) and a 1-D second operand as a column (K, 1), the
 * added axis removed from the result; operands of rank ≥ 3 are stacks of matrices whose batch
 * axes broadcast (NumPy rules). `transposeA`/`transposeB` transpose the last two axes first.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  checkSameDType('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError('matmul', `both operands need at least 1 dimension, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const ta = a.rank >= 2 && options.transposeA === true;
  const tb = b.rank >= 2 && options.transposeB === true;
  // Promote vectors to matrices (views, no copy) and remember which axes to drop afterwards.
  const a2 = a.rank === 1 ? a.unsqueeze(0) : a;
  const b2 = b.rank === 1 ? b.unsqueeze(1) : b;
  const ra = a2.rank;
  const rb = b2.rank;
  const m = ta ? a2.shape[ra - 1]! : a2.shape[ra - 2]!;
  const ka = ta ? a2.shape[ra - 2]! : a2.shape[ra - 1]!;
  const kb = tb ? b2.shape[rb - 1]! : b2.shape[rb - 2]!;
  const n = tb ? b2.shape[rb - 2]! : b2.shape[rb - 1]!;
  if (ka !== kb) {
    throw new ShapeError(
      'matmul',
      `inner dimensions differ: ${fmtShape(a.shape)}${ta ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${tb ? 'ᵀ' : ''} ` +
        `has K = ${ka} on the left and ${kb} on the right`,
    );
  }
  const batch = broadcastBatch(a2.shape.slice(0, ra - 2), b2.shape.slice(0, rb - 2), a.shape, b.shape);
  const ae = a2.expand([...batch, a2.shape[ra - 2]!, a2.shape[ra - 1]!]);
  const be = b2.expand([...batch, b2.shape[rb - 2]!, b2.shape[rb - 1]!]);
  const out = runKernel('matmul', ae, be, ta, tb);
  if (a.rank === 1 && b.rank === 1) return out.reshape([]);
  if (a.rank === 1) return out.reshape([...batch, n]);
  if (b.rank === 1) return out.reshape([...batch, m]);
  return out;
}

function broadcastBatch(x: readonly number[], y: readonly number[], aShape: readonly number[], bShape: readonly number[]): number[] {
  const rank = Math.max(x.length, y.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const dx = x[x.length - rank + i] ?? 1;
    const dy = y[y.length - rank + i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1) {
      throw new ShapeError(
        'matmul',
        `batch dimensions ${fmtShape(x)} of ${fmtShape(aShape)} and ${fmtShape(y)} of ${fmtShape(bShape)} cannot be broadcast`,
      );
    }
    out[i] = dx === 1 ? dy : dx;
  }
  return out;
}

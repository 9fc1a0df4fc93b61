/**
 * `Variable`: a tensor in the computation graph. Ops on variables (see `functional.ts`) record
 * their parents and a backward function that maps the gradient of the output to the gradients of
 * the inputs (the vector-Jacobian product). `backward()` walks the graph in reverse topological
 * order. As in PyTorch, gradients are kept on leaves (variables made by the user with
 * `requiresGrad`), accumulate across backward calls, and are cleared with `zeroGrad()`.
 */
import { type DType, type Shape, Tensor, TensorError, allocate, fmtShape, ones, shapesEqual } from '@normlab/tensor';

/** Maps the gradient of an op's output to one gradient (or null) per parent. */
export type BackwardFn = (gradOutput: Tensor) => ReadonlyArray<Tensor | null>;

/**
 * What a recorded op was called with besides its Variable inputs (axes, shapes, pooling options,
 * constant operands): with `op` and `parents` enough to replay the op, which is what a tracer
 * (the ONNX export) reads. Plain data, to be read only (arrays may be the caller's own).
 */
export type OpAttrs = Readonly<Record<string, unknown>>;

const NO_ATTRS: OpAttrs = Object.freeze({});

/**
 * A misuse of the graph: a non-Variable where a Variable is needed, `backward()` on a variable
 * that needs no gradient or with a `gradOutput` of the wrong shape.
 */
export class AutogradError extends TensorError {
  /** `op` names the op that failed; the message reads `op: message`. */
  constructor(op: string, message: string) {
    super(op, message);
    this.name = 'AutogradError';
  }
}

let gradEnabled = true;

/** Run `fn` without recording the graph (as `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether ops currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * A tensor in the computation graph (PyTorch's autograd tensor): ops on variables record their
 * parents and a backward function, and `backward()` sends gradients to the leaves that have
 * `requiresGrad`.
 */
export class Variable {
  /** The value. Optimizers replace it in place of the old one (`data` is reassignable). */
  data: Tensor;
  /** The accumulated gradient of a leaf, or null. */
  grad: Tensor | null = null;
  /**
   * Whether gradients flow to this variable: set on leaves by the user, and on op results when any
   * parent has it (outside `noGrad`).
   */
  requiresGrad: boolean;
  /** The op that made this variable (`leaf` for user-made ones). */
  readonly op: string;
  /** The op's Variable inputs, in argument order (empty for leaves and constants). */
  readonly parents: readonly Variable[];
  /** The op's non-Variable arguments (see `OpAttrs`); empty for leaves. */
  readonly attrs: OpAttrs;
  private readonly backwardFn: BackwardFn | undefined;

  /** A leaf holding `data` (not copied); it collects `grad` when `requiresGrad` is set. */
  constructor(data: Tensor, options: { requiresGrad?: boolean } = {}) {
    if (!(data instanceof Tensor)) throw new AutogradError('Variable', `data must be a Tensor, got ${typeof data}`);
    this.data = data;
    this.requiresGrad = options.requiresGrad ?? false;
    this.op = 'leaf';
    this.parents = [];
    this.attrs = NO_ATTRS;
    this.backwardFn = undefined;
  }

  /**
   * The result of op `op` with value `data`. When grad mode is on and any parent requires a
   * gradient, the result records `parents` and `backward`; otherwise it is a plain constant.
   * This is how every differentiable op, including fused layers, enters the graph. `attrs`
   * records the op's other arguments with it.
   */
  static fromOp(op: string, data: Tensor, parents: readonly Variable[], backward: BackwardFn, attrs: OpAttrs = NO_ATTRS): Variable {
    const v = new Variable(data);
    if (gradEnabled && parents.some((p) => p.requiresGrad)) {
      v.requiresGrad = true;
      (v as { op: string }).op = op;
      (v as { parents: readonly Variable[] }).parents = parents;
      (v as { attrs: OpAttrs }).attrs = attrs;
      (v as unknown as { backwardFn: BackwardFn }).backwardFn = backward;
    }
    return v;
  }

  /** The shape of `data`. */
  get shape(): Shape {
    return this.data.shape;
  }

  /** The dtype of `data`. */
  get dtype(): DType {
    return this.data.dtype;
  }

  /** The number of elements of `data`. */
  get size(): number {
    return this.data.size;
  }

  /** True for variables made by the user (or by an op outside grad mode): the ones that keep `grad`. */
  get isLeaf(): boolean {
    return this.backwardFn === undefined;
  }

  /** The single value of a one-element variable (a loss); ShapeError otherwise. */
  item(): number {
    return this.data.item();
  }

  /** The same value, cut from the graph. */
  detach(): Variable {
    return new Variable(this.data);
  }

  /** Clear the accumulated gradient (`grad` becomes null). */
  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Back-propagate from this variable. `gradOutput` defaults to 1 for a one-element variable
   * (a loss); otherwise it must be given and match the shape.
   */
  backward(gradOutput?: Tensor): void {
    if (!this.requiresGrad) {
      throw new AutogradError('backward', 'this variable does not require a gradient (no input of it has requiresGrad)');
    }
    let seed: Tensor;
    if (gradOutput === undefined) {
      if (this.size !== 1) {
        throw new AutogradError('backward', `gradOutput is required for a non-scalar output of shape ${fmtShape(this.shape)}`);
      }
      seed = ones(this.shape, { dtype: this.dtype });
    } else {
      if (!shapesEqual(gradOutput.shape, this.shape)) {
        throw new AutogradError('backward', `gradOutput shape ${fmtShape(gradOutput.shape)} does not match output shape ${fmtShape(this.shape)}`);
      }
      if (!(gradOutput instanceof Tensor)) {
        throw new AutogradError('backward', `gradOutput must be a Tensor, got ${gradOutput === null ? 'null' : typeof gradOutput}`);
      }
      // The gradient flows in this variable's dtype (ops reject mixed dtypes).
      seed = gradOutput.dtype === this.dtype ? gradOutput : gradOutput.astype(this.dtype);
    }

    const order = topologicalOrder(this);
    const grads = new Map<Variable, Tensor>([[this, seed]]);
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i]!;
      const g = grads.get(node);
      if (!g) continue;
      if (node.isLeaf) {
        if (node.requiresGrad) node.grad = node.grad ? addSameShape(node.grad, g) : materialize(g);
        continue;
      }
      grads.delete(node);
      const parentGrads = node.backwardFn!(g);
      if (parentGrads.length !== node.parents.length) {
        throw new AutogradError(node.op, `backward returned ${parentGrads.length} gradients for ${node.parents.length} inputs`);
      }
      node.parents.forEach((p, k) => {
        const pg = parentGrads[k];
        if (!pg || !p.requiresGrad) return;
        if (!shapesEqual(pg.shape, p.shape)) {
          throw new AutogradError(node.op, `backward gave a gradient of shape ${fmtShape(pg.shape)} for an input of shape ${fmtShape(p.shape)}`);
        }
        if (pg.dtype !== p.dtype) {
          throw new AutogradError(node.op, `backward gave a ${pg.dtype} gradient for a ${p.dtype} input`);
        }
        const prev = grads.get(p);
        grads.set(p, prev ? addSameShape(prev, pg) : pg);
      });
    }
  }

  /** `Variable(shape=[2,3], dtype=float32, requiresGrad=true)`. */
  toString(): string {
    return `Variable(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, requiresGrad=${this.requiresGrad})`;
  }
}

function topologicalOrder(root: Variable): Variable[] {
  const order: Variable[] = [];
  const seen = new Set<Variable>();
  // Iterative DFS: deep networks would overflow the call stack with recursion.
  const stack: Array<[Variable, number]> = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, next] = top;
    if (next < node.parents.length) {
      top[1]++;
      const p = node.parents[next]!;
      if (!seen.has(p) && p.requiresGrad) {
        seen.add(p);
        stack.push([p, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

/** A contiguous copy we own (so later accumulation cannot write into a caller's tensor). */
function materialize(t: Tensor): Tensor {
  return t.clone();
}

/** a + b for same-shape tensors, into a new tensor. */
function addSameShape(a: Tensor, b: Tensor): Tensor {
  const ac = a.contiguous().data;
  const bc = b.contiguous().data;
  const out = allocate(a.dtype, a.size);
  for (let i = 0; i < out.length; i++) out[i] = ac[i]! + bc[i]!;
  return new Tensor(out, a.shape);
}

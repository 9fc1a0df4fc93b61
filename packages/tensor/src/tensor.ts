/**
 * `Tensor`: an n-dimensional view (shape, strides, offset) over a float32 or float64 typed array.
 * Views — reshape of a contiguous tensor, permute/transpose, slice, expand — share the storage;
 * their index arithmetic is `ndarray`'s. Ops live in `ops/` and dispatch through the kernel registry.
 */
import ndarray from 'ndarray';
import { AxisError, DTypeError, ShapeError, TensorError, fmtShape } from './errors.js';
import { planStrided } from './kernels/cpu/strided.js';

/** Element type of a tensor's storage. Ops take operands of one dtype and never promote. */
export type DType = 'float32' | 'float64';
/** The storage behind a tensor: `Float32Array` for `float32`, `Float64Array` for `float64`. */
export type TypedArray = Float32Array | Float64Array;
/** Sizes of a tensor's axes, outermost first (row-major; images are NCHW). `[]` is a scalar. */
export type Shape = readonly number[];
/** Nested arrays of numbers, as `toArray()` returns and `tensor()` accepts. */
export type NestedArray = number | NestedArray[];

/** Every dtype a tensor can have. */
export const DTYPES: readonly DType[] = ['float32', 'float64'];

/** Check `dtype` is one of ours; name the op in the error. */
export function checkDType(op: string, dtype: unknown): DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new DTypeError(op, `dtype must be 'float32' or 'float64', got ${JSON.stringify(dtype)}`);
  }
  return dtype;
}

/** Allocate a zeroed typed array of `dtype`. */
export function allocate(dtype: DType, size: number): TypedArray {
  if (size >= LARGE_ELEMENTS) keepFreedMemory();
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** Below this many bytes `allocateUninitialized` zeroes like `allocate`: nothing to gain. */
const UNINITIALIZED_MIN_BYTES = 1 << 16;
/** Arrays from this many elements on (1 MiB of float32) are activations, not parameters. */
const LARGE_ELEMENTS = 1 << 18;

interface NodeBufferLike {
  allocUnsafeSlow(size: number): Uint8Array;
}

let freedMemoryKept = false;

/**
 * Once per process, before the first large array: on Linux, allocate and drop a 30 MiB buffer.
 * glibc's malloc serves large requests with fresh mmap'd pages and returns freed memory above a
 * trim threshold to the OS; V8 frees dead ArrayBuffers in batches at GC, so each batch went back
 * to the OS and the next 4 MB activations faulted every page in again (up to 2048 faults, 2 µs
 * each, per norm layer's forward + backward: GN took 3.8–4.3 ms instead of 2.9–3.1). Freeing one
 * mmap'd block raises both thresholds to its size (glibc's documented dynamic threshold, at most
 * 32 MiB; mallopt(3)), after which blocks up to 30 MiB are recycled in the process. Elsewhere
 * (other allocators, browsers) the dropped buffer is all that happens.
 */
function keepFreedMemory(): void {
  if (freedMemoryKept) return;
  freedMemoryKept = true;
  const nodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform;
  if (nodeBuffer && platform === 'linux') nodeBuffer.allocUnsafeSlow(30 << 20);
}

/**
 * A typed array of `dtype` whose contents are unspecified (PyTorch's `torch.empty`), for kernel
 * outputs that write every element. In Node large ones come from `Buffer.allocUnsafeSlow`: a
 * zeroed array of 4 MB costs 0.3–1 ms more than the kernel that fills it (the allocator clears
 * recycled memory, or the kernel faults fresh pages in), a third of a norm layer's forward.
 * Elsewhere, and for small sizes, it is `allocate`.
 */
export function allocateUninitialized(dtype: DType, size: number): TypedArray {
  if (size >= LARGE_ELEMENTS) keepFreedMemory();
  const bytes = (dtype === 'float64' ? 8 : 4) * size;
  const nodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;
  if (bytes < UNINITIALIZED_MIN_BYTES || !nodeBuffer) return allocate(dtype, size);
  const b = nodeBuffer.allocUnsafeSlow(bytes);
  return dtype === 'float64' ? new Float64Array(b.buffer, b.byteOffset, size) : new Float32Array(b.buffer, b.byteOffset, size);
}

/** Check every entry of `shape` is a non-negative integer; return a copy. */
export function checkShape(op: string, shape: readonly unknown[]): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(op, `shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `shape entries must be non-negative integers, got [${shape.join(',')}]`);
    }
  }
  return [...(shape as number[])];
}

/** The number of elements of a tensor of `shape` (1 for a scalar, 0 when an axis is 0). */
export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of `shape`, in elements: the last axis has stride 1. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when `a` and `b` have the same rank and sizes. */
export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Normalize a possibly negative axis against `rank`; throws `AxisError` when out of range. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new AxisError(op, `axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * An n-dimensional array: a view (`shape`, `strides`, `offset`) of a float32 or float64 typed array.
 * Views (`reshape` of a contiguous tensor, `permute`, `transpose`, `slice`, `expand`) share `data`;
 * ops return new tensors and never write into their inputs. Create tensors with `tensor()`,
 * `zeros()`, `randn()` and the other creation functions.
 */
export class Tensor {
  /** The storage, shared by every view of it; element `i` of the view is at `offset + Σ index·stride`. */
  readonly data: TypedArray;
  /** Sizes of the axes (frozen). */
  readonly shape: Shape;
  /** Distance in `data` elements between neighbours along each axis (0 along broadcast axes; frozen). */
  readonly strides: Shape;
  /** Index in `data` of the first element. */
  readonly offset: number;
  /** `float32` or `float64`, from the type of `data`. */
  readonly dtype: DType;
  /** Number of elements (the product of `shape`). */
  readonly size: number;

  /**
   * Low-level constructor: a view of `data`. Prefer `tensor()`, `zeros()`, `fromArray()`.
   * `strides` default to contiguous row-major.
   */
  constructor(data: TypedArray, shape: Shape, strides?: Shape, offset = 0) {
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = data instanceof Float64Array ? 'float64' : 'float32';
    this.size = shapeSize(shape);
  }

  /** Number of axes (0 for a scalar). */
  get rank(): number {
    return this.shape.length;
  }

  /** True when the elements are laid out row-major from `offset` without gaps. */
  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const d = this.shape[i]!;
      if (d !== 1 && this.strides[i] !== s) return false;
      s *= d;
    }
    return true;
  }

  /**
   * A tensor with the same values laid out row-major, offset 0 and exactly `size` elements long
   * (so `.data` can be indexed directly). Returns `this` when it already is.
   */
  contiguous(): Tensor {
    if (this.offset === 0 && this.data.length === this.size && this.isContiguous()) return this;
    const out = allocateUninitialized(this.dtype, this.size);
    copyStrided(this, out);
    return new Tensor(out, this.shape);
  }

  /** A new tensor owning a copy of the values. */
  clone(): Tensor {
    const out = allocateUninitialized(this.dtype, this.size);
    copyStrided(this, out);
    return new Tensor(out, this.shape);
  }

  /** A copy in `dtype` (or `this` when it already is). */
  astype(dtype: DType): Tensor {
    checkDType('astype', dtype);
    if (dtype === this.dtype) return this;
    const out = allocateUninitialized(dtype, this.size);
    copyStrided(this, out);
    return new Tensor(out, this.shape);
  }

  /** The values as a fresh row-major typed array. */
  toTypedArray(): TypedArray {
    const out = allocateUninitialized(this.dtype, this.size);
    copyStrided(this, out);
    return out;
  }

  /** The values as nested arrays (a number for a scalar). */
  toArray(): NestedArray {
    const flat = this.contiguous().data;
    if (this.rank === 0) return flat[0]!;
    const build = (dim: number, base: number): NestedArray[] => {
      const n = this.shape[dim]!;
      const out: NestedArray[] = new Array(n);
      if (dim === this.rank - 1) {
        for (let i = 0; i < n; i++) out[i] = flat[base + i]!;
      } else {
        const step = shapeSize(this.shape.slice(dim + 1));
        for (let i = 0; i < n; i++) out[i] = build(dim + 1, base + i * step);
      }
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError('item', `expected a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return this.data[this.offset]!;
  }

  /** The value at a full index (negative indices count from the end). Slow: for tests and glue. */
  get(...index: number[]): number {
    if (index.length !== this.rank) {
      throw new ShapeError('get', `expected ${this.rank} indices for shape ${fmtShape(this.shape)}, got ${index.length}`);
    }
    let p = this.offset;
    for (let i = 0; i < index.length; i++) {
      const d = this.shape[i]!;
      let k = index[i]!;
      if (!Number.isInteger(k) || k < -d || k >= d) {
        throw new ShapeError('get', `index ${k} is out of range for axis ${i} of size ${d}`);
      }
      if (k < 0) k += d;
      p += k * this.strides[i]!;
    }
    return this.data[p]!;
  }

  /**
   * The same values in `shape` (one entry may be -1). A view when the tensor is contiguous,
   * else a copy, as `torch.reshape`.
   */
  reshape(...shapeArg: number[] | [readonly number[]]): Tensor {
    const want = (Array.isArray(shapeArg[0]) ? shapeArg[0] : shapeArg) as number[];
    const shape = inferShape('reshape', want, this.size, this.shape);
    const base = this.isContiguous() ? this : this.contiguous();
    return new Tensor(base.data, shape, undefined, base.offset);
  }

  /** A view with the axes reordered: `permute(0, 2, 3, 1)` turns NCHW into NHWC. */
  permute(...axesArg: number[] | [readonly number[]]): Tensor {
    const axes = (Array.isArray(axesArg[0]) ? axesArg[0] : axesArg) as number[];
    if (axes.length !== this.rank) {
      throw new AxisError('permute', `expected ${this.rank} axes for shape ${fmtShape(this.shape)}, got [${axes.join(',')}]`);
    }
    const norm = axes.map((a) => normalizeAxis('permute', a, this.rank));
    if (new Set(norm).size !== norm.length) throw new AxisError('permute', `repeated axis in [${axes.join(',')}]`);
    const v = this.nd().transpose(...norm);
    return new Tensor(this.data, v.shape, v.stride, v.offset);
  }

  /** Swap two axes (default: the last two), as `torch.transpose`. */
  transpose(dim0 = -2, dim1 = -1): Tensor {
    if (this.rank < 2 && arguments.length === 0) return this;
    const a = normalizeAxis('transpose', dim0, this.rank);
    const b = normalizeAxis('transpose', dim1, this.rank);
    const axes = this.shape.map((_, i) => i);
    axes[a] = b;
    axes[b] = a;
    return this.permute(axes);
  }

  /**
   * A view of a sub-range along each axis: `slice([[0, 2], null, [1, 5, 2]])` keeps rows 0..1,
   * every column of axis 1 and every second index from 1 to 4 of axis 2. Each entry is `null`
   * (whole axis), `[start, end]` or `[start, end, step]` with a positive step; negative bounds
   * count from the end, ends are clamped as in Python.
   */
  slice(ranges: ReadonlyArray<readonly [number, number] | readonly [number, number, number] | null>): Tensor {
    if (ranges.length > this.rank) {
      throw new ShapeError('slice', `got ${ranges.length} ranges for a tensor of rank ${this.rank}`);
    }
    let v = this.nd();
    const lo: Array<number | null> = [];
    const hi: Array<number | null> = [];
    const step: Array<number | null> = [];
    ranges.forEach((r, i) => {
      const d = this.shape[i]!;
      if (r === null) {
        lo.push(null);
        hi.push(null);
        step.push(null);
        return;
      }
      const [s0, e0, st = 1] = r;
      if (!Number.isInteger(s0) || !Number.isInteger(e0) || !Number.isInteger(st) || st <= 0) {
        throw new ShapeError('slice', `range for axis ${i} must be integers with a positive step, got [${r.join(',')}]`);
      }
      const clamp = (k: number) => Math.min(d, Math.max(0, k < 0 ? k + d : k));
      const s = clamp(s0);
      const e = Math.max(s, clamp(e0));
      lo.push(s);
      hi.push(e - s);
      step.push(st);
    });
    // ndarray's hi() after lo() takes a length: lo, then hi, then step.
    v = v.lo(...(lo as number[])).hi(...(hi as number[])).step(...(step as number[]));
    return new Tensor(this.data, v.shape, v.stride, v.offset);
  }

  /** A view that repeats size-1 axes to `shape` with stride 0 (new leading axes allowed), as `torch.expand`. */
  expand(...shapeArg: number[] | [readonly number[]]): Tensor {
    const shape = (Array.isArray(shapeArg[0]) ? shapeArg[0] : shapeArg) as number[];
    checkShape('expand', shape.map((d) => (d === -1 ? 0 : d)));
    const lead = shape.length - this.rank;
    if (lead < 0) {
      throw new ShapeError('expand', `cannot expand shape ${fmtShape(this.shape)} to fewer axes ${fmtShape(shape)}`);
    }
    const outShape: number[] = [];
    const outStrides: number[] = [];
    for (let i = 0; i < shape.length; i++) {
      const want = shape[i]!;
      if (i < lead) {
        if (want === -1) throw new ShapeError('expand', `-1 is not allowed for a new leading axis in ${fmtShape(shape)}`);
        outShape.push(want);
        outStrides.push(0);
        continue;
      }
      const have = this.shape[i - lead]!;
      const stride = this.strides[i - lead]!;
      if (want === -1 || want === have) {
        outShape.push(have);
        outStrides.push(stride);
      } else if (have === 1) {
        outShape.push(want);
        outStrides.push(0);
      } else {
        throw new ShapeError('expand', `cannot expand shape ${fmtShape(this.shape)} to ${fmtShape(shape)}: axis ${i} has size ${have}`);
      }
    }
    return new Tensor(this.data, outShape, outStrides, this.offset);
  }

  /** Insert an axis of size 1 at `axis`. */
  unsqueeze(axis: number): Tensor {
    const a = normalizeAxis('unsqueeze', axis, this.rank + 1);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(a, 0, 1);
    strides.splice(a, 0, a < this.rank ? this.strides[a]! * this.shape[a]! : 1);
    return new Tensor(this.data, shape, strides, this.offset);
  }

  /** Remove size-1 axes (all of them, or the one given). */
  squeeze(axis?: number): Tensor {
    const keep: number[] = [];
    if (axis !== undefined) {
      const a = normalizeAxis('squeeze', axis, this.rank);
      if (this.shape[a] !== 1) throw new ShapeError('squeeze', `axis ${a} of shape ${fmtShape(this.shape)} has size ${this.shape[a]}, not 1`);
      for (let i = 0; i < this.rank; i++) if (i !== a) keep.push(i);
    } else {
      for (let i = 0; i < this.rank; i++) if (this.shape[i] !== 1) keep.push(i);
    }
    return new Tensor(this.data, keep.map((i) => this.shape[i]!), keep.map((i) => this.strides[i]!), this.offset);
  }

  /** `Tensor(shape=[2,3], dtype=float32)`: the shape and dtype, not the values. */
  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype})`;
  }

  private nd() {
    return ndarray(this.data, [...this.shape], [...this.strides], this.offset);
  }
}

/** Resolve a requested shape with at most one -1 against `size` elements. */
export function inferShape(op: string, want: readonly number[], size: number, from: Shape): number[] {
  let unknown = -1;
  let known = 1;
  want.forEach((d, i) => {
    if (d === -1) {
      if (unknown >= 0) throw new ShapeError(op, `only one -1 is allowed, got ${fmtShape(want)}`);
      unknown = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `shape entries must be non-negative integers or -1, got ${fmtShape(want)}`);
    } else {
      known *= d;
    }
  });
  const shape = [...want];
  if (unknown >= 0) {
    if (known === 0 || size % known !== 0) {
      throw new ShapeError(op, `cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(want)}`);
    }
    shape[unknown] = size / known;
  } else if (known !== size) {
    throw new ShapeError(op, `cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(want)} (${known} elements)`);
  }
  return shape;
}

/** Rows at least this long are copied with `TypedArray.set` (a memcpy) rather than a loop. */
const SET_MIN_ROW = 256;

/**
 * Copy the (possibly strided) elements of `src` row-major into `out`, converting dtype. Axes that
 * are contiguous in both are merged first, so a contiguous tensor is one `set` (a memcpy: 0.5 ms
 * for 1M float32 where an element loop took 5 ms) and a view copies row by row.
 */
export function copyStrided(src: Tensor, out: TypedArray): void {
  const n = src.size;
  if (n === 0) return;
  const { data } = src;
  const { dims, strides: [st] } = planStrided(src.shape, [src.strides, contiguousStrides(src.shape)]);
  const strides = st!;
  const last = dims.length - 1;
  const inner = dims[last]!;
  const step = strides[last]!;
  const rows = step === 1 && inner >= SET_MIN_ROW;
  // Innermost (merged) axis as one row, outer axes with an odometer.
  const idx = new Array<number>(last).fill(0);
  let p = src.offset;
  let o = 0;
  while (o < n) {
    if (rows) {
      out.set(data.subarray(p, p + inner), o);
    } else {
      for (let i = 0, q = p; i < inner; i++, q += step) out[o + i] = data[q]!;
    }
    o += inner;
    let ax = last - 1;
    while (ax >= 0) {
      idx[ax]!++;
      p += strides[ax]!;
      if (idx[ax]! < dims[ax]!) break;
      p -= strides[ax]! * dims[ax]!;
      idx[ax] = 0;
      ax--;
    }
  }
}

/** Throw unless `a` and `b` have the same dtype. */
export function checkSameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(op, `operands have different dtypes: ${a.dtype} and ${b.dtype}`);
  }
}

/** Throw unless `t` is a Tensor. */
export function checkTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) {
    throw new TensorError(op, `${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  }
}

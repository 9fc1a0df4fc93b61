export * from './errors.js';
export * from './registry.js';
export * from './rng.js';
export { setWarningHandler, warn, warnOnce, type WarningHandler } from './warnings.js';
export {
  ParallelError,
  type RangeFunction,
  type ParallelIO,
  type RangeKernel,
  getNumThreads,
  parallelFor,
  parallelStatus,
  rangeKernel,
  setNumThreads,
} from './parallel.js';
export {
  Tensor,
  type DType,
  type TypedArray,
  type Shape,
  type NestedArray,
  DTYPES,
  allocate,
  allocateUninitialized,
  checkDType,
  checkShape,
  checkSameDType,
  checkTensor,
  contiguousStrides,
  copyStrided,
  inferShape,
  normalizeAxis,
  shapeSize,
  shapesEqual,
} from './tensor.js';
export * from './creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/linalg.js';
export * from './ops/conv.js';
export * from './ops/pool.js';
// Registers the pure-TypeScript kernels as backend `cpu`.
import './kernels/cpu/index.js';

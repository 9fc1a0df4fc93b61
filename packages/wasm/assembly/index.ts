// The kernels' entry module: every export here becomes an export of the .wasm. Each kernel family
// lives in its own file; pointers are byte addresses in the one (imported) memory, sizes and
// strides are element counts. No kernel allocates: the JS side hands out every buffer.
export { packB, gemmRows, GEMM_SCRATCH_BYTES } from './gemm';
export { im2col, col2im, gatherRows, scatterRows, sumPartials } from './conv';
export { relu, reluBackward } from './elementwise';
export { winogradInput, winogradOutput } from './winograd';

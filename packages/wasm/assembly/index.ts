// The kernels' entry module: every export here becomes an export of the .wasm. Each kernel family
// lives in its own file; pointers are byte addresses in the one (imported) memory, sizes and
// strides are element counts. No kernel allocates: the JS side hands out every buffer.
export { packB, gemmRows, GEMM_SCRATCH_BYTES } from './gemm';
export { im2col, col2im, gatherRows, scatterRows, sumPartials } from './conv';
export { relu, reluBackward } from './elementwise';
export { winogradInput, winogradOutput } from './winograd';
export { normMomentsSlots, normForwardSlots, normParamGradsSlots, normBackwardSlots } from './norm/grouped';
export { gnPlusForwardGroups, gnPlusBackwardGroups } from './norm/gnplus';
export { hybridRowStatsSlots, hybridBatchStats, hybridApplySlots, hybridRowSumsSlots, hybridChannelTerms, hybridBackwardSlots } from './norm/hybrid';
export { batchAxisMomentsItems, batchAxisApplyItems, batchAxisBackwardItems } from './norm/batch-axis';
export { blendAffineRows, blendAffineBackwardRows } from './norm/blend';

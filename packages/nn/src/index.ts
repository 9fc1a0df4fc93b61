// The WebAssembly SIMD kernels: importing them registers backend `wasm` and makes it the active
// backend wherever WebAssembly SIMD runs (unless NORMLAB_BACKEND says otherwise), so every network
// built from these modules trains on them; @normlab/tensor and @normlab/autograd alone stay on `cpu`.
import '@normlab/wasm';
export * from './module.js';
export * from './layers.js';
export * from './losses.js';
export * from './optim.js';
export * from './schedule.js';
export * from './clip.js';
/** Weight initializers (`init.kaimingUniform`, `init.xavierNormal`, …), as `torch.nn.init`. */
export * as init from './init.js';
export type { RngOptions } from './util.js';

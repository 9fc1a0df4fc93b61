export * from './module.js';
export * from './layers.js';
export * from './losses.js';
export * from './optim.js';
export * from './schedule.js';
export * from './clip.js';
export * as init from './init.js';
export type { RngOptions } from './util.js';

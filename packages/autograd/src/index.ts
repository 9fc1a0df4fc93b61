export * from './variable.js';
export * as F from './functional.js';
export * from './functional.js';
export * from './gradcheck.js';

// The same range functions under another module URL: a module the workers have not imported yet
// (parallelFor only hands .js/.mjs URLs without a query to workers).
export { blockSumsFirstPartLate } from './range-kernels.mjs';

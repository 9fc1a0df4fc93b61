// Shared limits for every package: see ../../vitest.shared.ts.
export { default } from '../../vitest.shared.js';

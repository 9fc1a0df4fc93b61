// Shared limits (../../vitest.shared.ts), with this package's own tests on backend `wasm`.
import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

export default mergeConfig(shared, defineConfig({ test: { env: { NORMLAB_BACKEND: 'wasm' } } }));

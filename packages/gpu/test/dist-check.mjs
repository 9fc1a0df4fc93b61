// Runs the BUILT package (dist/) in a plain Node process: proves tsc's emit left every gpu.js
// kernel parseable, and that NORMLAB_BACKEND / NORMLAB_GPU_MODE are read at import.
// Prints one JSON line: { info, results } (used by src/dist.test.ts).
import '@normlab/norm-layers';
import { getBackend } from '@normlab/tensor';
import { backendInfo } from '../dist/index.js';
import { allCases } from '../dist/parity.js';

const backend = getBackend();
const results = allCases();
console.log(JSON.stringify({ backend, info: backendInfo(), results }));

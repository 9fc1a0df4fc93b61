/** The Node ESM program: trains the small model and prints one JSON line. */
import { getNumThreads } from '@normlab/tensor';
import { trainSmallModel } from './train.js';

const { losses } = trainSmallModel();
console.log(JSON.stringify({ losses, threads: getNumThreads() }));

#!/usr/bin/env node
// The `normlab` executable. It is committed (not built) so that `npm ci` finds it when it links
// workspace bins, which happens before the build; the command itself is the compiled dist/bin.js,
// loaded once the Node version is known to be one normlab runs on (one line otherwise).
import { nodeVersionProblem } from '../dist/node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem) {
  process.stderr.write(`normlab: error: ${problem}\n`);
  process.exitCode = 2;
} else {
  await import('../dist/bin.js');
}

#!/usr/bin/env node
// Empties the package's dist/ before a build, so that an output whose source was moved or deleted
// (e.g. norm-layers' kernels.ts after the split into kernels/) is never packed and published.
// Run by every package's `build` script from the package folder.
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });

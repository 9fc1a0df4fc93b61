#!/usr/bin/env node
// The `normlab` executable. It is committed (not built) so that `npm ci` finds it when it links
// workspace bins, which happens before the build; the command itself is the compiled dist/bin.js.
import '../dist/bin.js';

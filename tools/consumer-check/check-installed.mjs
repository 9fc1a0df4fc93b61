/**
 * Checks the installed tarballs in a scratch app: every `@normlab/*` package carries LICENSE,
 * `repository` (with its directory), `engines`, internal dependencies as ranges, no test files,
 * and source maps whose sources are in the package; and gpu.js (with its native `webgpu`) is not
 * installed unless @normlab/gpu is. Prints one line; exits 1 on the first problems found.
 *
 *   node check-installed.mjs APP_DIR
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const app = path.resolve(process.argv[2] ?? '.');
const scope = path.join(app, 'node_modules', '@normlab');
const problems = [];
let maps = 0;

function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const names = readdirSync(scope);
for (const name of names) {
  const dir = path.join(scope, name);
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const id = pkg.name;
  if (!existsSync(path.join(dir, 'LICENSE'))) problems.push(`${id}: no LICENSE`);
  if (!pkg.license) problems.push(`${id}: no license field`);
  if (!pkg.repository?.url || pkg.repository.directory !== `packages/${name}`) problems.push(`${id}: repository is ${JSON.stringify(pkg.repository)}`);
  if (!pkg.engines?.node) problems.push(`${id}: no engines.node`);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
      if (dep.startsWith('@normlab/') && !/^[\^~]|^>=/.test(range)) problems.push(`${id}: ${field} pins ${dep}@${range}`);
    }
  }
  for (const file of walk(dir)) {
    const rel = path.relative(dir, file);
    if (/\.test\.[cm]?[jt]s$|(^|\/)test-utils\//.test(rel)) problems.push(`${id}: ships the test file ${rel}`);
    if (!file.endsWith('.map')) continue;
    maps++;
    const map = JSON.parse(readFileSync(file, 'utf8'));
    for (const source of map.sources) {
      const target = path.resolve(path.dirname(file), map.sourceRoot ?? '', source);
      if (!existsSync(target)) problems.push(`${id}: ${rel} points at ${path.relative(dir, target)}, which is not in the package`);
    }
  }
}
const gpuInstalled = names.includes('gpu');
for (const dep of ['gpu.js', 'webgpu']) {
  if (!gpuInstalled && existsSync(path.join(app, 'node_modules', dep))) problems.push(`${dep} is installed without @normlab/gpu`);
}
if (problems.length) {
  console.log(`${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
  process.exit(1);
}
console.log(`${names.length} packages: LICENSE, repository, engines, ranges, no tests; ${maps} source maps resolve${gpuInstalled ? '' : '; gpu.js and webgpu not installed'}`);

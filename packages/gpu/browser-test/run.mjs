#!/usr/bin/env node
// Browser test of @normlab/gpu: serves the BUILT packages from 127.0.0.1 (no network), opens
// them in headless Chromium through playwright-core, runs the parity cases on WebGL2 and WebGL
// (SwiftShader in a GPU-less container) and on WebGPU when the browser offers an adapter, and
// exits non-zero when a case fails or WebGL2 did not actually run.
//
//   npm run build && npm run test:browser -w @normlab/gpu
//   CHROMIUM=/path/to/chromium npm run test:browser -w @normlab/gpu     (default /usr/bin/chromium)
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

for (const pkg of ['tensor', 'autograd', 'wasm', 'nn', 'norm-layers', 'gpu']) {
  if (!existsSync(path.join(repo, 'packages', pkg, 'dist', 'index.js'))) {
    console.error(`packages/${pkg}/dist is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}
if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM)`);
  process.exit(2);
}

// ndarray (a dependency of @normlab/tensor) is CommonJS: wrap it and its two dependencies in a
// tiny module loader so the page can import it as an ES module.
function cjsBundle(entry, deps) {
  const parts = [entry, ...deps].map((name) => {
    const dir = path.join(repo, 'node_modules', name);
    const main = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).main ?? 'index.js';
    const file = path.join(dir, main.endsWith('.js') ? main : `${main}.js`);
    return `${JSON.stringify(name)}: function (module, exports, require) {\n${readFileSync(file, 'utf8')}\n}`;
  });
  return `const defs = {${parts.join(',\n')}};\nconst cache = {};\nfunction req(n) {\n  if (!(n in cache)) { const m = { exports: {} }; cache[n] = m; defs[n](m, m.exports, req); }\n  return cache[n].exports;\n}\nexport default req(${JSON.stringify(entry)});\n`;
}

const importMap = {
  imports: {
    '@normlab/tensor': '/packages/tensor/dist/index.js',
    '@normlab/autograd': '/packages/autograd/dist/index.js',
    '@normlab/wasm': '/packages/wasm/dist/index.js',
    '@normlab/nn': '/packages/nn/dist/index.js',
    '@normlab/norm-layers': '/packages/norm-layers/dist/index.js',
    '@normlab/gpu': '/packages/gpu/dist/index.js',
    '@normlab/gpu/parity': '/packages/gpu/dist/parity.js',
    'gpu.js': '/__shim/gpu.js',
    ndarray: '/__shim/ndarray.js',
  },
};
const html = `<!doctype html><meta charset="utf-8"><title>normlab gpu parity</title>
<script src="/node_modules/gpu.js/dist/gpu-browser.min.js"></script>
<script type="importmap">${JSON.stringify(importMap)}</script>
<script type="module" src="/packages/gpu/browser-test/page.js"></script>`;
const shims = {
  '/__shim/gpu.js': 'const G = window.GPU.GPU ?? window.GPU;\nexport const GPU = G;\nexport default { GPU: G };\n',
  '/__shim/ndarray.js': cjsBundle('ndarray', ['iota-array', 'is-buffer']),
};
const allowed = [/^\/packages\/[\w-]+\/dist\//, /^\/packages\/gpu\/browser-test\//, /^\/node_modules\/gpu\.js\/dist\//];

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  if (url.pathname === '/') return send(200, 'text/html', html);
  if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
  if (url.pathname in shims) return send(200, 'text/javascript', shims[url.pathname]);
  const file = path.join(repo, path.normalize(url.pathname));
  if (!allowed.some((re) => re.test(url.pathname)) || !file.startsWith(repo) || !existsSync(file) || !statSync(file).isFile()) {
    return send(404, 'text/plain', 'not found');
  }
  send(200, file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream', readFileSync(file));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;

const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'normlab-chromium-'));
let failed = false;
let browser;
try {
  // A fresh profile per run (launchPersistentContext is playwright's way to name the directory).
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--enable-unsafe-swiftshader',
      // WebGPU on SwiftShader's Vulkan, when this Chromium build has it (else: no adapter, skipped).
      '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan',
    ],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => window.__parity !== undefined || window.__failed, null, { timeout: 240_000 }).catch((e) => {
    errors.push(`timed out waiting for the page: ${e.message}`);
  });
  const report = await page.evaluate(() => window.__parity ?? null);
  if (!report) {
    console.error('the page produced no report:\n' + errors.join('\n'));
    failed = true;
  } else {
    console.log(`browser: ${report.userAgent}`);
    for (const m of report.modes) {
      const bad = m.results.filter((r) => !r.ok);
      console.log(`\n[${m.mode}] renderer: ${m.renderer}; ran in: ${m.ran}; kernel modes: ${JSON.stringify(m.kernelModes)}; ` +
        `${m.results.length - bad.length}/${m.results.length} cases pass`);
      if (m.error) console.log(`  error: ${m.error}`);
      for (const r of m.results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.detail})`);
      if (m.fallbacks?.length) console.log(`  fallbacks: ${JSON.stringify(m.fallbacks)}`);
      if (!m.error) console.log(`  ${m.pipelined ? 'ok  ' : 'FAIL'} normForward kept its statistics on the device as textures: ${JSON.stringify(m.pipelines)}`);
    }
    const webgl2 = report.modes.find((m) => m.mode === 'webgl2');
    if (!webgl2 || !webgl2.ok) failed = true;
    // WebGL1 is checked when the browser offers it; a failure there fails the run too.
    const webgl = report.modes.find((m) => m.mode === 'webgl');
    if (webgl && !webgl.error?.includes('not available') && !webgl.ok) failed = true;
    const wg = report.webgpu;
    if (!wg.available) {
      console.log(`\n[webgpu] skipped: ${wg.reason}`);
    } else {
      console.log(`\n[webgpu] ran in: ${wg.mode}; ${wg.ok ? 'ok' : 'FAIL'} ${wg.error ?? ''}`);
      for (const r of wg.results ?? []) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.detail})`);
      if (!wg.ok) failed = true;
    }
    if (report.warnings.length) console.log(`\nwarnings: ${report.warnings.join(' | ')}`);
    if (errors.length) console.log(`\npage errors: ${errors.join(' | ')}`);
  }
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await browser?.close();
  server.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(failed ? '\nbrowser parity: FAILED' : '\nbrowser parity: passed');
process.exit(failed ? 1 : 0);

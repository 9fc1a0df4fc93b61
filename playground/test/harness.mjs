// What the browser test and the screenshot script share: serve the built page (dist/) from
// 127.0.0.1, open it in headless Chromium (Debian's `chromium` through playwright-core, a fresh
// profile, no network), and collect every console error of the page and its workers.
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const PLAYGROUND = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(PLAYGROUND, 'dist');
const require = createRequire(import.meta.url);

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.gz': 'application/gzip',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Serve dist/ on an ephemeral port of 127.0.0.1; resolves to { url, close }. */
export async function serveDist() {
  if (!existsSync(path.join(DIST, 'index.html'))) throw new Error(`${DIST} has no index.html: run \`npm run build -w @normlab/playground\` first`);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
    const file = path.join(DIST, path.normalize(rel));
    if (!file.startsWith(DIST + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** The flags of a headless Chromium that reaches nothing but 127.0.0.1 and uses no GPU. */
export const HEADLESS_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Launch Chromium with a fresh profile; resolves to { context, page, errors, close }. `errors`
 * collects console errors and uncaught exceptions of the page and its workers.
 */
export async function openChromium({ args = HEADLESS_ARGS, viewport = { width: 1280, height: 900 } } = {}) {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM)`);
  const { chromium } = require('playwright-core');
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'normlab-playground-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  // The page's console event carries its workers' messages too (checked with a deliberate
  // console.error in the worker); uncaught errors in a worker reach the page's onerror handler,
  // which logs them.
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.stack ?? e}`));
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

/** The attributes of a run's status element (`#status` for run A, `#status-b` for run B). */
export async function runStatus(page, selector = '#status') {
  return page.$eval(selector, (el) => ({ ...el.dataset }));
}

/** Wait until `predicate(status)` holds for the run's status; polls, so nothing depends on timing but `timeoutMs`. */
export async function waitForStatus(page, selector, predicate, { timeoutMs = 300_000, what = 'the condition', onPoll } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await runStatus(page, selector);
    onPoll?.(s);
    if (predicate(s)) return s;
    if (s.state === 'failed') throw new Error(`${selector}: the run failed while waiting for ${what}: ${await page.textContent('.error')}`);
    if (Date.now() > until) throw new Error(`${selector}: timed out after ${timeoutMs / 1000} s waiting for ${what}; last status ${JSON.stringify(s)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

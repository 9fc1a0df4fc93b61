/**
 * Run the esbuild bundle of browser.ts in headless Chromium (Debian's, through playwright-core)
 * and print its report as one JSON line; exit 1 when the page failed. The page is about:blank
 * with the bundle added as a classic script: nothing is served and nothing is fetched.
 *
 *   node browser-run.mjs BUNDLE [CHROMIUM]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [bundle, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'normlab-consumer-chromium-'));
let context;
let code = 1;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.addScriptTag({ path: bundle });
  await page.waitForFunction(() => globalThis.__consumerCheck !== undefined, null, { timeout: 120_000 });
  const report = await page.evaluate(() => globalThis.__consumerCheck);
  if (errors.length) report.pageErrors = errors;
  report.userAgent = await page.evaluate(() => navigator.userAgent);
  console.log(JSON.stringify(report));
  code = report.error || errors.length ? 1 : 0;
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
} finally {
  await context?.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);

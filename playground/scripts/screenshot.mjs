#!/usr/bin/env node
// Takes docs/playground-bn-vs-gn-batch2.png: the page's "BN vs GN at batch 2" preset (cnn at
// width ¼, Adam 0.001, seed 0, 600 steps, both runs on the same data order) trained to the end
// in headless Chromium, then the whole page. Prints both runs' final numbers.
//
//   npm run screenshot -w @normlab/playground      (builds first; a few minutes on 2 cores)
import path from 'node:path';
import { PLAYGROUND, openChromium, serveDist, waitForStatus } from '../test/harness.mjs';

const OUT = path.resolve(PLAYGROUND, '../docs/playground-bn-vs-gn-batch2.png');

const server = await serveDist();
const browser = await openChromium({ viewport: { width: 1280, height: 900 } });
const { page, errors } = browser;
let failed = false;
try {
  await page.goto(server.url);
  await page.waitForSelector('#start:not([disabled])', { timeout: 300_000 });
  await page.click('#preset-bn-gn');
  await page.waitForSelector('#status-b[data-state="idle"]', { timeout: 300_000 });
  await page.waitForSelector('#start:not([disabled])', { timeout: 300_000 });
  await page.click('#start');
  const timeoutMs = 1_800_000;
  const a = await waitForStatus(page, '#status', (s) => s.state === 'done', { timeoutMs, what: 'run A to finish' });
  const b = await waitForStatus(page, '#status-b', (s) => s.state === 'done', { timeoutMs, what: 'run B to finish' });
  // Let the last frame draw.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  await page.screenshot({ path: OUT, fullPage: true });
  const line = (name, s) =>
    `${name}: step ${s.step}, training loss ${Number(s.loss).toFixed(3)} (last 10 steps), test accuracy ${(100 * Number(s.testAccuracy)).toFixed(1)}%, ${s.imagesPerSecond} images/s on ${s.backend}`;
  console.log(line('A (BN, batch 2)', a));
  console.log(line('B (GN, batch 2)', b));
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
  if (errors.length) {
    console.error(`console errors:\n  ${errors.join('\n  ')}`);
    failed = true;
  }
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await browser.close();
  await server.close();
}
process.exit(failed ? 1 : 0);

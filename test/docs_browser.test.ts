// GET /docs in real Chromium (Debian's `chromium`, or CHROMIUM_PATH): the
// page renders the server's own /openapi.json, one entry per operation, the
// request fields with their allowed values, the examples with their statuses,
// with no console errors and no request leaving the server (no CDN).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

// As in test/dashboard_browser.test.ts (not imported: importing a test file runs its tests).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

let server: ServerProcess;
let browser: Browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  server = await startServerProcess({}, 60_000);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('/docs renders every operation of /openapi.json with fields, ranges and examples; no console errors, nothing fetched from elsewhere', { timeout: 60_000 }, async () => {
  const client = new TestClient(server.url, 1);
  const doc = (await client.get('/openapi.json')).body;
  await client.pool.close();
  const operations = Object.values<Record<string, unknown>>(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);

  const page = await browser.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith(server.url)) foreign.push(r.url()); });
  await page.goto(`${server.url}/docs`);
  await page.waitForSelector('details.op');
  assert.equal(await page.locator('details.op').count(), operations);

  const predict = page.locator('details.op', { hasText: '/predict_ctr' }).first();
  await predict.locator('summary').click();
  const text = await predict.innerText();
  assert.match(text, /user_id/);
  assert.match(text, /range \[0, 23\]/, 'the hour range from the manifest is shown');
  assert.match(text, /→ 400/, 'examples show their status');
  assert.match(text, /415/);
  assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  assert.deepEqual(foreign, [], 'requests that left the server');
  await page.close();
});

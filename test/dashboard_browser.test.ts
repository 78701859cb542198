// The dashboard in real Chromium (Debian's `chromium`, driven by
// playwright-core), against the stream harness fed by the synthetic monitor:
// the page connects, its charts fill, an induced drift alert becomes visible,
// there are no console errors, and it says when the server is unreachable and
// reconnects by itself; then on the real server under load, with drift
// induced by a baseline. Screenshots: test-artifacts/dashboard.png (real
// server), dashboard_synthetic.png, dashboard_unreachable.png.
//
// Needs /usr/bin/chromium (or CHROMIUM_PATH): `apt-get install -y chromium`.
// Without it this test FAILS (it does not skip): CI installs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../engine/config.js';
import { startStreamHarness, type StreamHarness } from './support/stream_harness.js';
import { createTrafficSampler, mulberry32 } from '../bench/lib/traffic_sampler.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
export const ARTIFACTS = join(projectRoot(), 'test-artifacts');

export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH. The dashboard browser test does not skip without it.`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Console errors and uncaught page errors, as they happen. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP relay in front of the server, to take it off the network and bring it
 * back on the same port. (The uWS build cannot bind a port again while
 * connections it closed are in TIME_WAIT; node:net can.)
 */
async function relay(upstreamPort: number): Promise<{ port: number; down(): Promise<void>; up(): Promise<void> }> {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  let port = 0;
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((c) => {
      const u = connect(upstreamPort, '127.0.0.1');
      for (const x of [c, u]) { sockets.add(x); x.on('close', () => sockets.delete(x)); x.on('error', () => { c.destroy(); u.destroy(); }); }
      c.pipe(u);
      u.pipe(c);
    });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => { port = (s.address() as { port: number }).port; server = s; resolve(); });
  });
  await listen();
  return {
    get port() { return port; },
    async down() {
      const s = server;
      server = null;
      for (const x of sockets) x.destroy();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    },
    up: listen,
  };
}

test('dashboard: connects, charts fill, a drift alert shows, no console errors, unreachable server shown and reconnected', { timeout: 90_000 }, async () => {
  const browser = await launchChromium();
  const h: StreamHarness = await startStreamHarness({ tickMs: 200 });
  const front = await relay(h.port);
  const url = `http://127.0.0.1:${front.port}`;
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = watchConsole(page);
    await page.goto(`${url}/dashboard?interval=200`);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
    // Both model cards, each with its four uPlot charts.
    await page.waitForSelector('article.model[data-model="xgboost"] .uplot canvas');
    assert.equal(await page.locator('article.model').count(), 2);
    assert.equal(await page.locator('article.model[data-model="logistic"] .uplot').count(), 4);

    // Charts fill with data.
    await page.waitForFunction(() => {
      const s = (window as any).ctrDashboard;
      return s.models.xgboost && s.models.xgboost.xs.length >= 15 && s.models.logistic.xs.length >= 15;
    }, undefined, { timeout: 15_000 });
    const filled = await page.evaluate(() => {
      const s = (window as any).ctrDashboard;
      const v = s.models.xgboost;
      const nonNull = (a: unknown[]) => a.filter((x) => x !== null).length;
      return { rps: nonNull(v.rps), p99: nonNull(v.lat[0][1]), mean: nonNull(v.mean), band: nonNull(v.hi), ab: s.ab.xs.length };
    });
    for (const [k, n] of Object.entries(filled)) assert.ok(n >= 10, `${k}: ${n} points`);
    const rpsText = await page.locator('article.model[data-model="xgboost"] [data-kpi="rps"] .v').textContent();
    assert.match(rpsText ?? '', /^\d/);
    assert.match(await page.locator('#ab-legend').textContent() ?? '', /xgboost \d+\.\d%/);

    // Induce drift: the alert becomes visible, the model's pills change.
    h.monitor.set('xgboost', { drift: 'high' });
    await page.waitForSelector('#alert-list li.alert[data-model="xgboost"][data-kind="drift"]', { timeout: 5000 });
    await page.waitForSelector('article.model[data-model="xgboost"] .pill.sev-high');
    assert.match(await page.locator('#event-list').textContent() ?? '', /xgboost drift: none → high/);
    // The alert list and the model's pill say the same thing: a warning alert for high drift.
    assert.match(await page.locator('#alert-list li.alert[data-model="xgboost"][data-kind="drift"] .pill').textContent() ?? '', /warning · drift high/);
    assert.match(await page.locator('article.model[data-model="xgboost"] .pill.sev-high').first().textContent() ?? '', /drift high · warning alert/);
    await sleep(2500); // a few more points after the change, for the screenshot
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard_synthetic.png') });
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);

    // The server goes away: the page says so, loudly.
    const hellos = await page.evaluate(() => (window as any).ctrDashboard.hellos);
    await front.down();
    await page.waitForSelector('#conn[data-state="down"]', { timeout: 5000 });
    const banner = await page.locator('#banner').textContent();
    assert.match(banner ?? '', /Server unreachable since .* retrying in \d+ s/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard_unreachable.png') });

    // It comes back on the same port: the page reconnects by itself.
    await sleep(1500);
    await front.up();
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 20_000 });
    assert.equal(await page.locator('#banner').isHidden(), true);
    assert.equal(await page.evaluate(() => (window as any).ctrDashboard.hellos), hellos + 1);
    const seq = await page.evaluate(() => (window as any).ctrDashboard.lastSnapshot.seq);
    await page.waitForFunction((s) => (window as any).ctrDashboard.lastSnapshot.seq > s + 3, seq, { timeout: 5000 });
    // While it was down, only the browser's own reports of refused connections.
    const other = errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    assert.deepEqual(other, [], `console errors: ${other.join('\n')}`);
  } finally {
    await browser.close();
    await front.down();
    await h.close();
  }
});

test('dashboard on the real server under load: charts fill, induced drift shows as an alert', { timeout: 120_000 }, async () => {
  const browser = await launchChromium();
  const dataDir = mkdtempSync(join(tmpdir(), 'ctr-dashboard-'));
  const server = await startServerProcess({
    DATA_DIR: dataDir, MLFLOW_TRACKING_URI: `file:${join(dataDir, 'mlruns')}`, WORKERS: '1',
    MONITOR_TICK_MS: '250', MONITOR_WINDOWS_S: '5,60', DRIFT_MIN_SAMPLES: '200',
  });
  const client = new TestClient(server.url, 8);
  let loading = true;
  let sent = 0;
  const answered: { request_id: string; ctr: number; model: string }[] = [];
  // Closed-loop load, 8 in flight, A/B routing (no model named), for as long as the test looks.
  const load = Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const sampler = createTrafficSampler({ seed: 100 + i });
    while (loading) {
      const r = await client.postJson('/predict_ctr', sampler.next());
      assert.equal(r.status, 200);
      sent++;
      if (answered.length < 4000) answered.push(r.body);
      await sleep(4);
    }
  }));
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = watchConsole(page);
    await page.goto(`${server.url}/dashboard?interval=250`);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
    const models = (await client.get('/models')).body.models.map((m: { name: string }) => m.name) as string[];
    assert.equal(await page.locator('article.model').count(), models.length);
    await page.waitForFunction((names) => {
      const s = (window as any).ctrDashboard;
      return names.every((n: string) => s.models[n] && s.models[n].rps.filter((x: number) => x > 0).length >= 8 && s.models[n].lat[0][1].filter((x: number | null) => x !== null && x > 0).length >= 8);
    }, models, { timeout: 20_000 });
    // Drift: a baseline far from what the model predicts.
    const target = models[0];
    const set = await client.postJson('/monitoring/baseline', { model_name: target, mean_prediction: 0.3, std_prediction: 0.05, mean_latency_ms: 50, std_latency_ms: 10 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await page.waitForSelector(`#alert-list li.alert[data-model="${target}"][data-kind="drift"]`, { timeout: 20_000 });
    await page.waitForSelector(`article.model[data-model="${target}"] .pill.sev-high, article.model[data-model="${target}"] .pill.sev-medium`);
    // Click labels: clicks drawn from the predictions themselves, and a version 2 that predicts twice the CTR.
    const rnd = mulberry32(5);
    const fb = answered.map((a) => ({ request_id: a.request_id, clicked: rnd() < a.ctr }));
    const byValue = answered.map((a, i) => ({ model: a.model, model_version: '2', ctr: Math.min(1, a.ctr * 2), clicked: fb[i].clicked }));
    for (const items of [fb, byValue]) {
      for (let i = 0; i < items.length; i += 1000) assert.equal((await client.postJson('/feedback', { feedback: items.slice(i, i + 1000) })).status, 200);
    }
    await page.waitForSelector(`article.model[data-model="${target}"] .quality svg.reliability-svg circle`, { timeout: 20_000 });
    const rows = await page.locator(`article.model[data-model="${target}"] table.ab-quality tr`).allInnerTexts();
    assert.ok(rows.some((r) => r.startsWith('variant ab')), rows.join('\n'));
    assert.ok(rows.some((r) => r.startsWith('v2')), rows.join('\n'));
    await sleep(2000);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
    assert.ok(sent > 200, `load sent ${sent} requests`);
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    loading = false;
    await load.catch(() => {});
    await browser.close();
    await client.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
